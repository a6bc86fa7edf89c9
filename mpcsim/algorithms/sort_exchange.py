"""A deterministic-memory exchange by sorting: many machines read, and write-with-min, entries
of a table whose entry x lives on a known owner, in a fixed number of rounds, with no machine
holding more than a fixed number of words whatever the requests are.

Where to look instead: mpcsim.algorithms.label_exchange does the same through combining hosts
in 2D + 2 rounds (connectivity uses it), but its hosts' loads are only bounded in expectation (a
popular entry reaches a host once per child); this module is for small s, where no load may be
left to luck. mpcsim.algorithms.combining holds only what the two share (NO_VALUE, `mix`).

Items are 3 words (key, value, slot) with key = 2x + kind: an owner's record of entry x
(kind 0, value = the entry) or a request for x (kind 1, value = the offer for x's write-min,
NO_VALUE for none; slot = j*c + i for the requester's i-th request on machine j; owner records
have slot -1). Every machine puts at most c items in (padding the rest with +infinity).

Schedule of one exchange (tau = rounds since it started), `SortExchange.rounds` = T + 2D + 1:
    tau 0..T       Batcher's bitonic merge-split network over the m machines (the stages of
                   mpcsim.algorithms.sort_network, T = L(L+1)/2, L = ceil(log2 m)) on items
                   ordered by (key, value, slot); the +infinity padding stays implicit, so
                   every machine keeps at most c items and ends with positions [jc, (j+1)c)
                   of the sorted sequence: an entry's owner record comes first in its run,
                   then its requests by increasing offer;
    tau T..T+2D    a segmented scan over the aligned b-ary tree (mpcsim.algorithms.tree,
                   D = ceil(log_b m)), as in mpcsim.algorithms.scan: summaries up in rounds
                   T..T+D, left summaries back at once, carries down in rounds T+D..T+2D; a
                   summary is (x, owner value, least offer, count) of a block's last run; the
                   counts (a number each machine supplies, e.g. its live edges) add up, and the
                   root's total goes down with the carries;
    tau T+2D       every request learns (x, its entry, the least offer for x) and the answer
                   answer(x, entry, least) goes to its slot: one message per requester machine;
    tau 0 of the next exchange: requesters read their answers (`answers`).
Memory is deterministic: <= c items (3c words) held, <= 3c + 1 arriving per merge-split
stage, <= 2c + m' words of answers (m' messages) per requester; see `peak_words`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..program import Machine
from . import sort_network
from .combining import NO_VALUE
from .payload import packed
from .tree import aligned_children, aligned_depth, aligned_level, aligned_parent

__all__ = ["SortExchange", "ITEM_WORDS", "NONE"]

ITEMS, SUM, LEFT, CARRY, ANSWER = -31, -32, -33, -34, -35  # message tags
NONE = -1  # "no owner record seen" in a summary
ITEM_WORDS = 3
Summary = tuple[int, int, int, int]  # (x of the last run or -1, owner value, least offer, count)
EMPTY: Summary = (-1, NONE, int(NO_VALUE), 0)


def combine(a: Summary, b: Summary) -> Summary:
    """The summary of block a followed by block b (associative: runs are contiguous)."""
    count = a[3] + b[3]
    if b[0] < 0:
        return (a[0], a[1], a[2], count)
    if a[0] != b[0]:
        return (b[0], b[1], b[2], count)
    return (a[0], a[1] if a[1] != NONE else b[1], min(a[2], b[2]), count)


@dataclass(frozen=True)
class SortExchange:
    machines: int  # m: machines 0..m-1 take part
    capacity: int  # c: items per machine
    fan: int  # b: the scan tree's fan-in

    @property
    def stages(self) -> int:
        return sort_network.stages(self.machines) if self.machines > 1 else 0

    @property
    def depth(self) -> int:
        return aligned_depth(self.machines, self.fan)

    @property
    def rounds(self) -> int:
        """T + 2D + 1, exactly (module docstring)."""
        return self.stages + 2 * self.depth + 1

    @staticmethod
    def peak_words(c: int, fan: int) -> int:
        """Words the exchange adds to a machine's state, after delivery, in any round: a
        merge-split stage (and the scan's round 0) holds c items and the count and receives
        c items (6c + 2 words); a later scan round holds c items and either its block
        summary (4) and b - 1 children's summaries (5 words each) or, below its top level,
        a left summary (4) and a carry (6), or a left and a carry arriving together (11);
        answers arrive as <= c (slot, value) pairs in <= c messages (3c) after the items
        are gone. The total (1 word) is held in place of the count. Also a bound on the
        words sent in a round (c items, c answers, or b - 1 lefts, a summary and b - 1
        carries: 11(b - 1) + 5) and received, so one check keeps all three caps."""
        return max(6 * c + 2, 3 * c + max(4 + 5 * (fan - 1), 11), 11 * (fan - 1) + 5)

    def start(self, machine: Machine, keys: np.ndarray, values: np.ndarray, slots: np.ndarray,
              count: int, answer: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
              ) -> None:
        """tau 0: put in this machine's items (<= c) and its count (`advance` for answer)."""
        assert keys.size <= self.capacity, "a machine puts in at most c items"
        order = np.lexsort((slots, values, keys))
        memory = machine.memory
        memory["xk"], memory["xv"], memory["xs"] = keys[order], values[order], slots[order]
        memory["xc"] = int(count)
        memory.pop("xtotal", None)
        self.advance(machine, 0, [], answer)

    def advance(self, machine: Machine, tau: int, messages: list[tuple[int, Any]],
                answer: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None
                ) -> None:
        """tau 0..rounds-1; `answer` (x, entry, least offer) -> values, used at the end."""
        if machine.id >= self.machines:
            return
        t = self.stages
        if 1 <= tau <= t:
            items = [payload for _, payload in messages if payload[0] == ITEMS]
            if items:
                self._merge_split(machine, items[0], tau - 1)
        if tau < t:
            partner = machine.id ^ sort_network.masks(self.machines)[tau]
            if partner < self.machines:
                memory = machine.memory
                machine.send(partner, [ITEMS, packed(memory["xk"]), packed(memory["xv"]),
                                       packed(memory["xs"])])
            return
        self._scan(machine, tau - t, messages, answer)

    def answers(self, messages: list[tuple[int, Any]], size: int) -> np.ndarray:
        """The answers to this machine's `size` requests, by request index."""
        out = np.full(size, NO_VALUE, dtype=np.int64)
        for _, payload in messages:
            if payload[0] == ANSWER:
                out[np.asarray(payload[1], dtype=np.int64)] = payload[2]
        return out

    # -- internals ------------------------------------------------------------------------------

    def _merge_split(self, machine: Machine, payload: list[Any], stage: int) -> None:
        memory = machine.memory
        partner = machine.id ^ sort_network.masks(self.machines)[stage]
        keys, values, slots = (np.concatenate([memory[name], np.asarray(theirs, np.int64)])
                               for name, theirs in zip(("xk", "xv", "xs"), payload[1:]))
        order = np.lexsort((slots, values, keys))
        c = self.capacity
        keep = order[:c] if machine.id < partner else order[c:]
        memory["xk"], memory["xv"], memory["xs"] = keys[keep], values[keep], slots[keep]

    def _scan(self, machine: Machine, r: int, messages: list[tuple[int, Any]],
              answer: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None
              ) -> None:
        memory, me, b, d = machine.memory, machine.id, self.fan, self.depth
        top = aligned_level(me, b, d)
        for _, payload in messages:
            if payload[0] == LEFT:
                memory["xleft"] = tuple(int(v) for v in payload[1:5])
        if r == 0:
            memory["xsum"] = self._local_summary(memory)
            if top == 0 and d > 0:
                machine.send(aligned_parent(me, b, 0), [SUM, *memory["xsum"]])
        if 1 <= r <= d and top >= r:
            self._absorb(machine, r, top, messages)
        if d == 0 and r == 0:
            memory["xcarry"], memory["xtotal"] = EMPTY, memory["xsum"][3]
        for _, payload in messages:
            if payload[0] == CARRY:
                parent = tuple(int(v) for v in payload[1:5])
                memory["xcarry"] = combine(parent, memory.pop("xleft"))  # type: ignore[arg-type]
                memory["xtotal"] = int(payload[5])
        level = 2 * d - r - 1  # send carries to the level-`level` children now
        if 0 <= level < top and "xcarry" in memory:
            for child in aligned_children(me, b, level + 1, self.machines):
                machine.send(child, [CARRY, *memory["xcarry"], memory["xtotal"]])
        if r >= top:  # its summary went up (or, at the root, into the total)
            memory.pop("xsum", None)
        if r == 2 * d:
            self._finish(machine, answer)

    def _absorb(self, machine: Machine, r: int, top: int,
                messages: list[tuple[int, Any]]) -> None:
        """A level-r node: its children's summaries, in order; lefts back, its own up."""
        memory, me, b = machine.memory, machine.id, self.fan
        sums = {source: tuple(int(v) for v in payload[1:5])
                for source, payload in messages if payload[0] == SUM}
        running: Summary = memory["xsum"]
        for child in aligned_children(me, b, r, self.machines):
            machine.send(child, [LEFT, *running])
            running = combine(running, sums.get(child, EMPTY))  # type: ignore[arg-type]
        memory["xsum"] = running
        if top == r and r < self.depth:
            machine.send(aligned_parent(me, b, r), [SUM, *running])
        if r == self.depth:  # the root: nothing before it
            memory["xcarry"], memory["xtotal"] = EMPTY, running[3]

    @staticmethod
    def _local_summary(memory: dict[str, Any]) -> Summary:
        keys, values = memory["xk"], memory["xv"]
        count = int(memory.pop("xc"))
        if keys.size == 0:
            return (-1, NONE, int(NO_VALUE), count)
        x = keys >> 1
        lo = int(np.searchsorted(x, x[-1]))
        owner = int(values[lo]) if keys[lo] & 1 == 0 else NONE
        offers = np.where(keys[lo:] & 1 == 1, values[lo:], NO_VALUE)
        return (int(x[-1]), owner, int(offers.min()), count)

    def _finish(self, machine: Machine,
                answer: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None
                ) -> None:
        """Every request's (x, entry, least offer) from its run and the carry; answers out."""
        memory = machine.memory
        keys, values, slots = memory.pop("xk"), memory.pop("xv"), memory.pop("xs")
        carry = memory.pop("xcarry")
        memory.pop("xsum", None)
        n = keys.size
        if n == 0 or answer is None:
            return
        x, kind = keys >> 1, keys & 1
        starts = np.r_[True, x[1:] != x[:-1]]
        first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
        entry = np.where(kind[first] == 0, values[first], NONE)
        offers = np.where(kind == 1, values, NO_VALUE)
        # requests follow their owner record by increasing offer: the run's least offer is
        # the first request's, and it precedes every request of the run
        least = offers[np.minimum(first + (kind[first] == 0), n - 1)]
        carried = (first == 0) & (x == carry[0])
        entry = np.where(carried & (entry == NONE), carry[1], entry)
        least = np.where(carried, np.minimum(least, carry[2]), least)
        asked = slots >= 0
        slots = slots[asked]
        result = answer(x[asked], entry[asked], least[asked])
        dest = slots // self.capacity
        order = np.argsort(dest, kind="stable")
        dest, slots, result = dest[order], slots[order], result[order]
        cuts = np.flatnonzero(np.diff(dest)) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, dest.size]) if dest.size else ():
            machine.send(int(dest[lo]), [ANSWER, packed(slots[lo:hi] % self.capacity),
                                         packed(result[lo:hi])])
