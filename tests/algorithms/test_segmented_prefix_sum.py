"""Segmented prefix sums: running totals restart at every flagged row, across machine
boundaries, in exactly 2*ceil(log_b k) + 1 rounds."""

from __future__ import annotations

import numpy as np
import pytest

import mpcsim
from mpcsim.algorithms import ALGORITHMS, SegmentedPrefixSum, segmented_prefix_sum as sps

from regimes import memory_for

RNG = np.random.default_rng(31)
M = 4000


def rows(flags: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
    v = RNG.integers(-50, 50, flags.size) if values is None else values
    return np.column_stack([v, flags.astype(v.dtype)])


FLAGS = {
    "random starts": RNG.random(M) < 0.1,
    "no starts": np.zeros(M, dtype=bool),
    "every row starts": np.ones(M, dtype=bool),
    "one long segment in the middle": np.isin(np.arange(M), [0, 1000, 3999]),
    "starts at chunk edges": np.arange(M) % 64 == 0,
}


@pytest.mark.parametrize("name", list(FLAGS))
@pytest.mark.parametrize("fan_in, chunk_rows", [(None, None), (2, 7), (5, 3)])
def test_outputs_equal_the_reference_in_the_planned_rounds(name: str, fan_in: int | None,
                                                           chunk_rows: int | None) -> None:
    inputs = rows(FLAGS[name])
    q = -(-M // (chunk_rows or 100))
    result = mpcsim.run(SegmentedPrefixSum(fan_in, chunk_rows), inputs, num_machines=q,
                        memory_words=400, seed=2)
    assert sps.verify(result.output, inputs)
    p = sps.plan(M, q, 400, fan_in, chunk_rows)
    assert result.rounds == p.rounds
    assert result.trace.max_memory_words <= p.peak_words


def test_float_values_agree_to_round_off() -> None:
    inputs = rows(FLAGS["random starts"], RNG.standard_normal(M))
    result = mpcsim.run(SegmentedPrefixSum(), inputs, num_machines=40, memory_words=400)
    assert sps.verify(result.output, inputs)


@pytest.mark.parametrize("n", [1000, 10_000, 100_000])
@pytest.mark.parametrize("delta", [1 / 2, 2 / 3])
def test_caps_hold_and_rounds_meet_the_bound_for_s_n_to_the_delta(n: int, delta: float) -> None:
    spec = ALGORITHMS["segmented-prefix-sum"]
    s = memory_for(n, delta)
    q, _ = spec.sizing(n, None, s)
    inputs = spec.make_input(n, np.random.default_rng(n))
    result = mpcsim.run(spec.program(), inputs, num_machines=q, memory_words=s)
    assert spec.verify(result.output, inputs)
    assert result.rounds == spec.round_bound(n, q, s)
    assert max(result.trace.max_memory_words, result.trace.max_sent_words,
               result.trace.max_received_words) <= s


def test_runs_the_same_on_every_backend(backend: str) -> None:
    inputs = rows(FLAGS["random starts"][:600])
    result = mpcsim.run(SegmentedPrefixSum(fan_in=3, chunk_rows=20), inputs, num_machines=30,
                        memory_words=100, backend=backend, num_workers=2)
    assert sps.verify(result.output, inputs)
    assert result.rounds == 2 * 4 + 1  # 30 chunks, fan-in 3: ceil(log_3 30) = 4 levels
