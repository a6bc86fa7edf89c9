"""A lazy host (mpcsim.host): a per-machine program whose machines start empty runs on one
reusable Machine while machines only set their output and halt; any machine that does more
keeps its own Machine object. Either way a run gives what an eager host gives."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import mpcsim
from mpcsim import Fault, MemoryLimitExceeded, ProgramError
from mpcsim.host import Host, Layout
from mpcsim.program import FunctionProgram, Machine

Q = 20_000  # above FULL_SHUFFLE_MAX: the blocked run order


def counting(machine: Machine) -> None:
    machine.output = (machine.output or 0) + machine.id
    if machine.round_idx == 2 or (machine.id % 2 == 0 and machine.round_idx == 1):
        machine.halt()


@pytest.mark.parametrize("q", [10, Q])
def test_outputs_and_halt_votes_carry_across_lazy_rounds(q: int) -> None:
    result = mpcsim.run(counting, num_machines=q, memory_words=2)
    ids = np.arange(q)
    assert result.output == np.where(ids % 2 == 0, 2 * ids, 3 * ids).tolist()
    assert result.rounds == 3
    assert result.trace.rounds_active.tolist() == np.where(ids % 2 == 0, 2, 3).tolist()


def test_a_host_stays_lazy_while_machines_only_set_outputs_and_halt() -> None:
    config = mpcsim.RunConfig(num_machines=Q, memory_words=2)
    host = Host(FunctionProgram(counting), config, Layout.spread(Q, 1), 0, {})
    for round_idx in range(3):
        host.step(round_idx, [])
    assert host._machines is None
    assert [m.output for m in host.machines[:4]] == [0, 3, 4, 9]
    assert [m.halted for m in host.machines[:4]] == [True] * 4


KEPT: list[Machine] = []


def keeps_every_third(machine: Machine) -> None:
    if machine.id % 3 == 0:
        KEPT.append(machine)
    machine.output = machine.id
    machine.halt()


def test_machines_the_program_keeps_stay_distinct_objects() -> None:
    KEPT.clear()
    result = mpcsim.run(keeps_every_third, num_machines=Q, memory_words=2)
    assert result.output == list(range(Q))
    assert sorted(m.id for m in KEPT) == list(range(0, Q, 3))
    assert len({id(m) for m in KEPT}) == len(KEPT)
    assert all(m.output == m.id and m.halted for m in KEPT)
    KEPT.clear()


def later_state(machine: Machine) -> None:
    """Round 0 only sets outputs; round 1 uses memory, rng and sends on some machines."""
    if machine.round_idx == 0:
        machine.output = -machine.id
        return
    if machine.round_idx == 1:
        if machine.id % 5 == 0:
            machine.memory["r"] = float(machine.rng.random())
        if machine.id % 7 == 0:
            machine.send((machine.id + 1) % machine.num_machines, machine.id)
        return
    machine.output = (machine.output, machine.memory.get("r"), machine.inbox)
    machine.halt()


def test_memory_rng_and_sends_after_lazy_rounds_match_the_reference() -> None:
    q = 50
    result = mpcsim.run(later_state, num_machines=q, memory_words=8, seed=3)
    for i, (out, r, inbox) in enumerate(result.output):
        assert out == -i
        expected = float(np.random.default_rng([3, i]).random()) if i % 5 == 0 else None
        assert r == expected
        source = (i - 1) % q
        assert inbox == ([[source, source]] if source % 7 == 0 else [])


def fails_from_five(machine: Machine) -> None:
    machine.output = machine.id
    if machine.round_idx == 1 and machine.id >= 5:
        raise ValueError(f"machine {machine.id}")


@pytest.mark.parametrize("q", [10, Q])
def test_a_failing_lazy_round_raises_the_lowest_machines_error(q: int) -> None:
    with pytest.raises(ProgramError) as info:
        mpcsim.run(fails_from_five, num_machines=q, memory_words=2)
    assert info.value.machine == 5 and info.value.round_idx == 1


def big_output(machine: Machine) -> None:
    machine.output = [machine.id] * (3 if machine.id >= 7 else 1)
    machine.halt()


def test_an_output_over_the_cap_raises_naming_machine_round_and_words() -> None:
    with pytest.raises(MemoryLimitExceeded) as info:
        mpcsim.run(big_output, num_machines=Q, memory_words=2)
    error = info.value
    assert (error.machine, error.round_idx, error.limit, error.words, error.cap) == (
        7, 0, "memory", 3, 2)


def test_a_lost_lazy_host_recovers_to_the_same_output() -> None:
    clean = mpcsim.run(counting, num_machines=100, memory_words=2, num_workers=2)
    lost = mpcsim.run(counting, num_machines=100, memory_words=2, num_workers=2,
                      checkpoint_every=1, faults=(Fault(1, 1),))
    assert lost.output == clean.output and lost.rounds == clean.rounds
    assert len(lost.trace.recoveries) == 1


def reads_memory(machine: Any) -> None:
    machine.output = len(machine.memory.pop("input", ()))
    machine.halt()


def test_machines_with_input_run_eagerly_and_give_the_same_words() -> None:
    result = mpcsim.run(reads_memory, list(range(8)), num_machines=6, memory_words=4)
    assert result.output == [4, 4, 0, 0, 0, 0]
    assert result.trace.peak_memory_words.tolist() == [4, 4, 1, 1, 1, 1]


def uncountable_from_seven(machine: Machine) -> None:
    machine.output = object() if machine.id >= 7 else machine.id
    machine.halt()


@pytest.mark.parametrize("q", [10, Q])
def test_an_uncountable_output_names_the_lowest_machine(q: int) -> None:
    with pytest.raises(mpcsim.UnsupportedValue) as info:
        mpcsim.run(uncountable_from_seven, num_machines=q, memory_words=2)
    assert info.value.machine == 7 and "machine.output" in str(info.value)


def raises_or_uncountable(machine: Machine) -> None:
    if machine.id == 4:
        machine.output = object()
    elif machine.id >= 9:
        raise ValueError("late")
    machine.halt()


@pytest.mark.parametrize("q", [10, Q])
def test_the_lowest_failing_machine_wins_whatever_fails_first(q: int) -> None:
    with pytest.raises(mpcsim.UnsupportedValue) as info:
        mpcsim.run(raises_or_uncountable, num_machines=q, memory_words=2)
    assert info.value.machine == 4


def list_output(machine: Machine) -> None:
    machine.output = (machine.id, [machine.id])
    machine.halt()


def test_container_outputs_of_a_lazy_host_come_back_as_a_frame_decodes_them() -> None:
    result = mpcsim.run(list_output, num_machines=5, memory_words=4)
    assert result.output == [[i, [i]] for i in range(5)]  # tuples decode as lists


def huge_ints(machine: Machine) -> None:
    machine.output = 2**63 + machine.id  # an unsigned 64-bit int: still a plain number
    machine.halt()


def test_unsigned_64_bit_outputs_pass_through() -> None:
    assert mpcsim.run(huge_ints, num_machines=3, memory_words=2).output == [
        2**63, 2**63 + 1, 2**63 + 2]
