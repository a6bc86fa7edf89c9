"""List ranking and hop-k in the strongly sublinear regime vs vectorised numpy, side by side.

    python benchmarks/columnar_library.py [--repeats 5] [--n 100000] [--k 64] [--big]
                                          [--json FILE]

Rows (local backend, default num_workers, s = ceil(n^(1/2)), q from the algorithm's sizing):
1. list ranking of one random list of n nodes vs mpcsim.bench.baselines.numpy_list_ranking
   (pointer jumping, ceil(log2 n) steps of two gathers and an add). Target <= 20x.
2. hop-k of n paper-like symbols, k hops, vs mpcsim.bench.baselines.numpy_hopk (find by a
   stable argsort, then f^k by repeated squaring). Target <= 30x. Split into the find stage
   (the scan, mpcsim.algorithms.hopk_scan, for these 4-letter inputs; else the sort and, after
   a sample sort, the barrier: mpcsim.algorithms.sort*) and the lock-step
   (pointer doubling: mpcsim.algorithms.hopk_doubling), from the trace.
--big: list ranking of 10^6 nodes at s = 1,000 in a fresh Python process, timed whole
(interpreter start, imports, input, run, check). Target < 30 s.

Each repeat runs ours (the whole mpcsim.run, output checked against the baseline's) and then
the baseline, so noise on this shared 2-core machine hits both; the table gives medians (and
the ratio's min-max over repeats). "rounds s" is the rounds alone (the trace's compute,
exchange and barrier time), "us/msg" the end-to-end time over the run's messages (the sum of
the trace's per-round message counts).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

import numpy as np

import mpcsim
from mpcsim.algorithms import hopk, list_ranking
from mpcsim.bench.baselines import numpy_hopk, numpy_list_ranking

BIG_SCRIPT = """
import time, numpy as np, mpcsim
from mpcsim.algorithms import list_ranking as lr
n, s = 10**6, 1000
q, _ = lr.sizing(n, None, s)
x = lr.make_input(n, np.random.default_rng(n))
start = time.perf_counter()
result = mpcsim.run(lr.ListRanking(), x, num_machines=q, memory_words=s)
run_s = time.perf_counter() - start
assert lr.verify(result.output, x)
print(q, result.rounds, sum(r.messages for r in result.trace.rounds), run_s)
"""


def _rounds_s(rounds: list[Any]) -> float:
    return sum(r.compute_s + r.exchange_s + r.barrier_s for r in rounds)


def measure(name: str, run_ours: Callable[[], tuple[Any, Any]],
            baseline: Callable[[], np.ndarray], target: float, repeats: int,
            split: Callable[[Any, Any], dict[str, float]] | None = None) -> dict[str, Any]:
    """Ours and the baseline alternately `repeats` times; ours' output must equal the
    baseline's. run_ours() returns (result, program)."""
    ours, base, rounds, extra = [], [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        result, program = run_ours()
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        want = baseline()
        base.append(time.perf_counter() - start)
        got = np.concatenate([np.asarray(o) for o in result.output if o is not None])
        if not np.array_equal(got, want):
            raise AssertionError(f"{name}: the output differs from the numpy baseline's")
        rounds.append(_rounds_s(result.trace.rounds))
        if split is not None:
            extra.append(split(result, program))
    ratios = sorted(o / b for o, b in zip(ours, base))
    messages = sum(r.messages for r in result.trace.rounds)
    row = {"name": name, "rounds": result.rounds, "messages": messages,
           "ours_s": statistics.median(ours), "rounds_s": statistics.median(rounds),
           "numpy_s": statistics.median(base), "ratio": statistics.median(ratios),
           "ratio_min": ratios[0], "ratio_max": ratios[-1], "target": target,
           "us_per_message": 1e6 * statistics.median(ours) / max(messages, 1)}
    for key in (extra[0] if extra else {}):
        row[key] = statistics.median(e[key] for e in extra)
    return row


def list_ranking_row(n: int, repeats: int) -> dict[str, Any]:
    s = math.ceil(n ** 0.5 - 1e-9)
    q, _ = list_ranking.sizing(n, None, s)
    x = list_ranking.make_input(n, np.random.default_rng(n))

    def ours() -> tuple[Any, Any]:
        program = list_ranking.ListRanking()
        return mpcsim.run(program, x, num_machines=q, memory_words=s), program

    row = measure(f"list ranking n={n} s={s}", ours, lambda: numpy_list_ranking(x), 20.0,
                  repeats)
    row["q"], row["s"] = q, s
    return row


def hopk_row(n: int, k: int, repeats: int) -> dict[str, Any]:
    s = math.ceil(n ** 0.5 - 1e-9)
    q, _ = hopk.sizing(n, None, s)
    x = hopk.make_input(n, np.random.default_rng(n))
    doubling = 1 + 2 * (hopk.doubling_steps(hopk.effective_k(k, n)) + 1)  # the last rounds

    def ours() -> tuple[Any, Any]:
        program = hopk.HopK(k=k)
        return mpcsim.run(program, x, num_machines=q, memory_words=s), program

    def split(result: Any, program: Any) -> dict[str, Any]:
        rounds = result.trace.rounds
        scan = result.plan.scan is not None  # else a sort, whose lock-step has 2 more rounds
        lock_step = doubling + (0 if scan else 2)
        return {"find": "scan" if scan else "sort", "find_stage_s": _rounds_s(rounds[:-lock_step]),
                "lock_step_s": _rounds_s(rounds[-lock_step:]),
                "lock_step_messages": sum(r.messages for r in rounds[-lock_step:])}

    row = measure(f"hop-k n={n} k={k} s={s}", ours, lambda: numpy_hopk(x, k), 30.0, repeats,
                  split)
    row["q"], row["s"] = q, s
    return row


def big_list_ranking_row() -> dict[str, Any]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", BIG_SCRIPT], check=True, capture_output=True,
                         text=True).stdout.split()
    whole = time.perf_counter() - start
    q, rounds, messages, run_s = int(out[0]), int(out[1]), int(out[2]), float(out[3])
    return {"name": "list ranking n=1000000 s=1000 (fresh process)", "q": q, "rounds": rounds,
            "messages": messages, "process_s": whole, "run_s": run_s, "target_s": 30.0,
            "us_per_message": 1e6 * run_s / messages}


def print_rows(rows: list[dict[str, Any]]) -> None:
    print(f"{'job':34} {'q':>6} {'rounds':>6} {'ours s':>8} {'rounds s':>8} {'numpy s':>8} "
          f"{'ratio':>7} {'[min-max]':>15} {'target':>6} {'us/msg':>7}")
    for r in rows:
        if "ratio" not in r:
            continue
        print(f"{r['name']:34} {r['q']:>6} {r['rounds']:>6} {r['ours_s']:>8.3f} "
              f"{r['rounds_s']:>8.3f} {r['numpy_s']:>8.4f} {r['ratio']:>6.1f}x "
              f"[{r['ratio_min']:>5.1f}-{r['ratio_max']:>5.1f}]x {r['target']:>5.0f}x "
              f"{r['us_per_message']:>7.3f}")
        if "find_stage_s" in r:
            print(f"{'':34} rounds: find ({r['find']}) {r['find_stage_s']:.3f} s, lock-step "
                  f"{r['lock_step_s']:.3f} s ({r['lock_step_messages']:.0f} messages, "
                  f"{1e6 * r['lock_step_s'] / r['lock_step_messages']:.3f} us/msg)")
    for r in rows:
        if "process_s" in r:
            print(f"{r['name']}: q={r['q']}, {r['rounds']} rounds, {r['messages']} messages; "
                  f"mpcsim.run {r['run_s']:.2f} s ({r['us_per_message']:.3f} us/msg), whole "
                  f"process {r['process_s']:.2f} s (target < {r['target_s']:.0f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--big", action="store_true", help="also list ranking at n = 10^6")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    rows = [list_ranking_row(args.n, args.repeats), hopk_row(args.n, args.k, args.repeats)]
    if args.big:
        rows.append(big_list_ranking_row())
    print_rows(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
