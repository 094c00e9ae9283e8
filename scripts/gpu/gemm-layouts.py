"""Times one 7B layer's linear products in PyTorch (cuBLAS) on the GPU it runs on: each product
alone and grouped into one wider product, with the weight stored as mss stores it (`[in, out]`,
x @ W) and as PyTorch's Linear does (`[out, in]`, x @ Wᵀ), through cuBLAS and cuBLASLt. It says
which layout and grouping the products of `mss` should take before any Rust is written for it.

    python3 scripts/gpu/gemm-layouts.py [--tokens 1024] [--reps 50]
"""

import argparse

import torch

# LLaMA-2-7B: hidden 4096, 32 heads of 128 (no GQA), feed-forward 11008.
HIDDEN, KV, FF = 4096, 4096, 11008


def timed(fn, reps):
    """Median of `reps` CUDA-event timings of `fn`, in microseconds, after a warm-up."""
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1e3)
    times.sort()
    return times[len(times) // 2]


def weights(k, ns, layout):
    """Random weights of widths `ns` over `k` inputs, one tensor per width, in `layout`."""
    scale = k**-0.5
    if layout == "in_out":
        return [torch.randn(k, n, device="cuda", dtype=torch.bfloat16) * scale for n in ns]
    return [torch.randn(n, k, device="cuda", dtype=torch.bfloat16) * scale for n in ns]


def product(x, w, layout):
    return x @ w if layout == "in_out" else torch.nn.functional.linear(x, w)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=1024)
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    m = args.tokens
    print(torch.cuda.get_device_name(), "torch", torch.__version__, "tokens", m)
    groups = {
        "q|k|v": (HIDDEN, [HIDDEN, KV, KV]),
        "o": (HIDDEN, [HIDDEN]),
        "gate|up": (HIDDEN, [FF, FF]),
        "down": (FF, [HIDDEN]),
    }
    print(
        f"{'library':9} {'layout':7} {'group':8} {'separate us':>12} {'TFLOP/s':>8}"
        f" {'one product us':>15} {'TFLOP/s':>8} {'batched us':>11} {'TFLOP/s':>8}"
    )
    totals = {}
    for library in ["cublas", "cublaslt"]:
        torch.backends.cuda.preferred_blas_library(library)
        for layout in ["in_out", "out_in"]:
            for name, (k, ns) in groups.items():
                x = torch.randn(1, m, k, device="cuda", dtype=torch.bfloat16)
                ws = weights(k, ns, layout)
                flop = 2 * m * k * sum(ns)
                separate = timed(lambda: [product(x, w, layout) for w in ws], args.reps)
                fused_w = torch.cat(ws, dim=1 if layout == "in_out" else 0)
                fused = timed(lambda: product(x, fused_w, layout), args.reps)
                # Equal widths: one strided-batched product over weights stored one after another
                # and the input repeated by a zero stride (the outputs stay one tensor each).
                batched = float("nan")
                if len(ns) > 1 and len(set(ns)) == 1:
                    stacked = torch.stack(ws)
                    xs = x[0].expand(len(ns), m, k)
                    if layout == "in_out":
                        batched = timed(lambda: torch.bmm(xs, stacked), args.reps)
                    else:
                        batched = timed(lambda: torch.bmm(xs, stacked.transpose(1, 2)), args.reps)
                totals.setdefault((library, layout), [0.0, 0.0])
                totals[(library, layout)][0] += separate
                totals[(library, layout)][1] += fused
                print(
                    f"{library:9} {layout:7} {name:8} {separate:12.1f} {flop / separate / 1e6:8.0f}"
                    f" {fused:15.1f} {flop / fused / 1e6:8.0f}"
                    f" {batched:11.1f} {flop / batched / 1e6:8.0f}"
                )
    print("one layer's products, us (separate, grouped):")
    for (library, layout), (separate, fused) in totals.items():
        print(f"  {library:9} {layout:7} {separate:8.1f} {fused:8.1f}")


if __name__ == "__main__":
    main()
