"""The algorithm library's table and its two performance ratios, measured in one run.

    python benchmarks/algorithms.py [--repeats 3] [--max-n 1000000] [--algorithms sort,hop-k]
                                    [--ratio-repeats 7] [--no-ray] [--json FILE]

Table: for every algorithm, n in {10^3, 10^4, 10^5, 10^6} words and s = n^(1/2) and n^(2/3)
(raised to the least s the algorithm accepts where its fixed per-machine state does not fit,
marked '*'; q = what the algorithm's sizing needs for that s): rounds, the documented bound,
wall_s (the rounds' wall time from the trace: median of --repeats, [min-max]), the largest
memory any machine held (words), and whether the output equals the sequential reference.
Runs whose first repeat takes over 20 s are not repeated (their wall_s is one run).

Ratios (medians of --ratio-repeats, min-max, ours and the baseline alternating so noise hits
both), on fixed configurations stated in the output:
1. hop-k, N = 10^6, k = 64, local backend, vs a vectorised numpy job: find by a stable
   argsort, then f^64 by repeated squaring (fancy indexing), then X at the pointers.
   Target <= 5x.
2. sort of 10^6 float64: local backend vs numpy.sort (target <= 5x); Ray backend, 2 actors,
   vs numpy.sort (target <= 10x). Both as the rounds' wall time (trace) and end to end
   (mpcsim.run, including partition, start-up and collecting the output).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from typing import Any, Callable

import numpy as np

import mpcsim
from mpcsim.algorithms import ALGORITHMS, hopk

TABLE_ALGORITHMS = ("prefix-sum", "segmented-prefix-sum", "sort", "list-ranking", "hop-k",
                    "connectivity")
SIZES = (10**3, 10**4, 10**5, 10**6)
DELTAS = ((1 / 2, "1/2"), (2 / 3, "2/3"))
SLOW_RUN_S = 20.0


def least_memory(name: str, n: int, delta: float) -> tuple[int, bool]:
    """(s, raised): ceil(n^delta), or the least s in 10% steps that the algorithm accepts
    (its sizing finds a q, and its partition of the input fits)."""
    spec = ALGORITHMS[name]
    inputs = spec.make_input(n, np.random.default_rng(n))
    s = math.ceil(n ** delta - 1e-9)
    raised = False
    while True:
        try:
            q, _ = spec.sizing(n, None, s)
            spec.program().partition(inputs, q, s)
            return s, raised
        except mpcsim.ConfigError:
            s, raised = math.ceil(s * 1.1), True


def table_row(name: str, n: int, delta: float, label: str, repeats: int) -> dict[str, Any]:
    spec = ALGORITHMS[name]
    s, raised = least_memory(name, n, delta)
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
        "algorithm": name, "n": n, "delta": label, "memory_words": s, "raised": raised,
        "machines": q, "rounds": result.rounds, "round_bound": spec.round_bound(n, q, s),
        "wall_s": statistics.median(walls), "wall_min": min(walls), "wall_max": max(walls),
        "repeats": len(walls), "max_memory_words": result.trace.max_memory_words,
        "verified": bool(spec.verify(result.output, inputs)),
    }


# -- the ratios -------------------------------------------------------------------------------

def numpy_hop_k(x: np.ndarray, k: int) -> np.ndarray:
    """The baseline: hop_k by vectorised numpy pointer doubling."""
    n = x.size
    order = np.argsort(x, kind="stable")
    same = x[order[1:]] == x[order[:-1]]
    f = np.full(n, -1, dtype=np.int64)
    f[order[1:][same]] = order[:-1][same] + 1
    power, square = np.arange(n), f
    while k:
        if k & 1:
            power = np.where(power >= 0, square[np.maximum(power, 0)], -1)
        square = np.where(square >= 0, square[np.maximum(square, 0)], -1)
        k >>= 1
    return np.where(power >= 0, x[np.maximum(power, 0)], hopk.NONE)


def side_by_side(ours: Callable[[], tuple[float, float]], baseline: Callable[[], Any],
                 repeats: int) -> dict[str, Any]:
    """Alternate ours and the baseline; ours returns (rounds' wall_s, end-to-end s)."""
    rounds_s, total_s, base_s = [], [], []
    ours()  # warm-up: plan caches, Ray actors
    baseline()
    for _ in range(repeats):
        r, t = ours()
        rounds_s.append(r)
        total_s.append(t)
        t0 = time.perf_counter()
        baseline()
        base_s.append(time.perf_counter() - t0)
    base = statistics.median(base_s)

    def ratios(values: list[float]) -> dict[str, float]:
        return {"median": statistics.median(values) / base, "min": min(values) / base,
                "max": max(values) / base, "median_s": statistics.median(values)}

    return {"baseline_s": base, "rounds": ratios(rounds_s), "end_to_end": ratios(total_s)}


def timed_run(program: Callable[[], mpcsim.Program], inputs: Any, q: int, s: int,
              **kwargs: Any) -> Callable[[], tuple[float, float]]:
    def go() -> tuple[float, float]:
        t0 = time.perf_counter()
        result = mpcsim.run(program(), inputs, num_machines=q, memory_words=s, **kwargs)
        return result.wall_s, time.perf_counter() - t0
    return go


def ratio_rows(repeats: int, ray: bool) -> list[dict[str, Any]]:
    rows = []
    x = hopk.make_input(10**6, np.random.default_rng(0))
    s = 2**18
    q, _ = ALGORITHMS["hop-k"].sizing(10**6, None, s)
    check = mpcsim.run(hopk.HopK(64), x, num_machines=q, memory_words=s)
    assert hopk.verify(check.output, x, 64)
    assert np.array_equal(numpy_hop_k(x, 64), hopk.reference(x, 64))
    rows.append({"name": "hop-k N=10^6, k=64, local", "config": f"q={q}, s={s}",
                 "mpc_rounds": check.rounds, "target": 5.0,
                 **side_by_side(timed_run(lambda: hopk.HopK(64), x, q, s),
                                lambda: numpy_hop_k(x, 64), repeats)})
    keys = np.random.default_rng(1).standard_normal(10**6)
    sort_spec = ALGORITHMS["sort"]
    s = 2**18
    q, _ = sort_spec.sizing(10**6, None, s)
    check = mpcsim.run(sort_spec.program(), keys, num_machines=q, memory_words=s)
    assert sort_spec.verify(check.output, keys)
    rows.append({"name": "sort 10^6 float64, local", "config": f"q={q}, s={s}",
                 "mpc_rounds": check.rounds, "target": 5.0,
                 **side_by_side(timed_run(sort_spec.program, keys, q, s),
                                lambda: np.sort(keys), repeats)})
    if ray:
        s = 2**19
        q, _ = sort_spec.sizing(10**6, None, s)
        check = mpcsim.run(sort_spec.program(), keys, num_machines=q, memory_words=s,
                           backend="ray", num_workers=2)
        assert sort_spec.verify(check.output, keys)
        rows.append({"name": "sort 10^6 float64, Ray (2 actors)", "config": f"q={q}, s={s}",
                     "mpc_rounds": check.rounds, "target": 10.0,
                     **side_by_side(timed_run(sort_spec.program, keys, q, s, backend="ray",
                                              num_workers=2),
                                    lambda: np.sort(keys), repeats)})
    return rows


# -- printing ---------------------------------------------------------------------------------

def print_header() -> None:
    print("| algorithm | n | s = n^delta | s used | q | rounds | bound | wall_s (median [min-max])"
          " | max memory words | verified |")
    print("|---|---|---|---|---|---|---|---|---|---|")


def print_table(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        star = "*" if r["raised"] else ""
        wall = (f"{r['wall_s']:.3f} [{r['wall_min']:.3f}-{r['wall_max']:.3f}]"
                if r["repeats"] > 1 else f"{r['wall_s']:.3f} (1 run)")
        print(f"| {r['algorithm']} | 10^{round(math.log10(r['n']))} | n^{r['delta']} | "
              f"{r['memory_words']}{star} | {r['machines']} | {r['rounds']} | "
              f"{r['round_bound']} | {wall} | {r['max_memory_words']} | "
              f"{'yes' if r['verified'] else 'NO'} |", flush=True)


def print_ratios(rows: list[dict[str, Any]]) -> None:
    print("| benchmark | config | baseline | ours: rounds (trace) | ours: end to end | target |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        def cell(d: dict[str, float]) -> str:
            ok = "pass" if d["median"] <= r["target"] else "FAIL"
            return (f"{d['median']:.2f}x ({d['min']:.2f}-{d['max']:.2f}), "
                    f"{d['median_s'] * 1e3:.1f} ms, {ok}")
        print(f"| {r['name']} | {r['config']}, {r['mpc_rounds']} rounds | "
              f"{r['baseline_s'] * 1e3:.1f} ms | {cell(r['rounds'])} | {cell(r['end_to_end'])} "
              f"| <= {r['target']:.0f}x |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per table row")
    parser.add_argument("--ratio-repeats", type=int, default=7, help="runs per ratio")
    parser.add_argument("--max-n", type=int, default=10**6, help="largest n in the table")
    parser.add_argument("--algorithms", default=",".join(TABLE_ALGORITHMS))
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray ratio")
    parser.add_argument("--no-table", action="store_true", help="only the ratios")
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
    print("Ratios:\n")
    out["ratios"] = ratio_rows(args.ratio_repeats, not args.no_ray)
    print_ratios(out["ratios"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    if not args.no_ray:
        from mpcsim.backends import ray_actors

        ray_actors.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
