"""Broadcast: every machine ends with machine 0's value within depth(q, b) + 1 rounds."""

from __future__ import annotations

import numpy as np
import pytest

import mpcsim
from mpcsim.algorithms import Broadcast, broadcast
from mpcsim.algorithms.tree import ceil_log, depth

# (value words, q, s, fan_in): fan_in None is the largest the caps allow
CASES = [
    (1, 1, 1, None),
    (1, 2, 1, None),
    (5, 64, 40, None),
    (5, 64, 40, 2),
    (5, 64, 5, None),  # fan-in 1: a chain of 64
    (10, 100, 30, 3),
    (100, 17, 800, None),
    (0, 9, 4, None),  # an empty array still costs one word per message
    (1000, 64, 8000, None),
]


@pytest.mark.parametrize("n, q, s, fan_in", CASES)
def test_every_machine_outputs_the_value_within_the_bound(n: int, q: int, s: int,
                                                          fan_in: int | None) -> None:
    value = broadcast.make_input(n, np.random.default_rng(n))
    result = mpcsim.run(Broadcast(fan_in), value, num_machines=q, memory_words=s, seed=3)
    assert broadcast.verify(result.output, value)
    assert len(result.output) == q
    b = broadcast.fan_in_for(s, n, fan_in)
    assert result.rounds == broadcast.round_bound(n, q, s, fan_in) == depth(q, b) + 1
    if b >= 2:
        assert result.rounds <= ceil_log(q, b) + 1
    trace = result.trace
    assert max(trace.max_memory_words, trace.max_sent_words, trace.max_received_words) <= s
    assert not trace.violations


def test_default_fan_in_is_the_largest_the_sent_cap_allows() -> None:
    assert broadcast.fan_in_for(40, 5) == 8
    assert broadcast.fan_in_for(40, 0) == 40  # messages cost at least one word
    result = mpcsim.run(Broadcast(), np.arange(5), num_machines=64, memory_words=40)
    assert result.trace.max_sent_words == 40  # the root sends 8 copies of 5 words


@pytest.mark.parametrize("value", [7, 2.5, [1, 2, 3], "hello", None])
def test_scalars_lists_and_strings_are_broadcast(value: object) -> None:
    result = mpcsim.run(Broadcast(), value, num_machines=10, memory_words=8)
    assert all(out == value for out in result.output)


def test_output_is_the_same_whatever_the_seed_and_workers() -> None:
    value = np.arange(6)
    runs = [mpcsim.run(Broadcast(2), value, num_machines=30, memory_words=12, seed=seed,
                       num_workers=workers) for seed, workers in [(0, 1), (1, 3), (2, 7)]]
    assert all(broadcast.verify(r.output, value) for r in runs)
    assert len({r.rounds for r in runs}) == 1


def test_a_value_larger_than_memory_is_rejected_with_the_size_needed() -> None:
    with pytest.raises(mpcsim.ConfigError, match=r"memory_words to >= 10") as info:
        mpcsim.run(Broadcast(), np.arange(10), num_machines=4, memory_words=9)
    assert info.value.problems[0][0] == "memory_words"


def test_a_fan_in_over_the_sent_cap_is_rejected_with_the_largest_allowed() -> None:
    with pytest.raises(mpcsim.ConfigError, match=r"fan_in <= 3") as info:
        mpcsim.run(Broadcast(fan_in=4), np.arange(10), num_machines=10, memory_words=30)
    assert info.value.problems[0][0] == "fan_in"


@pytest.mark.parametrize("fan_in", [0, -1, 2.0, "2"])
def test_an_invalid_fan_in_is_rejected(fan_in: object) -> None:
    with pytest.raises(mpcsim.ConfigError, match="fan_in"):
        Broadcast(fan_in=fan_in)  # type: ignore[arg-type]
