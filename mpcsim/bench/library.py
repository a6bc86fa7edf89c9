"""Benchmarks of the algorithm library, through the registry (mpcsim.algorithms.ALGORITHMS):
a registered algorithm vs a numpy baseline on the same input (a ratio row), and rounds and
wall-clock vs n at s = n^delta for every registered algorithm.

Everything goes through AlgorithmSpec's sizing / make_input / program / verify, so an
algorithm registered later is benchmarked without changes here. Ours is timed as the whole
mpcsim.run call (partitioning, every round with caps enforced, collecting the outputs).
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any, Callable

import numpy as np

from ..algorithms import ALGORITHMS
from ..api import run
from ..errors import MPCError
from .ratios import Target, alternate, ratio_row, skipped_row

__all__ = ["algorithm_vs_baseline", "algorithm_seconds", "scaling_points", "memory_words_for",
           "SLOW_POINT_S"]

SLOW_POINT_S = 30.0  # a scaling point stops repeating once its runs have taken this long
SLOW_ROW_S = 10.0  # a ratio row whose first (verified) run takes longer is that one run


def algorithm_vs_baseline(name: str, algorithm: str, n: int, options: dict[str, Any],
                          baseline: Callable[[Any], Any], target: Target, repeats: int,
                          backend: str = "local", num_workers: int | None = None,
                          seed: int = 0, memory_words: int | None = None) -> dict[str, Any]:
    """ALGORITHMS[algorithm] on make_input(n) vs baseline(inputs), alternating `repeats` times
    after one verified warm-up of each (if that first run took over SLOW_ROW_S, it is the
    measurement: a cold run, as a user's). memory_words: s (None: the algorithm's
    default sizing); q is what the sizing needs for it. Ours is timed end to end (the whole
    mpcsim.run: partition, every round with caps enforced, the outputs collected); the note
    also gives the ratio of the rounds alone (the trace's wall_s). A row saying "not
    available" if the algorithm is not registered, or why it failed."""
    spec = ALGORITHMS.get(algorithm)
    if spec is None:
        return skipped_row(name, target, f"not available: {algorithm!r} is not registered in "
                                         "mpcsim.algorithms.ALGORITHMS")
    inputs = spec.make_input(n, np.random.default_rng(seed),
                             **spec.option_kwargs("make_input", options))
    program_kwargs = spec.option_kwargs("program", options)
    rounds_s: list[float] = []
    last: list[Any] = []

    def ours() -> float:
        start = time.perf_counter()
        result = run(spec.program(**program_kwargs), inputs, num_machines=q, memory_words=s,
                     backend=backend, num_workers=num_workers, seed=seed,
                     max_rounds=max_rounds)
        seconds = time.perf_counter() - start
        rounds_s.append(result.wall_s)
        last[:] = [result]
        return seconds

    try:
        q, s = spec.sizing(n, None, memory_words, **spec.option_kwargs("sizing", options))
        bound = spec.round_bound(n, q, s, **spec.option_kwargs("round_bound", options))
        max_rounds = 2 * bound + 10  # past twice the bound is a bug to report, not to wait out
        first = ours()
        verified = spec.verify(last[0].output, inputs, **spec.option_kwargs("verify", options))
        start = time.perf_counter()
        baseline(inputs)
        first_base = time.perf_counter() - start

        def base() -> None:  # timed by `alternate`
            baseline(inputs)

        if first > SLOW_ROW_S:  # one run is measurement enough, and repeats would take long
            ours_s, base_s = [first], [first_base]
        else:
            rounds_s.clear()
            ours_s, base_s = alternate(ours, base, repeats)
    except MPCError as exc:
        return skipped_row(name, target, f"failed: {type(exc).__name__}: {exc}")
    rounds_only = statistics.median(r / b for r, b in zip(rounds_s, base_s))
    return _verified_row(name, ours_s, base_s, target, last[0], q, s, bound, verified,
                         f"rounds alone {rounds_only:.2f}x")


def algorithm_seconds(name: str, algorithm: str, n: int, memory_words: int,
                      baseline: Callable[[Any], Any], target: Target,
                      repeats: int = 1) -> dict[str, Any]:
    """The seconds of whole mpcsim.run calls (no warm-up: the first run is timed too, as a
    user's would be) of ALGORITHMS[algorithm] on make_input(n) at s = memory_words, each
    verified, against a bound in seconds; the baseline is timed alongside, for the note."""
    spec = ALGORITHMS.get(algorithm)
    if spec is None:
        return skipped_row(name, target, f"not available: {algorithm!r} is not registered")
    inputs = spec.make_input(n, np.random.default_rng(0))
    try:
        q, s = spec.sizing(n, None, memory_words)
        bound = spec.round_bound(n, q, s)
        ours_s, base_s, verified, result = [], [], True, None
        for _ in range(repeats):
            start = time.perf_counter()
            result = run(spec.program(), inputs, num_machines=q, memory_words=s,
                         max_rounds=2 * bound + 10)
            ours_s.append(time.perf_counter() - start)
            verified &= bool(spec.verify(result.output, inputs))
            start = time.perf_counter()
            baseline(inputs)
            base_s.append(time.perf_counter() - start)
    except MPCError as exc:
        return skipped_row(name, target, f"failed: {type(exc).__name__}: {exc}")
    assert result is not None
    return _verified_row(name, ours_s, base_s, target, result, q, s, bound, verified,
                         f"numpy {statistics.median(base_s):.3f} s")


def _verified_row(name: str, ours_s: list[float], base_s: list[float], target: Target,
                  result: Any, q: int, s: int, bound: int, verified: bool,
                  extra: str) -> dict[str, Any]:
    """A ratio row whose note gives the sizing, rounds, messages and time per message; it
    fails, whatever the ratio, when the output was not verified."""
    messages = sum(r.messages for r in result.trace.rounds)
    per_message = statistics.median(ours_s) / max(messages, 1) * 1e6
    note = (f"q={q} machines, s={s} words, {result.rounds} rounds (bound {bound}); {extra}; "
            f"{messages:,} messages, {per_message:.2f} us per message"
            + ("" if verified else "; OUTPUT NOT VERIFIED"))
    row = ratio_row(name, ours_s, base_s, target, note=note)
    if not verified:
        row["pass"] = False
    return row


def memory_words_for(n: int, exponent: float) -> int:
    """s = n^exponent words, rounded up: the model's s = n^delta, with no constant."""
    return math.ceil(n ** exponent - 1e-9)


def scaling_points(sizes: tuple[int, ...], exponents: tuple[tuple[str, float], ...],
                   algorithms: tuple[str, ...] | None, repeats: int,
                   on_point: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """For each registered algorithm (or those named), each (label, delta) and each n: the
    rounds and the median wall-clock of mpcsim.run on the local backend with memory_words
    overridden to memory_words_for(n, delta) (q from the algorithm's sizing), over `repeats`
    runs, or fewer once they have taken SLOW_POINT_S. A plan that does not fit (broadcast: its
    n-word value must fit one machine) is recorded with its error instead of a time."""
    points = []
    for algorithm in algorithms or tuple(ALGORITHMS):
        spec = ALGORITHMS.get(algorithm)
        if spec is None:
            continue
        for label, exponent in exponents:
            for n in sizes:
                points.append(_scaling_point(spec, n, label, exponent, repeats))
                if on_point is not None:
                    on_point(f"{algorithm} n={n} s={label}")
    return points


def _scaling_point(spec: Any, n: int, label: str, exponent: float,
                   repeats: int) -> dict[str, Any]:
    point: dict[str, Any] = {"algorithm": spec.name, "n": n, "s_rule": label}
    defaults = {option.name: option.default for option in spec.options}
    try:
        q, s = spec.sizing(n, None, memory_words_for(n, exponent),
                           **spec.option_kwargs("sizing", defaults))
        inputs = spec.make_input(n, np.random.default_rng(0),
                                 **spec.option_kwargs("make_input", defaults))
        # a run past twice its documented bound is a bug to report, not to wait out
        bound = spec.round_bound(n, q, s, **spec.option_kwargs("round_bound", defaults))
        walls, result = [], None
        while len(walls) < repeats and sum(walls) < SLOW_POINT_S:
            start = time.perf_counter()
            result = run(spec.program(**spec.option_kwargs("program", defaults)), inputs,
                         num_machines=q, memory_words=s, max_rounds=2 * bound + 10)
            walls.append(time.perf_counter() - start)
        verified = bool(spec.verify(result.output, inputs,
                                    **spec.option_kwargs("verify", defaults)))
    except MPCError as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line, for the tables
        return {**point, "memory_words": memory_words_for(n, exponent), "error": reason[:200]}
    return {**point, "machines": q, "memory_words": s, "rounds": result.rounds,
            "wall_s": float(np.median(walls)), "repeats": len(walls), "verified": verified}
