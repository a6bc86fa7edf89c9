"""Scans over the aligned b-ary tree: one round program for running totals under any
associative combine. prefix_sum and segmented_prefix_sum are its two instances.

The input sits in chunks of c items on machines 0..m-1, m = ceil(items / c), in order; the
tree is mpcsim.algorithms.tree's aligned tree of fan-in b and height D = ceil(log_b m).
A *summary* describes a block of items (prefix sums: its total; segmented sums: whether a
segment starts in it and the total since its last start); summaries combine left to right by
an associative `combine`. A *carry* is what a block needs from everything before it (the
total before it, or the running total of the segment open at its start); `apply(carry, s)` is
the carry after a block summarised by s.

Round 0: every machine takes its chunk's local running totals and its summary.
Up-sweep, round t = 1..L (L the machine's top level): a level-t node receives the summaries
of its b-1 other level-(t-1) children, in order, and at once tells each child the summary of
everything before it in the node's block (its *left* summary, kept by the child); in round L
it sends its block's summary up. Down-sweep: the level-l node learns its carry in round
2D - l and, in that round and the next ones, sends it down to its children at each level; a
child's carry is apply(parent's carry, its left summary). The root's carry is the identity,
so in round D it sends its level-(D-1) children their carries directly.

Round bound: exactly 2D + 1 rounds. The machine whose top level is L sends its summary up in
round L, so the root has them all in round D; the level-l nodes send carries down in round
2D - l, so level-0 machines learn theirs in round 2D, the last round. A child's left summary
(sent in round l + 1 <= D - 1 by a level-(l+1) parent below the root) arrives in round
l + 2 < 2D - l, before its carry.

Memory, per machine, after delivery (`ScanPlan.peak_words`): round 0 holds the chunk's input
(c*i words for items of i words) and the plan (2 words); later rounds hold c words of running
totals (then of output), the plan, the instance's state (`Scan.state_words`), and either the
block summary and an inbox of b-1 summaries (w words each: w*b) or a left summary, the carry
and a 1-word inbox (w + 2). Nothing is kept per level: the left summaries live with the
children, so the peak does not grow with the depth. Per round a machine receives at most
b-1 messages and sends at most b (in round L: b-1 left summaries and its summary up), each of
at most w words.

Defaults: c = s // divisor items per machine (the instance's `chunk_divisor`: the input takes
at most half the memory); b is the smallest fan-in reaching the smallest depth whose peak fits
s, so the run takes as few rounds as the caps allow with the least traffic per machine.
q = m = ceil(items / c) machines, so q*s is about divisor * items * (words per item) / i.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..program import Machine, Program
from .spec import double_until_accepted
from .tree import aligned_children, aligned_depth, aligned_level, aligned_parent, ceil_log

__all__ = ["Scan", "ScanPlan", "ScanShape", "plan", "sizing"]

PLAN_WORDS = 2  # the memory entry "plan": [b, m]


@dataclass(frozen=True)
class ScanPlan:
    """How a scan lays out its items: chunks, fan-in, tree depth and the peak memory."""

    items: int  # input items (numbers, or [value, flag] rows)
    chunk_items: int  # c: items per machine (the last chunk may be shorter)
    num_chunks: int  # m = ceil(items / c): machines 0..m-1 hold input
    fan_in: int  # b: block size of the aligned tree (a node has b-1 other children)
    depth: int  # D = ceil(log_b m)
    peak_words: int  # the most words any machine holds after delivery, in any round

    @property
    def rounds(self) -> int:
        """Exactly 2D + 1 (see the module docstring)."""
        return 2 * self.depth + 1


@dataclass(frozen=True)
class ScanShape:
    """An instance's word counts: what the plan needs to know of a Scan subclass."""

    item_words: int  # input words per item
    summary_words: int  # w: words per summary (and per left summary)
    state_words: int  # the instance's own memory entries beside the running totals
    chunk_divisor: int  # default c = s // chunk_divisor

    def peak(self, c: int, b: int, d: int) -> int:
        later = c + PLAN_WORDS + self.state_words + max(self.summary_words * b,
                                                        self.summary_words + 2)
        return max(c * self.item_words + PLAN_WORDS, later)


def plan(shape: ScanShape, items: int, num_machines: int, memory_words: int,
         fan_in: int | None = None, chunk_items: int | None = None,
         chunk_name: str = "chunk_items") -> ScanPlan:
    """Choose (and check) the layout of `items` items on q machines of s words.

    Raises ConfigError naming every problem at once: more chunks than machines, or a tree
    whose peak memory exceeds s (with the least memory_words that would do).
    """
    q, s = num_machines, memory_words
    c = chunk_items if chunk_items is not None else max(1, s // shape.chunk_divisor)
    m = -(-items // c)
    problems: list[tuple[str, Any, str]] = []
    if m > q:
        problems.append(("num_machines", q, f"{items} items in chunks of {c} need {m} "
                         f"machines; raise num_machines to >= {m} or memory_words"))
    if fan_in is not None:
        b, d = fan_in, aligned_depth(m, fan_in)
    else:
        b, d = _smallest_fan_in(shape, m, c, s)
    peak = shape.peak(c, b, d)
    if peak > s:
        least = peak if fan_in is not None else min(
            shape.peak(c, f, aligned_depth(m, f)) for f in range(2, max(2, min(m, 1024)) + 1))
        fix = (f"raise memory_words or lower {chunk_name}" if chunk_items is not None else
               f"raise memory_words (chunks take s // {shape.chunk_divisor} items) or pass "
               f"{chunk_name}")
        problems.append(("memory_words", s, f"{m} chunks of {c} items need >= {least} words "
                         "per machine (chunk, summaries, inbox, state); " + fix
                         + ("" if fan_in is None else ", or use fan_in=None")))
    if problems:
        raise ConfigError(problems=problems)
    return ScanPlan(items=items, chunk_items=c, num_chunks=m, fan_in=b, depth=d,
                    peak_words=peak)


def _smallest_fan_in(shape: ScanShape, m: int, c: int, s: int) -> tuple[int, int]:
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
        if shape.peak(c, b, d) <= s:
            return b, d
    return 2, ceil_log(m, 2)


def sizing(shape: ScanShape, items: int, num_machines: int | None, memory_words: int | None,
           default_words: int) -> tuple[int, int]:
    """(q, s) that a default plan accepts. s, when not given: `default_words`, raised so the
    chunks fit on q machines (when q is given), then doubled until the tree fits.
    q, when not given: one machine per default chunk, ceil(items / (s // divisor)).
    ConfigError (naming the fix) when a given s or q cannot work."""
    def machines(s: int) -> int:
        return num_machines if num_machines is not None else _machines_for(shape, items, s)

    s = memory_words
    if s is None:
        s = default_words
        if num_machines is not None:
            s = max(s, shape.chunk_divisor * math.ceil(items / num_machines))
        s = double_until_accepted(s, lambda s: plan(shape, items, machines(s), s))
    plan(shape, items, machines(s), s)
    return machines(s), s


def _machines_for(shape: ScanShape, items: int, s: int) -> int:
    return max(1, -(-items // max(1, s // shape.chunk_divisor)))


class Scan(Program):
    """The aligned-tree scan; subclasses define SHAPE and the five methods below.

    fan_in: block size b >= 2 of the aligned tree, or None (module docstring). chunk: items
    per machine, or None for memory_words // SHAPE.chunk_divisor.
    """

    SHAPE: ScanShape
    CHUNK_NAME = "chunk_items"  # the subclass's keyword for `chunk`, for messages

    def __init__(self, fan_in: int | None = None, chunk: int | None = None) -> None:
        problems: list[tuple[str, Any, str]] = []
        if fan_in is not None and (type(fan_in) is not int or fan_in < 2):
            problems.append(("fan_in", fan_in, "must be an int >= 2 or None"))
        if chunk is not None and (type(chunk) is not int or chunk < 1):
            problems.append((self.CHUNK_NAME, chunk, "must be an int >= 1 or None"))
        if problems:
            raise ConfigError(problems=problems)
        self.fan_in = fan_in
        self.chunk = chunk

    # -- what an instance defines ------------------------------------------------------------

    def items(self, inputs: Any) -> np.ndarray:
        """The input as an array of items, validated (ConfigError otherwise)."""
        raise NotImplementedError

    def local(self, memory: dict[str, Any], chunk: np.ndarray) -> Any:
        """Round 0: store the chunk's running totals as memory["prefix"] (and any state);
        return the chunk's summary."""
        raise NotImplementedError

    def combine(self, left: Any, right: Any) -> Any:
        """The summary of two adjacent blocks, the left one first."""
        raise NotImplementedError

    def apply(self, carry: Any, summary: Any) -> Any:
        """The carry after a block summarised by `summary`, given the carry before it."""
        raise NotImplementedError

    def finish(self, memory: dict[str, Any], carry: Any) -> Any:
        """The machine's output: its running totals with the carry applied (pops them)."""
        raise NotImplementedError

    IDENTITY_CARRY: Any = 0  # the carry before the first item

    # -- the program -------------------------------------------------------------------------

    def plan(self, items: int, num_machines: int, memory_words: int) -> ScanPlan:
        return plan(self.SHAPE, items, num_machines, memory_words, self.fan_in, self.chunk,
                    self.CHUNK_NAME)

    def partition(self, inputs: Any, num_machines: int,
                  memory_words: int) -> dict[int, dict[str, Any]]:
        """Machine i < m holds {"input": chunk i, "plan": [b, m]}; the rest start empty."""
        arr = self.items(inputs)
        p = self.plan(len(arr), num_machines, memory_words)
        c, layout = p.chunk_items, [p.fan_in, p.num_chunks]
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
            memory["run"] = self.local(memory, memory.pop("input"))
        if t <= level:
            self._up(machine, b, m, d, t, level)
        elif machine.inbox and t < 2 * d - level:  # the parent's left summary for us
            (_, memory["left"]), = machine.inbox
            machine.halt()  # until the carry comes, in round 2D - level
        elif machine.inbox:  # exactly one message: the parent's carry
            (_, carry), = machine.inbox
            left = memory.pop("left", None)
            self._learn_carry(machine, carry if left is None else self.apply(carry, left),
                              b, m, d, t)
        else:
            self._send_carries(machine, b, m, d, t)

    def _up(self, machine: Machine, b: int, m: int, d: int, t: int, level: int) -> None:
        """Rounds 0..level: absorb the level-(t-1) children's summaries and tell each child
        its left summary; in round `level` pass the block's summary up."""
        memory = machine.memory
        if t >= 1:
            run = memory.pop("run")
            lefts = []
            for _, summary in machine.inbox:  # children in order of their blocks
                lefts.append(run)
                run = self.combine(run, summary)
            memory["run"] = run
            if t < d:  # below the root: the children keep their left summaries
                for child, left in zip(aligned_children(machine.id, b, t, m), lefts):
                    machine.send(child, left)
            else:  # the root: its children's carries, sent by _send_carries below
                memory["lefts"] = lefts
        if t < level:
            return  # stay awake: the next summaries may not come, but round `level` must run
        run = memory.pop("run")
        if machine.id != 0:
            machine.send(aligned_parent(machine.id, b, level), run)
            machine.halt()  # until the parent sends the left summary or the carry
        else:
            self._learn_carry(machine, self.IDENTITY_CARRY, b, m, d, t)

    def _learn_carry(self, machine: Machine, carry: Any, b: int, m: int, d: int,
                     t: int) -> None:
        machine.output = self.finish(machine.memory, carry)
        machine.memory["carry"] = carry
        self._send_carries(machine, b, m, d, t)

    def _send_carries(self, machine: Machine, b: int, m: int, d: int, t: int) -> None:
        """In round t the level-(2D - t) node tells its level-(2D - t - 1) children."""
        memory = machine.memory
        node_level = 2 * d - t
        if node_level >= 1:
            children = aligned_children(machine.id, b, node_level, m)
            carry = memory["carry"]
            if node_level == d:  # the root: each child's carry is apply(identity, left)
                for child, left in zip(children, memory.pop("lefts")):
                    machine.send(child, self.apply(carry, left))
            else:
                for child in children:
                    machine.send(child, carry)
        if node_level <= 1:  # level-0 children told (or none to tell): this machine is done
            memory.pop("carry")
            machine.halt()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(fan_in={self.fan_in}, {self.CHUNK_NAME}={self.chunk})"
