#!/usr/bin/env python3
"""Each projection's cuBLAS time in a traced prefill (`prefill_timing --kernel-trace`'s CSV):
a layer runs its products in a fixed order around its attention (q, k, v, attention, o, gate,
up, down), so a product is named by its place between two attention kernels. Layer-steps whose
products between two attentions are not exactly the seven (the first and last, a chunk that
runs other products) are left out and counted.

Usage: products.py TRACE.csv
"""
import statistics
import sys
from collections import defaultdict

from gaps import read_csv
from kernel_names import is_attention, is_product

# After one layer's attention: its output, feed-forward products, then the next layer's q/k/v.
ORDER = ["o", "gate", "up", "down", "q", "k", "v"]


def main(path):
    kernels, _, _ = read_csv(path)
    kernels.sort()
    times, names = defaultdict(list), defaultdict(set)
    segment, kept, skipped = None, 0, 0

    def close(segment):
        nonlocal kept, skipped
        if segment is None:
            return
        if len(segment) != len(ORDER):
            skipped += 1
            return
        kept += 1
        for projection, (us, name) in zip(ORDER, segment):
            times[projection].append(us)
            names[projection].add(name)

    for start, end, _, name in kernels:
        if is_attention(name):
            close(segment)
            segment = []
        elif segment is not None and is_product(name):
            segment.append(((end - start) / 1e3, name.split("(")[0][:60]))
    print(f"{kept} layer-steps of seven products ({skipped} others left out)")
    if not kept:
        return
    total = 0.0
    for projection in ORDER:
        us = times[projection]
        median = statistics.median(us)
        total += median
        kinds = ", ".join(sorted(names[projection]))
        print(f"{projection:5} {median:7.1f} us median  {min(us):7.1f}-{max(us):7.1f}  {kinds}")
    print(f"all   {total:7.1f} us a layer-step (sum of medians)")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    main(sys.argv[1])
