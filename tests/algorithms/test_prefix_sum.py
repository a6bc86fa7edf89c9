"""Prefix sums: concatenated outputs equal np.cumsum, in exactly 2*ceil(log_b m) + 1 rounds."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mpcsim
from mpcsim.algorithms import ALGORITHMS, PrefixSum, prefix_sum
from mpcsim.algorithms.tree import ceil_log

# (n, q, s, fan_in, chunk_words): None picks the default
CASES = [
    (0, 1, 64, None, None),
    (1, 1, 64, None, None),
    (100, 4, 64, None, None),
    (100, 50, 24, 2, 2),  # 50 chunks, binary tree: depth 6
    (1000, 100, 40, 3, 10),
    (1000, 100, 40, None, 10),
    (1000, 16, 128, 4, None),
    (5000, 300, 64, None, None),
    (100_000, 158, 1268, None, None),
]


@pytest.mark.parametrize("n, q, s, fan_in, chunk_words", CASES)
def test_outputs_concatenate_to_cumsum_within_the_bound(n: int, q: int, s: int,
                                                        fan_in: int | None,
                                                        chunk_words: int | None) -> None:
    inputs = prefix_sum.make_input(n, np.random.default_rng(n))
    program = PrefixSum(fan_in, chunk_words)
    result = mpcsim.run(program, inputs, num_machines=q, memory_words=s, seed=11)
    parts = [out for out in result.output if out is not None]
    got = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    np.testing.assert_array_equal(got, np.cumsum(inputs))
    assert prefix_sum.verify(result.output, inputs)
    plan = prefix_sum.plan(n, q, s, fan_in, chunk_words)
    assert result.rounds == plan.rounds == prefix_sum.round_bound(n, q, s, fan_in, chunk_words)
    assert plan.rounds == 2 * ceil_log(max(plan.num_chunks, 1), plan.fan_in) + 1
    trace = result.trace
    assert trace.max_memory_words <= plan.peak_words <= s
    assert trace.max_received_words <= plan.fan_in - 1
    assert trace.max_sent_words <= plan.fan_in  # left totals down and the block's total up


def test_outputs_sit_on_the_first_machines_in_input_order() -> None:
    inputs = np.arange(1, 101)
    result = mpcsim.run(PrefixSum(fan_in=2, chunk_words=10), inputs, num_machines=15,
                        memory_words=40)
    assert [out is not None for out in result.output] == [True] * 10 + [False] * 5
    np.testing.assert_array_equal(result.output[3], np.cumsum(inputs)[30:40])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_float_inputs_agree_with_cumsum_to_round_off(dtype: type) -> None:
    inputs = np.random.default_rng(0).standard_normal(20_000).astype(dtype)
    result = mpcsim.run(PrefixSum(), inputs, num_machines=100, memory_words=600, seed=2)
    assert prefix_sum.verify(result.output, inputs)
    got = np.concatenate([out for out in result.output if out is not None])
    assert got.dtype == dtype
    rtol, atol = (1e-9, 1e-9) if dtype == np.float64 else (1e-4, 1e-3)
    np.testing.assert_allclose(got, np.cumsum(inputs), rtol=rtol, atol=atol)


def test_verify_rejects_a_wrong_or_short_output() -> None:
    inputs = np.arange(6)
    assert prefix_sum.verify([np.array([0, 1, 3]), np.array([6, 10, 15]), None], inputs)
    assert not prefix_sum.verify([np.array([0, 1, 3]), np.array([6, 10, 16])], inputs)
    assert not prefix_sum.verify([np.array([0, 1, 3])], inputs)


def test_default_fan_in_reaches_the_least_depth_with_the_least_fan_in() -> None:
    plan = prefix_sum.plan(1_000_000, 500, 4000)  # the CLI default for n = 10^6
    assert (plan.chunk_items, plan.num_chunks, plan.fan_in, plan.depth) == (2000, 500, 500, 1)
    plan = prefix_sum.plan(1000, 100, 40, chunk_words=10)  # 100 chunks; depth 1 does not fit
    assert (plan.fan_in, plan.depth) == (10, 2)  # 10^2 >= 100 > 9^2
    plan = prefix_sum.plan(1000, 100, 20, chunk_words=10)  # peak 10 + 2 + b: b <= 8
    assert (plan.fan_in, plan.depth) == (5, 3)  # 5^3 >= 100 > 4^3


def test_peak_memory_does_not_grow_with_the_depth() -> None:
    """Left totals live with the children, so a binary tree of any depth needs the same."""
    peaks = {prefix_sum.plan(n, n, 8, fan_in=2, chunk_words=1).peak_words
             for n in (2, 16, 1024, 10**5)}
    assert peaks == {1 + 2 + 3}  # chunk, plan, a left total with the offset and its message


def test_one_million_numbers_run_in_a_few_rounds_quickly() -> None:
    spec = ALGORITHMS["prefix-sum"]
    q, s = spec.sizing(1_000_000, None, None)
    inputs = spec.make_input(1_000_000, np.random.default_rng(0))
    start = time.perf_counter()
    result = mpcsim.run(spec.program(), inputs, num_machines=q, memory_words=s)
    assert time.perf_counter() - start < 5
    assert spec.verify(result.output, inputs)
    assert result.rounds == spec.round_bound(1_000_000, q, s) == 3


def test_too_few_machines_is_rejected_with_the_count_needed() -> None:
    with pytest.raises(mpcsim.ConfigError, match=r"num_machines to >= 313") as info:
        mpcsim.run(PrefixSum(), np.arange(10_000), num_machines=10, memory_words=64)
    assert [p[0] for p in info.value.problems] == ["num_machines"]


def test_a_tree_that_cannot_fit_is_rejected_with_the_words_needed() -> None:
    with pytest.raises(mpcsim.ConfigError, match=r"need >= 23 words per machine") as info:
        mpcsim.run(PrefixSum(fan_in=2, chunk_words=18), np.arange(1000), num_machines=100,
                   memory_words=20)  # 18 + 2 (plan) + 3 (left, offset, message) = 23
    assert [p[0] for p in info.value.problems] == ["memory_words"]


def test_invalid_options_are_reported_together() -> None:
    with pytest.raises(mpcsim.ConfigError) as info:
        PrefixSum(fan_in=1, chunk_words=0)
    assert [p[0] for p in info.value.problems] == ["fan_in", "chunk_words"]


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.integers(-10**6, 10**6), max_size=300),
       q=st.integers(1, 80), s=st.integers(8, 200), fan_in=st.one_of(st.none(), st.integers(2, 9)),
       seed=st.integers(0, 3))
def test_any_accepted_configuration_gives_cumsum_in_planned_rounds(
        values: list[int], q: int, s: int, fan_in: int | None, seed: int) -> None:
    inputs = np.array(values, dtype=np.int64)
    try:
        plan = prefix_sum.plan(len(values), q, s, fan_in)
    except mpcsim.ConfigError:
        return  # rejected up front, never by a cap violation mid-run
    result = mpcsim.run(PrefixSum(fan_in), inputs, num_machines=q, memory_words=s, seed=seed,
                        num_workers=1 + seed % 3)
    assert prefix_sum.verify(result.output, inputs)
    assert result.rounds == plan.rounds
    assert result.trace.max_memory_words <= plan.peak_words
