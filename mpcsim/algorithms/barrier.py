"""A barrier inside a round program: every machine learns one common round at which all of
them are past a stage whose length varies (such as a sample sort), so the next stage can run
in lock-step.

Over the heap tree of fan-in F on machines 0..M-1 (mpcsim.algorithms.tree): a machine that is
ready and has heard "done" from all its children tells its parent "done"; when the root
(machine 0) is ready and has heard from all its children, it fixes start = now + D + 1
(D = the tree's depth) and sends "go start" down; every machine forwards it at once, so all
have it by round start - 1. Rounds: at most D after the last machine is ready for "done" to
reach the root, then D + 1 until start: <= 2D + 1 (D = depth(M, F) <= ceil(log_F M)).
Memory: 2 words of state, F words of "done" messages in one round. Messages are tagged with
negative numbers (DONE, GO) so that a program can tell them from its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..program import Machine
from .tree import children, depth, parent

__all__ = ["Barrier", "DONE", "GO"]

DONE, GO = -1, -2  # message tags


@dataclass(frozen=True)
class Barrier:
    machines: int  # M: machines 0..M-1 take part
    fan: int  # F: children per machine in the heap tree

    @property
    def depth(self) -> int:
        return depth(max(self.machines, 1), self.fan)

    @property
    def rounds(self) -> int:
        """Rounds from the last machine being ready to the common start round: <= 2D + 1."""
        return 2 * self.depth + 1

    def split(self, inbox: list[tuple[int, Any]]) -> tuple[list[tuple[int, Any]], list[Any]]:
        """(the program's own messages, the barrier's payloads), in inbox order."""
        own, mine = [], []
        for source, payload in inbox:
            tag = payload[0] if isinstance(payload, list) and payload else None
            (mine if tag in (DONE, GO) else own).append(payload if tag in (DONE, GO)
                                                          else (source, payload))
        return own, mine

    def step(self, machine: Machine, ready: bool, messages: list[Any]) -> int | None:
        """Advance the barrier on `machine` (ready: its stage is over); returns the start
        round once known (from then on the same on every machine), else None."""
        memory, me, m = machine.memory, machine.id, self.machines
        if "b.start" in memory:
            return int(memory["b.start"])
        if "b.wait" not in memory:
            memory["b.wait"] = len(children(me, self.fan, m))
        for payload in messages:
            if payload[0] == DONE:
                memory["b.wait"] -= 1
            else:  # GO: pass it down and remember it
                return self._go(machine, int(payload[1]))
        if ready and memory["b.wait"] == 0:
            if me == 0:
                return self._go(machine, machine.round_idx + self.depth + 1)
            if "b.told" not in memory:
                machine.send(parent(me, self.fan), [DONE])
                memory["b.told"] = 1
        return None

    def _go(self, machine: Machine, start: int) -> int:
        for child in children(machine.id, self.fan, self.machines):
            machine.send(child, [GO, start])
        memory = machine.memory
        memory.pop("b.wait", None)
        memory.pop("b.told", None)
        memory["b.start"] = start
        return start
