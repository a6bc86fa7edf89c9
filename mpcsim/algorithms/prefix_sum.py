"""Prefix sums: each input chunk's global running totals, over the aligned b-ary tree.

The input (n numbers) sits in chunks of c words on machines 0..m-1, m = ceil(n/c), in order.
Round 0: every machine takes its chunk's local running totals. Up-sweep: the node covering
ids [i, i + b^l) learns its block's total from its b-1 other children and passes it up.
Down-sweep: a node that knows the total of everything before its block tells each child the
total before the child's block (its own offset plus the earlier siblings' totals); a machine
adds its offset to its local running totals. The tree is mpcsim.algorithms.tree's aligned tree.

Round bound, with m chunk machines and fan-in b (the block size): D = ceil(log_b m) and the
run takes exactly 2D + 1 rounds. Derivation: the machine whose top level is L sends its
block's total up in round L, so the root has every total in round D; the level-l nodes send
offsets down in round 2D - l, so level-0 machines add theirs in round 2D, the last round.

Memory, per machine and round (the plan checks it; see PrefixSumPlan.peak_words):
c words of running totals (then of output), b*D words of children's block totals kept for the
down-sweep (b per level, at most D levels), at most b-1 words of inbox and 4 words of state.
Sent and received: at most b-1 one-word messages per round.

Defaults: c = s // 2 (half the memory for the input, half for the tree); b is the smallest
fan-in reaching the smallest depth whose peak fits s, so the run takes as few rounds as the
caps allow with the least traffic per machine.

Exactness: integer inputs give exactly np.cumsum. Float inputs are summed in another order
(within a chunk, then offsets), so they agree with np.cumsum to round-off; `verify` allows
the worst case (n-1)*eps*cumsum(|x|) (Higham, Accuracy and Stability, §4.2); compare small
cases with np.allclose. For a total on every machine, see mpcsim.algorithms.allreduce.
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
    "PrefixSum", "PrefixSumPlan", "plan", "reference", "verify", "round_bound", "make_input",
    "sizing", "SPEC",
]

# Words of state beside the chunk, the kept totals and the inbox: "plan" (b, m: 2 words),
# "run" (the block total so far) and "offset" (the total before this machine's chunk).
_STATE_WORDS = 4


@dataclass(frozen=True)
class PrefixSumPlan:
    """How a prefix-sum run lays out n numbers: chunks, fan-in and tree depth."""

    n: int  # input words
    chunk_words: int  # c: input words per machine (the last chunk may be shorter)
    num_chunks: int  # m = ceil(n / c): machines 0..m-1 hold input
    fan_in: int  # b: block size of the aligned tree (a node has b-1 other children)
    depth: int  # D = ceil(log_b m)

    @property
    def rounds(self) -> int:
        """Exactly 2D + 1 (see the module docstring)."""
        return 2 * self.depth + 1

    @property
    def peak_words(self) -> int:
        """An upper bound on words held by any machine after delivery, in any round.

        c (running totals or output, never both) + b*D (the children's totals kept per level,
        own included) + (b-1) (inbox: one word per other child) + _STATE_WORDS.
        """
        return _peak(self.chunk_words, self.fan_in, self.depth)


def _peak(chunk_words: int, fan_in: int, tree_depth: int) -> int:
    return chunk_words + fan_in * tree_depth + (fan_in - 1) + _STATE_WORDS


def plan(n: int, num_machines: int, memory_words: int, fan_in: int | None = None,
         chunk_words: int | None = None) -> PrefixSumPlan:
    """Choose (and check) the layout for n numbers on q machines of s words.

    Raises ConfigError naming every problem at once: a chunk that does not fit, more chunks
    than machines, or a tree whose peak memory exceeds s.
    """
    q, s = num_machines, memory_words
    c = chunk_words if chunk_words is not None else max(1, s // 2)
    m = -(-n // c)
    problems: list[tuple[str, Any, str]] = []
    if m > q:
        problems.append(("num_machines", q,
                         f"{n} numbers in chunks of {c} words need {m} machines; raise "
                         f"num_machines to >= {m} or memory_words"))
    if fan_in is not None:
        b = fan_in
        d = aligned_depth(m, b)
    else:
        b, d = _smallest_fan_in(m, c, s)
    if _peak(c, b, d) > s:
        least = _least_peak(m, c) if fan_in is None else _peak(c, b, d)
        fix = (f"raise memory_words to >= {least} or lower chunk_words" if chunk_words
               else "raise memory_words (chunks take s // 2 of it) or pass chunk_words")
        problems.append(("memory_words", s,
                         f"{m} chunks of {c} words need >= {least} words per machine (chunk, "
                         f"kept tree totals, inbox, state); {fix}"
                         + ("" if fan_in is None else ", or use fan_in=None")))
    if problems:
        raise ConfigError(problems=problems)
    return PrefixSumPlan(n=n, chunk_words=c, num_chunks=m, fan_in=b, depth=d)


def _least_peak(m: int, c: int) -> int:
    """The smallest peak any fan-in gives m chunks of c words (small fan-ins win)."""
    return min(_peak(c, b, aligned_depth(m, b)) for b in range(2, max(2, min(m, 1024)) + 1))


def _smallest_fan_in(m: int, c: int, s: int) -> tuple[int, int]:
    """The smallest b reaching the smallest depth D whose peak fits s; (2, ceil(log2 m)) if
    none fits (plan then reports the problem)."""
    if m <= 1:
        return 2, 0
    for d in range(1, ceil_log(m, 2) + 1):
        b = max(2, math.ceil(m ** (1 / d)))  # smallest b with b^d >= m, corrected below
        while b > 2 and (b - 1) ** d >= m:
            b -= 1
        while b ** d < m:
            b += 1
        if _peak(c, b, d) <= s:
            return b, d
    return 2, ceil_log(m, 2)


class PrefixSum(Program):
    """Inclusive prefix sums of a 1-D input; see the module docstring for rounds and memory.

    fan_in: block size b >= 2 of the aligned tree, or None (see module docstring).
    chunk_words: input words per machine, or None for memory_words // 2.
    """

    def __init__(self, fan_in: int | None = None, chunk_words: int | None = None) -> None:
        problems: list[tuple[str, Any, str]] = []
        if fan_in is not None and (type(fan_in) is not int or fan_in < 2):
            problems.append(("fan_in", fan_in, "must be an int >= 2 or None"))
        if chunk_words is not None and (type(chunk_words) is not int or chunk_words < 1):
            problems.append(("chunk_words", chunk_words, "must be an int >= 1 or None"))
        if problems:
            raise ConfigError(problems=problems)
        self.fan_in = fan_in
        self.chunk_words = chunk_words

    def partition(self, inputs: Any, num_machines: int,
                  memory_words: int) -> dict[int, dict[str, Any]]:
        """Machine i < m holds {"input": chunk i, "plan": [b, m]}; the rest start empty."""
        arr = _as_numbers(inputs)
        p = plan(arr.size, num_machines, memory_words, self.fan_in, self.chunk_words)
        c, layout = p.chunk_words, [p.fan_in, p.num_chunks]
        return {i: {"input": arr[i * c:(i + 1) * c], "plan": layout}
                for i in range(p.num_chunks)}

    def round(self, machine: Machine) -> None:
        memory = machine.memory
        if "plan" not in memory:  # holds no input: takes no part
            machine.halt()
            return
        b, m = memory["plan"]
        d = aligned_depth(m, b)
        t, level = machine.round_idx, aligned_level(machine.id, b, d)
        if t == 0:
            prefix = np.cumsum(memory.pop("input"))
            memory["prefix"] = prefix
            memory["run"] = prefix[-1]
            memory["sums"] = []
        if t <= level:
            _up(machine, b, m, d, t, level)
        else:
            _down(machine, b, m, d, t)

    def __repr__(self) -> str:
        return f"PrefixSum(fan_in={self.fan_in}, chunk_words={self.chunk_words})"


def _up(machine: Machine, b: int, m: int, d: int, t: int, level: int) -> None:
    """Rounds 0..level: absorb the level-(t-1) children's totals; in round `level` pass up."""
    memory = machine.memory
    if t >= 1:
        # The inbox holds the totals of the blocks i + k*b^(t-1), k = 1.., in order of k.
        got = [value for _, value in machine.inbox]
        own = memory["run"]
        memory["sums"].append(np.array([own, *got], dtype=memory["prefix"].dtype))
        memory["run"] = own + sum(got)
    if t < level:
        return  # stay awake: the next level's totals may not come, but round `level` must run
    if machine.id != 0:
        machine.send(aligned_parent(machine.id, b, level), memory.pop("run"))
        machine.halt()  # until the parent sends this block's offset, in round 2D - level
    else:
        memory.pop("run")
        _learn_offset(machine, 0, b, m, d, t)  # the root's block starts at the input's start


def _down(machine: Machine, b: int, m: int, d: int, t: int) -> None:
    """Rounds 2D-level..2D: learn the offset (from the inbox once), then tell the children."""
    if machine.inbox:
        (_, offset), = machine.inbox  # exactly one message: the parent's offset for us
        _learn_offset(machine, offset, b, m, d, t)
    else:
        _send_offsets(machine, b, m, d, t)


def _learn_offset(machine: Machine, offset: Any, b: int, m: int, d: int, t: int) -> None:
    memory = machine.memory
    machine.output = memory.pop("prefix") + offset  # replaces the c-word running totals
    memory["offset"] = offset
    _send_offsets(machine, b, m, d, t)


def _send_offsets(machine: Machine, b: int, m: int, d: int, t: int) -> None:
    """In round t the level-(2D - t) node sends each level-(2D - t - 1) child its offset."""
    memory = machine.memory
    node_level = 2 * d - t
    if node_level >= 1:
        sums = memory["sums"][node_level - 1]  # totals of this node's children, in order
        before = memory["offset"] + np.cumsum(sums)  # before[k-1]: total before child k
        for k, child in enumerate(aligned_children(machine.id, b, node_level, m), start=1):
            machine.send(child, before[k - 1])
    if node_level <= 1:  # level-0 children told (or none to tell): this machine is done
        memory.pop("sums")
        memory.pop("offset")
        machine.halt()


def _as_numbers(inputs: Any) -> np.ndarray:
    arr = np.asarray([] if inputs is None else inputs)
    if arr.ndim != 1 or arr.dtype.kind not in "biuf":
        raise ConfigError(problems=[("inputs", f"array of shape {arr.shape}, dtype {arr.dtype}",
                                     "prefix sums need a 1-D array or sequence of numbers")])
    return arr


def reference(inputs: Any) -> np.ndarray:
    """np.cumsum of the input: the inclusive prefix sums, sequentially."""
    return np.cumsum(_as_numbers(inputs))


def verify(output: list[Any], inputs: Any) -> bool:
    """True when the machines' outputs, concatenated in id order, equal `reference`.

    Exact for integers; floats must agree within (n-1)*eps*cumsum(|x|), the worst case of
    two summation orders (module docstring).
    """
    parts = [np.asarray(o) for o in output if o is not None]
    want = reference(inputs)
    got = np.concatenate(parts) if parts else np.zeros(0, dtype=want.dtype)
    if got.shape != want.shape:
        return False
    if want.dtype.kind != "f":
        return bool(np.array_equal(got, want))
    eps = float(np.finfo(want.dtype).eps)
    tol = max(want.size - 1, 1) * eps * np.cumsum(np.abs(_as_numbers(inputs)))
    return bool(np.all(np.abs(got - want) <= tol))


def round_bound(n: int, q: int, s: int, fan_in: int | None = None,
                chunk_words: int | None = None) -> int:
    """Rounds a prefix sum of n numbers takes: exactly 2*ceil(log_b m) + 1 (see `plan`)."""
    return plan(n, q, s, fan_in, chunk_words).rounds


def make_input(n: int, rng: np.random.Generator) -> np.ndarray:
    """n int64 numbers in [-1000, 1000): their prefix sums are exact."""
    return rng.integers(-1000, 1000, size=n, dtype=np.int64)


def sizing(n: int, q: int | None = None, s: int | None = None) -> tuple[int, int]:
    """Default (q, s) that `plan` accepts.

    s: max(64, 4*ceil(sqrt(n))), raised to 2*ceil(n/q) when q is given (so chunks of s/2
    fit on q machines), then doubled until the tree fits. q: m = ceil(n / (s/2)), one machine
    per chunk.
    """
    if s is None:
        s = default_memory_words(n)
        if q is not None:
            s = max(s, 2 * math.ceil(n / q))
        while not _fits(n, q, s):
            s *= 2
    if q is None:
        q = max(1, -(-n // max(1, s // 2)))
    return q, s


def _fits(n: int, q: int | None, s: int) -> bool:
    try:
        plan(n, q if q is not None else max(1, -(-n // max(1, s // 2))), s)
    except ConfigError:
        return False
    return True


SPEC = AlgorithmSpec(
    name="prefix-sum",
    summary="inclusive prefix sums of n numbers, chunk per machine (b-ary tree up and down)",
    program=PrefixSum,
    make_input=make_input,
    reference=reference,
    verify=verify,
    round_bound=round_bound,
    sizing=sizing,
)
