"""SortExchange: every request gets its entry and the least offer for its target, in exactly
`rounds` rounds, with the counts' total, and memory within `peak_words` however popular a
target is."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import mpcsim
from mpcsim.algorithms.combining import NO_VALUE
from mpcsim.algorithms.sort_exchange import SortExchange
from mpcsim.program import Machine, Program

ENTRIES_PER_MACHINE = 2


class OneExchange(Program):
    """Machine j owns entries 2j, 2j + 1 (value 1000 + x) and asks for targets[j] offering
    offers[j]; its output is (answers, the total of the counts)."""

    def __init__(self, ex: SortExchange, targets: list[np.ndarray], offers: list[np.ndarray],
                 field: str) -> None:
        self.ex, self.targets, self.offers, self.field = ex, targets, offers, field

    def partition(self, inputs: Any, num_machines: int,
                  memory_words: int) -> dict[int, dict[str, Any]]:
        return {j: {} for j in range(self.ex.machines)}

    def answer(self, x: np.ndarray, entry: np.ndarray, least: np.ndarray) -> np.ndarray:
        return entry if self.field == "entry" else least

    def round(self, machine: Machine) -> None:
        ex, j, tau = self.ex, machine.id, machine.round_idx
        if tau == 0:
            owned = np.arange(ENTRIES_PER_MACHINE * j, ENTRIES_PER_MACHINE * (j + 1))
            targets, offers = self.targets[j], self.offers[j]
            keys = np.concatenate([2 * owned, 2 * targets + 1])
            values = np.concatenate([1000 + owned, offers])
            slots = np.concatenate([np.full(owned.size, -1),
                                    j * ex.capacity + np.arange(targets.size)])
            ex.start(machine, keys, values, slots, count=j + 1, answer=self.answer)
        elif tau < ex.rounds:
            ex.advance(machine, tau, machine.inbox, self.answer)
        else:
            total = machine.memory.get("xtotal")
            machine.output = (ex.answers(machine.inbox, self.targets[j].size), total)
            machine.memory.clear()
            machine.halt()


def exchange(machines: int, targets: list[np.ndarray], offers: list[np.ndarray], field: str,
             fan: int) -> tuple[list[Any], int, int]:
    capacity = ENTRIES_PER_MACHINE + max(t.size for t in targets)
    ex = SortExchange(machines, capacity, fan)
    s = 2 + SortExchange.peak_words(capacity, fan)
    result = mpcsim.run(OneExchange(ex, targets, offers, field), None, num_machines=machines,
                        memory_words=s)
    trace = result.trace
    assert max(trace.max_memory_words, trace.max_sent_words, trace.max_received_words) <= s
    return result.output, result.rounds, ex.rounds


@pytest.mark.parametrize("machines, fan, popular", [(1, 2, False), (7, 2, False),
                                                    (13, 3, True), (16, 4, False)])
def test_requests_get_entries_and_least_offers_in_exactly_the_rounds(machines: int, fan: int,
                                                                     popular: bool) -> None:
    rng = np.random.default_rng(machines)
    entries = ENTRIES_PER_MACHINE * machines
    targets = [np.zeros(3, dtype=np.int64) if popular
               else rng.integers(0, entries, size=int(rng.integers(0, 4))) for _ in
               range(machines)]
    offers = [np.where(rng.random(t.size) < 0.7, rng.integers(0, 50, size=t.size), NO_VALUE)
              for t in targets]
    all_t, all_o = np.concatenate(targets), np.concatenate(offers)
    for field in ("entry", "least"):
        output, rounds, bound = exchange(machines, targets, offers, field, fan)
        assert rounds == bound + 1  # the answers are read in the next exchange's round 0
        for j, (got, total) in enumerate(output):
            assert total == machines * (machines + 1) // 2
            if field == "entry":
                np.testing.assert_array_equal(got, 1000 + targets[j])
            else:
                least = [all_o[all_t == x].min() for x in targets[j]]
                np.testing.assert_array_equal(got, np.asarray(least, dtype=np.int64))
