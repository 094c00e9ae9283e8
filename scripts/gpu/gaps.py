#!/usr/bin/env python3
"""Where the GPU sits idle between kernels, from an Nsight Systems trace exported to SQLite or
from `prefill_timing --kernel-trace`'s CSV (CUPTI's activity records, for machines without
`nsys`).

Nsight Compute times each kernel alone; it cannot say why a prefill's wall time exceeds the sum
of its kernels. This reads the kernels' start and end times on the device and the host API calls
that launched them (matched by correlation id), over the last FRACTION of the trace's kernel
time span (by default the second half of an Nsight Systems trace: `prefill_timing --repeats 1`
runs a warm-up prefill, then the timed one; all of a CSV, which holds the timed runs only), and
prints:
- the span, the time some kernel ran (their union) and the idle rest;
- each idle gap of at least 1 us, summed by the pair of kernel families around it, with the
  part where the next kernel's launch call had not returned until after the gap began (the
  GPU waited for the host: "starved") apart from the rest (it waited on something already
  queued: an event, a stream dependency, the launch latency).

Usage: gaps.py TRACE.sqlite|TRACE.csv [--last FRACTION] [--top N]
"""
import csv
import re
import shutil
import sqlite3
import subprocess
import sys
from collections import defaultdict

from kernel_names import family as kernel_family
from kernel_names import is_attention, is_product


def family(name):
    name = kernel_family(name, width=60)
    # cuBLAS's kernels differ by tile shape only: one family.
    if not is_attention(name) and is_product(name):
        return "cuBLAS"
    return name


def tables(db):
    return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def read_sqlite(path):
    """Kernels (start, end, correlation id, name), copies and fills (start, end, name) and each
    API call's (start, end) by correlation id, from Nsight Systems' SQLite export."""
    db = sqlite3.connect(path)
    have = tables(db)
    names = dict(db.execute("SELECT id, value FROM StringIds"))
    kernels = [
        (start, end, corr, names.get(name_id, "?"))
        for start, end, corr, name_id in db.execute(
            "SELECT start, end, correlationId, demangledName FROM CUPTI_ACTIVITY_KIND_KERNEL"
        )
    ]
    launches = {}
    for table in ("CUPTI_ACTIVITY_KIND_RUNTIME", "CUPTI_ACTIVITY_KIND_DRIVER"):
        if table in have:
            for corr, start, end in db.execute(f"SELECT correlationId, start, end FROM {table}"):
                launches[corr] = (start, end)
    copies = []
    for table, name in (
        ("CUPTI_ACTIVITY_KIND_MEMCPY", "memcpy"),
        ("CUPTI_ACTIVITY_KIND_MEMSET", "memset"),
    ):
        if table in have:
            rows = db.execute(f"SELECT start, end FROM {table}")
            copies += [(start, end, name) for start, end in rows]
    return kernels, copies, launches


def rough_demangle(name):
    """The qualified name of an Itanium-mangled symbol (`_ZN7cutlass6KernelI...` gives
    `cutlass::Kernel`), where no `c++filt` is at hand; the name itself if it is not one."""
    match = re.match(r"_Z(N?)", name)
    if not match:
        return name
    rest, parts = name[match.end():], []
    while True:
        length = re.match(r"\d+", rest)
        if not length:
            break
        n = int(length.group())
        parts.append(rest[length.end():length.end() + n])
        rest = rest[length.end() + n:]
        if not match.group(1):
            break
    return "::".join(parts) or name


def demangle(names):
    """Each mangled name of `names` (CUPTI gives C++ kernels' names mangled) demangled, through
    `c++filt` when there is one."""
    mangled = sorted({n for n in names if n.startswith("_Z")})
    plain = {}
    if mangled and shutil.which("c++filt"):
        try:
            done = subprocess.run(["c++filt"], input="\n".join(mangled) + "\n", capture_output=True,
                                  text=True, timeout=60, check=True)
            lines = done.stdout.splitlines()
            if len(lines) == len(mangled):
                plain = dict(zip(mangled, lines))
        except (OSError, subprocess.SubprocessError):
            pass
    return {n: plain.get(n) or rough_demangle(n) for n in mangled}


def read_csv(path):
    """As `read_sqlite`, from `prefill_timing --kernel-trace`'s CSV: one row per record,
    `kind,start_ns,end_ns,correlation_id,stream_or_cbid,name`. Records CUPTI left incomplete (no
    start or end) are left out."""
    kernels, copies, launches = [], [], {}
    with open(path, newline="") as f:
        rows = csv.DictReader(f)
        want = {"kind", "start_ns", "end_ns", "correlation_id", "name"}
        if not want <= set(rows.fieldnames or ()):
            sys.exit(f"{path}: not a kernel trace (columns {rows.fieldnames}, want {sorted(want)})")
        for row in rows:
            try:
                kind, start, end = row["kind"], int(row["start_ns"]), int(row["end_ns"])
                corr = int(row["correlation_id"])
            except (TypeError, ValueError) as e:
                sys.exit(f"{path}:{rows.line_num}: {e}")
            if kind in ("driver", "runtime", "internal_launch"):
                launches[corr] = (start, end)
            elif start <= 0 or end < start:
                continue
            elif kind == "kernel":
                kernels.append((start, end, corr, row["name"] or "?"))
            elif kind in ("memcpy", "memset"):
                copies.append((start, end, kind))
    plain = demangle(k[3] for k in kernels)
    kernels = [(s, e, c, plain.get(n, n)) for s, e, c, n in kernels]
    return kernels, copies, launches


def api_bounds(launches):
    """The first API call's start and the last one's end (`None` without any), from the calls
    `read_csv` or `read_sqlite` gives: with the GPU's first and last operations they say how
    long the host works alone before and after a traced prefill (set-up, the first launches,
    the read-back)."""
    calls = [(start, end) for start, end in launches.values() if start > 0 and end >= start]
    if not calls:
        return None
    return min(start for start, _ in calls), max(end for _, end in calls)


def main():
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    path = sys.argv[1]
    from_csv = path.endswith(".csv")
    default_last = 1.0 if from_csv else 0.5
    last = float(sys.argv[sys.argv.index("--last") + 1]) if "--last" in sys.argv else default_last
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 25
    kernels, copies, launches = read_csv(path) if from_csv else read_sqlite(path)
    kernels.sort()
    if not kernels:
        print("no kernels in the trace")
        return
    first, final = kernels[0][0], max(k[1] for k in kernels)
    begin = final - (final - first) * last
    kernels = [k for k in kernels if k[0] >= begin]
    if not kernels:
        sys.exit(f"no kernel starts in the last {last:.0%} of the trace")
    # Copies and fills keep the GPU busy too: they count as a kernel would (named as such).
    kernels += [(start, end, None, name) for start, end, name in copies if start >= begin]
    kernels.sort(key=lambda k: (k[0], k[1]))
    span = final - kernels[0][0]
    busy = 0
    reach = kernels[0][0]
    gaps = defaultdict(lambda: [0, 0, 0.0, 0.0])  # count, starved count, idle ns, starved ns
    previous = None
    for start, end, corr, name in kernels:
        name = family(name)
        if start > reach and previous is not None:
            gap = start - reach
            if gap >= 1000:
                entry = gaps[(previous, name)]
                entry[0] += 1
                entry[2] += gap
                launched = launches.get(corr)
                if launched is not None and launched[1] > reach:
                    entry[1] += 1
                    entry[3] += gap
        busy += max(0, end - max(start, reach))
        reach = max(reach, end)
        previous = name
    idle = span - busy
    starved = sum(e[3] for e in gaps.values())
    print(f"{len(kernels)} kernels over the last {last:.0%} of the trace: span {span / 1e6:.1f} ms, "
          f"kernels running {busy / 1e6:.1f} ms ({busy / max(span, 1):.1%}), idle {idle / 1e6:.1f} ms; "
          f"of the idle time in gaps of 1 us or more, {starved / 1e6:.2f} ms with the next "
          f"kernel's launch call still running (host-starved)")
    bounds = api_bounds(launches) if last == 1.0 else None
    if bounds is not None:
        ops_start = min(k[0] for k in kernels)
        print(f"host alone: {max(0, ops_start - bounds[0]) / 1e6:.2f} ms from the first API call to "
              f"the GPU's first operation, {max(0, bounds[1] - final) / 1e6:.2f} ms from its last "
              f"kernel's end to the last API call's end")
    if not launches:
        print("(no API calls in the trace: starvation not measured)")
    else:
        unmatched = sum(1 for k in kernels if k[2] is not None and k[2] not in launches)
        if unmatched:
            print(f"({unmatched} kernels matched no API call by correlation id: not counted as "
                  f"starved)")
    print("  idle ms  gaps  starved ms  starved  mean us  before -> after")
    for (before, after), (count, n_starved, ns, starved_ns) in sorted(
        gaps.items(), key=lambda kv: -kv[1][2]
    )[:top]:
        print(f"  {ns / 1e6:7.2f} {count:5d} {starved_ns / 1e6:11.2f} {n_starved:8d} "
              f"{ns / count / 1e3:8.1f}  {before} -> {after}")


if __name__ == "__main__":
    main()
