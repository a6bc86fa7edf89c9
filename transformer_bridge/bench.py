"""Benchmark measurements of the bridge: compiled MPC jobs vs the dense numpy forward, the tree
and ring strategies as N grows, and rounds vs wall-clock across transformer depths.

Used by `mpcsim bench` (mpcsim.bench, which imports this module lazily so `import mpcsim` never
imports the bridge) and by benchmarks/bridge.py. Every function returns plain dicts (seconds
in keys ending _s). The dense baseline is the faster, in each repeat, of the forward with the
process's default BLAS threads and with one BLAS thread (job.run's local backend uses one).
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from threadpoolctl import threadpool_limits

from .checkpoint import load_gpt2
from .command import default_memory_words
from .compiler import Job, compile_transformer
from .gpt2 import random_gpt2
from .model import Transformer, forward

__all__ = ["CHECKPOINT", "LAYERS", "HEADS", "WIDTH", "VOCAB", "RATIO_N", "RATIO_TILE",
           "TABLE_NS", "TABLE_TILE", "RAY_WORKERS", "random_model", "random_ids", "timed",
           "dense_s", "compare", "ratio_row", "random_gpt2_rows", "checkpoint_row",
           "golden_inputs", "strategy_table", "depth_points", "hopk_points"]

# The authors' depth-3 model as `mpcsim checkpoint convert` writes it: checkpoints/width4-depth3
# under the working directory, or under $MPCSIM_CHECKPOINTS. Without it the row is skipped.
CHECKPOINT = Path(os.environ.get("MPCSIM_CHECKPOINTS", "checkpoints")) / "width4-depth3"
GOLDEN_SEQUENCES = 34  # without golden.npz: the paper's sequences, k = i mod 17, as golden.npz
LAYERS, HEADS, WIDTH, VOCAB = 4, 4, 128, 64
RATIO_N, RATIO_TILE = 1024, 128
TABLE_NS, TABLE_TILE = (128, 512, 2048), 64
RAY_WORKERS = 2


def random_model(n_positions: int, layers: int = LAYERS) -> Transformer:
    return random_gpt2(layers, HEADS, WIDTH, n_positions, VOCAB, seed=0, dtype=np.float32)


def random_ids(batch: int, n: int) -> np.ndarray:
    return np.random.default_rng(1).integers(0, VOCAB, size=(batch, n))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def dense_s(model: Transformer, ids: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(seconds with the default BLAS threads, seconds with one BLAS thread, the outputs)."""
    default_s, out = timed(lambda: forward(model, ids))
    with threadpool_limits(limits=1, user_api="blas"):
        single_s, _ = timed(lambda: forward(model, ids))
    return default_s, single_s, out


def compare(job: Job, ids: np.ndarray, repeats: int, **run_options: Any) -> dict[str, Any]:
    """job.run vs the dense forward, alternating, `repeats` times (after one warm-up each)."""
    job.run(ids, **run_options)
    forward(job.model, ids)
    ours, dense_default, dense_single, diffs = [], [], [], []
    for _ in range(repeats):
        seconds, (outputs, result) = timed(lambda: job.run(ids, **run_options))
        ours.append(seconds)
        default_s, single_s, reference = dense_s(job.model, ids)
        dense_default.append(default_s)
        dense_single.append(single_s)
        diffs.append(float(np.abs(outputs.astype(np.float64) - reference).max()))
    baseline = [min(d, s) for d, s in zip(dense_default, dense_single)]
    ratios = sorted(o / b for o, b in zip(ours, baseline))
    return {"ratio": statistics.median(ratios), "min": ratios[0], "max": ratios[-1],
            "ours_s": statistics.median(ours), "dense_s": statistics.median(baseline),
            "dense_default_blas_s": statistics.median(dense_default),
            "dense_one_blas_thread_s": statistics.median(dense_single),
            "rounds": result.rounds, "workers": result.workers,
            "max_memory_words": result.trace.max_memory_words,
            "max_abs_diff_vs_dense": max(diffs), "repeats": repeats}


def ratio_row(name: str, job: Job, target: float, measured: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, **measured, "target": f"<= {target:g}x",
            "pass": measured["ratio"] <= target, "plan": job.plan.describe(),
            "memory_words": job.plan.memory_words}


def _ratio_job(n: int) -> tuple[Job, np.ndarray, str]:
    model = random_model(n)
    tile = min(RATIO_TILE, max(1, n // 8))  # 128 at N = 1024, the size the targets name
    job = compile_transformer(model, n, default_memory_words(model, n, tile=tile))
    return job, random_ids(1, n), f"random GPT-2 L={LAYERS} m={WIDTH} N={n} batch 1"


def random_gpt2_rows(repeats: int, skip_ray: bool, n: int = RATIO_N,
                     manage_ray: bool = True) -> list[dict[str, Any]]:
    """The local (target <= 3x) and, unless skip_ray, Ray (<= 6x) rows at N = n. With
    manage_ray, Ray is started here and shut down after; otherwise the caller owns Ray."""
    job, ids, label = _ratio_job(n)
    rows = [ratio_row(f"{label}, local vs dense", job, 3.0, compare(job, ids, repeats))]
    if not skip_ray:
        from mpcsim.backends import ray_actors

        if manage_ray:
            ray_actors.connect()  # once: every run below reuses this Ray and its actors
        try:
            rows.append(ratio_row(f"{label}, ray ({RAY_WORKERS} workers) vs dense", job, 6.0,
                                  compare(job, ids, repeats, backend="ray",
                                          num_workers=RAY_WORKERS)))
        finally:
            if manage_ray:
                ray_actors.shutdown()
    return rows


def checkpoint_row(repeats: int, checkpoint: Path = CHECKPOINT) -> dict[str, Any]:
    """The checkpoint on its golden sequences (golden.npz's inputs, or as many of the paper's
    sequences, seed 0, if the folder has none) under `mpcsim transformer`'s default cap, local
    vs dense (target <= 3x). Raises OSError / CheckpointError if the folder is unusable."""
    model = load_gpt2(checkpoint)
    ids = golden_inputs(checkpoint)  # [34, 99]
    n = ids.shape[1]
    job = compile_transformer(model, n, default_memory_words(model, n))
    name = f"{checkpoint.name} checkpoint, batch {len(ids)} x N={n}, local vs dense"
    return ratio_row(name, job, 3.0, compare(job, ids, repeats))


def golden_inputs(checkpoint: Path) -> np.ndarray:
    """The folder's golden.npz inputs, else the paper's sequences in the same layout (k = i mod
    17 for sequence i), int64 [34, 99]."""
    from .tasks.hopk import MAX_HOPS, paper_sequences

    if (checkpoint / "golden.npz").is_file():
        with np.load(checkpoint / "golden.npz") as golden:
            return np.asarray(golden["inputs"])
    rng = np.random.default_rng(0)
    return np.concatenate([paper_sequences(i % (MAX_HOPS + 1), 1, rng)[0]
                           for i in range(GOLDEN_SEQUENCES)])


def strategy_table(repeats: int, ns: tuple[int, ...] = TABLE_NS,
                   tile: int = TABLE_TILE) -> tuple[int, list[dict[str, Any]]]:
    """Tree vs ring at each N under one cap (a `tile`-token tree tile at fan-in 1 for the
    largest N): (memory_words, rows of plan, rounds, wall-clock medians and the dense time)."""
    model = random_model(max(ns))
    s = default_memory_words(model, max(ns), tile=tile)
    rows = []
    for n in ns:
        ids = random_ids(1, n)
        dense = statistics.median(min(dense_s(model, ids)[:2]) for _ in range(repeats))
        for strategy in ("tree", "ring"):
            job = compile_transformer(model, n, s, strategy=strategy)
            job.run(ids)  # warm-up
            walls = [timed(lambda: job.run(ids))[0] for _ in range(repeats)]
            plan = job.plan
            fan_in = plan.fan_in if strategy == "tree" else None
            rows.append({"n": n, "strategy": strategy, "tile": plan.tile, "fan_in": fan_in,
                         "blocks": plan.blocks, "machines": plan.machines,
                         "rounds_per_layer": plan.rounds_per_layer,
                         "rounds": plan.total_rounds, "wall_s": statistics.median(walls),
                         "wall_min_s": min(walls), "wall_max_s": max(walls),
                         "dense_s": dense})
    return s, rows


def depth_points(n: int, depths: tuple[int, ...], repeats: int) -> list[dict[str, Any]]:
    """Random GPT-2 of each depth at N = n (one cap: a ceil(N/4)-token tile for the deepest),
    local backend: rounds and median wall-clock of the whole job.run."""
    cap = default_memory_words(random_model(n, max(depths)), n)
    points = []
    for depth in depths:
        job = compile_transformer(random_model(n, depth), n, cap)
        ids = random_ids(1, n)
        job.run(ids)  # warm-up
        walls = [timed(lambda: job.run(ids))[0] for _ in range(repeats)]
        points.append({"family": "random GPT-2", "label": f"L={depth}", "n": n,
                       "depth": depth, "rounds": job.plan.total_rounds,
                       "wall_s": statistics.median(walls)})
    return points


def hopk_points(n: int, ks: tuple[int, ...], repeats: int) -> list[dict[str, Any]]:
    """The constructed hop_k transformers (ceil(log2 k) + 2 layers) at N = n under one cap
    (the largest k's default), local backend: rounds and median wall-clock of job.run."""
    from .constructions.hopk import hopk_transformer, random_inputs

    alphabet = 4
    ids = random_inputs(1, n, alphabet, np.random.default_rng(0))
    cap = default_memory_words(hopk_transformer(max(ks), n, alphabet), n)
    points = []
    for k in ks:
        model = hopk_transformer(k, n, alphabet)
        job = compile_transformer(model, n, cap)
        job.run(ids)
        walls = [timed(lambda: job.run(ids))[0] for _ in range(repeats)]
        points.append({"family": "hop_k transformer", "label": f"k={k}", "n": n,
                       "depth": model.num_layers, "rounds": job.plan.total_rounds,
                       "wall_s": statistics.median(walls)})
    return points
