#!/usr/bin/env python3
"""The GPU's SM clock, power draw and temperature during each step of a `prefill-check.sh` call,
from `nvidia-smi`'s samples (`timestamp, clocks.sm, power.draw, temperature.gpu`, CSV without
header or units) and the steps' start and end times (`NAME start|end EPOCH_SECONDS` lines).

A 7B prefill keeps the GPU busy ~96 % of the time, mostly in dense bf16 products: if the GPU
then meets its power limit and lowers its clock, a process's first timed prefill is its
fastest, and an implementation that idles more between kernels runs at a higher clock. Each
step's samples say whether that happens, for `mss` and PyTorch alike.

Usage: clocks.py SAMPLES.csv STEPS.txt
"""
import datetime
import statistics
import sys


def samples(path):
    """(epoch seconds, SM MHz, watts, °C) per sample; lines that do not parse are left out."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            fields = [x.strip() for x in line.split(",")]
            if len(fields) < 4:
                continue
            try:
                when = datetime.datetime.strptime(fields[0], "%Y/%m/%d %H:%M:%S.%f").timestamp()
                out.append((when, float(fields[1]), float(fields[2]), float(fields[3])))
            except ValueError:
                continue
    return out


def steps(path):
    """[(name, start, end)] in order, for the steps that ended."""
    starts, out = {}, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) != 3:
                continue
            name, what, when = parts[0], parts[1], float(parts[2])
            if what == "start":
                starts[name] = when
            elif what == "end" and name in starts:
                out.append((name, starts.pop(name), when))
    return out


def report(sampled, stepped):
    lines = ["| step | s | samples | SM clock MHz: mean (min–max) | power W: mean (max) | max °C |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, start, end in stepped:
        inside = [s for s in sampled if start <= s[0] <= end]
        if not inside:
            lines.append(f"| {name} | {end - start:.0f} | 0 | — | — | — |")
            continue
        clocks, watts, temps = ([s[i] for s in inside] for i in (1, 2, 3))
        lines.append(
            f"| {name} | {end - start:.0f} | {len(inside)} | {statistics.mean(clocks):.0f} "
            f"({min(clocks):.0f}–{max(clocks):.0f}) | {statistics.mean(watts):.0f} "
            f"({max(watts):.0f}) | {max(temps):.0f} |"
        )
    return "\n".join(lines)


def main():
    if len(sys.argv) != 3 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    sampled = samples(sys.argv[1])
    if not sampled:
        sys.exit(f"clocks.py: no samples in {sys.argv[1]}")
    print(report(sampled, steps(sys.argv[2])))


if __name__ == "__main__":
    main()
