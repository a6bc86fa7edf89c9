"""Sample sort: outputs equal numpy's stable sort on every kind of input, within the plan's
round bound and memory, with every cap enforced."""

from __future__ import annotations

import numpy as np
import pytest

import mpcsim
from mpcsim.algorithms import ALGORITHMS, SampleSort, sort
from mpcsim.algorithms.sort_plan import plan
from mpcsim.algorithms.split_tree import SplitTree

from regimes import memory_for

RNG = np.random.default_rng(5)
N = 3000
INPUTS = {
    "random floats": RNG.standard_normal(N),
    "sorted": np.arange(N, dtype=np.int64),
    "reversed": np.arange(N, 0, -1).astype(np.float64),
    "all equal": np.full(N, 7.0),
    "three distinct ints": RNG.integers(-1, 2, N),
    "signed zeros": np.where(RNG.random(N) < 0.5, -0.0, 0.0),
    "records with ties": np.column_stack([RNG.integers(0, 4, N), np.arange(N)]),
    "float records": np.column_stack([RNG.standard_normal(N).round(1), RNG.standard_normal(N)]),
    "organ pipe": np.concatenate([np.arange(N // 2), np.arange(N - N // 2)[::-1]]),
}


def run(inputs: np.ndarray, s: int, q: int | None = None, **kwargs: object
        ) -> tuple[mpcsim.Result, SampleSort]:
    program = SampleSort(seed=1)
    keys, values = sort.as_items(inputs)
    need = program.make_plan(keys, values, 1 << 40, s).machines
    result = mpcsim.run(program, inputs, num_machines=q or max(need, 1), memory_words=s,
                        **kwargs)
    return result, program


@pytest.mark.parametrize("s", [400, 2000])  # many levels of small machines; one level
@pytest.mark.parametrize("kind", list(INPUTS))
def test_output_equals_numpys_stable_sort_within_the_bound(kind: str, s: int) -> None:
    inputs = INPUTS[kind]
    result, program = run(inputs, s, seed=3)
    assert sort.verify(result.output, inputs)
    assert program.plan is not None
    assert result.rounds <= program.plan.round_bound()
    assert result.trace.max_memory_words <= program.plan.peak_words <= s


@pytest.mark.parametrize("n, delta", [(1000, 1 / 2), (1000, 2 / 3), (10_000, 1 / 2),
                                      (10_000, 2 / 3), (100_000, 2 / 3)])
def test_caps_hold_and_rounds_stay_within_the_bound_for_s_n_to_the_delta(n: int,
                                                                          delta: float) -> None:
    spec = ALGORITHMS["sort"]
    s = memory_for(spec, n, delta)
    q, _ = spec.sizing(n, None, s)
    inputs = spec.make_input(n, np.random.default_rng(n))
    result = mpcsim.run(spec.program(), inputs, num_machines=q, memory_words=s)
    assert spec.verify(result.output, inputs)
    assert result.rounds <= spec.round_bound(n, q, s)
    assert max(result.trace.max_memory_words, result.trace.max_sent_words,
               result.trace.max_received_words) <= s


def test_n_to_the_two_thirds_takes_few_rounds_at_a_million_words_per_plan() -> None:
    p = plan(10**6, 1 << 40, 10**4)  # s = n^(2/3)
    assert p.round_bound() <= 16 and p.machines * 10**4 <= 5 * 10**6


def test_runs_the_same_on_every_backend(backend: str) -> None:
    inputs = RNG.standard_normal(2500)
    result, program = run(inputs, 400, backend=backend, num_workers=2, seed=4)
    local, _ = run(inputs, 400, seed=4)
    assert sort.verify(result.output, inputs)
    assert result.rounds == local.rounds
    assert [r.words for r in result.trace.rounds] == [r.words for r in local.trace.rounds]


def test_extra_machines_stay_empty_and_the_output_is_in_machine_order() -> None:
    inputs = RNG.integers(0, 100, 1500)
    result, program = run(inputs, 400, q=120)
    assert program.plan is not None and program.plan.machines < 120
    assert all(o is None for o in result.output[program.plan.machines:])
    assert sort.verify(result.output, inputs)


def test_too_little_memory_is_rejected_naming_the_least_that_works() -> None:
    with pytest.raises(mpcsim.ConfigError, match=r"raise memory_words to >= \d+"):
        mpcsim.run(SampleSort(), RNG.standard_normal(5000), num_machines=10_000,
                   memory_words=40)


def test_nan_keys_and_other_shapes_are_rejected() -> None:
    with pytest.raises(mpcsim.ConfigError, match="NaN"):
        sort.as_items(np.array([1.0, np.nan]))
    with pytest.raises(mpcsim.ConfigError, match=r"\(n, 2\)"):
        sort.as_items(np.zeros((4, 3)))


def test_every_index_has_exactly_one_host_per_block_and_level() -> None:
    for tree in (SplitTree.build(1000, 6, 9, 10), SplitTree.build(37, 4, 20, 1000),
                 SplitTree.build(5, 8, 3, 1)):
        for level in range(1, tree.depth + 1):
            blocks = {tree.block(level, m) for m in range(tree.size)}
            for start, size in blocks:
                hosted = np.concatenate([tree.hosted(level, m)
                                         for m in range(start, start + size)])
                assert sorted(hosted.tolist()) == list(range(tree.width))
        assert tree.rounds == tree.first + 3 * tree.depth + 1
