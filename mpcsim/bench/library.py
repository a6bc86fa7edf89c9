"""Benchmarks of the algorithm library, through the registry (mpcsim.algorithms.ALGORITHMS):
a registered algorithm vs a numpy baseline on the same input (a ratio row), and rounds and
wall-clock vs n at s = n^delta for every registered algorithm.

Everything goes through AlgorithmSpec's sizing / make_input / program / verify, so an
algorithm registered later is benchmarked without changes here. Ours is timed as the whole
mpcsim.run call (partitioning, every round with caps enforced, collecting the outputs).
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np

from ..algorithms import ALGORITHMS
from ..api import run
from ..errors import MPCError
from .ratios import Target, alternate, ratio_row, skipped_row

__all__ = ["algorithm_vs_baseline", "scaling_points", "memory_words_for"]


def algorithm_vs_baseline(name: str, algorithm: str, n: int, options: dict[str, Any],
                          baseline: Callable[[Any], Any], target: Target, repeats: int,
                          backend: str = "local", num_workers: int | None = None,
                          seed: int = 0) -> dict[str, Any]:
    """ALGORITHMS[algorithm] on make_input(n) with its default sizing vs baseline(inputs),
    alternating `repeats` times after one untimed, verified warm-up of each. A row saying
    "not available" if the algorithm is not registered, or why it failed."""
    spec = ALGORITHMS.get(algorithm)
    if spec is None:
        return skipped_row(name, target, f"not available: {algorithm!r} is not registered in "
                                         "mpcsim.algorithms.ALGORITHMS")
    inputs = spec.make_input(n, np.random.default_rng(seed),
                             **spec.option_kwargs("make_input", options))
    q, s = spec.sizing(n, None, None, **spec.option_kwargs("sizing", options))
    program_kwargs = spec.option_kwargs("program", options)
    max_rounds = 2 * spec.round_bound(n, q, s, **spec.option_kwargs("round_bound", options)) + 10

    def ours() -> float:
        start = time.perf_counter()
        result = run(spec.program(**program_kwargs), inputs, num_machines=q, memory_words=s,
                     backend=backend, num_workers=num_workers, seed=seed,
                     max_rounds=max_rounds)
        seconds = time.perf_counter() - start
        ours.last = result  # type: ignore[attr-defined]
        return seconds

    try:
        ours()
        verified = spec.verify(ours.last.output, inputs,  # type: ignore[attr-defined]
                               **spec.option_kwargs("verify", options))
        baseline(inputs)

        def base() -> None:  # timed by `alternate`
            baseline(inputs)

        ours_s, base_s = alternate(ours, base, repeats)
    except MPCError as exc:
        return skipped_row(name, target, f"failed: {type(exc).__name__}: {exc}")
    note = (f"q={q} machines, s={s} words, {ours.last.rounds} rounds"  # type: ignore[attr-defined]
            + ("" if verified else "; OUTPUT NOT VERIFIED"))
    row = ratio_row(name, ours_s, base_s, target, note=note)
    if not verified:
        row["pass"] = False
    return row


def memory_words_for(n: int, exponent: float) -> int:
    """s = 4 * ceil(n^exponent), at least 64: the model's s = n^delta with a small constant
    (the library's plans need a few words of slack per item)."""
    return max(64, 4 * math.ceil(n ** exponent))


def scaling_points(sizes: tuple[int, ...], exponents: tuple[tuple[str, float], ...],
                   algorithms: tuple[str, ...] | None, repeats: int,
                   on_point: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """For each registered algorithm (or those named), each (label, delta) and each n: the
    rounds and the median wall-clock of mpcsim.run on the local backend with memory_words
    overridden to memory_words_for(n, delta) (q from the algorithm's sizing). A plan that does
    not fit is recorded with its error instead of a time."""
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
        for _ in range(repeats):
            start = time.perf_counter()
            result = run(spec.program(**spec.option_kwargs("program", defaults)), inputs,
                         num_machines=q, memory_words=s, max_rounds=2 * bound + 10)
            walls.append(time.perf_counter() - start)
        verified = bool(spec.verify(result.output, inputs,
                                    **spec.option_kwargs("verify", defaults)))
    except MPCError as exc:
        return {**point, "error": f"{type(exc).__name__}: {exc}"[:200]}
    return {**point, "machines": q, "memory_words": s, "rounds": result.rounds,
            "wall_s": float(np.median(walls)), "verified": verified}
