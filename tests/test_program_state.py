"""A program object is code and settings: a round that changes it raises ProgramStateError on
every backend (each host runs its own copy, so state on it would depend on the layout)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import mpcsim
from mpcsim import ProgramStateError, solo


class SetsAttribute(mpcsim.Program):
    def round(self, machine: mpcsim.Machine) -> None:
        self.last = machine.id
        machine.halt()


class AppendsInPlace(mpcsim.Program):
    def __init__(self) -> None:
        self.seen: list[int] = []

    def round(self, machine: mpcsim.Machine) -> None:
        self.seen.append(machine.id)
        machine.halt()


class PlansInPartition(mpcsim.Program):
    """Computes its plan in partition (before round 0) and only reads it in rounds: fine."""

    def partition(self, inputs: Any, num_machines: int, memory_words: int) -> dict[int, Any]:
        self.offset = np.arange(num_machines)
        return {}

    def round(self, machine: mpcsim.Machine) -> None:
        machine.output = int(self.offset[machine.id])
        machine.halt()


@pytest.mark.parametrize("program, attribute, how", [
    (SetsAttribute, "last", "added"),
    (AppendsInPlace, "seen", "changed in place"),
])
def test_a_round_that_changes_the_program_raises_on_every_backend(
        program: type, attribute: str, how: str, backend: str) -> None:
    with pytest.raises(ProgramStateError) as info:
        mpcsim.run(program(), num_machines=4, memory_words=4, backend=backend, num_workers=2)

    assert (info.value.attribute, info.value.how, info.value.round_idx) == (attribute, how, 0)
    assert "machine.memory" in str(info.value)


def test_a_plan_computed_in_partition_and_read_in_rounds_is_allowed(backend: str) -> None:
    result = mpcsim.run(PlansInPartition(), num_machines=4, memory_words=4, backend=backend)

    assert result.output == [0, 1, 2, 3]


def test_a_solo_step_returns_the_outbox_in_send_order() -> None:
    class Mixed(mpcsim.Program):
        def round(self, machine: mpcsim.Machine) -> None:
            machine.send(1, "a")
            machine.send_many(np.array([2, 0]), np.array([5.0, 6.0]))
            machine.send(2, [machine.memory["x"], machine.round_idx])
            machine.output = machine.rng.integers(10)
            machine.halt()

    settings = solo.Settings(num_machines=3, memory_words=16, seed=7)
    machine = solo.machine(settings, 1, 4, {"x": 9})
    sent = solo.step(Mixed(), machine)

    assert sent[0] == (1, "a") and sent[2] == (2, [9, 4])
    assert sent[1].dests.tolist() == [2, 0] and sent[1].values.tolist() == [5.0, 6.0]
    assert machine.halted and machine.output == np.random.default_rng([7, 1]).integers(10)
