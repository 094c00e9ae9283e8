#!/usr/bin/env python3
"""PyTorch's attention kernels on one 7B layer and step of a chunked prefill (a chunk of 1024
queries over 1024 memory entries and itself, causal from the bottom right, 32 heads of 128,
bf16), each backend timed alone, and where the cuDNN library PyTorch loads lives: what a
run-time cuDNN attention path in `mss` would call, and what it would gain over the crate's
flash kernel (~125 us a layer and step, docs/results/gpu-prefill.md).

Usage: sdpa-backends.py [--heads 32] [--chunk 1024] [--memory 1024] [--reps 50]
"""
import argparse
import glob
import os
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.bias import causal_lower_right


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--chunk", type=int, default=1024)
    parser.add_argument("--memory", type=int, default=1024)
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
    for lib in sorted(set(glob.glob(os.path.join(os.path.dirname(torch.__file__), "..", "nvidia", "cudnn", "lib", "libcudnn*")))):
        print("  ", os.path.normpath(lib))
    keys = args.memory + args.chunk
    shape_q, shape_k = (1, args.heads, args.chunk, 128), (1, args.heads, keys, 128)
    q = torch.randn(shape_q, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(shape_k, device="cuda", dtype=torch.bfloat16)
    v = torch.randn(shape_k, device="cuda", dtype=torch.bfloat16)
    # Each query sees the memory and the chunk up to itself: bottom-right causal. For scale,
    # the same shapes top-left causal (`is_causal`: query t sees keys 0..=t) and unmasked.
    masks = {
        "bottom-right causal": (dict(attn_mask=causal_lower_right(args.chunk, keys)), args.memory + (args.chunk + 1) / 2),
        "top-left causal": (dict(is_causal=True), (args.chunk + 1) / 2),
        "no mask": (dict(), keys),
    }
    for mask_name, (mask, seen) in masks.items():
        flops = 4 * args.heads * 128 * args.chunk * seen
        reference = None
        for backend in (SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION):
            try:
                with sdpa_kernel(backend):
                    out = F.scaled_dot_product_attention(q, k, v, **mask)
                    for _ in range(3):
                        F.scaled_dot_product_attention(q, k, v, **mask)
                    torch.cuda.synchronize()
                    start = time.perf_counter()
                    for _ in range(args.reps):
                        F.scaled_dot_product_attention(q, k, v, **mask)
                    torch.cuda.synchronize()
                    us = (time.perf_counter() - start) / args.reps * 1e6
                if reference is None:
                    reference = out.float()
                diff = ((out.float() - reference).abs().max() / reference.abs().max()).item()
                print(f"{mask_name:20s} {backend.name:20s} {us:8.1f} us  {flops / us / 1e6:6.1f} TFLOP/s  max diff {diff:.1e}")
            except Exception as error:  # a backend that refuses the shape or the mask
                print(f"{mask_name:20s} {backend.name:20s} not available: {str(error).splitlines()[0][:160]}")


if __name__ == "__main__":
    main()
