"""Broadcast: machine 0's value reaches every machine down the heap tree of fan-in b.

Round bound, for q machines, s = memory_words, a value of w words (a message of it costs
w' = max(1, w)) and fan-in b (default: the largest the caps allow, b = s // w'): the run takes
exactly depth(q, b) + 1 rounds, with depth(q, b) <= ceil(log_b q) for b >= 2 (q - 1 for
b = 1): depth(q, b) rounds that send (round r sends from the machines at depth r) and a last
round in which the deepest machines store the value and halt.

Input: any countable value (a numpy array, a scalar, a list), placed on machine 0 only.
Output: every machine's output is the value. The tree arithmetic is in mpcsim.algorithms.tree;
to combine values from every machine instead, see mpcsim.algorithms.allreduce.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..program import Machine, Program
from ..wordcount import message_words
from .spec import AlgorithmSpec
from .tree import children, depth

__all__ = [
    "Broadcast", "reference", "verify", "round_bound", "make_input", "sizing", "fan_in_for",
    "SPEC",
]

DEFAULT_FAN_IN = 8  # the default sizing picks s = 8 * n words, so the default fan-in is 8
DEFAULT_MACHINES = 64  # the input size does not determine q for a broadcast


def fan_in_for(memory_words: int, value_words: int, fan_in: int | None = None) -> int:
    """The fan-in b: `fan_in` if given, else the largest b with b * max(1, value_words) <= s.

    A machine holding the value sends one copy per child in one round, so the sent cap needs
    b * w' <= s, w' = max(1, value_words) (a message costs at least one word).
    """
    if fan_in is not None:
        return fan_in
    return max(1, memory_words // max(1, value_words))


class Broadcast(Program):
    """Machine 0's input reaches every machine over a b-ary heap tree (see module docstring).

    fan_in: children per machine (int >= 1), or None for the largest the caps allow. Every
    machine derives the fan-in from s and the value's words, so the tree needs no header.
    """

    def __init__(self, fan_in: int | None = None) -> None:
        if fan_in is not None and (type(fan_in) is not int or fan_in < 1):
            raise ConfigError(problems=[("fan_in", fan_in, "must be an int >= 1 or None")])
        self.fan_in = fan_in

    def partition(self, inputs: Any, num_machines: int,
                  memory_words: int) -> dict[int, dict[str, Any]]:
        """Machine 0 holds {"value": inputs}; every other machine starts empty."""
        w = message_words(inputs)
        problems: list[tuple[str, Any, str]] = []
        if w > memory_words:
            problems.append(("memory_words", memory_words,
                             f"the value holds {w} words and must fit one machine; raise "
                             f"memory_words to >= {w}"))
        elif self.fan_in is not None and min(self.fan_in, num_machines - 1) * w > memory_words:
            # The busiest sender has min(b, q - 1) children and sends each a w-word copy.
            problems.append(("fan_in", self.fan_in,
                             f"sending {min(self.fan_in, num_machines - 1)} copies of a "
                             f"{w}-word value exceeds memory_words={memory_words}; use "
                             f"fan_in <= {memory_words // w} or fan_in=None"))
        if problems:
            raise ConfigError(problems=problems)
        return {0: {"value": inputs}}

    def round(self, machine: Machine) -> None:
        if machine.id == 0 and machine.round_idx == 0:
            value = machine.memory.pop("value")
        elif machine.inbox:
            (_, value), = machine.inbox  # exactly one message: the parent's copy
        else:
            machine.halt()  # round 0 off the root: wait for the parent's copy
            return
        # Memory: the w-word inbox after delivery, then the w-word output (s >= w checked in
        # partition). Sent: b copies of w' words <= s by the choice of b.
        machine.output = value
        b = fan_in_for(machine.memory_words, message_words(value), self.fan_in)
        for child in children(machine.id, b, machine.num_machines):
            machine.send(child, value)
        machine.halt()

    def __repr__(self) -> str:
        return f"Broadcast(fan_in={self.fan_in})"


def reference(inputs: Any) -> Any:
    """What every machine must output: the value itself."""
    return inputs


def verify(output: list[Any], inputs: Any) -> bool:
    """True when every machine's output equals the value (arrays compared elementwise)."""
    want = np.asarray(inputs)
    return all(o is not None and np.array_equal(np.asarray(o), want) for o in output)


def round_bound(n: int, q: int, s: int, fan_in: int | None = None) -> int:
    """Rounds a broadcast of an n-word value takes on q machines: exactly depth(q, b) + 1."""
    return depth(q, fan_in_for(s, n, fan_in)) + 1


def make_input(n: int, rng: np.random.Generator) -> np.ndarray:
    """An int64 array of n words (the value to broadcast)."""
    return rng.integers(0, 1 << 30, size=n, dtype=np.int64)


def sizing(n: int, q: int | None = None, s: int | None = None) -> tuple[int, int]:
    """Default (q, s) for an n-word value: q = 64 machines, s = 8 * n words (fan-in 8)."""
    return (q if q is not None else DEFAULT_MACHINES,
            s if s is not None else DEFAULT_FAN_IN * max(1, n))


SPEC = AlgorithmSpec(
    name="broadcast",
    summary="machine 0's value reaches every machine over a b-ary tree",
    program=Broadcast,
    make_input=make_input,
    reference=reference,
    verify=verify,
    round_bound=round_bound,
    sizing=sizing,
)
