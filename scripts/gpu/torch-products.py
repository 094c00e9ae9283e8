#!/usr/bin/env python3
"""What PyTorch's kernels take for the pieces of one 7B layer and 1024-token chunk (bf16).

The products of the projections as `mss` groups them (q/k/v, output, gate/up, down) and the
attention of 1024 queries over 1024 memory entries and the chunk (causal from the bottom
right), timed with CUDA events over 50 runs after 10 warm-ups: the floor each piece of `mss`'s
layer is measured against.
"""
import torch
import torch.nn.functional as F
from torch.nn.attention.bias import causal_lower_right


def timed(fn, runs=50):
    for _ in range(10):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(runs):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / runs  # ms


def main():
    dev, dt = "cuda", torch.bfloat16
    tokens, hidden, inter, heads, dim = 1024, 4096, 11008, 32, 128
    x = torch.randn(tokens, hidden, device=dev, dtype=dt)
    h = torch.randn(tokens, inter, device=dev, dtype=dt)
    total = 0.0
    for name, w, inp in [
        ("q/k/v 1024x4096 -> 12288", torch.randn(3 * hidden, hidden, device=dev, dtype=dt), x),
        ("output 1024x4096 -> 4096", torch.randn(hidden, hidden, device=dev, dtype=dt), x),
        ("gate/up 1024x4096 -> 22016", torch.randn(2 * inter, hidden, device=dev, dtype=dt), x),
        ("down 1024x11008 -> 4096", torch.randn(hidden, inter, device=dev, dtype=dt), h),
    ]:
        ms = timed(lambda: F.linear(inp, w))
        flop = 2 * tokens * w.shape[0] * w.shape[1]
        total += ms
        print(f"{name:32s} {ms * 1e3:8.1f} us  {flop / ms / 1e9:6.0f} TFLOP/s")
    print(f"{'products of a layer':32s} {total * 1e3:8.1f} us")
    for memory in (1024, 2048):
        q = torch.randn(1, heads, tokens, dim, device=dev, dtype=dt)
        k = torch.randn(1, heads, memory + tokens, dim, device=dev, dtype=dt)
        v = torch.randn_like(k)
        mask = causal_lower_right(tokens, memory + tokens)
        ms = timed(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
        print(f"attention, 1024 queries after {memory:5d}   {ms * 1e3:8.1f} us (SDPA, causal lower right)")
        scale = dim ** -0.5
        def eager():
            s = torch.matmul(q, k.transpose(-1, -2)) * scale
            p = torch.softmax(s.float(), dim=-1).to(dt)
            return torch.matmul(p, v)
        ms = timed(eager)
        print(f"attention, 1024 queries after {memory:5d}   {ms * 1e3:8.1f} us (eager, unmasked)")


if __name__ == "__main__":
    main()
