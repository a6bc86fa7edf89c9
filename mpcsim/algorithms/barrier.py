"""A barrier inside a fleet round program: every machine learns one common round at which all
of them are past a stage whose length varies (such as a sample sort), so the next stage can
run in lock-step.

Over the heap tree of fan-in F on machines 0..M-1 (mpcsim.algorithms.tree): a machine that is
ready and has heard "done" from all its children tells its parent "done"; when the root
(machine 0) is ready and has heard from all its children, it fixes start = now + D + 1
(D = the tree's depth) and sends "go start" down; every machine forwards it at once, so all
have it by round start - 1. Rounds: at most D after the last machine is ready for "done" to
reach the root, then D + 1 until start: <= 2D + 1 (D = depth(M, F) <= ceil(log_F M)).
Memory: 3 words of state (memory["b"] = [children still to report, reported, start]), F words
of "done" messages in one round. Its messages are single sends (machine.send, one per tree
edge each way: few) tagged with negative numbers (DONE, GO), which a fleet round reads apart
from its own batched rows (fleet.singles).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..fleet import Fleet
from .tree import depth

__all__ = ["Barrier", "DONE", "GO"]

DONE, GO = -1, -2  # message tags
_FRESH = np.array([-1, 0, -1], dtype=np.int64)  # [wait, told, start] before the first step


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

    def starts(self, fleet: Fleet) -> np.ndarray:
        """Each machine's start round, -1 while unknown (int64 per machine of the fleet)."""
        values, _ = fleet.gather("b", _FRESH)
        return values.reshape(-1, 3)[:, 2]

    def step_many(self, fleet: Fleet, ready: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Advance the barrier on every machine of `fleet` (machines 0..M-1; ready: bool per
        machine, its stage is over, and stays over); reads the DONE/GO messages among
        fleet.singles. Returns (start, asleep) per machine: the start round (-1 while
        unknown; once known, the same on every machine), and whether the machine has
        reported and waits for GO (it may halt: GO wakes it)."""
        values, _ = fleet.gather("b", _FRESH)
        state = values.reshape(-1, 3).copy()
        wait, told, start = state[:, 0], state[:, 1], state[:, 2]
        ids, b, m = fleet.ids, self.fan, self.machines
        fresh = wait < 0
        wait[fresh] = np.clip(m - (b * ids[fresh] + 1), 0, b)  # heap-tree children
        done_to, go_to, go_start = [], [], []
        for dest, _, payload in fleet.singles:
            tag = payload[0] if type(payload) is list and payload else None
            if tag == DONE:
                done_to.append(dest)
            elif tag == GO:
                go_to.append(dest)
                go_start.append(payload[1])
        if done_to:
            np.subtract.at(wait, fleet.index_of(np.array(done_to, dtype=np.int64)), 1)
        go = np.full(ids.size, -1, dtype=np.int64)
        if go_to:
            go[fleet.index_of(np.array(go_to, dtype=np.int64))] = go_start
        told_now = np.flatnonzero(ready & (wait == 0) & (told == 0) & (start < 0) & (ids > 0))
        heard = (go >= 0) & (start < 0)
        start[heard] = go[heard]
        if ids.size and ids[0] == 0 and ready[0] and wait[0] == 0 and start[0] < 0:
            start[0] = fleet.round_idx + self.depth + 1
            heard[0] = True
        machines = fleet.machines
        for i in told_now.tolist():
            machines[i].send((int(ids[i]) - 1) // b, [DONE])
        told[told_now] = 1
        for i in np.flatnonzero(heard).tolist():
            first = b * int(ids[i]) + 1
            for child in range(first, min(first + b, m)):
                machines[i].send(child, [GO, int(start[i])])
        if fresh.any() or done_to or told_now.size or heard.any():
            fleet.scatter("b", state.reshape(-1), np.arange(0, 3 * ids.size + 1, 3))
        return start.copy(), (start < 0) & (told == 1)
