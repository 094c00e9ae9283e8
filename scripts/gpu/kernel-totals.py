#!/usr/bin/env python3
"""Each kernel family's GPU time per layer and step, from `prefill_timing --kernel-trace`'s CSV
(`kind,start_ns,end_ns,correlation_id,stream_or_cbid,name`), and what runs right after each
copy and fill (so that an upload or a fill can be traced to the kernel it serves).

Usage: kernel-totals.py TRACE.csv LAYER_STEPS
(LAYER_STEPS: layers × chunks of the traced prefill; 256 for the 7B shape at 8K, C = 1024.)
"""
import sys
from collections import Counter, defaultdict

from gaps import read_csv
from kernel_names import family


def main(path, layer_steps):
    # The trace as gaps.py reads it: checked columns, demangled names, incomplete records out.
    kernels, copies, _ = read_csv(path)
    ops = sorted(
        [(start, end, family(name, width=60)) for start, end, _, name in kernels] + copies
    )
    busy, count = defaultdict(int), Counter()
    followers = defaultdict(Counter)
    for i, (start, end, name) in enumerate(ops):
        busy[name] += end - start
        count[name] += 1
        if name in ("memcpy", "memset") and i + 1 < len(ops):
            followers[name][ops[i + 1][2]] += 1
    total = sum(busy.values())
    print(f"total busy {total / 1e6:.1f} ms; per layer-step {total / 1e3 / layer_steps:.1f} us")
    for name, ns in sorted(busy.items(), key=lambda kv: -kv[1]):
        n = count[name]
        print(
            f"{ns / 1e3 / layer_steps:8.1f} us/ls {n / layer_steps:5.2f} per ls "
            f"{ns / 1e3 / n:8.1f} us each  {name}"
        )
    for name, after in followers.items():
        top = ", ".join(f"{k} ×{v}" for k, v in after.most_common(4))
        print(f"after each {name}: {top}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]))
