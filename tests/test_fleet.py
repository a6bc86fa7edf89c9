"""Fleet rounds (Program.round_many): the API's own behaviours. The model's laws for fleet
rounds are in tests/test_properties.py (mode "fleet") and tests/test_conformance.py (fleet
twins of single-send cases, and vectorize=False on every fleet case)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import mpcsim
from mpcsim import Fleet, MemoryLimitExceeded, ProgramError

from cases import transcript


class Kernel(mpcsim.Program):
    """A fleet program from a function of (fleet) per round index; halts after `rounds`."""

    def __init__(self, steps: dict[int, Callable[[Fleet], None]], rounds: int) -> None:
        self.steps = steps
        self.rounds = rounds

    def round_many(self, fleet: Fleet) -> None:
        step = self.steps.get(fleet.round_idx)
        if step is not None:
            step(fleet)
        if fleet.round_idx >= self.rounds - 1:
            fleet.halt()


def run(steps: dict[int, Callable[[Fleet], None]], rounds: int = 2, num_machines: int = 4,
        memory_words: int = 16, **kwargs: Any) -> mpcsim.Result:
    return mpcsim.run(Kernel(steps, rounds), num_machines=num_machines,
                      memory_words=memory_words, **kwargs)


@pytest.mark.parametrize("num_workers", [1, 3])
def test_a_fleet_is_every_runnable_machine_of_a_host_in_id_order(num_workers: int) -> None:
    seen: list[list[int]] = []

    run({0: lambda f: seen.append(f.ids.tolist())}, rounds=1, num_machines=7,
        num_workers=num_workers)

    assert sorted(i for ids in seen for i in ids) == list(range(7))
    assert len(seen) == num_workers and all(ids == sorted(ids) for ids in seen)


def test_fleet_inbox_lists_messages_by_receiver_then_source_then_send_order() -> None:
    def send(fleet: Fleet) -> None:  # rows of this host's machines, sources unsorted
        rows = [(3, 2, 30), (1, 2, 10), (3, 0, 31), (1, 2, 11)]
        mine = [row for row in rows if row[0] in fleet.ids]
        fleet.send_many(*(np.array(column) for column in zip(*mine)))

    def read(fleet: Fleet) -> None:
        got = fleet.inbox
        for m in fleet.machines:
            m.output = [got.dests.tolist(), got.sources.tolist(), got.values.tolist()]

    result = run({0: send, 1: read}, num_workers=2)

    # host 0 holds machines 0-1, host 1 machines 2-3: each fleet sees its own receivers' mail
    assert result.output[0] == [[0], [3], [31]]
    assert result.output[2] == [[2, 2, 2], [1, 1, 3], [10, 11, 30]]


def test_gather_and_scatter_round_trip_ragged_memory() -> None:
    def make(fleet: Fleet) -> None:
        for m in fleet.machines:
            m.memory["x"] = np.arange(m.id, dtype=np.int64)

    def double(fleet: Fleet) -> None:
        values, offsets = fleet.gather("x")
        assert offsets.tolist() == [0, 0, 1, 3, 6]
        fleet.scatter("x", values * 2, offsets)
        fleet.set_outputs(values * 2, offsets)

    result = run({0: make, 1: double})

    assert [o.tolist() for o in result.output] == [[], [0], [0, 2], [0, 2, 4]]
    assert result.trace.peak_memory_words.tolist() == [0, 2, 4, 6]  # memory + output


def test_gather_without_a_default_names_the_machine_lacking_the_key() -> None:
    def make(fleet: Fleet) -> None:
        fleet.machines[1].memory["x"] = np.zeros(2)

    with pytest.raises(ProgramError) as info:
        run({0: make, 1: lambda f: f.gather("x")})

    assert "machine 0 has no memory['x']" in info.value.original_message


def test_sending_for_a_machine_outside_the_fleet_is_refused() -> None:
    with pytest.raises(ProgramError) as info:
        run({0: lambda f: f.send_many([f.ids[0], 99], [0, 0], np.zeros(2))}, num_machines=4)

    assert "machine 99 is not in this fleet" in info.value.original_message


def test_machine_sends_inside_a_fleet_round_keep_call_order() -> None:
    def send(fleet: Fleet) -> None:
        fleet.machines[0].send(3, 1)
        fleet.send_many([0, 0], [3, 3], np.array([2, 3]))
        fleet.machines[0].send(3, 4)

    def read(fleet: Fleet) -> None:
        for m in fleet.machines:
            m.output = [payload for _, payload in m.inbox]

    assert run({0: send, 1: read}).output[3] == [1, 2, 3, 4]


def test_caps_are_per_machine_in_fleet_rounds() -> None:
    def send(fleet: Fleet) -> None:  # machine 2 sends 9 words, the others 1
        fleet.send_many([0, 1, 2, 3], [1, 2, 3, 0], np.zeros(12), offsets=[0, 1, 2, 11, 12])

    with pytest.raises(MemoryLimitExceeded) as info:
        run({0: send}, memory_words=8)

    err = info.value
    assert (err.machine, err.round_idx, err.limit, err.words, err.cap) == (2, 0, "sent", 9, 8)


def test_an_exception_in_a_fleet_round_names_its_lowest_machine() -> None:
    def fail(fleet: Fleet) -> None:
        raise RuntimeError("kernel bug")

    with pytest.raises(ProgramError) as info:
        run({1: fail}, num_workers=2)

    assert (info.value.machine, info.value.round_idx) == (0, 1)
    assert info.value.original_message == "kernel bug"


def test_a_kernel_that_mixes_machines_is_caught_by_vectorize_false() -> None:
    def leak(fleet: Fleet) -> None:  # every machine outputs the fleet's size: not isolated
        for m in fleet.machines:
            m.output = len(fleet)

    together = run({0: leak}, rounds=1)
    apart = run({0: leak}, rounds=1, vectorize=False)

    assert together.output != apart.output


def test_halt_where_halts_only_those_machines() -> None:
    class HaltOdd(mpcsim.Program):
        def round_many(self, fleet: Fleet) -> None:
            for m in fleet.machines:
                m.output = (m.output or 0) + 1
            fleet.halt(where=(fleet.ids % 2 == 1) | (fleet.round_idx == 2))

    result = mpcsim.run(HaltOdd(), num_machines=4, memory_words=4)

    assert result.output == [3, 1, 3, 1]
    assert result.rounds == 3


@pytest.mark.parametrize("vectorize", [True, False])
@pytest.mark.parametrize("num_workers", [1, 2])
def test_batched_and_single_messages_read_apart(vectorize: bool, num_workers: int) -> None:
    def send(fleet: Fleet) -> None:  # every machine: a batch row and a single, to 3 - id
        for m in fleet.machines:
            m.send(3 - m.id, ["tag", m.id])
        fleet.send_many(fleet.ids, 3 - fleet.ids, fleet.ids * 10)

    def read(fleet: Fleet) -> None:
        batched, singles = fleet.batched, fleet.singles
        for i, m in enumerate(fleet.machines):
            rows = batched.dests == m.id
            m.output = [batched.sources[rows].tolist(), batched.values[rows].tolist(),
                        [[s, p] for d, s, p in singles if d == m.id]]

    result = run({0: send, 1: read}, num_workers=num_workers, vectorize=vectorize)

    assert result.output == [[[3 - i], [(3 - i) * 10], [[3 - i, ["tag", 3 - i]]]]
                             for i in range(4)]


def test_a_selected_fleet_sees_only_its_machines_messages() -> None:
    def send(fleet: Fleet) -> None:
        fleet.send_many(fleet.ids, (fleet.ids + 1) % 4, fleet.ids + 100)
        for m in fleet.machines:
            m.send((m.id + 2) % 4, m.id)

    def read(fleet: Fleet) -> None:
        odd = fleet.select(fleet.ids % 2 == 1)
        odd.set_outputs(np.array(odd.ids), np.arange(odd.ids.size + 1))
        for m, dest in zip(fleet.machines, fleet.ids.tolist()):
            if dest % 2 == 1:
                m.output = [odd.batched.values[odd.batched.dests == dest].tolist(),
                            [p for d, _, p in odd.singles if d == dest],
                            sorted(set(odd.inbox.dests.tolist()))]

    result = run({0: send, 1: read})

    assert result.output[1] == [[100], [3], [1, 3]]
    assert result.output[3] == [[102], [1], [1, 3]]
    assert result.output[0] is None and result.output[2] is None


class Mutator(mpcsim.Program):
    """Each round, by draws per (seed, round, machine): scatter arrays of random sizes (1-D
    or rows), change some machines' memory through Machine.memory (pop, lists, scalars), drop
    keys with fleet.drop, set outputs either way. Isolated, so vectorize=False must give the same transcript."""

    def __init__(self, seed: int, rounds: int) -> None:
        self.seed, self.rounds = seed, rounds

    def round_many(self, fleet: Fleet) -> None:
        draws = np.array([np.random.default_rng([self.seed, fleet.round_idx, i]).integers(
            0, 4, size=6) for i in fleet.ids.tolist()]).reshape(-1, 6)
        for key, column in (("a", 0), ("b", 1)):
            sizes = draws[:, column]
            rows = np.ones((int(sizes.sum()), 2)) if key == "b" else np.ones(int(sizes.sum()))
            fleet.scatter(key, rows, np.concatenate([[0], np.cumsum(sizes)]))
        for i in np.flatnonzero(draws[:, 2] == 0).tolist():
            memory = fleet.machines[i].memory
            choice = int(draws[i, 3])
            if choice == 0:
                memory.pop("a", None)
            elif choice == 1:
                memory["a"] = list(range(int(draws[i, 4])))
            elif choice == 2:
                memory["c"] = 7
            elif fleet.machines[i].output is None or not isinstance(fleet.machines[i].output,
                                                                   list):
                fleet.machines[i].output = [1, 2]
            else:
                fleet.machines[i].output.append(3)  # changed in place, not reassigned
        if np.random.default_rng([self.seed, fleet.round_idx]).integers(0, 3) == 0:
            fleet.drop("b", "c")  # arrays and (where set through memory) an int
        fleet.select(draws[:, 4] % 2 == 0).drop("a")
        if fleet.round_idx % 2:
            sizes = draws[:, 5]
            fleet.set_outputs(np.zeros(int(sizes.sum())), np.concatenate([[0], np.cumsum(sizes)]))
        if fleet.round_idx >= self.rounds - 1:
            fleet.halt()


@pytest.mark.parametrize("seed", range(6))
def test_fleet_accounting_equals_a_full_recount_every_round(seed: int) -> None:
    runs = [mpcsim.run(Mutator(seed, 6), num_machines=9, memory_words=64, num_workers=2,
                       vectorize=vectorize) for vectorize in (True, False)]

    fast, recount = (transcript(r) for r in runs)
    assert fast == recount
    assert fast["peak_memory_words"] != [0] * 9


def test_an_output_list_grown_in_place_is_counted_as_it_grows() -> None:
    def start(fleet: Fleet) -> None:
        for m in fleet.machines:
            m.output = [m.id]

    def grow(fleet: Fleet) -> None:
        for m in fleet.machines:
            m.output.extend([0] * 3)  # the same list object: no reassignment

    steps = {0: start, 1: grow, 2: grow}
    runs = [run(steps, rounds=3, vectorize=vectorize) for vectorize in (True, False)]

    assert transcript(runs[0]) == transcript(runs[1])
    assert [r.max_memory_words for r in runs[0].trace.rounds] == [1, 4, 7]


@pytest.mark.parametrize("when", ["a round later", "the same round"])
def test_gather_sees_a_value_replaced_through_machine_memory(when: str) -> None:
    def scatter(fleet: Fleet) -> None:
        fleet.scatter("a", np.arange(len(fleet), dtype=np.int64), np.arange(len(fleet) + 1))

    def replace(fleet: Fleet) -> None:
        fleet.machines[1].memory["a"] = np.array([99])

    def read(fleet: Fleet) -> None:
        if when == "the same round":
            replace(fleet)
        values, _ = fleet.gather("a")
        fleet.set_outputs(values.copy(), np.arange(len(fleet) + 1))

    steps = ({0: scatter, 1: replace, 2: read} if when == "a round later"
             else {0: scatter, 2: read})
    result = run(steps, rounds=3)

    assert [int(o[0]) for o in result.output] == [0, 99, 2, 3]


def test_scatter_over_dict_subclass_memory_and_non_array_values_is_counted_exactly() -> None:
    from collections import OrderedDict

    got: list[list[int]] = []

    def first(fleet: Fleet) -> None:
        for m in fleet.machines:
            m.memory = OrderedDict(x=[1, 2, 3])  # 3 words, not an array: replaced below
        fleet.scatter("x", np.arange(4), np.array([0, 1, 2, 3, 4]))

    def second(fleet: Fleet) -> None:
        values, _ = fleet.gather("x")
        got.append(values.tolist())
        fleet.scatter("x", np.arange(8), np.array([0, 2, 4, 6, 8]))

    result = run({0: first, 1: second}, rounds=3)
    assert got == [[0, 1, 2, 3]]
    assert result.trace.peak_memory_words.tolist() == [2, 2, 2, 2]  # counted after rounds
    assert [r.max_memory_words for r in result.trace.rounds] == [1, 2, 2]


@pytest.mark.parametrize("when", ["the same round", "a round later"])
def test_machine_memory_read_after_a_scatter_holds_the_scattered_segment(when: str) -> None:
    seen: list[list[int]] = []

    def scatter(fleet: Fleet) -> None:
        fleet.scatter("a", np.arange(2 * len(fleet)), np.arange(0, 2 * len(fleet) + 1, 2))
        if when == "the same round":
            read(fleet)

    def read(fleet: Fleet) -> None:
        seen.extend(m.memory["a"].tolist() for m in fleet.machines)

    steps = {0: scatter} if when == "the same round" else {0: scatter, 1: read}
    run(steps, rounds=2)

    assert seen == [[0, 1], [2, 3], [4, 5], [6, 7]]


def test_scatters_to_all_then_to_some_machines_then_a_drop_leave_each_machine_its_latest() -> None:
    got: list[list[int]] = []

    def write(fleet: Fleet) -> None:
        fleet.scatter("a", np.arange(4), np.arange(5))
        fleet.scatter("a", np.arange(10, 18), np.arange(0, 9, 2))  # replaces it
        fleet.scatter("b", np.arange(4), np.arange(5))
        some = fleet.select(np.array([False, True, False, True]))
        some.scatter("a", np.array([7, 8, 9]), np.array([0, 1, 3]))
        fleet.drop("b")

    def read(fleet: Fleet) -> None:
        values, offsets = fleet.gather("a")
        got.append(values.tolist())
        got.append(offsets.tolist())
        got.append([sorted(m.memory) for m in fleet.machines])

    result = run({0: write, 1: read}, rounds=2)

    assert got == [[10, 11, 7, 14, 15, 8, 9], [0, 2, 3, 5, 7],
                   [["a"], ["a"], ["a"], ["a"]]]
    assert result.trace.peak_memory_words.tolist() == [2, 1, 2, 2]  # what each holds
