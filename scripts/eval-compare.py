#!/usr/bin/env python3
"""Perplexities of two eval runs side by side: every setting both ran (same documents), the
relative difference of its perplexity over the documents (exp of the mean NLL), largest first.

    python3 scripts/eval-compare.py BASE/results.jsonl OTHER/results.jsonl [--limit 0.1]

Exits 1 when a setting differs by more than --limit percent (default 0.1: the GPU eval's bar).
"""
import argparse
import json
import math
import sys


def settings(path):
    """(tokens, pruner, method, chunk, memory, step_ntk) -> {doc: mean NLL}, and the backends."""
    out, backends = {}, set()
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("status") != "ok" or r.get("mean_nll") is None:
                continue
            key = (r["doc_tokens"], r["pruner"], r["method"], r["chunk"], r["memory"], r["step_ntk"])
            out.setdefault(key, {})[r["doc"]] = r["mean_nll"]
            backends.add(r.get("backend"))
    return out, backends


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("other")
    parser.add_argument("--limit", type=float, default=0.1, help="percent")
    args = parser.parse_args()
    base, base_backends = settings(args.base)
    other, other_backends = settings(args.other)
    rows = []
    for key, docs in other.items():
        if key not in base or set(base[key]) != set(docs):
            continue
        mean = lambda d: sum(d.values()) / len(d)
        a, b = math.exp(mean(base[key])), math.exp(mean(docs))
        rows.append((abs(b / a - 1) * 100, b / a - 1, key, a, b))
    rows.sort(reverse=True)
    print(f"base: {args.base} ({', '.join(map(str, base_backends))})")
    print(f"other: {args.other} ({', '.join(map(str, other_backends))})")
    print(f"{len(rows)} settings in both; limit {args.limit} %")
    print("| L | pruner | memory type | C | M | NTK | base | other | difference |")
    print("|---|---|---|---|---|---|---|---|---|")
    for _, diff, (tokens, pruner, method, chunk, memory, ntk), a, b in rows:
        print(f"| {tokens} | {pruner} | {method} | {chunk} | {memory} | {'yes' if ntk else 'no'} "
              f"| {a:.3f} | {b:.3f} | {diff * 100:+.3f} % |")
    if not rows:
        sys.exit("no setting in both")
    worst = rows[0][0]
    print(f"largest difference {worst:.3f} %, mean {sum(r[0] for r in rows) / len(rows):.3f} %")
    sys.exit(1 if worst > args.limit else 0)


if __name__ == "__main__":
    main()
