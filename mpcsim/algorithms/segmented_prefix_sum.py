"""Segmented prefix sums: running totals that restart at every segment start.

Input: an (m, 2) array of rows [value, flag]; a non-zero flag starts a new segment at that
row (the first row always starts one). Output: each chunk's running totals of the values
within their segment; concatenated in machine order they equal `reference`. Words: the input
is 2m words, so m = n/2 rows for an n-word input.

Algorithm: an instance of mpcsim.algorithms.scan (the aligned-tree scan) whose summaries are
(flag, total) pairs: a block's summary is (did a segment start in it, the total since its
last segment start, or of the whole block if none did); summaries combine left to right by
(f1, v1) . (f2, v2) = (f1 or f2, v2 if f2 else v1 + v2), which is associative. A chunk's
carry is the running total of the segment open at its start; the chunk adds it to its rows
before its first segment start.

Round bound: exactly 2*ceil(log_b k) + 1 rounds for k chunk machines and fan-in b (scan).
Memory, per machine: 2c words of input in round 0, then c words of running totals, 2 of
plan, 1 for the first start's position, and either a block summary with b-1 children's in the
inbox (2b words) or a left summary, the carry and its message (4 words). Nothing grows with
the depth, so s = n^(1/2) fits at any n (c = s/4, b up to s/8 - 1).
Defaults: c = s // 4 rows per machine (the 2c-word input fits in half the memory); b is the
smallest fan-in reaching the smallest depth that fits. q = ceil(m / c) = 2n/s machines.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from . import scan
from .scan import Scan, ScanPlan, ScanShape
from .spec import AlgorithmSpec, default_memory_words

__all__ = [
    "SegmentedPrefixSum", "plan", "reference", "verify", "round_bound", "make_input",
    "sizing", "SPEC",
]

# rows of 2 words, (flag, total) summaries; state: "start" (the first local start's index)
SHAPE = ScanShape(item_words=2, summary_words=2, state_words=1, chunk_divisor=4)


def plan(rows: int, num_machines: int, memory_words: int, fan_in: int | None = None,
         chunk_rows: int | None = None) -> ScanPlan:
    """Choose and check the layout of `rows` rows on q machines of s words (scan.plan)."""
    return scan.plan(SHAPE, rows, num_machines, memory_words, fan_in, chunk_rows, "chunk_rows")


class SegmentedPrefixSum(Scan):
    """Segmented inclusive prefix sums of [value, flag] rows; see the module docstring.

    fan_in: block size b >= 2 of the aligned tree, or None. chunk_rows: rows per machine, or
    None for memory_words // 4.
    """

    SHAPE = SHAPE
    CHUNK_NAME = "chunk_rows"

    def __init__(self, fan_in: int | None = None, chunk_rows: int | None = None) -> None:
        super().__init__(fan_in, chunk_rows)

    def items(self, inputs: Any) -> np.ndarray:
        return _as_rows(inputs)

    def local(self, memory: dict[str, Any], chunk: np.ndarray) -> Any:
        values, flags = chunk[:, 0], chunk[:, 1] != 0
        running = _segmented_cumsum(values, flags)
        starts = np.flatnonzero(flags)
        memory["prefix"] = running
        memory["start"] = int(starts[0]) if starts.size else len(values)  # rows before it: carry
        return [bool(starts.size), running[-1]]

    def combine(self, left: Any, right: Any) -> Any:
        return [left[0] or right[0], right[1] if right[0] else left[1] + right[1]]

    def apply(self, carry: Any, summary: Any) -> Any:
        return summary[1] if summary[0] else carry + summary[1]

    def finish(self, memory: dict[str, Any], carry: Any) -> Any:
        prefix = memory.pop("prefix")
        prefix[:memory.pop("start")] += carry  # rows of the segment begun on an earlier machine
        return prefix


def _segmented_cumsum(values: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """Running totals restarting at every flagged row (the first row needs no flag)."""
    total = np.cumsum(values)
    index = np.arange(len(values))
    start = np.maximum.accumulate(np.where(flags, index, 0))  # each row's segment start
    before = np.where(start > 0, total[np.maximum(start - 1, 0)], 0)
    return total - before.astype(total.dtype)


def _as_rows(inputs: Any) -> np.ndarray:
    rows = np.asarray([] if inputs is None else inputs)
    if rows.size == 0:
        return np.zeros((0, 2), dtype=rows.dtype if rows.dtype.kind in "iuf" else np.int64)
    if rows.ndim != 2 or rows.shape[1] != 2 or rows.dtype.kind not in "biuf":
        raise ConfigError(problems=[("inputs", f"array of shape {rows.shape}, dtype "
                                     f"{rows.dtype}", "segmented prefix sums need an (m, 2) "
                                     "array of numeric rows [value, flag]")])
    return rows


def reference(inputs: Any) -> np.ndarray:
    """np.cumsum of each segment, concatenated."""
    rows = _as_rows(inputs)
    starts = np.flatnonzero(rows[:, 1] != 0)
    cuts = starts[starts > 0]
    parts = [np.cumsum(part) for part in np.split(rows[:, 0], cuts)] if len(rows) else []
    return np.concatenate(parts) if parts else np.zeros(0, dtype=rows.dtype)


def verify(output: list[Any], inputs: Any) -> bool:
    """Exact for integers; floats within (m-1)*eps*(running total of |x| in the segment)."""
    parts = [np.asarray(o) for o in output if o is not None]
    want = reference(inputs)
    got = np.concatenate(parts) if parts else np.zeros(0, dtype=want.dtype)
    if got.shape != want.shape:
        return False
    if want.dtype.kind != "f":
        return bool(np.array_equal(got, want))
    rows = _as_rows(inputs)
    eps = float(np.finfo(want.dtype).eps)
    scale = reference(np.column_stack([np.abs(rows[:, 0]), rows[:, 1]]))
    return bool(np.all(np.abs(got - want) <= max(len(rows) - 1, 1) * eps * scale))


def round_bound(n: int, q: int, s: int, fan_in: int | None = None,
                chunk_rows: int | None = None) -> int:
    """Exactly 2*ceil(log_b k) + 1 rounds for an n-word input (n // 2 rows)."""
    return plan(n // 2, q, s, fan_in, chunk_rows).rounds


def make_input(n: int, rng: np.random.Generator) -> np.ndarray:
    """n // 2 rows of int64 values in [-1000, 1000); a segment starts at a row w.p. 1/8."""
    m = n // 2
    values = rng.integers(-1000, 1000, size=m, dtype=np.int64)
    flags = (rng.random(m) < 0.125).astype(np.int64)
    return np.column_stack([values, flags])


def sizing(n: int, q: int | None = None, s: int | None = None) -> tuple[int, int]:
    """Default (q, s): s = max(64, 4*ceil(sqrt(n))) (raised so the rows fit on q machines if q
    is given, then doubled until the tree fits); q = ceil((n // 2) / (s // 4))."""
    return scan.sizing(SHAPE, n // 2, q, s, default_memory_words(n))


SPEC = AlgorithmSpec(
    name="segmented-prefix-sum",
    summary="running totals restarting at each segment start ([value, flag] rows, b-ary tree)",
    program=SegmentedPrefixSum,
    make_input=make_input,
    reference=reference,
    verify=verify,
    round_bound=round_bound,
    sizing=sizing,
)
