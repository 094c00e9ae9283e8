#!/usr/bin/env python3
"""Where the GPU sits idle between kernels, from an Nsight Systems trace exported to SQLite.

Nsight Compute times each kernel alone; it cannot say why a prefill's wall time exceeds the sum
of its kernels. This reads the kernels' start and end times on the device and the host API calls
that launched them (matched by correlation id), over the last FRACTION of the trace's kernel
time span (by default the second half: `prefill_timing --repeats 1` runs a warm-up prefill, then
the timed one), and prints:
- the span, the time some kernel ran (their union) and the idle rest;
- each idle gap of at least 1 us, summed by the pair of kernel families around it, with the
  part where the next kernel's launch call had not returned until after the gap began (the
  GPU waited for the host: "starved") apart from the rest (it waited on something already
  queued: an event, a stream dependency, the launch latency).

Usage: gaps.py TRACE.sqlite [--last FRACTION] [--top N]
"""
import sqlite3
import sys
from collections import defaultdict

from kernel_names import family as kernel_family


def family(name):
    name = kernel_family(name, width=60)
    # cuBLAS's kernels differ by tile shape only: one family.
    if name.startswith("nvjet") or "gemm" in name or "cutlass" in name:
        return "cuBLAS"
    return name


def tables(db):
    return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def main():
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    path = sys.argv[1]
    last = float(sys.argv[sys.argv.index("--last") + 1]) if "--last" in sys.argv else 0.5
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 25
    db = sqlite3.connect(path)
    have = tables(db)
    names = dict(db.execute("SELECT id, value FROM StringIds"))
    kernels = db.execute(
        "SELECT start, end, correlationId, demangledName FROM CUPTI_ACTIVITY_KIND_KERNEL ORDER BY start"
    ).fetchall()
    if not kernels:
        print("no kernels in the trace")
        return
    launch_end = {}
    for table in ("CUPTI_ACTIVITY_KIND_RUNTIME", "CUPTI_ACTIVITY_KIND_DRIVER"):
        if table in have:
            for corr, end in db.execute(f"SELECT correlationId, end FROM {table}"):
                launch_end[corr] = end
    first, final = kernels[0][0], max(k[1] for k in kernels)
    begin = final - (final - first) * last
    kernels = [k for k in kernels if k[0] >= begin]
    if not kernels:
        sys.exit(f"no kernel starts in the last {last:.0%} of the trace")
    # Copies and fills keep the GPU busy too: they count as a kernel would (named as such).
    for table, name_id, name in (
        ("CUPTI_ACTIVITY_KIND_MEMCPY", -1, "memcpy"),
        ("CUPTI_ACTIVITY_KIND_MEMSET", -2, "memset"),
    ):
        if table in have:
            names[name_id] = name
            kernels += [
                (start, end, None, name_id)
                for start, end in db.execute(f"SELECT start, end FROM {table}")
                if start >= begin
            ]
    kernels.sort()
    span = final - kernels[0][0]
    busy = 0
    reach = kernels[0][0]
    gaps = defaultdict(lambda: [0, 0, 0.0, 0.0])  # count, starved count, idle ns, starved ns
    previous = None
    for start, end, corr, name_id in kernels:
        name = family(names.get(name_id, "?"))
        if start > reach and previous is not None:
            gap = start - reach
            if gap >= 1000:
                entry = gaps[(previous, name)]
                entry[0] += 1
                entry[2] += gap
                launched = launch_end.get(corr)
                if launched is not None and launched > reach:
                    entry[1] += 1
                    entry[3] += gap
        busy += max(0, end - max(start, reach))
        reach = max(reach, end)
        previous = name
    idle = span - busy
    starved = sum(e[3] for e in gaps.values())
    print(f"{len(kernels)} kernels over the last {last:.0%} of the trace: span {span / 1e6:.1f} ms, "
          f"kernels running {busy / 1e6:.1f} ms ({busy / span:.1%}), idle {idle / 1e6:.1f} ms; "
          f"of the idle time in gaps of 1 us or more, {starved / 1e6:.2f} ms with the next "
          f"kernel's launch call still running (host-starved)")
    if not launch_end:
        print("(no API calls in the trace: starvation not measured)")
    print("  idle ms  gaps  starved ms  starved  mean us  before -> after")
    for (before, after), (count, n_starved, ns, starved_ns) in sorted(
        gaps.items(), key=lambda kv: -kv[1][2]
    )[:top]:
        print(f"  {ns / 1e6:7.2f} {count:5d} {starved_ns / 1e6:11.2f} {n_starved:8d} "
              f"{ns / count / 1e3:8.1f}  {before} -> {after}")


if __name__ == "__main__":
    main()
