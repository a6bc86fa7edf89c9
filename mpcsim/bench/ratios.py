"""Ratio rows: ours vs a baseline measured side by side, with the issues' targets.

A Target is a direction and a bound ("<= 3x" on a time ratio, ">= 0.5x" on a throughput
ratio); `alternate` times ours and the baseline alternately over repeats so noise hits both;
`ratio_row` turns the paired seconds into a row (median ratio of the pairs, min, max, pass).
`skipped_row` is a row that could not be measured, with the reason. Which rows a suite
measures, at which sizes, is mpcsim.bench.suite; the measurements themselves are
mpcsim.bench.core, mpcsim.bench.library and transformer_bridge.bench.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import ConfigError

__all__ = ["Target", "alternate", "ratio_row", "skipped_row", "ROW_FIELDS"]

ROW_FIELDS = ("name", "ratio", "min", "max", "target", "pass", "ours_s", "baseline_s",
              "repeats", "note")


@dataclass(frozen=True)
class Target:
    op: str  # "<=": ours' time over the baseline's (cost); ">=": baseline's over ours (throughput)
    bound: float  # the ratio the issue names, e.g. 3.0 for "<= 3x"
    seconds: bool = False  # True: the bound is on ours' seconds, not a ratio ("<= 30 s")

    def __post_init__(self) -> None:
        if self.op not in ("<=", ">="):
            raise ConfigError(problems=[("op", self.op, "must be '<=' or '>='")])
        if not self.bound > 0:
            raise ConfigError(problems=[("bound", self.bound, "must be > 0")])

    def ratio(self, ours_s: float, baseline_s: float) -> float:
        """Time ratio ours/baseline for '<=', throughput ratio baseline/ours for '>=';
        ours' seconds for a bound in seconds."""
        if self.seconds:
            return ours_s
        return ours_s / baseline_s if self.op == "<=" else baseline_s / ours_s

    def met(self, ratio: float) -> bool:
        return ratio <= self.bound if self.op == "<=" else ratio >= self.bound

    def __str__(self) -> str:
        return f"{self.op} {self.bound:g} s" if self.seconds else f"{self.op} {self.bound:g}x"


def alternate(ours: Callable[[], float], baseline: Callable[[], float],
              repeats: int) -> tuple[list[float], list[float]]:
    """Call ours() then baseline() `repeats` times; each returns its seconds (or None to be
    timed here as the call's wall time). Returns the two lists of seconds."""
    ours_s, base_s = [], []
    for _ in range(repeats):
        for fn, out in ((ours, ours_s), (baseline, base_s)):
            start = time.perf_counter()
            seconds = fn()
            out.append(time.perf_counter() - start if seconds is None else seconds)
    return ours_s, base_s


def ratio_row(name: str, ours_s: list[float], baseline_s: list[float], target: Target,
              note: str = "") -> dict[str, Any]:
    """A row from paired seconds: the median of the per-repeat ratios, with min and max."""
    ratios = sorted(target.ratio(o, b) for o, b in zip(ours_s, baseline_s))
    med = statistics.median(ratios)
    return {"name": name, "ratio": med, "min": ratios[0], "max": ratios[-1],
            "target": str(target), "pass": target.met(med),
            "ours_s": statistics.median(ours_s), "baseline_s": statistics.median(baseline_s),
            "repeats": len(ratios), "note": note}


def skipped_row(name: str, target: Target, note: str) -> dict[str, Any]:
    """A row that was not measured (pass is None), saying why in `note`."""
    return {"name": name, "ratio": None, "min": None, "max": None, "target": str(target),
            "pass": None, "ours_s": None, "baseline_s": None, "repeats": 0, "note": note}

