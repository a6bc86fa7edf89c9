"""Sample sort: outputs equal numpy's stable sort on every kind of input, within the plan's
round bound and memory, with every cap enforced."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

import mpcsim
from mpcsim.algorithms import ALGORITHMS, SampleSort, sort, sort_network, sort_plan
from mpcsim.algorithms.sort_plan import plan
from mpcsim.algorithms.split_tree import SplitTree

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


def run(inputs: np.ndarray, s: int, q: int | None = None, kind: str | None = None,
        **kwargs: object) -> tuple[mpcsim.Result, SampleSort]:
    program = SampleSort(seed=1, kind=kind)
    keys, values = sort.as_items(inputs)
    need = program.make_plan(keys, values, 1 << 40, s).machines
    result = mpcsim.run(program, inputs, num_machines=q or max(need, 1), memory_words=s,
                        **kwargs)
    return result, program


@pytest.mark.parametrize("s, plan_kind", [(400, "levels"),  # many levels of small machines
                                           (400, "network"), (2000, None)])  # None: the best
@pytest.mark.parametrize("kind", list(INPUTS))
def test_output_equals_numpys_stable_sort_within_the_bound(kind: str, s: int,
                                                           plan_kind: str | None) -> None:
    inputs = INPUTS[kind]
    result, program = run(inputs, s, kind=plan_kind, seed=3)
    assert sort.verify(result.output, inputs)
    assert result.plan is not None and plan_kind in (None, result.plan.kind)
    assert result.rounds <= result.plan.round_bound()
    assert result.trace.max_memory_words <= result.plan.peak_words <= s


def transcript(result: mpcsim.Result) -> list[tuple[int, ...]]:
    return [(r.messages, r.words, r.max_memory_words, r.max_sent_words, r.max_received_words)
            for r in result.trace.rounds]


DTYPES = {
    "float32": RNG.standard_normal(N).astype(np.float32),
    "int32 ties": RNG.integers(-3, 3, N).astype(np.int32),
    "huge uint64": RNG.integers(0, 2**63, N, dtype=np.uint64) * np.uint64(2),
    "huge int64 records": np.column_stack([RNG.integers(-2**62, 2**62, N), np.arange(N)]),
}


@pytest.mark.parametrize("kind, name", [
    *(("levels", name) for name in ("signed zeros", "records with ties", "float32",
                                    "int32 ties", "huge uint64", "huge int64 records")),
    *(("network", name) for name in ("signed zeros", "records with ties"))])
def test_fleets_of_one_and_several_hosts_give_the_same_transcript(name: str,
                                                                  kind: str) -> None:
    """The fleet round keeps machines apart: one machine at a time (vectorize=False) and
    three hosts give the same output, rounds and per-round words as one fleet."""
    inputs = {**INPUTS, **DTYPES}[name][:1200]
    whole, program = run(inputs, 300, kind=kind, seed=3)
    alone, _ = run(inputs, 300, kind=kind, seed=3, vectorize=False)
    hosts, _ = run(inputs, 300, kind=kind, seed=7, num_workers=3)
    for result in (whole, alone, hosts):
        assert sort.verify(result.output, inputs)
    assert transcript(whole) == transcript(alone) == transcript(hosts)
    assert whole.plan is not None and whole.rounds <= whole.plan.round_bound()


@pytest.mark.parametrize("n", [0, 1, 5, 900, 1500, 1800])
@pytest.mark.parametrize("records", [False, True])
def test_tiny_inputs_sort_on_one_machine_or_one_pair(n: int, records: bool) -> None:
    """n <= c: one round; two machines: a pair, merged without a level (3 rounds)."""
    keys = RNG.integers(0, 4, n).astype(np.float64)
    inputs = np.column_stack([keys, np.arange(n)]) if records else keys
    result, program = run(inputs, 4000 if records else 2000, q=6, kind="levels")
    assert sort.verify(result.output, inputs)
    assert result.plan is not None
    assert result.rounds <= result.plan.round_bound() <= (3 if n > 900 else 1)
    assert result.plan.machines == (2 if n > 900 else min(n, 1))
    assert all(o is None for o in result.output[result.plan.machines:])


@pytest.mark.parametrize("s, kind", [(100, None), (300, "levels")])
def test_records_keep_input_order_among_equal_keys_at_small_s(s: int, kind: str | None) -> None:
    """n = 10^4 records with 5 distinct keys: at s = n^(1/2) = 100 words (the network: the
    levels need s >= ~256) and with the levels at s = 300, the stable order, every cap kept."""
    n = 10_000
    inputs = np.column_stack([RNG.integers(0, 5, n), RNG.permutation(n)])
    result, program = run(inputs, s, kind=kind)
    assert sort.verify(result.output, inputs)
    assert result.plan is not None and result.rounds <= result.plan.round_bound()
    assert max(result.trace.max_memory_words, result.trace.max_sent_words,
               result.trace.max_received_words) <= result.plan.peak_words <= s


def test_a_million_keys_at_s_1000_take_a_few_thousand_machines_and_about_30_rounds() -> None:
    """The plan the sublinear benchmark runs (benchmarks/columnar_sort.py): levels, a wider
    first level, bound <= 32 rounds on <= 4,000 machines (the old plan: 52 on 8,000)."""
    p = plan(10**6, 1 << 40, 1000)
    assert p.kind == "levels" and p.first.buckets >= p.rest.buckets
    assert p.round_bound() <= 32 and p.machines <= 4000
    assert p.peak_words <= 1000 and p.sent_words <= 1000


def test_the_network_takes_exactly_its_bound_and_sorts_any_machine_count() -> None:
    for machines in range(1, 40):
        stages = sort_network.stages(machines)
        levels = (machines - 1).bit_length()  # L = ceil(log2 m)
        assert stages == levels * (levels + 1) // 2
        inputs = RNG.permutation(machines * 3 - 1).astype(np.float64)  # last machine short
        result, program = run(inputs, 2 + 2 * 3, kind="network")
        assert result.plan is not None and result.plan.machines == machines
        assert sort.verify(result.output, inputs)
        assert result.rounds == result.plan.round_bound() == stages + 1


def sizes_for(delta: float, *ns: int) -> list[tuple[int, int]]:
    """(n, s) with s = ceil(n^delta) exactly: the model's regime, no extra words."""
    return [(n, math.ceil(n ** delta - 1e-9)) for n in ns]


@pytest.mark.parametrize("n, s", sizes_for(1 / 2, 1000, 10_000, 100_000)
                         + sizes_for(2 / 3, 1000, 10_000, 100_000))
def test_caps_hold_and_rounds_stay_within_the_bound_at_s_n_to_the_delta(n: int, s: int) -> None:
    spec = ALGORITHMS["sort"]
    q, _ = spec.sizing(n, None, s)
    assert q * s <= 12 * n + s  # q*s = O(n): see sort.sizing
    inputs = spec.make_input(n, np.random.default_rng(n))
    result = mpcsim.run(spec.program(), inputs, num_machines=q, memory_words=s)
    assert spec.verify(result.output, inputs)
    assert result.rounds <= spec.round_bound(n, q, s)
    assert max(result.trace.max_memory_words, result.trace.max_sent_words,
               result.trace.max_received_words) <= s


@pytest.mark.parametrize("n, s", sizes_for(1 / 2, 1000, 10_000))  # n records, 2n words
def test_records_fit_s_n_to_the_half_counted_in_records(n: int, s: int) -> None:
    rng = np.random.default_rng(n)
    inputs = np.column_stack([rng.integers(0, 20, n), rng.standard_normal(n)])
    q = plan(n, 1 << 40, s, item_words=2).machines
    assert q * s <= 8 * n  # 3 words an item (with its position), c = (s - 2) // 6
    result = mpcsim.run(SampleSort(), inputs, num_machines=q, memory_words=s)
    assert sort.verify(result.output, inputs)
    assert result.rounds <= sort.round_bound(n, q, s, item_words=2)
    assert max(result.trace.max_memory_words, result.trace.max_sent_words,
               result.trace.max_received_words) <= s


def test_a_million_keys_plan_quickly_with_few_rounds_at_s_n_to_the_delta() -> None:
    start = time.perf_counter()
    two_thirds = plan(10**6, 1 << 40, 10**4)
    half = plan(10**6, 1 << 40, 10**3)
    assert time.perf_counter() - start < 5  # the search, uncached
    assert two_thirds.round_bound() <= 16 and two_thirds.machines * 10**4 <= 5 * 10**6
    assert half.kind == "levels" and half.round_bound() < plan(
        10**6, 1 << 40, 10**3, kind="network").round_bound()


@pytest.mark.parametrize("kind", ["levels", "network"])
def test_runs_the_same_on_every_backend(backend: str, kind: str) -> None:
    inputs = RNG.standard_normal(2500)
    result, program = run(inputs, 400, kind=kind, backend=backend, num_workers=2, seed=4)
    local, _ = run(inputs, 400, kind=kind, seed=4)
    assert sort.verify(result.output, inputs)
    assert result.rounds == local.rounds
    assert [r.words for r in result.trace.rounds] == [r.words for r in local.trace.rounds]


def test_extra_machines_stay_empty_and_the_output_is_in_machine_order() -> None:
    inputs = RNG.integers(0, 100, 1500)
    result, program = run(inputs, 400, q=120, kind="levels")
    assert result.plan is not None and result.plan.machines < 120
    assert all(o is None for o in result.output[result.plan.machines:])
    assert sort.verify(result.output, inputs)


def test_too_little_memory_is_rejected_naming_the_least_that_works() -> None:
    # the network plan needs one item and its partner's per machine (+ 2 spare words);
    # records also carry their input position: 2 * 3 + 2 words
    with pytest.raises(mpcsim.ConfigError, match=r"raise memory_words to >= 4\b"):
        mpcsim.run(SampleSort(), RNG.standard_normal(5000), num_machines=10_000,
                   memory_words=3)
    with pytest.raises(mpcsim.ConfigError, match=r"raise memory_words to >= 8\b"):
        plan(100, 1 << 40, 7, item_words=2)
    assert plan(100, 1 << 40, 8, item_words=2).slots == 1
    with pytest.raises(mpcsim.ConfigError, match=r"raise num_machines to >= 50\b"):
        plan(100, 10, 6)


def test_nan_keys_and_other_shapes_are_rejected() -> None:
    with pytest.raises(mpcsim.ConfigError, match="NaN"):
        sort.as_items(np.array([1.0, np.nan]))
    with pytest.raises(mpcsim.ConfigError, match=r"\(n, 2\)"):
        sort.as_items(np.zeros((4, 3)))


def test_every_group_has_one_inner_host_per_block_and_level() -> None:
    """Blocks nest and cover the segment; a group's host in a block is an inner machine of it
    (never an end of the segment: ends may belong to a second segment), the leader (local 1)
    at the top when it hosts the top."""
    for tree in (SplitTree.build(1000, 6, 9, 1, 0), SplitTree.build(37, 4, 20, 1, 0),
                 SplitTree.build(5, 8, 3, 1, 100), SplitTree.build(3, 4, 7, 1, 0),
                 SplitTree.build(130, 8, 30, 1, 0)):
        g, size = tree.fan, tree.size
        assert size < 2 * g ** tree.depth and (tree.depth == 1 or size >= 2 * g ** (tree.depth - 1))
        for level in range(1, tree.depth + 1):
            blocks = sorted({tree.block(level, x) for x in range(size)})
            assert sum(z for _, z in blocks) == size  # a partition of the machines
            assert all(g ** level <= z < 2 * g ** level for _, z in blocks) or len(blocks) == 1
            for start, z in blocks:
                children = tree.children(level, start)
                assert sum(cz for _, cz in children) == z and children[0][0] == start
                for group in range(tree.groups):
                    at = tree.host(level, group, start)
                    if tree.leader_top and level == tree.depth:
                        assert at == 1
                    else:
                        assert start <= at < start + z and 1 <= at <= size - 2
        assert tree.rounds == tree.first + 3 * tree.depth + 1


@pytest.mark.parametrize("w", [1, 2])
def test_skipping_the_levels_grid_never_changes_the_plan(monkeypatch: pytest.MonkeyPatch,
                                                         w: int) -> None:
    """_unbeatable only skips searches whose winner it knows: the plans stay the same."""
    configs = [(n, q, s) for n in (1, 10, 1000, 10**5, 10**6)
               for s in (8, 32, 100, 1000, 2**12, 2**18, 2**19) for q in (4, 100, 1 << 40)]

    def plans() -> list[str]:
        out = []
        for n, q, s in configs:
            try:
                out.append(repr(sort_plan.plan(n, q, s, w)))
            except mpcsim.ConfigError as exc:
                out.append(str(exc))
        return out

    sort_plan._search.cache_clear()
    shortcut = plans()
    sort_plan._search.cache_clear()
    monkeypatch.setattr(sort_plan, "_unbeatable", lambda *args: False)
    assert plans() == shortcut
    sort_plan._search.cache_clear()
