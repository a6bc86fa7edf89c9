"""Segmented prefix sums: running totals that restart at every segment start.

Input: an (m, 2) array of rows [value, flag]; a non-zero flag starts a new segment at that
row (the first row always starts one). Output: each chunk's running totals of the values
within their segment; concatenated in machine order they equal `reference`. Words: the input
is 2m words, so m = n/2 rows for an n-word input.

Algorithm: prefix_sum's aligned b-ary tree (mpcsim.algorithms.tree) over the m chunk machines,
carrying (flag, total) summaries instead of totals. A block's summary is (did a segment start
in it, the total since its last segment start, or of the whole block if none did); summaries
combine left to right by (f1, v1) . (f2, v2) = (f1 or f2, v2 if f2 else v1 + v2), which is
associative, so the up-sweep and down-sweep of prefix_sum apply unchanged. The down-sweep
gives each chunk its carry (the running total of the segment open at its start) and the chunk
adds it to its rows before its first segment start.

Round bound: exactly 2*ceil(log_b k) + 1 rounds for k chunk machines and fan-in b, the same
derivation as prefix_sum: up-sweep in rounds 0..D, down-sweep in rounds D..2D.
Memory, per machine: 2c words of input in round 0, then c words of running totals, 2bD words
of kept child summaries (2 words each, b per level), 2(b-1) words of inbox and 4 of state.
Defaults: c = s // 4 rows per machine (the 2c-word input fits in half the memory); b is the
smallest fan-in reaching the smallest depth that fits. q = ceil(m / c) = 2n/s machines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..program import Machine, Program
from .spec import AlgorithmSpec, default_memory_words
from .tree import aligned_children, aligned_depth, aligned_level, aligned_parent, ceil_log

__all__ = [
    "SegmentedPrefixSum", "SegmentedPlan", "plan", "reference", "verify", "round_bound",
    "make_input", "sizing", "SPEC",
]

_STATE_WORDS = 4  # "plan" (b, k: 2 words), "start" (index of the first local start), carry


@dataclass(frozen=True)
class SegmentedPlan:
    rows: int  # m input rows (n = 2m words)
    chunk_rows: int  # c rows per machine
    num_chunks: int  # k = ceil(m / c)
    fan_in: int  # b
    depth: int  # D = ceil(log_b k)

    @property
    def rounds(self) -> int:
        return 2 * self.depth + 1

    @property
    def peak_words(self) -> int:
        return _peak(self.chunk_rows, self.fan_in, self.depth)


def _peak(c: int, b: int, d: int) -> int:
    return max(2 * c, c + 2 * b * d + 2 * (b - 1)) + _STATE_WORDS


def plan(rows: int, num_machines: int, memory_words: int, fan_in: int | None = None,
         chunk_rows: int | None = None) -> SegmentedPlan:
    """Choose and check the layout of `rows` rows on q machines of s words (ConfigError
    naming every problem otherwise)."""
    q, s = num_machines, memory_words
    c = chunk_rows if chunk_rows is not None else max(1, s // 4)
    k = -(-rows // c)
    problems: list[tuple[str, Any, str]] = []
    if k > q:
        problems.append(("num_machines", q, f"{rows} rows in chunks of {c} need {k} machines; "
                         f"raise num_machines to >= {k} or memory_words"))
    if fan_in is not None:
        b, d = fan_in, aligned_depth(k, fan_in)
    else:
        b, d = _smallest_fan_in(k, c, s)
    if _peak(c, b, d) > s:
        problems.append(("memory_words", s, f"{k} chunks of {c} rows need >= {_peak(c, b, d)} "
                         "words per machine; raise memory_words or lower chunk_rows"))
    if problems:
        raise ConfigError(problems=problems)
    return SegmentedPlan(rows=rows, chunk_rows=c, num_chunks=k, fan_in=b, depth=d)


def _smallest_fan_in(k: int, c: int, s: int) -> tuple[int, int]:
    if k <= 1:
        return 2, 0
    for d in range(1, ceil_log(k, 2) + 1):
        b = max(2, math.ceil(k ** (1 / d)))
        while b > 2 and (b - 1) ** d >= k:
            b -= 1
        while b ** d < k:
            b += 1
        if _peak(c, b, d) <= s:
            return b, d
    return 2, ceil_log(k, 2)


def _combine(a: tuple[bool, Any], b: tuple[bool, Any]) -> tuple[bool, Any]:
    """(f1, v1) . (f2, v2): the summary of two adjacent blocks, left one first."""
    return a[0] or b[0], b[1] if b[0] else a[1] + b[1]


class SegmentedPrefixSum(Program):
    """Segmented inclusive prefix sums of [value, flag] rows; see the module docstring."""

    def __init__(self, fan_in: int | None = None, chunk_rows: int | None = None) -> None:
        problems: list[tuple[str, Any, str]] = []
        if fan_in is not None and (type(fan_in) is not int or fan_in < 2):
            problems.append(("fan_in", fan_in, "must be an int >= 2 or None"))
        if chunk_rows is not None and (type(chunk_rows) is not int or chunk_rows < 1):
            problems.append(("chunk_rows", chunk_rows, "must be an int >= 1 or None"))
        if problems:
            raise ConfigError(problems=problems)
        self.fan_in = fan_in
        self.chunk_rows = chunk_rows

    def partition(self, inputs: Any, num_machines: int,
                  memory_words: int) -> dict[int, dict[str, Any]]:
        rows = _as_rows(inputs)
        p = plan(len(rows), num_machines, memory_words, self.fan_in, self.chunk_rows)
        c, layout = p.chunk_rows, [p.fan_in, p.num_chunks]
        return {i: {"input": rows[i * c:(i + 1) * c], "plan": layout}
                for i in range(p.num_chunks)}

    def round(self, machine: Machine) -> None:
        memory = machine.memory
        if "plan" not in memory:
            machine.halt()
            return
        b, k = memory["plan"]
        d = aligned_depth(k, b)
        t, level = machine.round_idx, aligned_level(machine.id, b, d)
        if t == 0:
            _local(memory)
        if t <= level:
            _up(machine, b, k, d, t, level)
        else:
            _down(machine, b, k, d, t)

    def __repr__(self) -> str:
        return f"SegmentedPrefixSum(fan_in={self.fan_in}, chunk_rows={self.chunk_rows})"


def _local(memory: dict[str, Any]) -> None:
    """Round 0: the chunk's own segmented running totals and its summary."""
    rows = memory.pop("input")
    values, flags = rows[:, 0], rows[:, 1] != 0
    running = _segmented_cumsum(values, flags)
    starts = np.flatnonzero(flags)
    memory["prefix"] = running
    memory["start"] = int(starts[0]) if starts.size else len(values)  # rows before it: carry
    memory["run"] = [bool(starts.size), running[-1]]
    memory["sums"] = []


def _segmented_cumsum(values: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """Running totals restarting at every flagged row (the first row needs no flag)."""
    total = np.cumsum(values)
    index = np.arange(len(values))
    start = np.maximum.accumulate(np.where(flags, index, 0))  # each row's segment start
    before = np.where(start > 0, total[np.maximum(start - 1, 0)], 0)
    return total - before.astype(total.dtype)


def _up(machine: Machine, b: int, k: int, d: int, t: int, level: int) -> None:
    memory = machine.memory
    if t >= 1:  # the level-(t-1) children's summaries, in order of their blocks
        got = [tuple(value) for _, value in machine.inbox]
        own = tuple(memory["run"])
        memory["sums"].append([own, *got])
        total = own
        for summary in got:
            total = _combine(total, summary)
        memory["run"] = list(total)
    if t < level:
        return
    if machine.id != 0:
        machine.send(aligned_parent(machine.id, b, level), memory.pop("run"))
        machine.halt()  # until the parent sends this block's carry
    else:
        memory.pop("run")
        _learn_carry(machine, 0, b, k, d, t)


def _down(machine: Machine, b: int, k: int, d: int, t: int) -> None:
    if machine.inbox:
        (_, carry), = machine.inbox
        _learn_carry(machine, carry, b, k, d, t)
    else:
        _send_carries(machine, b, k, d, t)


def _learn_carry(machine: Machine, carry: Any, b: int, k: int, d: int, t: int) -> None:
    memory = machine.memory
    prefix = memory.pop("prefix")
    start = memory.pop("start")
    prefix[:start] += carry  # rows of the segment that began on an earlier machine
    machine.output = prefix
    memory["carry"] = carry
    _send_carries(machine, b, k, d, t)


def _send_carries(machine: Machine, b: int, k: int, d: int, t: int) -> None:
    """In round t the level-(2D - t) node tells each level-(2D - t - 1) child its carry."""
    memory = machine.memory
    node_level = 2 * d - t
    if node_level >= 1:
        summaries = memory["sums"][node_level - 1]  # own block first, then the children
        running = (False, memory["carry"])
        for k_child, child in enumerate(aligned_children(machine.id, b, node_level, k)):
            running = _combine(running, summaries[k_child])
            machine.send(child, running[1])
    if node_level <= 1:
        memory.pop("sums")
        memory.pop("carry")
        machine.halt()


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
    rows = n // 2
    if s is None:
        s = default_memory_words(n)
        if q is not None:
            s = max(s, 4 * math.ceil(rows / q))
        while not _fits(rows, q, s):
            s *= 2
    if q is None:
        q = max(1, -(-rows // max(1, s // 4)))
    plan(rows, q, s)  # ConfigError (naming the fix) if s or q cannot work
    return q, s


def _fits(rows: int, q: int | None, s: int) -> bool:
    try:
        plan(rows, q if q is not None else max(1, -(-rows // max(1, s // 4))), s)
    except ConfigError:
        return False
    return True


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
