"""Connectivity's targets (issue 12), measured: rounds, words sent per edge and wall-clock on
real graphs, and the paper's one-vs-two-cycles workload (rounds against log2 n), as markdown.

    python benchmarks/connectivity.py                     # targets + cycles n = 2^10..2^20
    python benchmarks/connectivity.py --max-log-n 14      # the quick bench's cycles only
    python benchmarks/connectivity.py --plot cycles.png   # also draw rounds against log2 n

The measurements are mpcsim.bench.connectivity's, the same rows `mpcsim bench` records (the
quick suite's cycles go to n = 2^14, the full suite's to 2^20). Every run is the local
backend, seed 0, caps enforced. Exit 1 if a target is missed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mpcsim.bench.connectivity import cycle_rows, plot_cycle_rounds, target_rows


def format_targets(rows: list[dict[str, Any]]) -> str:
    lines = ["| target | measured | bound | met | run |", "|---|---|---|---|---|"]
    verdict = {True: "yes", False: "NO", None: "skipped"}
    lines += [f"| {r['name']} | {r['value']} | {r['target']} | {verdict[r['pass']]} | "
              f"{r['note']} |" for r in rows]
    return "\n".join(lines)


def format_cycles(rows: list[dict[str, Any]]) -> str:
    lines = ["| cycles | n | s = n^delta | s used | q | D | rounds (bound) | 8 log2 n | "
             "words/edge | wall s | max words | met |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {c['cycles']} | 2^{c['log2_n']} | {c['s_rule']} = {c['s_rule_words']} | "
              f"{c['memory_words']} | {c['machines']:,} | {c['depth']} | {c['rounds']} "
              f"({c['round_bound']}) | {c['target']} | {c['words_per_edge']:.0f} | "
              f"{c['wall_s']:.2f} | {c['max_words']} | {'yes' if c['pass'] else 'NO'} |"
              for c in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-log-n", type=int, default=20, help="largest cycles n = 2^k")
    parser.add_argument("--plot", metavar="PNG", help="draw rounds against log2 n here")
    parser.add_argument("--no-targets", action="store_true", help="only the cycles table")
    args = parser.parse_args(argv)
    targets = [] if args.no_targets else target_rows()
    if targets:
        print(format_targets(targets), end="\n\n", flush=True)
    cycles = cycle_rows(tuple(range(10, args.max_log_n + 1, 2)))
    print(format_cycles(cycles))
    if args.plot:
        plot_cycle_rounds(cycles, Path(args.plot))
    return 0 if all(r["pass"] is not False for r in targets + cycles) else 1


if __name__ == "__main__":
    raise SystemExit(main())
