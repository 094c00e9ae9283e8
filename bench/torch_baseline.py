#!/usr/bin/env python3
"""PyTorch + transformers baseline for long-context prefill with a bounded KV memory.

It mirrors the efficiency experiment of "Memorize Step by Step" (EMNLP 2024): time to first token
(TTFT) and peak GPU memory when a 7B Llama prefills a 32k-token prompt

  (a) full:      in one forward pass (SDPA attention; causal, so PyTorch's flash kernel);
  (b) streaming: in chunks of C tokens; after every chunk each layer's KV cache is pruned to
                 4 sink tokens + the most recent m tokens (StreamingLLM rule); SDPA attention;
  (c) snapkv:    the same with the paper's `conv` pruner (SnapKV-style): score = attention each
                 key gets from the chunk's queries (summed over the query heads of its KV head),
                 average-pooled along the keys (kernel 5, zero padding, padding counted), divided
                 by the number of chunk queries that can see the key (= mean attention); top-m per
                 KV head, kept in document order. Needs the chunk's attention probabilities, so
                 the model runs with transformers' eager attention (as the paper's runs did);
  (d) memory schedules for (b) and (c): FM (m = M after every chunk), IM (m grows linearly:
      m_i = (M // n) * (i + 1), m_{n-1} = M) and IMDC (IM + decremental chunk sizes:
      c_0 = L//n, c_i = L//n + mean(m_0..m_{n-2}) - m_{i-1}, the last chunk takes the remainder).

Positions: ORIGINAL. transformers' DynamicCache stores keys after RoPE, so every kept key keeps
its document position, and chunk queries use their document positions (0..L-1). (The paper's code
instead re-numbers the compacted cache 0..T-1 every step; see docs/semantics.md.)

The KV memory is pruned after the last chunk too (the paper's loop does), and TTFT ends once the
first token (argmax of the last position's logits) is computed on the GPU. Peak memory is
torch.cuda.max_memory_allocated() after reset_peak_memory_stats(), so it includes the weights.
Weights are random (seeded, no download): the timings do not depend on their values.

Run it on one GPU:  python3 bench/torch_baseline.py --out $OUT/torch_baseline.json
Quick checks (CPU is fine): python3 bench/torch_baseline.py --selftest
"""

import argparse
import datetime
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

SINKS = 4
GIB = 2**30

MODEL_CONFIGS = {
    # Llama-2-7B shape (MHA).
    "llama2-7b": dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008,
                      num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
                      max_position_embeddings=4096, rope_theta=10000.0, rms_norm_eps=1e-5),
    # Llama-3-8B shape (GQA 32 query heads / 8 KV heads).
    "llama3-8b": dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336,
                      num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                      max_position_embeddings=8192, rope_theta=500000.0, rms_norm_eps=1e-5),
    # SmolLM2-135M shape (GQA 9 / 3 KV heads, head_dim 64): the Rust project's default model.
    "smollm2-135m": dict(vocab_size=49152, hidden_size=576, intermediate_size=1536,
                         num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                         max_position_embeddings=8192, rope_theta=100000.0, rms_norm_eps=1e-5),
    # Tiny shapes for --selftest and smoke runs.
    "tiny-mha": dict(vocab_size=512, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=4096,
                     rope_theta=10000.0, rms_norm_eps=1e-5),
    "tiny-gqa": dict(vocab_size=512, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                     rope_theta=10000.0, rms_norm_eps=1e-5),
}


# ----------------------------------------------------------------------------------------------
# Schedules (integer semantics of the original code; docs/semantics.md)
# ----------------------------------------------------------------------------------------------

def num_chunks(L, C):
    return -(-L // C)


def std_chunks(L, C):
    sizes = [C] * (L // C)
    if L % C:
        sizes.append(L % C)
    return sizes


def im_memsize(i, L, C, M):
    """Linear incremental memory: a*(i+1) with a = M // n, and M from the last chunk on."""
    n = num_chunks(L, C)
    return M if i >= n - 1 else (M // n) * (i + 1)


def dc_chunks(L, C, M):
    """Decremental chunks: c_0 = L//n, c_i = L//n + mean(m_0..m_{n-2}) - m_{i-1}, last = rest."""
    n = num_chunks(L, C)
    if n == 1:
        return [L]
    cbar = L // n
    m = [im_memsize(i, L, C, M) for i in range(n)]
    mbar = sum(m[: n - 1]) // (n - 1)
    sizes = [cbar] + [cbar + mbar - m[i - 1] for i in range(1, n)]
    sizes[-1] = L - sum(sizes[:-1])
    return sizes


def schedule(memtype, L, C, M):
    """(chunk sizes, memory budget after each chunk, sinks excluded)."""
    if memtype == "FM":
        chunks = std_chunks(L, C)
        return chunks, [M] * len(chunks)
    if memtype == "IM":
        chunks = std_chunks(L, C)
    elif memtype == "IMDC":
        chunks = dc_chunks(L, C, M)
    else:
        raise ValueError(f"unknown memory type {memtype!r}")
    return chunks, [im_memsize(i, L, C, M) for i in range(len(chunks))]


# ----------------------------------------------------------------------------------------------
# Pruners: edit the DynamicCache's per-layer tensors [B, H_kv, T, d] in place
# ----------------------------------------------------------------------------------------------

def prune_streaming(cache, m):
    """Keep the 4 sinks and the most recent m entries of every layer (same for all heads)."""
    for layer in cache.layers:
        k, v = layer.keys, layer.values
        T = k.shape[-2]
        if T - SINKS <= m:
            continue
        layer.keys = torch.cat((k[:, :, :SINKS], k[:, :, T - m:]), dim=2)
        layer.values = torch.cat((v[:, :, :SINKS], v[:, :, T - m:]), dim=2)


def visible_query_counts(K, c, device):
    """How many of the chunk's c queries see each of the K non-sink keys (the chunk's keys last)."""
    c_eff = min(c, K)
    den = torch.full((K,), float(c_eff), device=device, dtype=torch.float32)
    den[K - c_eff:] = torch.arange(c_eff, 0, -1, device=device, dtype=torch.float32)
    return den


def snapkv_select(colsum, n_rep, c, m):
    """colsum [B, H_q, T] (fp32): attention summed over the chunk's c queries.

    Returns [B, H_kv, m] ascending indices into the non-sink keys. Query head i belongs to KV head
    i // n_rep (transformers' repeat_kv layout)."""
    s = colsum[:, :, SINKS:]
    B, Hq, K = s.shape
    s = s.reshape(B, Hq // n_rep, n_rep, K).sum(dim=2)
    s = F.avg_pool1d(s, kernel_size=5, stride=1, padding=2, count_include_pad=True)
    s = s / visible_query_counts(K, c, s.device)
    return s.topk(m, dim=-1).indices.sort(dim=-1).values


def prune_snapkv(cache, colsums, n_rep, c, m):
    for l, layer in enumerate(cache.layers):
        k, v = layer.keys, layer.values
        T = k.shape[-2]
        if T - SINKS <= m:
            continue
        if colsums[l] is None or colsums[l].shape[-1] != T:
            raise RuntimeError(f"layer {l}: no attention statistics for this chunk")
        idx = snapkv_select(colsums[l], n_rep, c, m)
        gi = idx.unsqueeze(-1).expand(-1, -1, -1, k.shape[-1])
        layer.keys = torch.cat((k[:, :, :SINKS], k[:, :, SINKS:].gather(2, gi)), dim=2)
        layer.values = torch.cat((v[:, :, :SINKS], v[:, :, SINKS:].gather(2, gi)), dim=2)


class ScoreCollector:
    """Forward hooks on every self-attention: with eager attention the module returns the
    probabilities [B, H_q, c, T]; keep only their sum over the chunk's queries ([B, H_q, T], fp32),
    so the big matrix is freed layer by layer (output_attentions would keep all 32 layers')."""

    def __init__(self, model):
        layers = model.model.layers
        self.enabled = False
        self.colsums = [None] * len(layers)
        self.handles = [layer.self_attn.register_forward_hook(self._hook(i))
                        for i, layer in enumerate(layers)]

    def _hook(self, i):
        def hook(module, args, output):
            if not self.enabled:
                return
            w = output[1]
            if w is None:
                raise RuntimeError("attention probabilities unavailable: run with eager attention")
            self.colsums[i] = w.sum(dim=2, dtype=torch.float32)
        return hook

    def clear(self):
        self.colsums = [None] * len(self.colsums)


# ----------------------------------------------------------------------------------------------
# Prefill variants. Each returns (first token [B], finite-logits flag, cache, last logits).
# ----------------------------------------------------------------------------------------------

def prefill_full(model, ids):
    out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
    logits = out.logits[:, -1]
    return logits.argmax(-1), torch.isfinite(logits).all(), out.past_key_values, logits


def prefill_chunked(model, ids, chunks, mems, pruner, collector=None, prune_last=True):
    from transformers import DynamicCache

    cache = DynamicCache()
    pos = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
    n_rep = model.config.num_attention_heads // model.config.num_key_value_heads
    start = 0
    out = None
    for i, (c, m) in enumerate(zip(chunks, mems)):
        out = model(input_ids=ids[:, start:start + c], position_ids=pos[:, start:start + c],
                    past_key_values=cache, use_cache=True, logits_to_keep=1)
        start += c
        if i == len(chunks) - 1 and not prune_last:
            break
        if pruner == "streaming":
            prune_streaming(cache, m)
        elif pruner == "snapkv":
            prune_snapkv(cache, collector.colsums, n_rep, c, m)
            collector.clear()
        elif pruner != "none":
            raise ValueError(pruner)
    logits = out.logits[:, -1]
    return logits.argmax(-1), torch.isfinite(logits).all(), cache, logits


# ----------------------------------------------------------------------------------------------
# Measurement helpers
# ----------------------------------------------------------------------------------------------

def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device):
    """Run fn once; returns (seconds, host wall seconds, peak bytes, bytes allocated before, result)."""
    gc.collect()
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        h0 = time.perf_counter()
        start.record()
        res = fn()
        end.record()
        sync(device)
        wall = time.perf_counter() - h0
        return start.elapsed_time(end) / 1e3, wall, torch.cuda.max_memory_allocated(device), base, res
    h0 = time.perf_counter()
    res = fn()
    wall = time.perf_counter() - h0
    return wall, wall, 0, 0, res


def calibrate(device, reps=20):
    """bf16 8192^3 matmul rate and device-to-device copy bandwidth (read + write bytes)."""
    out = {}
    n = 8192
    g = torch.Generator(device=device).manual_seed(1)
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16, generator=g)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16, generator=g)
    ts = []
    for i in range(reps + 5):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        c = a @ b
        e.record()
        sync(device)
        if i >= 5:
            ts.append(s.elapsed_time(e) / 1e3)
    t = statistics.median(ts)
    out["matmul_bf16_8192_s"] = t
    out["matmul_bf16_8192_tflops"] = 2 * n**3 / t / 1e12
    del a, b, c
    numel = 1 << 30  # 2 GiB of bf16
    src = torch.randn(numel, device=device, dtype=torch.bfloat16, generator=g)
    dst = torch.empty_like(src)
    ts = []
    for i in range(reps + 3):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        dst.copy_(src)
        e.record()
        sync(device)
        if i >= 3:
            ts.append(s.elapsed_time(e) / 1e3)
    t = statistics.median(ts)
    if not torch.equal(dst[:: 1 << 16], src[:: 1 << 16]):
        raise RuntimeError("device copy check failed")
    out["copy_bytes_each_way"] = src.numel() * src.element_size()
    out["copy_s"] = t
    out["copy_gbps_read_plus_write"] = 2 * out["copy_bytes_each_way"] / t / 1e9
    del src, dst
    torch.cuda.empty_cache()
    return out


def build_model(name, device, dtype, attn="sdpa"):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(**MODEL_CONFIGS[name], tie_word_embeddings=False)
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM._from_config(cfg, dtype=dtype, attn_implementation=attn)
    model.eval().requires_grad_(False)
    return model


def set_attn(model, impl):
    model.set_attn_implementation(impl)
    if model.config._attn_implementation != impl:
        raise RuntimeError(f"could not switch attention to {impl}")


def env_info(device):
    import transformers

    info = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cuda_runtime": torch.version.cuda,
        "device": str(device),
    }
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        info.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / GIB, 2),
                    sm_count=p.multi_processor_count)
        try:
            q = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,"
                                "clocks.max.sm,power.limit", "--format=csv,noheader"],
                               capture_output=True, text=True, timeout=20)
            info["nvidia_smi"] = q.stdout.strip()
        except Exception as exc:  # noqa: BLE001
            info["nvidia_smi"] = f"unavailable: {exc}"
    return info


# ----------------------------------------------------------------------------------------------
# The benchmark
# ----------------------------------------------------------------------------------------------

class Bench:
    def __init__(self, args, device):
        self.args = args
        self.device = device
        self.t0 = time.perf_counter()
        self.doc = {
            "meta": {
                "script": "bench/torch_baseline.py",
                "argv": sys.argv[1:],
                "L": args.L,
                "settings_C_M": args.settings,
                "sinks": SINKS,
                "reps": args.reps,
                "positions": "original: keys keep their document positions (post-RoPE "
                             "DynamicCache), chunk queries use document positions",
                "prune_after_last_chunk": True,
                "ttft": "prompt ids already on the GPU -> argmax of the last position's logits",
                "peak": "torch.cuda.max_memory_allocated after reset_peak_memory_stats, "
                        "weights included; peak_over_base excludes what was allocated before "
                        "(weights + prompt)",
                "snapkv": "conv pruner: per-layer sum over chunk queries of eager softmax probs "
                          "(bf16), summed over the query heads of each KV head, avg-pool k=5 "
                          "(zero pad, counted), / visible-query count, top-m per KV head, sorted",
                **env_info(device),
            },
            "calibration": {},
            "results": [],
            "errors": [],
        }

    def elapsed(self):
        return time.perf_counter() - self.t0

    def log(self, msg):
        print(f"[{self.elapsed():7.1f}s] {msg}", flush=True)

    def save(self):
        if not self.args.out:
            return
        os.makedirs(os.path.dirname(os.path.abspath(self.args.out)), exist_ok=True)
        tmp = self.args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.doc, f, indent=1)
        os.replace(tmp, self.args.out)

    def over_budget(self):
        return self.args.budget_s > 0 and self.elapsed() > self.args.budget_s

    def measure(self, rec, fn, expect_cache=None):
        """Warm up once, then time args.reps runs (fewer if the time budget is short)."""
        dev = self.device
        t_w, _, peak_w, base, res = timed(fn, dev)
        tok, finite, cache, _ = res
        rec["warmup_s"] = t_w
        rec["first_token"] = int(tok[0])
        rec["logits_finite"] = bool(finite)
        if cache is not None and len(cache.layers):
            lens = {layer.keys.shape[-2] for layer in cache.layers}
            rec["cache_entries_after"] = sorted(lens)
            if expect_cache is not None and lens != {expect_cache}:
                raise RuntimeError(f"cache holds {sorted(lens)} entries, expected {expect_cache}")
        del res, cache, tok, finite
        reps = self.args.reps
        if self.args.budget_s > 0:
            left = self.args.budget_s - self.elapsed()
            reps = max(1, min(reps, int(left // max(t_w, 1e-3))))
        times, walls, peaks = [], [], [peak_w]
        for _ in range(reps):
            t, wall, peak, base, res = timed(fn, dev)
            del res
            times.append(t)
            walls.append(wall)
            peaks.append(peak)
        ttft = statistics.median(times)
        rec.update(
            reps=len(times),
            ttft_s=ttft,
            ttft_all_s=times,
            host_wall_all_s=walls,
            tokens_per_s=self.args.L / ttft,
            peak_gib=max(peaks) / GIB,
            base_gib=base / GIB,
            peak_over_base_gib=(max(peaks) - base) / GIB,
        )

    def run_model(self, name):
        args, dev = self.args, self.device
        self.log(f"building {name} (random bf16 weights) ...")
        model = build_model(name, dev, torch.bfloat16 if args.dtype == "bf16" else torch.float32)
        cfg = model.config
        n_params = sum(p.numel() for p in model.parameters())
        self.log(f"{name}: {n_params / 1e9:.2f} B params, "
                 f"{torch.cuda.memory_allocated(dev) / GIB if dev.type == 'cuda' else 0:.2f} GiB allocated")
        g = torch.Generator().manual_seed(1234)
        ids = torch.randint(0, cfg.vocab_size, (1, args.L), generator=g).to(dev)
        collector = ScoreCollector(model)

        def record(rec, fn, expect_cache=None):
            rec = {"model": name, "params_b": round(n_params / 1e9, 3), "L": args.L, **rec}
            label = (f"{name} {rec['mode']:<9} {rec.get('pruner', '-'):<9} "
                     f"{rec.get('memory_type', '-'):<4} C={rec.get('C', '-')} M={rec.get('M', '-')}")
            if self.over_budget():
                rec["skipped"] = "time budget"
                self.doc["results"].append(rec)
                self.log(f"SKIP {label} (time budget)")
                self.save()
                return
            try:
                self.measure(rec, fn, expect_cache)
                self.log(f"{label}: TTFT {rec['ttft_s']:.3f} s (median of {rec['reps']}; warm-up "
                         f"{rec['warmup_s']:.3f} s)  peak {rec['peak_gib']:.2f} GiB  "
                         f"{rec['tokens_per_s']:.0f} tok/s  cache {rec.get('cache_entries_after')}")
            except Exception as exc:  # noqa: BLE001 - record and go on
                rec["error"] = f"{type(exc).__name__}: {str(exc)[:500]}"
                self.doc["errors"].append(f"{label}: {rec['error']}")
                self.log(f"FAILED {label}: {rec['error']}")
            finally:
                collector.enabled = False
                collector.clear()
                gc.collect()
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
            self.doc["results"].append(rec)
            self.save()

        with torch.inference_mode():
            if not args.no_full:
                set_attn(model, "sdpa")
                record({"mode": "full", "attn": "sdpa", "chunks": 1},
                       lambda: prefill_full(model, ids), expect_cache=args.L)
            for C, M in args.settings:
                for pruner in args.pruners:
                    attn = "eager" if pruner == "snapkv" else "sdpa"
                    set_attn(model, attn)
                    collector.enabled = pruner == "snapkv"
                    for memtype in args.memtypes:
                        chunks, mems = schedule(memtype, args.L, C, M)
                        collector.enabled = pruner == "snapkv"
                        rec = {"mode": "chunked", "pruner": pruner, "memory_type": memtype,
                               "C": C, "M": M, "attn": attn, "chunks": len(chunks),
                               "chunk_sizes": chunks, "memory_sizes": mems,
                               "max_working_set": max(c + SINKS + (mems[i - 1] if i else 0)
                                                      for i, c in enumerate(chunks))}
                        record(rec, (lambda ch=chunks, me=mems, pr=pruner: prefill_chunked(
                            model, ids, ch, me, pr, collector)),
                            expect_cache=min(SINKS + mems[-1], args.L))
            set_attn(model, "sdpa")
        for h in collector.handles:
            h.remove()
        del model, ids, collector
        gc.collect()
        if dev.type == "cuda":
            torch.cuda.empty_cache()

    def table(self):
        rows = [r for r in self.doc["results"]]
        hdr = (f"{'model':<10} {'mode':<8} {'pruner':<9} {'mem':<4} {'C':>5} {'M':>5} {'chunks':>6} "
               f"{'TTFT s':>8} {'peak GiB':>9} {'+base GiB':>9} {'tok/s':>8}")
        lines = [hdr, "-" * len(hdr)]
        for r in rows:
            if "ttft_s" in r:
                tail = (f"{r['ttft_s']:>8.3f} {r['peak_gib']:>9.2f} {r['peak_over_base_gib']:>9.2f} "
                        f"{r['tokens_per_s']:>8.0f}")
            else:
                tail = "  " + (r.get("error") or r.get("skipped") or "?")[:60]
            lines.append(f"{r['model']:<10} {r['mode']:<8} {r.get('pruner', '-'):<9} "
                         f"{r.get('memory_type', '-'):<4} {r.get('C', '-'):>5} {r.get('M', '-'):>5} "
                         f"{r['chunks']:>6} {tail}")
        return "\n".join(lines)

    def run(self):
        m = self.doc["meta"]
        self.log(f"{m.get('gpu', m['device'])} | torch {m['torch']} | transformers "
                 f"{m['transformers']} | {m.get('nvidia_smi', '')}")
        self.save()
        if self.device.type == "cuda" and not self.args.no_calibration:
            try:
                self.doc["calibration"] = calibrate(self.device)
                c = self.doc["calibration"]
                self.log(f"calibration: bf16 8192^3 matmul {c['matmul_bf16_8192_tflops']:.0f} TFLOP/s; "
                         f"D2D copy {c['copy_gbps_read_plus_write']:.0f} GB/s (read+write)")
            except Exception as exc:  # noqa: BLE001
                self.doc["errors"].append(f"calibration: {type(exc).__name__}: {exc}")
            self.save()
        for name in self.args.models:
            if self.over_budget():
                self.log(f"SKIP model {name} (time budget)")
                self.doc["errors"].append(f"{name}: skipped (time budget)")
                continue
            try:
                self.run_model(name)
            except Exception as exc:  # noqa: BLE001
                self.doc["errors"].append(f"{name}: {type(exc).__name__}: {str(exc)[:500]}")
                self.log(f"FAILED model {name}: {exc}")
                gc.collect()
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
            self.save()
        self.doc["meta"]["total_s"] = self.elapsed()
        self.save()
        print()
        print(self.table())
        if self.doc["calibration"]:
            c = self.doc["calibration"]
            print(f"\ncalibration: bf16 8192^3 matmul {c['matmul_bf16_8192_tflops']:.1f} TFLOP/s, "
                  f"device-to-device copy {c['copy_gbps_read_plus_write']:.0f} GB/s (read+write)")
        if self.doc["errors"]:
            print("\nerrors:\n  " + "\n  ".join(self.doc["errors"]))
        print(f"\ntotal {self.elapsed():.1f} s; JSON: {self.args.out}")


# ----------------------------------------------------------------------------------------------
# Self-test (tiny random models; runs on CPU in seconds)
# ----------------------------------------------------------------------------------------------

def selftest(device):
    ok = True

    def check(cond, what):
        nonlocal ok
        print(f"  {'ok ' if cond else 'FAIL'} {what}", flush=True)
        ok = ok and bool(cond)

    print("schedules (the schedule tables of the original code):")
    check([im_memsize(i, 8192, 1024, 1024) for i in range(8)] == [128 * (i + 1) for i in range(8)],
          "IM linear 8192/1024/1024")
    check(dc_chunks(8192, 1024, 1024) == [1024, 1408, 1280, 1152, 1024, 896, 768, 640], "DC 8192/1024/1024")
    dc = dc_chunks(32768, 1024, 1024)
    check(dc[:3] == [1024, 1504, 1472] and dc[-1] == 544 and sum(dc) == 32768, "DC 32768/1024/1024")
    check(dc_chunks(32768, 8192, 4096) == [8192, 9216, 8192, 7168], "DC 32768/8192/4096")
    check(dc_chunks(10000, 4096, 1024) == [3333, 3503, 3164], "DC 10000/4096/1024")
    check(dc_chunks(8192, 2048, 512) == [2048, 2176, 2048, 1920], "DC 8192/2048/512")
    check(std_chunks(10000, 4096) == [4096, 4096, 1808], "std chunks 10000/4096")

    print("snapkv selection vs a per-head loop:")
    g = torch.Generator().manual_seed(0)
    for Hq, n_rep, c, T, m in [(4, 1, 16, 40, 10), (8, 4, 32, 32, 7), (6, 2, 8, 60, 20)]:
        colsum = torch.rand(1, Hq, T, generator=g)
        got = snapkv_select(colsum, n_rep, c, m)
        K = T - SINKS
        for h in range(Hq // n_rep):
            s = sum(colsum[0, q, SINKS:] for q in range(Hq) if q // n_rep == h).double()
            pooled = torch.tensor([sum(float(s[j + d]) for d in range(-2, 3) if 0 <= j + d < K) / 5
                                   for j in range(K)], dtype=torch.float64)
            vis = min(c, K)
            den = torch.tensor([vis - (j - (K - vis)) if j >= K - vis else vis for j in range(K)],
                               dtype=torch.float64)
            ref = sorted((pooled / den).topk(m).indices.tolist())
            if got[0, h].tolist() != ref:
                check(False, f"Hq={Hq} n_rep={n_rep} c={c} T={T} head {h}: {got[0, h].tolist()} != {ref}")
                break
        else:
            check(True, f"Hq={Hq} n_rep={n_rep} c={c} T={T} m={m}")

    for name in ("tiny-mha", "tiny-gqa"):
        print(f"{name} model ({device}, fp32):")
        model = build_model(name, device, torch.float32)
        L = 300
        ids = torch.randint(0, model.config.vocab_size, (1, L), generator=g).to(device)
        with torch.inference_mode():
            set_attn(model, "sdpa")
            _, _, cache, ref = prefill_full(model, ids)
            check(cache.layers[0].keys.shape[-2] == L, "full prefill cache length")
            set_attn(model, "eager")
            _, _, _, ref_e = prefill_full(model, ids)
            check(torch.allclose(ref, ref_e, atol=1e-4, rtol=1e-4), "eager == sdpa (full prefill)")
            for attn in ("sdpa", "eager"):
                set_attn(model, attn)
                _, _, cache, got = prefill_chunked(model, ids, [64, 100, 36, 100], [10**6] * 4, "streaming")
                err = (got - ref).abs().max().item()
                check(err < 1e-4 and cache.layers[0].keys.shape[-2] == L,
                      f"chunked without pruning == full prefill ({attn}; max err {err:.1e})")
            collector = ScoreCollector(model)
            collector.enabled = True
            set_attn(model, "eager")
            chunk = ids[:, :50]
            model(input_ids=chunk, use_cache=True, logits_to_keep=1)
            cs = collector.colsums[0]
            check(cs.shape == (1, model.config.num_attention_heads, 50) and
                  torch.allclose(cs.sum(-1), torch.full_like(cs.sum(-1), 50.0), atol=1e-3),
                  "collected column sums: each query row sums to 1")
            collector.clear()
            # Chunked prefill with pruning: schedule bookkeeping and final cache sizes.
            for pruner in ("streaming", "snapkv"):
                set_attn(model, "eager" if pruner == "snapkv" else "sdpa")
                collector.enabled = pruner == "snapkv"
                for memtype in ("FM", "IM", "IMDC"):
                    chunks, mems = schedule(memtype, L, 64, 48)
                    tok, finite, cache, _ = prefill_chunked(model, ids, chunks, mems, pruner, collector)
                    lens = {layer.keys.shape[-2] for layer in cache.layers}
                    check(sum(chunks) == L and lens == {SINKS + 48} and bool(finite),
                          f"{pruner} {memtype}: chunks {chunks} mems {mems} -> cache {sorted(lens)}")
            # Streaming keeps exactly sinks + most recent m: compare the kept keys with the full cache.
            set_attn(model, "sdpa")
            collector.enabled = False
            _, _, full_cache, _ = prefill_full(model, ids)
            _, _, cache, _ = prefill_chunked(model, ids, [100, 100, 100], [1000, 1000, 1000], "streaming")
            check(torch.allclose(cache.layers[0].keys, full_cache.layers[0].keys, atol=1e-5),
                  "layer-0 keys of chunked prefill equal full prefill's (original positions)")
            _, _, cache, _ = prefill_chunked(model, ids, [100, 100, 100], [40, 40, 40], "streaming")
            k0 = full_cache.layers[0].keys
            want = torch.cat((k0[:, :, :SINKS], k0[:, :, L - 40:]), dim=2)
            check(torch.allclose(cache.layers[0].keys, want, atol=1e-5),
                  "streaming keeps sinks + the 40 most recent keys (layer 0)")
        for h in collector.handles:
            h.remove()
    print("selftest:", "PASSED" if ok else "FAILED", flush=True)
    return ok


def parse_settings(s):
    out = []
    for part in s.split(","):
        c, m = part.split(":")
        out.append((int(c), int(m)))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--L", type=int, default=32768, help="prompt length in tokens (32768)")
    p.add_argument("--settings", type=parse_settings, default=parse_settings("1024:1024,4096:4096"),
                   help="chunk:memory pairs, comma separated (1024:1024,4096:4096)")
    p.add_argument("--models", default="llama2-7b",
                   help="comma separated: llama2-7b, llama3-8b (wider set), tiny-mha, tiny-gqa")
    p.add_argument("--pruners", default="streaming,snapkv")
    p.add_argument("--memtypes", default="FM,IM,IMDC")
    p.add_argument("--no-full", action="store_true", help="skip the one-forward full prefill")
    p.add_argument("--reps", type=int, default=3, help="timed runs after one warm-up (median)")
    p.add_argument("--budget-s", type=float, default=0,
                   help="soft time budget: skip what would start after it, cut reps to fit (0: none)")
    p.add_argument("--dtype", choices=["bf16", "fp32"], default="bf16")
    p.add_argument("--no-calibration", action="store_true")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", default=os.path.join(os.environ.get("OUT", "."), "torch_baseline.json")
                   if os.environ.get("OUT") else "torch_baseline.json")
    p.add_argument("--selftest", action="store_true", help="run the correctness checks and exit")
    args = p.parse_args()
    device = torch.device(args.device)
    if args.selftest:
        sys.exit(0 if selftest(device) else 1)
    args.models = [m for m in args.models.split(",") if m]
    args.pruners = [x for x in args.pruners.split(",") if x]
    args.memtypes = [x for x in args.memtypes.split(",") if x]
    for mname in args.models:
        if mname not in MODEL_CONFIGS:
            p.error(f"unknown model {mname!r}; choose from {', '.join(MODEL_CONFIGS)}")
    Bench(args, device).run()


if __name__ == "__main__":
    main()
