"""The bench orchestrator: runs a Suite's steps in order, with progress, and returns the results
(ratio rows, per-round breakdowns, scaling, depth and strategy points) as one plain dict.

Ray is started once, before the first Ray step, and shut down at the end. Installed extensions
add their steps through mpcsim.extensions (transformer_bridge adds its ratio rows after the core
rows and its sweeps at the end); this module names no other package. Rows for a backend not
selected are kept, marked skipped, so the table always lists every target.
"""

from __future__ import annotations

import os
import platform
import time
from datetime import datetime, timezone
from typing import Any, Callable

import numpy as np

from . import core
from .baselines import numpy_hopk, numpy_list_ranking, numpy_sort
from .library import algorithm_seconds, algorithm_vs_baseline, memory_words_for, scaling_points
from .progress import Progress
from .ratios import Target, ratio_row, skipped_row
from .suite import Suite

__all__ = ["run_suite", "machine_info"]

Step = tuple[str, Callable[[], None]]


def machine_info() -> dict[str, Any]:
    """Cores, memory (GiB, from /proc/meminfo when there is one), Python and platform."""
    memory_gib = None
    try:
        with open("/proc/meminfo") as meminfo:
            kib = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
        memory_gib = round(kib / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    return {"cores": os.cpu_count(), "memory_gib": memory_gib,
            "python": platform.python_version(), "platform": platform.platform()}


def run_suite(suite: Suite, backends: tuple[str, ...], command: str) -> dict[str, Any]:
    """Run every step of `suite` on `backends` ("local", "ray"); see the module docstring."""
    results: dict[str, Any] = {
        "suite": suite.name, "backends": list(backends), "command": command,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(), "ratios": [], "breakdown": [], "scaling": [],
        "wall_vs_rounds": [], "strategies": [], "connectivity": [],
        "connectivity_cycles": [], "notes": []}
    steps = _steps(suite, backends, results)
    started = time.perf_counter()
    ray_started = False
    try:
        with Progress(len(steps)) as progress:
            for label, step in steps:
                progress.starting(label)
                if "ray" in backends and "ray" in label.split(":")[0] and not ray_started:
                    from ..backends import ray_actors

                    ray_actors.connect()
                    ray_started = True
                step()
                progress.advance(label)
    finally:
        if ray_started:
            from ..backends import ray_actors

            ray_actors.shutdown()
    results["wall_s"] = time.perf_counter() - started
    return results


def _steps(suite: Suite, backends: tuple[str, ...], results: dict[str, Any]) -> list[Step]:
    ratios: list[dict[str, Any]] = results["ratios"]
    local, ray = "local" in backends, "ray" in backends
    le, ge = (lambda bound: Target("<=", bound)), (lambda bound: Target(">=", bound))
    n_sort, n_hop, k = suite.sort_n, suite.hopk_n, suite.hopk_k
    n_small = suite.sublinear_n
    root = memory_words_for(n_small, 1 / 2)

    def measured(name: str, target: Target, enabled: bool, backend: str,
                 fn: Callable[[], tuple[list[float], list[float]]]) -> Step:
        def step() -> None:
            ratios.append(ratio_row(name, *fn(), target) if enabled else
                          skipped_row(name, target, f"skipped: --backend excludes {backend}"))
        return (f"{backend}: {name}", step)

    def library(name: str, algorithm: str, n: int, options: dict[str, Any],
                baseline: Callable[[Any], Any], target: Target, backend: str,
                words: int | None = None) -> Step:
        enabled = backend in backends
        if words is None:
            words = suite.library_words * (2 if backend == "ray" else 1)

        def step() -> None:
            ratios.append(algorithm_vs_baseline(
                name, algorithm, n, options, baseline, target, suite.repeats, backend=backend,
                num_workers=2 if backend == "ray" else None, memory_words=words) if enabled
                else skipped_row(name, target, f"skipped: --backend excludes {backend}"))
        return (f"{backend}: {name}", step)

    steps: list[Step] = [
        measured("ray barrier: empty round, 8 machines/8 actors vs bare", le(1.5), ray, "ray",
                 lambda: core.measure_barrier(suite.repeats)),
        measured("ray shuffle throughput vs bare object-store shuffle", ge(0.5), ray, "ray",
                 lambda: core.measure_shuffle_ray(suite.repeats)),
        measured("local shuffle throughput vs numpy copy", ge(0.5), local, "local",
                 lambda: core.measure_shuffle_local(suite.repeats)),
        measured(f"local overhead: mpcsim.run of {suite.overhead_machines:,} trivial machines "
                 "end to end vs bare loop", le(5.0), local, "local",
                 lambda: core.measure_overhead(suite.repeats, quiet=True,
                                               num_machines=suite.overhead_machines)),
        *_extension_steps("ratios", suite, backends, results),
        library(f"hop-k N={n_hop:,} k={k}, local vs numpy pointer doubling", "hop-k", n_hop,
                {"k": k}, lambda x: numpy_hopk(x, k), le(5.0), "local"),
        library(f"sort {n_sort:,} float64, local vs numpy.sort", "sort", n_sort, {}, numpy_sort,
                le(5.0), "local"),
        library(f"sort {n_sort:,} float64, ray (2 workers) vs numpy.sort", "sort", n_sort, {},
                numpy_sort, le(10.0), "ray"),
        library(f"list ranking n={n_small:,}, s=n^(1/2)={root:,}, local vs numpy pointer "
                "jumping", "list-ranking", n_small, {}, numpy_list_ranking, le(20.0), "local",
                words=root),
        library(f"sort {suite.sublinear_sort_n:,} float64, s={suite.sublinear_sort_words:,}, "
                "local vs numpy.sort", "sort", suite.sublinear_sort_n, {}, numpy_sort, le(100.0),
                "local", words=suite.sublinear_sort_words),
        library(f"hop-k N={n_small:,} k={k}, s=n^(1/2)={root:,}, local vs numpy pointer "
                "doubling", "hop-k", n_small, {"k": k}, lambda x: numpy_hopk(x, k), le(30.0),
                "local", words=root),
    ]
    if suite.ranking_big_n:
        name = (f"list ranking n={suite.ranking_big_n:,}, s={suite.sublinear_sort_words:,}: "
                "seconds of mpcsim.run")
        steps.append((f"local: {name}", lambda: ratios.append(
            algorithm_seconds(name, "list-ranking", suite.ranking_big_n,
                              suite.sublinear_sort_words, numpy_list_ranking,
                              Target("<=", 30.0, seconds=True)) if local else
            skipped_row(name, Target("<=", 30.0, seconds=True),
                        "skipped: --backend excludes local"))))
    if local:
        steps.append(("local: connectivity targets and one vs two cycles",
                      lambda: _connectivity(suite, results)))
    for backend in backends:
        steps.append((f"{backend}: per-round breakdown",
                      lambda backend=backend: results["breakdown"].extend(
                          _breakdown(backend, suite.sort_n // 10))))
    steps += [
        ("local: rounds and wall vs n", lambda: results["scaling"].extend(scaling_points(
            suite.scaling_sizes, (("n^(1/2)", 1 / 2), ("n^(2/3)", 2 / 3)),
            suite.scaling_algorithms, suite.sweep_repeats))),
    ]
    steps += _extension_steps("sweeps", suite, backends, results)
    return steps


def _extension_steps(phase: str, suite: Suite, backends: tuple[str, ...],
                     results: dict[str, Any]) -> list[Step]:
    """The steps the installed extensions add in `phase` (mpcsim.extensions)."""
    from ..extensions import bench_steps

    return [step for make in bench_steps(phase) for step in make(suite, backends, results)]


def _connectivity(suite: Suite, results: dict[str, Any]) -> None:
    from . import connectivity

    results["connectivity"] += connectivity.target_rows(suite.connectivity_random_n)
    results["connectivity_cycles"] += connectivity.cycle_rows(suite.connectivity_log_ns)


def _breakdown(backend: str, sort_n: int) -> list[dict[str, Any]]:
    """Median compute / exchange / barrier per round of three workloads on `backend`."""
    from ..algorithms import ALGORITHMS
    from ..api import run

    workers = {"num_workers": 2} if backend == "ray" else {}
    runs = [("empty rounds, 8 machines", lambda: run(core.EmptyRounds(20), num_machines=8,
                                                     memory_words=1, backend=backend,
                                                     **workers)),
            ("all-to-all 2 MB blocks, 8 machines", lambda: run(
                core.AllToAll(3), num_machines=core.SHUFFLE_MACHINES,
                memory_words=core.SHUFFLE_WORDS, backend=backend, **workers))]
    if "sort" in ALGORITHMS:
        spec = ALGORITHMS["sort"]
        q, s = spec.sizing(sort_n, None, None)
        keys = spec.make_input(sort_n, np.random.default_rng(0))
        runs.append((f"sort {sort_n:,} keys", lambda: run(spec.program(), keys, num_machines=q,
                                                          memory_words=s, backend=backend,
                                                          **workers)))
    return [{"backend": backend, "workload": label, "rounds": (result := fn()).rounds,
             **{f"{part}_s": value for part, value in
                core.round_breakdown(result.trace).items()}}
            for label, fn in runs]
