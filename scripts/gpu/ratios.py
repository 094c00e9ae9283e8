#!/usr/bin/env python3
"""`mss`'s prefill time over PyTorch's, configuration by configuration, from logs of rounds run
alternately in one call (`prefill-check.sh ratio`): each round's ratio, their median and
spread, and the goal's ratio beside them. A speed claim here counts as a ratio to PyTorch in
the same call; one round's ratio moves with the GPU's clock between processes, so the median
of several alternating rounds is what to compare with the goal.

Usage: ratios.py --torch T1.log T2.log ... --mss M1.log M2.log ...   (round i: Ti and Mi)

A PyTorch log holds `bench/torch_baseline.py`'s lines (`... streaming FM C=1024 M=1024: TTFT
1.160 s ...`); an `mss` log `prefill_timing`'s table rows (`| streaming_llm FM | 32768 | 1024
| 1024 | 0.786 | ...`).
"""
import argparse
import re
import statistics
import sys

# PyTorch's pruner names for `mss`'s.
TORCH_PRUNER = {"streaming_llm": "streaming", "snapkv": "snapkv"}
# Issue 11's goal: seconds for `mss` beside the PyTorch seconds the issue quoted.
GOAL = {"streaming_llm FM": (0.8, 1.19), "snapkv IMDC": (0.9, 2.01)}

TORCH_LINE = re.compile(r"chunked\s+(\S+)\s+(FM|IM|IMDC|FI)\s+C=\d+ M=\d+: TTFT ([0-9.]+) s")
MSS_ROW = re.compile(r"^\| ([a-z_]+) (FM|IM|IMDC|FI) \| \d+ \| \d+ \| \d+ \| ([0-9.]+) \|")


def torch_times(text):
    """{(pruner, memory type): seconds} from a PyTorch log (PyTorch's pruner names)."""
    return {(m[1], m[2]): float(m[3]) for m in TORCH_LINE.finditer(text)}


def mss_times(text):
    """{(pruner, memory type): seconds} from an `mss` log, pruners named as PyTorch names them."""
    times = {}
    for line in text.splitlines():
        m = MSS_ROW.match(line)
        if m and m[1] in TORCH_PRUNER:
            times[(TORCH_PRUNER[m[1]], m[2])] = float(m[3])
    return times


def read(path):
    """A log's text; empty, with a word on standard error, where a step left none (skipped at
    the call's deadline): the other rounds still count."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError as e:
        print(f"ratios.py: {e}: that round left out", file=sys.stderr)
        return ""


def ratios(torch_logs, mss_logs):
    """{configuration: [(mss s, PyTorch s), ...]} over the rounds both logs of hold it."""
    rounds = {}
    for t_text, m_text in zip(torch_logs, mss_logs):
        t, m = torch_times(t_text), mss_times(m_text)
        for pruner, torch_name in TORCH_PRUNER.items():
            for memory in ("FM", "IM", "IMDC", "FI"):
                key = (torch_name, memory)
                if key in t and key in m:
                    rounds.setdefault(f"{pruner} {memory}", []).append((m[key], t[key]))
    return rounds


def report(rounds):
    """A table row per configuration: each round, the median of the rounds' ratios, their
    spread, and the ratio of the two sides' medians (each process measured on its own: robust
    to one slow process on either side) beside the goal's."""
    lines = ["| configuration | rounds: mss / PyTorch (ratio) | median ratio | spread | "
             "median mss / median PyTorch | goal ratio |",
             "| --- | --- | --- | --- | --- | --- |"]
    for config, pairs in rounds.items():
        each = [m / t for m, t in pairs]
        runs = ", ".join(f"{m:.3f} / {t:.3f} ({m / t:.3f})" for m, t in pairs)
        goal = GOAL.get(config)
        goal_text = f"{goal[0] / goal[1]:.3f} ({goal[0]} / {goal[1]} s)" if goal else "—"
        mss_median = statistics.median(m for m, _ in pairs)
        torch_median = statistics.median(t for _, t in pairs)
        lines.append(f"| {config} | {runs} | {statistics.median(each):.3f} | "
                     f"{min(each):.3f}–{max(each):.3f} | {mss_median:.3f} / {torch_median:.3f} "
                     f"({mss_median / torch_median:.3f}) | {goal_text} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch", nargs="+", required=True, help="PyTorch logs, one per round")
    parser.add_argument("--mss", nargs="+", required=True, help="mss logs, one per round")
    args = parser.parse_args()
    if len(args.torch) != len(args.mss):
        sys.exit(f"ratios.py: {len(args.torch)} PyTorch logs but {len(args.mss)} mss logs")
    rounds = ratios([read(p) for p in args.torch], [read(p) for p in args.mss])
    if not rounds:
        sys.exit("ratios.py: no configuration found in both a PyTorch and an mss log")
    print(report(rounds))


if __name__ == "__main__":
    main()
