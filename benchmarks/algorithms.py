"""The algorithm library's table and its two performance ratios, measured in one run.

    python benchmarks/algorithms.py [--repeats 3] [--max-n 1000000] [--algorithms sort,hop-k]
                                    [--ratio-repeats 7] [--no-ray] [--no-table | --no-ratios]
                                    [--json FILE]

Table: for every algorithm, n in {10^3, 10^4, 10^5, 10^6} words and s = n^(1/2) and n^(2/3)
words exactly (rounded up; q = what the algorithm's sizing needs for that s): rounds, the
documented bound, wall_s (the rounds' wall time from the trace: median of --repeats,
[min-max]), the largest memory any machine held (words), and whether the output equals the
sequential reference.
Runs whose first repeat takes over 20 s are not repeated (their wall_s is one run).

Ratios: the rows `mpcsim bench` measures, at the same configurations (mpcsim.bench.library:
ours end to end, i.e. the whole mpcsim.run, and the baseline alternately, median of
--ratio-repeats with min and max; the note gives the rounds alone too):
1. hop-k, N = 10^6, k = 64, local backend, machines of 2^18 words, vs vectorised numpy
   (mpcsim.bench.baselines.numpy_hopk: find by a stable argsort, then f^64 by repeated
   squaring). Target <= 5x.
2. sort of 10^6 float64 vs numpy.sort (numpy's default, fastest kind): local backend, machines
   of 2^18 words (target <= 5x); Ray backend, 2 actors, machines of 2^19 words (target <= 10x).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from typing import Any

import numpy as np

import mpcsim
from mpcsim.algorithms import ALGORITHMS
from mpcsim.bench.baselines import numpy_hopk, numpy_sort
from mpcsim.bench.library import algorithm_vs_baseline
from mpcsim.bench.ratios import Target

TABLE_ALGORITHMS = ("prefix-sum", "segmented-prefix-sum", "sort", "list-ranking", "hop-k",
                    "connectivity")
SIZES = (10**3, 10**4, 10**5, 10**6)
DELTAS = ((1 / 2, "1/2"), (2 / 3, "2/3"))
SLOW_RUN_S = 20.0


def memory_words(n: int, delta: float) -> int:
    """s = n^delta words, rounded up: every algorithm runs at exactly this s."""
    return math.ceil(n ** delta - 1e-9)


def table_row(name: str, n: int, delta: float, label: str, repeats: int) -> dict[str, Any]:
    spec = ALGORITHMS[name]
    s = memory_words(n, delta)
    q, _ = spec.sizing(n, None, s)
    inputs = spec.make_input(n, np.random.default_rng(n))
    walls, result = [], None
    for i in range(repeats):
        result = mpcsim.run(spec.program(), inputs, num_machines=q, memory_words=s, seed=i)
        walls.append(result.wall_s)
        if i == 0 and result.wall_s > SLOW_RUN_S:
            break
    assert result is not None
    return {
        "algorithm": name, "n": n, "delta": label, "memory_words": s,
        "machines": q, "rounds": result.rounds, "round_bound": spec.round_bound(n, q, s),
        "wall_s": statistics.median(walls), "wall_min": min(walls), "wall_max": max(walls),
        "repeats": len(walls), "max_memory_words": result.trace.max_memory_words,
        "verified": bool(spec.verify(result.output, inputs)),
    }


# -- the ratios: the same rows `mpcsim bench` measures (mpcsim.bench.library) ----------------

def ratio_rows(repeats: int, ray: bool) -> list[dict[str, Any]]:
    le = lambda bound: Target("<=", bound)  # noqa: E731
    rows = [
        algorithm_vs_baseline("hop-k N=10^6, k=64, local vs numpy pointer doubling", "hop-k",
                              10**6, {"k": 64}, lambda x: numpy_hopk(x, 64), le(5.0), repeats,
                              memory_words=2**18),
        algorithm_vs_baseline("sort 10^6 float64, local vs numpy.sort", "sort", 10**6, {},
                              numpy_sort, le(5.0), repeats, memory_words=2**18),
    ]
    if ray:
        rows.append(algorithm_vs_baseline("sort 10^6 float64, Ray (2 actors) vs numpy.sort",
                                          "sort", 10**6, {}, numpy_sort, le(10.0), repeats,
                                          backend="ray", num_workers=2, memory_words=2**19))
    return rows


# -- printing ---------------------------------------------------------------------------------

def print_header() -> None:
    print("| algorithm | n | s = n^delta | s used | q | rounds | bound | wall_s (median [min-max])"
          " | max memory words | verified |")
    print("|---|---|---|---|---|---|---|---|---|---|")


def print_table(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        wall = (f"{r['wall_s']:.3f} [{r['wall_min']:.3f}-{r['wall_max']:.3f}]"
                if r["repeats"] > 1 else f"{r['wall_s']:.3f} (1 run)")
        print(f"| {r['algorithm']} | 10^{round(math.log10(r['n']))} | n^{r['delta']} | "
              f"{r['memory_words']} | {r['machines']} | {r['rounds']} | "
              f"{r['round_bound']} | {wall} | {r['max_memory_words']} | "
              f"{'yes' if r['verified'] else 'NO'} |", flush=True)


def print_ratios(rows: list[dict[str, Any]]) -> None:
    print("| benchmark | ours, end to end: median (min-max) | baseline | target | result | "
          "configuration |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if r["ratio"] is None:
            print(f"| {r['name']} | - | - | {r['target']} | skipped | {r['note']} |")
            continue
        verdict = "pass" if r["pass"] else "FAIL"
        print(f"| {r['name']} | {r['ratio']:.2f}x ({r['min']:.2f}-{r['max']:.2f}), "
              f"{r['ours_s'] * 1e3:.1f} ms | {r['baseline_s'] * 1e3:.1f} ms | {r['target']} | "
              f"{verdict} | {r['note']} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per table row")
    parser.add_argument("--ratio-repeats", type=int, default=7, help="runs per ratio")
    parser.add_argument("--max-n", type=int, default=10**6, help="largest n in the table")
    parser.add_argument("--algorithms", default=",".join(TABLE_ALGORITHMS))
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray ratio")
    parser.add_argument("--no-table", action="store_true", help="only the ratios")
    parser.add_argument("--no-ratios", action="store_true", help="only the table")
    parser.add_argument("--json", metavar="FILE", help="also write every row as JSON")
    args = parser.parse_args(argv)
    out: dict[str, Any] = {"table": [], "ratios": []}
    if not args.no_table:
        print(f"Table: {time.strftime('%Y-%m-%d')}, local backend\n")
        print_header()
        rows = out["table"]
        for name in args.algorithms.split(","):
            for n in (n for n in SIZES if n <= args.max_n):
                for delta, label in DELTAS:
                    rows.append(table_row(name, n, delta, label, args.repeats))
                    print_table(rows[-1:])
        print()
    if not args.no_ratios:
        print("Ratios:\n")
        out["ratios"] = ratio_rows(args.ratio_repeats, not args.no_ray)
        print_ratios(out["ratios"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    if not args.no_ray and not args.no_ratios:
        from mpcsim.backends import ray_actors

        ray_actors.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
