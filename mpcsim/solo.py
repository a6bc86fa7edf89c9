"""One machine's round outside a run: what a host does for one machine, as a public step.

Tools that execute a round program somewhere else than a host (transformer_bridge's MPC ->
transformer compiler runs each machine's round inside a token's per-token map) need the
machine exactly as a host builds it and its outbox exactly as a host routes it:

    machine = solo.machine(solo.Settings(q, s, seed, plan), machine_id, round_idx, memory,
                           output)
    machine.inbox = pairs or a columns.Inbox       # what the previous round delivered
    outbox = solo.step(program, machine)           # in send order: (dest, payload) pairs
                                                   # for send, OutBatch for send_many rows

`step` runs `round(machine)`, or `round_many` on a fleet of one machine, exactly as
mpcsim.run(..., vectorize=False) does, and returns what the machine sent. Nothing is counted
or capped here: the caller checks the caps (mpcsim.wordcount counts as a host does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .columns import OutBatch
from .fleet import Fleet
from .program import FunctionProgram, Machine, Program, RunState

__all__ = ["Settings", "machine", "step"]


@dataclass(frozen=True)
class Settings:
    """The run's settings a machine sees: q, s, the seed of machine.rng, and the run's plan
    (what the program's partition returned as Partition.plan)."""

    num_machines: int
    memory_words: int
    seed: int = 0
    plan: Any = None


class _SoloHost:
    """What a machine's run state asks of its host: the machines (from id lo) to flush whole
    fleet batches into; it counts no words (the caller does), so fleet rounds keep none."""

    counts_touches = False

    def __init__(self, m: Machine) -> None:
        self.lo, self.machines = m.id, [m]


def machine(settings: Settings, machine_id: int, round_idx: int,
            memory: dict[str, Any] | None = None, output: Any = None) -> Machine:
    """Machine `machine_id` in round `round_idx`, holding `memory` and `output`, with no inbox
    (set machine.inbox) and machine.rng seeded as in a run (set its bit_generator.state to
    continue a generator)."""
    run = RunState(settings.num_machines, settings.memory_words, settings.seed)
    run.round_idx = round_idx
    run.plan = settings.plan
    (m,) = Machine.fleet(run, machine_id, machine_id + 1, {machine_id: memory or {}})
    host = _SoloHost(m)
    run.host = lambda: host
    m.output = output
    m._halted = False
    return m


def step(program: Program, m: Machine) -> list[tuple[int, Any] | OutBatch]:
    """Run one round of `program` on `m` (a machine from `machine`); its outbox in send order.
    Exceptions from the program propagate as they are."""
    fn = getattr(program, "round_many", None)
    if fn is not None:
        fn(Fleet([m], np.array([m.id], dtype=np.int64), m._run))
        m._run.flush_fleet_out()
    elif isinstance(program, FunctionProgram):
        program.fn(m)
    else:
        program.round(m)
    out, m._out = m._out, None
    m._run.senders = []
    return list(out or ())
