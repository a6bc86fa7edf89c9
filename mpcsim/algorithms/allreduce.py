"""All-reduce: combine every machine's numbers up the heap tree, then send the total back down.

Round bound, for q machines, s = memory_words and fan-in b (default: the largest the caps
allow, b = min(s - 2, q - 1), at least 1): the run takes exactly 2*depth(q, b) + 1 rounds,
with depth(q, b) <= ceil(log_b q) for b >= 2 (q - 1 for b = 1). Derivation: a machine sends
its subtree's partial result up in the round equal to its subtree's height, so the root has
the total in round D = depth(q, b); the total reaches depth d in round D + d, and the deepest
machines store it in round 2D, the last round.

Input: a 1-D array (or sequence) of n numbers, split evenly over all q machines.
Output: every machine's output is the total (a number; None for min/max of an empty input).
Operations: "sum", "prod", "min", "max", each a numpy ufunc; partial results travel as 1-element
arrays, so they keep the input's dtype (integer sums wrap exactly as numpy's do). To send one
value from one machine to all, see mpcsim.algorithms.broadcast; for running totals, see
mpcsim.algorithms.prefix_sum.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..program import Machine, Program
from .spec import AlgorithmSpec, default_memory_words
from .tree import children, depth, parent

__all__ = [
    "AllReduce", "OPS", "reference", "verify", "round_bound", "make_input", "sizing",
    "fan_in_for", "SPEC",
]

OPS: dict[str, np.ufunc] = {
    "sum": np.add, "prod": np.multiply, "min": np.minimum, "max": np.maximum,
}

# Words a machine holds besides its inbox while partial results arrive: "acc" (the partial
# result so far, 1 word) and "pending" (children yet to report, 1 word).
_STATE_WORDS = 2


def fan_in_for(memory_words: int, num_machines: int, fan_in: int | None = None) -> int:
    """The fan-in b: `fan_in` if given, else min(s - 2, q - 1), at least 1.

    A machine holds 2 words of state while up to b one-word partials arrive in one round, so
    the memory cap needs b + 2 <= s; going down it sends b one-word copies (b <= s). More
    than q - 1 children never exist.
    """
    if fan_in is not None:
        return fan_in
    return max(1, min(memory_words - _STATE_WORDS, num_machines - 1))


class AllReduce(Program):
    """Every machine ends with op over all input numbers (see module docstring).

    op: one of OPS ("sum", "prod", "min", "max"). fan_in: children per machine (int >= 1), or
    None for the largest the caps allow.
    """

    def __init__(self, op: str = "sum", fan_in: int | None = None) -> None:
        problems: list[tuple[str, Any, str]] = []
        if op not in OPS:
            problems.append(("op", op, f"must be one of {', '.join(OPS)}"))
        if fan_in is not None and (type(fan_in) is not int or fan_in < 1):
            problems.append(("fan_in", fan_in, "must be an int >= 1 or None"))
        if problems:
            raise ConfigError(problems=problems)
        self.op = op
        self.fan_in = fan_in

    def partition(self, inputs: Any, num_machines: int,
                  memory_words: int) -> dict[int, dict[str, Any]]:
        """Split the input evenly: machine i holds {"input": chunk}, ceil(n/q) words at most.

        A chunk may fill all s words: a machine reduces it to one word in round 0, before it
        can receive anything, so the chunk and the inbox never meet.
        """
        arr = _as_numbers(inputs)
        q, s = num_machines, memory_words
        b = fan_in_for(s, q, self.fan_in)
        problems: list[tuple[str, Any, str]] = []
        chunk = -(-arr.size // q)
        if chunk > s:
            problems.append(("num_machines", q,
                             f"{arr.size} numbers over {q} machines put {chunk} words on a "
                             f"machine, over memory_words={s}; raise num_machines to >= "
                             f"{-(-arr.size // s)} or memory_words to >= {chunk}"))
        need = min(b, q - 1) + _STATE_WORDS
        if need > s:
            problems.append(("memory_words", s,
                             f"fan-in {b} needs {need} words per machine (one inbox word per "
                             f"child plus {_STATE_WORDS} of state); raise memory_words to >= "
                             f"{need}" + ("" if self.fan_in is None else " or lower fan_in")))
        if problems:
            raise ConfigError(problems=problems)
        return {i: {"input": part} for i, part in enumerate(np.array_split(arr, q))}

    def round(self, machine: Machine) -> None:
        memory, q, me = machine.memory, machine.num_machines, machine.id
        b = fan_in_for(machine.memory_words, q, self.fan_in)
        ufunc = OPS[self.op]
        if machine.round_idx == 0:
            memory["acc"] = _reduce(ufunc, memory.pop("input", None))
            memory["pending"] = len(children(me, b, q))
        for source, value in machine.inbox:
            if me != 0 and source == parent(me, b):  # the total, on its way down
                self._deliver(machine, value, b)
            else:  # a child's partial result, on its way up
                memory["acc"] = _combine(ufunc, memory["acc"], value)
                memory["pending"] -= 1
        if memory.get("pending") == 0:  # every child has reported: pass the partial up
            acc = memory.pop("acc")
            del memory["pending"]
            if me == 0:
                if acc is None and ufunc.identity is not None:  # empty input: sum 0, prod 1
                    acc = np.array([ufunc.identity])
                self._deliver(machine, acc, b)
            else:
                machine.send(parent(me, b), acc)
        machine.halt()  # idle until a child's partial or the total arrives

    def _deliver(self, machine: Machine, total: np.ndarray | None, b: int) -> None:
        machine.output = None if total is None else total[0]
        for child in children(machine.id, b, machine.num_machines):
            machine.send(child, total)

    def __repr__(self) -> str:
        return f"AllReduce(op={self.op!r}, fan_in={self.fan_in})"


def _as_numbers(inputs: Any) -> np.ndarray:
    arr = np.asarray([] if inputs is None else inputs)
    if arr.ndim != 1 or arr.dtype.kind not in "biuf":
        raise ConfigError(problems=[("inputs", f"array of shape {arr.shape}, dtype {arr.dtype}",
                                     "all-reduce needs a 1-D array or sequence of numbers")])
    return arr


def _reduce(ufunc: np.ufunc, chunk: np.ndarray | None) -> np.ndarray | None:
    """A chunk's partial result as a 1-element array, or None for an empty chunk."""
    if chunk is None or chunk.size == 0:
        return None
    return ufunc.reduce(chunk, keepdims=True)


def _combine(ufunc: np.ufunc, a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    if b is None:
        return a
    return ufunc(a, b)


def reference(inputs: Any, op: str = "sum") -> Any:
    """op over all numbers, sequentially (numpy's reduction); None for min/max of nothing."""
    arr = _as_numbers(inputs)
    ufunc = OPS[op]
    if arr.size == 0:
        return ufunc.identity
    return ufunc.reduce(arr)


def verify(output: list[Any], inputs: Any, op: str = "sum") -> bool:
    """True when every machine output the same total and it matches `reference`.

    Integers, min and max must match exactly. A float sum may differ from numpy's by its
    summation order: the tree and numpy each err by at most (n-1)*eps/2*sum(|x|) (Higham,
    Accuracy and Stability of Numerical Algorithms, §4.2), so they agree to within
    n*eps*sum(|x|); a float product, to within a relative 2*n*eps.
    """
    if not output or any(o != output[0] for o in output):
        return False
    got, want = output[0], reference(inputs, op)
    if got is None or want is None:
        return got is None and want is None
    arr = _as_numbers(inputs)
    if arr.dtype.kind != "f" or op in ("min", "max"):
        return bool(got == want)
    eps = float(np.finfo(arr.dtype).eps)
    if op == "sum":
        tol = arr.size * eps * float(np.abs(arr).sum())
    else:
        tol = 2 * arr.size * eps * abs(float(want))
    return abs(float(got) - float(want)) <= tol


def round_bound(n: int, q: int, s: int, fan_in: int | None = None, op: str = "sum") -> int:
    """Rounds an all-reduce takes on q machines: exactly 2*depth(q, b) + 1 (op is irrelevant)."""
    return 2 * depth(q, fan_in_for(s, q, fan_in)) + 1


def make_input(n: int, rng: np.random.Generator) -> np.ndarray:
    """n int64 numbers in [-1000, 1000): their sum is exact."""
    return rng.integers(-1000, 1000, size=n, dtype=np.int64)


def sizing(n: int, q: int | None = None, s: int | None = None) -> tuple[int, int]:
    """Default (q, s): s = max(64, 4*ceil(sqrt(n))) (raised to hold ceil(n/q) words if q is
    given); q = ceil(n / (s/2)), so machines start half full."""
    if s is None:
        s = default_memory_words(n)
        if q is not None:
            s = max(s, math.ceil(n / q))
    if q is None:
        q = max(1, math.ceil(n / max(1, s // 2)))
    return q, s


SPEC = AlgorithmSpec(
    name="all-reduce",
    summary="every machine ends with the sum of all input numbers (b-ary tree up and down)",
    program=AllReduce,
    make_input=make_input,
    reference=reference,
    verify=verify,
    round_bound=round_bound,
    sizing=sizing,
)
