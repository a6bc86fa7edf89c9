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


class ShipsAPlan(mpcsim.Program):
    """Returns its plan from partition: every machine reads the same plan, on every host."""

    def partition(self, inputs: Any, num_machines: int,
                  memory_words: int) -> mpcsim.Partition:
        return mpcsim.Partition({0: {"x": 1}}, plan={"scale": 10, "ids": np.arange(num_machines)})

    def round_many(self, fleet: mpcsim.Fleet) -> None:
        fleet.set_outputs(fleet.plan["scale"] * fleet.plan["ids"][fleet.ids],
                          np.arange(len(fleet) + 1))
        fleet.halt()


@pytest.mark.parametrize("num_workers", [1, 3])
def test_a_partitions_plan_reaches_every_machine_and_the_result(backend: str,
                                                                num_workers: int) -> None:
    result = mpcsim.run(ShipsAPlan(), num_machines=5, memory_words=4, backend=backend,
                        num_workers=num_workers)

    assert [int(o[0]) for o in result.output] == [0, 10, 20, 30, 40]
    assert result.plan["scale"] == 10


def test_a_partition_returning_something_else_is_a_config_error() -> None:
    class Odd(mpcsim.Program):
        def partition(self, inputs: Any, num_machines: int, memory_words: int) -> Any:
            return [{"x": 1}]

    with pytest.raises(mpcsim.ConfigError, match="Partition"):
        mpcsim.run(Odd(), num_machines=2, memory_words=4)


@pytest.mark.parametrize("name, n, s", [("sort", 3000, 200), ("hop-k", 3000, 600),
                                        ("connectivity", 500, 100)])
def test_the_librarys_programs_keep_their_plans_off_the_program(name: str, n: int,
                                                                s: int) -> None:
    from mpcsim.algorithms import ALGORITHMS

    spec = ALGORITHMS[name]
    program = spec.program()
    before = dict(vars(program))
    q, _ = spec.sizing(n, None, s)
    x = spec.make_input(n, np.random.default_rng(0))
    result = mpcsim.run(program, x, num_machines=q, memory_words=s)

    assert vars(program) == before and result.plan is not None
    assert spec.verify(result.output, x)
