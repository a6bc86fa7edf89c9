"""Combining trees: many machines read, and write-with-min, entries of a table spread over all
machines, without any machine being swamped by the requests for a popular entry.

The table's entry x lives on machine owner(x) = hash(x) mod Q, with Q = g^(D+1) machines whose
ids are D+1 digits in base g. A request (x, v) means "give me the entry x, and offer v for its
write-min" (v = NO_VALUE offers nothing). It travels a butterfly: from machine m, hop l
(l = 1..D) goes to the machine whose lowest l digits are owner(x)'s and whose other digits are
m's, and hop D+1 to owner(x). Each hop changes one digit, so a machine sends to at most g
machines per round; all requests for x from one aligned block of g^l machines meet at one
level-l host, which merges them (keeping the least v) and remembers who asked, so every host
and the owner see x at most once per child. D = 0: requests go straight to the owners.

Schedule of one exchange (tau = rounds since it started), Exchange.rounds = 2D + 2:
    tau 0        requesters send (x, v), deduplicated, to their first hop
    tau l        level-l hosts merge and send up                         (l = 1..D)
    tau D+1      owners merge, compute each entry's answer, reply down
    tau 2D+2-l   level-l hosts reply to their children, in their order    (l = D..1)
    tau 2D+2     requesters receive one answer per x they asked, in the order they asked
so a machine receives at most one kind of message per tau. Loads: owners are hashed, so a
level-l host's expected load is at most the requests per machine r (the requests of its
block, spread over g^l hosts by the owners' low digits), and so is an owner's; the hashes are
salted by the run's seed, not by the input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..program import Machine
from .payload import packed

__all__ = ["Exchange", "NO_VALUE", "mix"]

NO_VALUE = np.iinfo(np.int64).max  # "offers nothing" in a write-min
UP, DOWN = -11, -12  # message tags


def mix(values: np.ndarray, salt: int) -> np.ndarray:
    """A splitmix64 hash of int64 values, salted: uint64 pseudo-random words."""
    z = values.astype(np.uint64) + np.uint64((salt * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019)
                                             % (1 << 64))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@dataclass(frozen=True)
class Exchange:
    fan: int  # g: digits are base g
    depth: int  # D: levels of hosts; the machines are exactly Q = g^(D+1)
    seed: int  # salts the hashes

    @classmethod
    def over(cls, machines: int, depth: int, seed: int) -> Exchange:
        """The exchange with D = depth on at least `machines` machines: g = the least with
        g^(D+1) >= machines."""
        if machines <= 1:
            return cls(1, 0, seed)
        fan = max(2, math.ceil(machines ** (1 / (depth + 1))))
        while (fan - 1) ** (depth + 1) >= machines and fan > 2:
            fan -= 1
        while fan ** (depth + 1) < machines:
            fan += 1
        return cls(fan, depth, seed)

    @property
    def machines(self) -> int:
        """Q = g^(D+1)."""
        return self.fan ** (self.depth + 1)

    @property
    def rounds(self) -> int:
        return 2 * self.depth + 2

    def owner(self, x: np.ndarray) -> np.ndarray:
        return (mix(x, self.seed) % np.uint64(self.machines)).astype(np.int64)

    def next_hop(self, x: np.ndarray, level: int, machine: int) -> np.ndarray:
        """Where a node on `machine` sends requests for x at hop `level` (1..D+1)."""
        owners = self.owner(x)
        if level > self.depth:
            return owners
        span = self.fan ** level
        return machine // span * span + owners % span

    # -- the round logic ------------------------------------------------------------------------

    def request(self, machine: Machine, targets: np.ndarray, values: np.ndarray) -> np.ndarray:
        """tau 0: send requests (targets with values; duplicates merged by min). Returns, for
        each input request, the index of its target among the unique targets: answer[index]
        (from `answers`) is its reply."""
        unique, inverse, merged = _merge_min(targets, values)
        self._send_up(machine, 1, unique, merged, "rq")
        return inverse

    def answers(self, machine: Machine, messages: list[tuple[int, Any]]) -> np.ndarray:
        """tau 2D+2: the answer to each unique target this machine asked, in sorted order."""
        return self._from_above(machine, messages, "rq")

    def host_up(self, machine: Machine, level: int, messages: list[tuple[int, Any]]) -> None:
        """tau = level (1..D): merge the children's requests, send them up."""
        unique, merged = self._merge(machine, messages, f"h{level}")
        self._send_up(machine, level + 1, unique, merged, f"h{level}")

    def own(self, machine: Machine, messages: list[tuple[int, Any]],
            answer: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
        """tau D+1: merge the requests for entries this machine owns, answer them
        (answer(targets, least offered values) -> values) and reply to each child."""
        unique, merged = self._merge(machine, messages, "own")
        self._reply(machine, "own", answer(unique, merged))

    def host_down(self, machine: Machine, level: int, messages: list[tuple[int, Any]]) -> None:
        """tau = 2D+2-level: pass the answers from above down to the children that asked."""
        self._reply(machine, f"h{level}", self._from_above(machine, messages, f"h{level}"))

    # -- internals ------------------------------------------------------------------------------

    def _send_up(self, machine: Machine, level: int, unique: np.ndarray, merged: np.ndarray,
                 key: str) -> None:
        """Group (unique, merged) by destination; remember the grouping to read the replies."""
        dests = self.next_hop(unique, level, machine.id)
        order = np.argsort(dests, kind="stable")
        dests = dests[order]
        machine.memory[key + ".order"] = order
        if dests.size == 0:
            return
        cuts = np.flatnonzero(np.diff(dests)) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, dests.size]):
            picked = order[lo:hi]
            machine.send(int(dests[lo]), [UP, packed(unique[picked]), packed(merged[picked])])

    def _merge(self, machine: Machine, messages: list[tuple[int, Any]],
               key: str) -> tuple[np.ndarray, np.ndarray]:
        """Unique targets over all children's requests with the least values; remembers,
        per child (in inbox order), where its targets landed, to reply in its order."""
        if not messages:
            machine.memory[key + ".kids"] = np.zeros(0, dtype=np.int64)
            machine.memory[key + ".inv"] = np.zeros(0, dtype=np.int64)
            machine.memory[key + ".len"] = np.zeros(0, dtype=np.int64)
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        targets = np.concatenate([np.asarray(payload[1], dtype=np.int64)
                                  for _, payload in messages])
        values = np.concatenate([np.asarray(payload[2], dtype=np.int64)
                                 for _, payload in messages])
        unique, inverse, merged = _merge_min(targets, values)
        memory = machine.memory
        memory[key + ".kids"] = np.array([source for source, _ in messages], dtype=np.int64)
        memory[key + ".len"] = np.array([len(payload[1]) for _, payload in messages],
                                        dtype=np.int64)
        memory[key + ".inv"] = inverse
        return unique, merged

    def _reply(self, machine: Machine, key: str, values: np.ndarray) -> None:
        memory = machine.memory
        kids, lengths = memory.pop(key + ".kids"), memory.pop(key + ".len")
        answer = values[memory.pop(key + ".inv")] if values.size else values
        for kid, lo, hi in zip(kids.tolist(), (np.cumsum(lengths) - lengths).tolist(),
                               np.cumsum(lengths).tolist()):
            machine.send(kid, [DOWN, packed(answer[lo:hi])])

    def _from_above(self, machine: Machine, messages: list[tuple[int, Any]],
                    key: str) -> np.ndarray:
        """Replies come back per destination, in destination order = the grouping order."""
        order = machine.memory.pop(key + ".order")
        out = np.empty(order.size, dtype=np.int64)
        if order.size:
            out[order] = np.concatenate([np.asarray(payload[1], dtype=np.int64)
                                         for _, payload in messages])
        return out


def _merge_min(targets: np.ndarray, values: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unique targets, each input's index into them, the least value per unique target)."""
    order = np.argsort(targets, kind="stable")
    ordered = targets[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]] if ordered.size else np.zeros(0, bool)
    starts = np.flatnonzero(first)
    inverse = np.empty(targets.size, dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    merged = np.minimum.reduceat(values[order], starts) if starts.size else values[:0]
    return ordered[starts], inverse, merged
