"""What checkpoints cost on the quick bench's Ray rows, side by side in one Ray session.

    python benchmarks/checkpoint_overhead.py [--repeats 5] [--every 0 5 10 20 50] [--json]

Rows (mpcsim.bench.core and the bench's Ray sort row): the barrier (200 empty rounds, 8
machines on 8 actors), the shuffle (8 machines each sending 2 MB to every other, 6 rounds on 8
actors) and sort of 10^6 float64 on 2 actors, each as the rounds' total wall time (a median
round would hide the one round in K that checkpoints). Each repeat runs every checkpoint_every value in turn (0: no checkpoints), so noise hits
them alike; the overhead is the median over repeats against checkpoint_every=0.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from typing import Any, Callable

import numpy as np

import mpcsim
from mpcsim.algorithms import ALGORITHMS
from mpcsim.bench.core import (BARRIER_ROUNDS, SHUFFLE_MACHINES, SHUFFLE_ROUNDS, SHUFFLE_WORDS,
                               AllToAll, EmptyRounds)

SORT_N = 1_000_000


def barrier(every: int) -> float:
    return mpcsim.run(EmptyRounds(BARRIER_ROUNDS), num_machines=8, memory_words=1,
                      backend="ray", num_workers=8, checkpoint_every=every).wall_s


def shuffle(every: int) -> float:
    return mpcsim.run(AllToAll(SHUFFLE_ROUNDS), num_machines=SHUFFLE_MACHINES,
                      memory_words=SHUFFLE_WORDS, backend="ray", num_workers=SHUFFLE_MACHINES,
                      checkpoint_every=every).wall_s


def sort_rows() -> Callable[[int], float]:
    spec = ALGORITHMS["sort"]
    q, s = spec.sizing(SORT_N, None, 2 * 2**18)
    inputs = spec.make_input(SORT_N, np.random.default_rng(0))

    def sort(every: int) -> float:
        return mpcsim.run(spec.program(), inputs, num_machines=q, memory_words=s, backend="ray",
                          num_workers=2, checkpoint_every=every).wall_s
    return sort


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--every", type=int, nargs="+", default=[0, 2, 5, 10, 20])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from mpcsim.backends import ray_actors

    ray_actors.connect()
    rows: dict[str, dict[int, list[float]]] = {}
    try:
        for name, fn in (("ray barrier, 200 rounds", barrier),
                         ("ray shuffle 8x2 MB, 7 rounds", shuffle),
                         (f"ray sort {SORT_N:,} (2 actors), rounds' wall", sort_rows())):
            fn(0)  # warm-up: actors started and pooled
            times: dict[int, list[float]] = {every: [] for every in args.every}
            for _ in range(args.repeats):
                for every in args.every:
                    times[every].append(fn(every))
            rows[name] = times
    finally:
        ray_actors.shutdown()
    out: list[dict[str, Any]] = []
    for name, times in rows.items():
        base = statistics.median(times[0]) if 0 in times else None
        for every, seconds in times.items():
            median = statistics.median(seconds)
            out.append({"row": name, "checkpoint_every": every, "median_s": median,
                        "overhead_pct": None if base is None else 100 * (median / base - 1)})
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for r in out:
            pct = "" if r["overhead_pct"] is None else f"{r['overhead_pct']:+7.1f}%"
            print(f"{r['row']:46} every={r['checkpoint_every']:<3} {r['median_s'] * 1e3:9.3f} ms"
                  f"  {pct}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
