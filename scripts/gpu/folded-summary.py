#!/usr/bin/env python3
"""Where a host profile's samples go: the share of samples per thread, then per function
(self: the sampled frame itself; total: anywhere on the stack), from the folded stacks that
`prefill_timing --host-profile` writes (one line per stack: thread;root;...;leaf count).

    python3 scripts/gpu/folded-summary.py FILE.folded [--top 40] [--match TEXT]

`--match` adds, per function, the samples whose stack holds a frame containing TEXT (to see
how much of the time one part of the code takes, inclusive).
"""
import argparse
import collections
import re

# Rust symbols' hashes and generic arguments make one function many names.
HASH = re.compile(r"::h[0-9a-f]{16}$")


def short(name: str) -> str:
    name = HASH.sub("", name)
    # Drop generic arguments, innermost first.
    while True:
        shorter = re.sub(r"<[^<>]*>", "", name)
        if shorter == name:
            return name
        name = shorter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folded")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--match", action="append", default=[])
    args = parser.parse_args()

    threads = collections.Counter()
    own = collections.Counter()
    total = collections.Counter()
    matched = collections.Counter()
    samples = 0
    with open(args.folded) as lines:
        for line in lines:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            count = int(count)
            thread, *frames = stack.split(";")
            frames = [short(f) for f in frames]
            samples += count
            threads[thread] += count
            if frames:
                own[frames[-1]] += count
            for name in set(frames):
                total[name] += count
            for text in args.match:
                if any(text in f for f in frames):
                    matched[text] += count

    print(f"{samples} samples")
    print("threads:")
    for thread, count in threads.most_common(8):
        print(f"  {100 * count / samples:5.1f}%  {thread}")
    for text in args.match:
        print(f"stacks through '{text}': {100 * matched[text] / samples:.1f}%")
    print(f"self (top {args.top}):")
    for name, count in own.most_common(args.top):
        print(f"  {100 * count / samples:5.1f}%  {name[:160]}")
    print(f"total (top {args.top}):")
    for name, count in total.most_common(args.top):
        print(f"  {100 * count / samples:5.1f}%  {name[:160]}")


if __name__ == "__main__":
    main()
