"""Prefix sums: each input chunk's global running totals, over the aligned b-ary tree.

An instance of mpcsim.algorithms.scan (which has the algorithm, its round bound and memory):
the input (n numbers) sits in chunks of c words on machines 0..m-1, m = ceil(n/c), in order;
a block's summary is its total, and a chunk's carry is the total of everything before it,
added to its local running totals.

Round bound, with m chunk machines and fan-in b: exactly 2*ceil(log_b m) + 1 rounds.
Memory, per machine: c words of running totals (then of output), 2 of plan, and either a
block total with b-1 children's totals in the inbox (b words) or a left total, the offset and
its message (3 words); the input's c words in round 0. Nothing grows with the depth, so
s = n^(1/2) fits at any n (c = s/2, b up to s/2 - 2). Per round a machine receives at most b-1
one-word messages and sends at most b (its left totals and its block's total up).

Defaults: c = s // 2 (half the memory for the input, half for the tree); b is the smallest
fan-in reaching the smallest depth whose peak fits s. q = m = ceil(n / (s/2)) = 2n/s machines.

Exactness: integer inputs give exactly np.cumsum. Float inputs are summed in another order
(within a chunk, then offsets), so they agree with np.cumsum to round-off; `verify` allows
the worst case (n-1)*eps*cumsum(|x|) (Higham, Accuracy and Stability, §4.2); compare small
cases with np.allclose. For a total on every machine, see mpcsim.algorithms.allreduce.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from . import scan
from .scan import Scan, ScanPlan, ScanShape
from .spec import AlgorithmSpec, default_memory_words

__all__ = [
    "PrefixSum", "plan", "reference", "verify", "round_bound", "make_input", "sizing", "SPEC",
]

# one word per number and per summary; state: none beyond the running totals and the plan
SHAPE = ScanShape(item_words=1, summary_words=1, state_words=0, chunk_divisor=2)


def plan(n: int, num_machines: int, memory_words: int, fan_in: int | None = None,
         chunk_words: int | None = None) -> ScanPlan:
    """Choose (and check) the layout for n numbers on q machines of s words (scan.plan)."""
    return scan.plan(SHAPE, n, num_machines, memory_words, fan_in, chunk_words, "chunk_words")


class PrefixSum(Scan):
    """Inclusive prefix sums of a 1-D input; see the module docstring for rounds and memory.

    fan_in: block size b >= 2 of the aligned tree, or None (see module docstring).
    chunk_words: input words per machine, or None for memory_words // 2.
    """

    SHAPE = SHAPE
    CHUNK_NAME = "chunk_words"

    def __init__(self, fan_in: int | None = None, chunk_words: int | None = None) -> None:
        super().__init__(fan_in, chunk_words)

    def items(self, inputs: Any) -> np.ndarray:
        return _as_numbers(inputs)

    def local(self, memory: dict[str, Any], chunk: np.ndarray) -> Any:
        memory["prefix"] = np.cumsum(chunk)
        return memory["prefix"][-1]

    def combine(self, left: Any, right: Any) -> Any:
        return left + right

    def apply(self, carry: Any, summary: Any) -> Any:
        return carry + summary

    def finish(self, memory: dict[str, Any], carry: Any) -> Any:
        return memory.pop("prefix") + carry


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
    return scan.sizing(SHAPE, n, q, s, default_memory_words(n))


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
