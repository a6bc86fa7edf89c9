"""Connectivity: labels equal union-find's (the least vertex id per component) on paths,
cycles (the paper's one-vs-two-cycles instance), random graphs, stars and many tiny
components, within the with-high-probability round bound, with caps enforced."""

from __future__ import annotations

import math

import numpy as np
import pytest

import mpcsim
from mpcsim.algorithms import ALGORITHMS, Connectivity, connectivity, graphs

RNG = np.random.default_rng(41)


def run(edges: np.ndarray, s: int = 1200, **kwargs: object
        ) -> tuple[mpcsim.Result, Connectivity]:
    program = Connectivity(seed=5)
    q = connectivity.machines_needed(edges, s)
    return mpcsim.run(program, edges, num_machines=q, memory_words=s, **kwargs), program


@pytest.mark.parametrize("name", sorted(graphs.GENERATORS))
def test_labels_equal_union_find_within_the_bound(name: str) -> None:
    edges = graphs.GENERATORS[name](2000, RNG)
    result, program = run(edges)
    assert connectivity.verify(result.output, edges)
    assert program.layout is not None and result.rounds <= program.layout.rounds()


@pytest.mark.parametrize("count", [1, 2])
def test_one_cycle_and_two_cycles_are_told_apart(count: int) -> None:
    edges = graphs.cycles(3000, RNG, count=count)
    result, _ = run(edges)
    labels = np.concatenate([o for o in result.output if o is not None])
    assert len(np.unique(labels)) == count
    assert connectivity.verify(result.output, edges)


def test_isolated_vertices_and_repeated_edges_keep_their_own_labels() -> None:
    edges = np.array([[0, 5], [5, 0], [0, 5], [7, 7], [3, 2], [9, 8]], dtype=np.int64)
    result, _ = run(edges)
    labels = np.concatenate([o for o in result.output if o is not None])
    np.testing.assert_array_equal(labels, [0, 1, 2, 2, 4, 0, 6, 7, 8, 8])


def least_memory_words(n: int, graph: str = "random") -> int:
    """The least s that connectivity's sizing accepts for a generated graph of n words."""
    spec, lo, hi = ALGORITHMS["connectivity"], 8, 1 << 16
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            spec.sizing(n, None, mid, graph=graph)
            hi = mid
        except mpcsim.ConfigError:
            lo = mid + 1
    return lo


def assert_caps_and_bound(n: int, s: int, graph: str) -> mpcsim.Result:
    spec = ALGORITHMS["connectivity"]
    q, _ = spec.sizing(n, None, s, graph=graph)
    edges = spec.make_input(n, np.random.default_rng(n), graph=graph)
    result = mpcsim.run(spec.program(), edges, num_machines=q, memory_words=s)
    trace = result.trace
    assert spec.verify(result.output, edges)
    assert result.rounds <= spec.round_bound(n, q, s, graph=graph)
    assert max(trace.max_memory_words, trace.max_sent_words, trace.max_received_words) <= s
    return result


@pytest.mark.parametrize("n, delta", [(1000, 1 / 2), (1000, 2 / 3), (10_000, 1 / 2),
                                      (10_000, 2 / 3), (100_000, 2 / 3)])
def test_caps_hold_and_rounds_stay_within_the_bound_for_s_n_to_the_delta(n: int,
                                                                          delta: float) -> None:
    """At exactly s = ceil(n^delta): the sorted plan below ~236 words, combining above."""
    assert_caps_and_bound(n, math.ceil(n ** delta - 1e-9), "random")


@pytest.mark.parametrize("graph", ["path", "star", "cycles", "tiny"])
def test_every_generator_keeps_the_caps_at_s_n_to_the_half(graph: str) -> None:
    assert_caps_and_bound(1000, math.ceil(1000 ** 0.5), graph)


def test_small_s_takes_the_sorted_plan_and_large_s_keeps_combining() -> None:
    for n, s, is_sorted in [(1000, 32, True), (10_000, 100, True), (100_000, 317, True),
                            (1000, 236, False), (10**6, 1000, False), (10**6, 10**4, False)]:
        edges = connectivity.make_input(n, np.random.default_rng(0))
        layout = connectivity._Layout(len(edges), graphs.num_vertices(edges), 1 << 40, s, 0)
        assert layout.sorted is is_sorted, (n, s)


def test_too_little_memory_is_rejected_naming_memory_words() -> None:
    spec = ALGORITHMS["connectivity"]
    s = least_memory_words(1000)
    assert s == least_memory_words(100_000) <= 30  # the sorted plan's least s, at any n
    with pytest.raises(mpcsim.ConfigError, match="memory_words"):
        spec.sizing(1000, None, s - 1)


def test_a_hundred_thousand_words_meet_the_bound() -> None:
    spec = ALGORITHMS["connectivity"]
    q, s = spec.sizing(100_000, None, None, graph="path")
    edges = spec.make_input(100_000, np.random.default_rng(0), graph="path")
    result = mpcsim.run(spec.program(), edges, num_machines=q, memory_words=s)
    assert spec.verify(result.output, edges)
    assert result.rounds <= spec.round_bound(100_000, q, s, graph="path")


@pytest.mark.parametrize("s", [32, 1024])  # the sorted plan, and combining
def test_runs_the_same_on_every_backend(backend: str, s: int) -> None:
    edges = graphs.random_graph(100 if s < 236 else 800, np.random.default_rng(2))
    result, program = run(edges, s=s, backend=backend, num_workers=2)
    local, _ = run(edges, s=s)
    assert program.layout is not None and program.layout.sorted is (s < 236)
    assert connectivity.verify(result.output, edges)
    assert result.rounds == local.rounds
    assert max(result.trace.max_memory_words, result.trace.max_sent_words,
               result.trace.max_received_words) <= s


def test_the_phase_bound_grows_like_log_v() -> None:
    assert connectivity.phase_bound(2) < connectivity.phase_bound(10**6) <= 3 * 20 + 73


def test_bad_edge_lists_are_rejected() -> None:
    with pytest.raises(mpcsim.ConfigError, match=r"\(E, 2\) int"):
        run(np.zeros((3, 3), dtype=np.int64))
    with pytest.raises(mpcsim.ConfigError, match="vertex ids"):
        run(np.array([[0, -1]]))


@pytest.mark.parametrize("graph", ["path", "cycles", "random"])
def test_the_cli_takes_graph(capsys: pytest.CaptureFixture[str], graph: str) -> None:
    import json

    from mpcsim import cli

    assert cli.main(["run", "connectivity", "--n", "4000", "--graph", graph, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["graph"] == graph and report["verified"] is True
    assert report["rounds"] <= report["round_bound"]
