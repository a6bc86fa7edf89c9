"""The bridge's steps of `mpcsim bench`: ratio rows (random GPT-2 and a checkpoint vs the dense
forward) and sweeps (wall vs rounds over transformer depths, tree vs ring).

Registered with mpcsim.extensions by transformer_bridge.extension; the measurements themselves
are transformer_bridge.bench. Each function takes (suite, backends, results) and returns the
steps, as mpcsim.extensions.BenchSteps says.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from mpcsim.bench.ratios import Target, skipped_row

__all__ = ["ratio_steps", "sweep_steps"]

Step = tuple[str, Callable[[], None]]


def ratio_steps(suite: Any, backends: tuple[str, ...], results: dict[str, Any]) -> list[Step]:
    ratios: list[dict[str, Any]] = results["ratios"]
    return [("local+ray: bridge, random GPT-2 vs dense",
             lambda: _random_gpt2_rows(suite, backends, ratios)),
            ("local: bridge checkpoint vs dense",
             lambda: _checkpoint_row(suite, "local" in backends, ratios))]


def sweep_steps(suite: Any, backends: tuple[str, ...], results: dict[str, Any]) -> list[Step]:
    return [("local: wall vs rounds, transformer depths", lambda: _depth_points(suite, results)),
            ("local: tree vs ring", lambda: _strategies(suite, results))]


def _random_gpt2_rows(suite: Any, backends: tuple[str, ...],
                      ratios: list[dict[str, Any]]) -> None:
    from . import bench

    rows = bench.random_gpt2_rows(suite.repeats, "ray" not in backends, n=suite.bridge_n,
                                  manage_ray=False)
    targets = [Target("<=", 3.0), Target("<=", 6.0)]
    for row, target in zip(rows, targets):
        if "local" not in backends and target.bound == 3.0:
            row = skipped_row(row["name"], target, "skipped: --backend excludes local")
        ratios.append(_common_row(row))
    if "ray" not in backends:
        name = rows[0]["name"].replace("local vs dense", f"ray ({bench.RAY_WORKERS} workers) "
                                                         "vs dense")
        ratios.append(skipped_row(name, targets[1], "skipped: --backend excludes ray"))


def _common_row(row: dict[str, Any]) -> dict[str, Any]:
    """A bridge row in the bench's common fields (baseline_s is the dense forward's)."""
    if row.get("ratio") is None:
        return row
    return {"name": row["name"], "ratio": row["ratio"], "min": row["min"], "max": row["max"],
            "target": row["target"], "pass": row["pass"], "ours_s": row["ours_s"],
            "baseline_s": row["dense_s"], "repeats": row["repeats"],
            "note": f"{row['rounds']} rounds, max |mpc - dense| "
                    f"{row['max_abs_diff_vs_dense']:.1g}"}


def _checkpoint_row(suite: Any, local: bool, ratios: list[dict[str, Any]]) -> None:
    from . import bench

    name = "width4-depth3 checkpoint, golden batch, local vs dense"
    target = Target("<=", 3.0)
    folder = Path(os.environ.get("MPCSIM_CHECKPOINTS", bench.CHECKPOINT.parent)) / \
        bench.CHECKPOINT.name
    if not suite.checkpoint:
        ratios.append(skipped_row(name, target, f"skipped: not in the {suite.name} suite"))
    elif not local:
        ratios.append(skipped_row(name, target, "skipped: --backend excludes local"))
    elif not folder.is_dir():
        ratios.append(skipped_row(name, target, f"skipped: no checkpoint folder at {folder} "
                                                "(set MPCSIM_CHECKPOINTS to its parent)"))
    else:
        ratios.append(_common_row(bench.checkpoint_row(suite.repeats, folder)))


def _depth_points(suite: Any, results: dict[str, Any]) -> None:
    from . import bench

    points = results["wall_vs_rounds"]
    points += bench.depth_points(suite.depth_n, suite.depths, suite.sweep_repeats)
    points += bench.hopk_points(suite.depth_n, suite.hopk_ks, suite.sweep_repeats)


def _strategies(suite: Any, results: dict[str, Any]) -> None:
    from . import bench

    s, rows = bench.strategy_table(suite.sweep_repeats, suite.strategy_ns, suite.strategy_tile)
    results["strategy_memory_words"] = s
    results["strategies"] = rows
