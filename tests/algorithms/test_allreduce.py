"""All-reduce: every machine ends with op over all inputs within 2*depth(q, b) + 1 rounds."""

from __future__ import annotations

import numpy as np
import pytest

import mpcsim
from mpcsim.algorithms import AllReduce, allreduce
from mpcsim.algorithms.tree import ceil_log, depth

# (n, q, s, fan_in): fan_in None is the largest the caps allow
CASES = [
    (1, 1, 3, None),
    (10, 2, 8, None),
    (100, 7, 20, 1),  # a chain
    (100, 7, 20, 2),
    (1000, 64, 16, None),
    (1000, 64, 16, 3),
    (1000, 100, 102, None),  # depth 1: every machine reports to the root
    (50, 200, 4, None),  # more machines than numbers: most hold nothing
    (100_000, 158, 1268, None),  # the CLI's default sizing for n = 100000
]


@pytest.mark.parametrize("op", sorted(allreduce.OPS))
@pytest.mark.parametrize("n, q, s, fan_in", CASES)
def test_every_machine_outputs_the_total_within_the_bound(n: int, q: int, s: int,
                                                          fan_in: int | None, op: str) -> None:
    rng = np.random.default_rng(n)
    inputs = rng.integers(1, 3, n) if op == "prod" else allreduce.make_input(n, rng)
    result = mpcsim.run(AllReduce(op, fan_in), inputs, num_machines=q, memory_words=s, seed=5)
    assert allreduce.verify(result.output, inputs, op)
    assert all(out == allreduce.reference(inputs, op) for out in result.output)
    b = allreduce.fan_in_for(s, q, fan_in)
    assert result.rounds == allreduce.round_bound(n, q, s, fan_in) == 2 * depth(q, b) + 1
    if b >= 2:
        assert result.rounds <= 2 * ceil_log(q, b) + 1
    trace = result.trace
    assert max(trace.max_memory_words, trace.max_sent_words, trace.max_received_words) <= s


def test_integer_sums_keep_the_input_dtype() -> None:
    inputs = np.arange(1000, dtype=np.int32)
    result = mpcsim.run(AllReduce(), inputs, num_machines=10, memory_words=200)
    assert result.output == [int(np.sum(inputs))] * 10


def test_float_sums_agree_with_numpy_to_round_off() -> None:
    inputs = np.random.default_rng(0).standard_normal(10_000)
    result = mpcsim.run(AllReduce(), inputs, num_machines=50, memory_words=400, seed=1)
    assert allreduce.verify(result.output, inputs)
    assert result.output[0] == pytest.approx(float(np.sum(inputs)), rel=1e-9, abs=1e-9)


def test_empty_input_gives_the_identity_or_none() -> None:
    empty = np.zeros(0, dtype=np.int64)
    for op, want in [("sum", 0), ("prod", 1), ("min", None), ("max", None)]:
        result = mpcsim.run(AllReduce(op), empty, num_machines=5, memory_words=8)
        assert result.output == [want] * 5
        assert allreduce.verify(result.output, empty, op)


def test_verify_rejects_a_wrong_or_disagreeing_total() -> None:
    inputs = np.arange(10)
    assert allreduce.verify([45, 45], inputs)
    assert not allreduce.verify([45, 44], inputs)
    assert not allreduce.verify([44, 44], inputs)


def test_too_much_input_per_machine_is_rejected_with_what_to_change() -> None:
    with pytest.raises(mpcsim.ConfigError, match=r"num_machines to >= 10") as info:
        mpcsim.run(AllReduce(), np.arange(100), num_machines=4, memory_words=10)
    assert [p[0] for p in info.value.problems] == ["num_machines"]


def test_memory_below_the_tree_state_is_rejected_with_the_words_needed() -> None:
    with pytest.raises(mpcsim.ConfigError, match=r"memory_words to >= 3"):
        mpcsim.run(AllReduce(), np.arange(4), num_machines=4, memory_words=2)


def test_unknown_op_and_bad_fan_in_are_reported_together() -> None:
    with pytest.raises(mpcsim.ConfigError) as info:
        AllReduce(op="mean", fan_in=0)
    assert [p[0] for p in info.value.problems] == ["op", "fan_in"]
