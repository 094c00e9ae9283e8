#!/usr/bin/env python3
"""PyTorch's kernel timeline for one chunked prefill of `bench/torch_baseline.py` (the same
model, schedule and pruning), written as the CSV `prefill_timing --kernel-trace` writes
(`kind,start_ns,end_ns,correlation_id,stream_or_cbid,name`), so that gaps.py,
kernel-totals.py and products.py read both implementations' timelines alike: how many kernels,
fills and copies PyTorch runs a layer and step, and how long its GPU idles between them, beside
`mss`'s.

One warm-up prefill, then one under `torch.profiler` (CUDA activity: kernels, fills, copies, and
the runtime calls that launched them, matched by correlation id).

Usage: torch-trace.py OUT.csv [--model llama2-7b] [--L 8192] [--C 1024] [--M 1024]
                              [--pruner streaming|snapkv] [--memtype FM|IMDC|...]
Run from the repository root (it imports bench/torch_baseline.py).
"""
import argparse
import csv
import json
import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
import torch_baseline as tb  # noqa: E402

# torch.profiler's trace categories → the kinds of prefill_timing's CSV.
KINDS = {"kernel": "kernel", "gpu_memset": "memset", "gpu_memcpy": "memcpy",
         "cuda_runtime": "runtime", "cuda_driver": "driver"}


def rows(trace):
    """The CSV's rows from a Chrome trace of torch.profiler (times in microseconds)."""
    for event in trace.get("traceEvents", []):
        kind = KINDS.get(event.get("cat"))
        if kind is None or "ts" not in event or "dur" not in event:
            continue
        start = int(round(float(event["ts"]) * 1000))
        end = start + int(round(float(event["dur"]) * 1000))
        args = event.get("args", {})
        correlation = args.get("correlation", 0)
        stream = args.get("stream", args.get("cbid", 0))
        yield [kind, start, end, correlation, stream, event.get("name", "?")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the CSV to write")
    parser.add_argument("--model", default="llama2-7b", choices=sorted(tb.MODEL_CONFIGS))
    parser.add_argument("--L", type=int, default=8192)
    parser.add_argument("--C", type=int, default=1024)
    parser.add_argument("--M", type=int, default=1024)
    parser.add_argument("--pruner", default="streaming", choices=["streaming", "snapkv"])
    parser.add_argument("--memtype", default="FM", choices=["FM", "IM", "IMDC", "FI"])
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("torch-trace.py: no CUDA device")
    device = torch.device("cuda")
    model = tb.build_model(args.model, device, torch.bfloat16)
    generator = torch.Generator().manual_seed(1234)
    ids = torch.randint(0, model.config.vocab_size, (1, args.L), generator=generator).to(device)
    collector = tb.ScoreCollector(model)
    collector.enabled = args.pruner == "snapkv"
    tb.set_attn(model, "eager" if args.pruner == "snapkv" else "sdpa")
    chunks, mems = tb.schedule(args.memtype, args.L, args.C, args.M)

    def prefill():
        result = tb.prefill_chunked(model, ids, chunks, mems, args.pruner, collector)
        torch.cuda.synchronize(device)
        return result

    # CUDA activity alone (CUPTI's records, as mss's trace): tracing PyTorch's own operators on
    # the host would slow the host and lengthen the gaps it leaves.
    activities = [torch.profiler.ProfilerActivity.CUDA]
    with torch.inference_mode():
        prefill()
        with torch.profiler.profile(activities=activities) as profile:
            prefill()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "trace.json")
        profile.export_chrome_trace(path)
        with open(path, encoding="utf-8") as f:
            trace = json.load(f)
    records = list(rows(trace))
    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["kind", "start_ns", "end_ns", "correlation_id", "stream_or_cbid", "name"])
        writer.writerows(records)
    counts = {kind: sum(r[0] == kind for r in records) for kind in set(KINDS.values())}
    print(f"{args.model} {args.pruner} {args.memtype} L={args.L} C={args.C} M={args.M}: "
          f"{len(chunks)} chunks; wrote {args.out}: "
          + ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())))


if __name__ == "__main__":
    main()
