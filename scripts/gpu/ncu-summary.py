#!/usr/bin/env python3
"""Sums Nsight Compute's per-kernel GPU times by kernel family.

Reads the CSV of `ncu --csv --metrics gpu__time_duration.sum` (one row per profiled kernel)
and prints, per family of kernel names, the launches, the total and mean time and the share,
so that one layer's steady state of `mss` and of PyTorch can be read side by side.
Usage: ncu-summary.py FILE.csv [--per N]   (N: divide totals by N, e.g. layer-steps profiled)
"""
import csv
import sys
from collections import defaultdict

from kernel_names import family


def main():
    path = sys.argv[1]
    per = float(sys.argv[sys.argv.index("--per") + 1]) if "--per" in sys.argv else 1.0
    rows = []
    with open(path, newline="") as f:
        lines = [line for line in f if line.startswith('"')]
    for row in csv.DictReader(lines):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        unit = row.get("Metric Unit", "nsecond")
        value = float(row["Metric Value"].replace(",", ""))
        scale = {"nsecond": 1e-3, "usecond": 1.0, "msecond": 1e3, "second": 1e6}.get(unit, 1e-3)
        rows.append((family(row["Kernel Name"]), value * scale))
    total = sum(t for _, t in rows)
    groups = defaultdict(lambda: [0, 0.0])
    for name, t in rows:
        groups[name][0] += 1
        groups[name][1] += t
    print(f"{len(rows)} kernels, {total:.1f} us in all; per unit ({per:g}): {total / per:.1f} us, "
          f"{len(rows) / per:.1f} kernels")
    print(f"{'us/unit':>9} {'share':>6} {'launches':>8} {'mean us':>8}  kernel")
    for name, (n, t) in sorted(groups.items(), key=lambda kv: -kv[1][1]):
        print(f"{t / per:9.1f} {100 * t / total:5.1f}% {n:8d} {t / n:8.1f}  {name}")


if __name__ == "__main__":
    main()
