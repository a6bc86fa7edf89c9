"""List ranking: every node's distance to its list's end, by pointer jumping, in
2*ceil(log2 n) + 1 rounds, on one long list, many short ones, and cycles."""

from __future__ import annotations

import numpy as np
import pytest

import mpcsim
from mpcsim.algorithms import ALGORITHMS, ListRanking, list_ranking

from regimes import memory_for

RNG = np.random.default_rng(21)


def lists(lengths: list[int], shuffle: bool = True) -> np.ndarray:
    """Disjoint lists of the given lengths over randomly (or orderly) numbered nodes."""
    n = sum(lengths)
    ids = RNG.permutation(n) if shuffle else np.arange(n)
    succ = np.full(n, -1, dtype=np.int64)
    at = 0
    for length in lengths:
        chain = ids[at:at + length]
        succ[chain[:-1]] = chain[1:]
        at += length
    return succ


CASES = {
    "one random list": lists([3000]),
    "one list in id order": lists([3000], shuffle=False),
    "one list in reverse id order": np.arange(-1, 2999, dtype=np.int64),  # i -> i - 1
    "many short lists": lists(list(RNG.integers(1, 6, 800))),
    "singletons": np.full(1000, -1, dtype=np.int64),
    "a long and many short": lists([2000] + [2] * 300),
}


@pytest.mark.parametrize("name", list(CASES))
def test_ranks_equal_the_sequential_walk_within_the_bound(name: str) -> None:
    succ = CASES[name]
    q, s = ALGORITHMS["list-ranking"].sizing(succ.size, None, 300)
    result = mpcsim.run(ListRanking(), succ, num_machines=q, memory_words=s, seed=1)
    assert list_ranking.verify(result.output, succ)
    assert result.rounds <= list_ranking.round_bound(succ.size, q, s)


def test_nodes_on_a_cycle_rank_minus_one() -> None:
    succ = np.array([1, 2, 0, -1, 3, 6, -1, 5], dtype=np.int64)  # cycle 0-1-2, 4->3, 7->5->6
    result = mpcsim.run(ListRanking(chunk_words=2), succ, num_machines=4, memory_words=20)
    got = np.concatenate([o for o in result.output if o is not None])
    np.testing.assert_array_equal(got, [-1, -1, -1, 0, 1, 1, 0, 2])


@pytest.mark.parametrize("n, delta", [(1000, 1 / 2), (1000, 2 / 3), (10_000, 1 / 2),
                                      (10_000, 2 / 3), (100_000, 2 / 3)])
def test_caps_hold_and_rounds_meet_the_bound_for_s_n_to_the_delta(n: int, delta: float) -> None:
    spec = ALGORITHMS["list-ranking"]
    s = memory_for(n, delta)
    q, _ = spec.sizing(n, None, s)
    succ = spec.make_input(n, np.random.default_rng(n))
    result = mpcsim.run(spec.program(), succ, num_machines=q, memory_words=s)
    assert spec.verify(result.output, succ)
    assert result.rounds == spec.round_bound(n, q, s) == 2 * int(np.ceil(np.log2(n))) + 1
    assert max(result.trace.max_memory_words, result.trace.max_sent_words,
               result.trace.max_received_words) <= s


def test_runs_the_same_on_every_backend(backend: str) -> None:
    succ = lists([500, 300, 1])
    result = mpcsim.run(ListRanking(), succ, num_machines=25, memory_words=200,
                        backend=backend, num_workers=2)
    assert list_ranking.verify(result.output, succ)
    # machines whose nodes reached their ends stop asking: the longest list (500 nodes)
    # needs ceil(log2 500) = 9 steps, under the bound's ceil(log2 801) = 10
    assert result.rounds == 2 * 9 + 1 < list_ranking.round_bound(801, 25, 200)


def test_a_finished_machine_answers_from_its_output() -> None:
    """Machine 0's two nodes end their list at once; machine 1's list runs through them at
    its end, so machine 0 is asked after it finished (and holds only its output)."""
    succ = np.array([-1, 0, 3, 4, 5, 6, 7, 1], dtype=np.int64)  # 2->3->...->7->1->0
    result = mpcsim.run(ListRanking(chunk_words=2), succ, num_machines=4, memory_words=4)
    assert list_ranking.verify(result.output, succ)
    assert result.trace.max_memory_words <= 4


def test_a_node_with_two_predecessors_is_rejected() -> None:
    with pytest.raises(mpcsim.ConfigError, match="at most one node"):
        mpcsim.run(ListRanking(), np.array([2, 2, -1]), num_machines=1, memory_words=64)


@pytest.mark.parametrize("name", ["one random list", "many short lists", "a long and many short"])
def test_the_fleet_round_keeps_machines_apart(name: str) -> None:
    """Run on fleets of one machine (vectorize=False), the program gives the same ranks,
    rounds and per-round words: no machine's result depends on another's data."""
    succ = CASES[name]
    q, s = ALGORITHMS["list-ranking"].sizing(succ.size, None, 120)
    together = mpcsim.run(ListRanking(), succ, num_machines=q, memory_words=s, num_workers=2)
    apart = mpcsim.run(ListRanking(), succ, num_machines=q, memory_words=s, vectorize=False)
    assert list_ranking.verify(apart.output, succ)
    assert apart.rounds == together.rounds
    assert [(r.messages, r.words) for r in apart.trace.rounds] == \
        [(r.messages, r.words) for r in together.trace.rounds]
    assert np.array_equal(apart.trace.peak_memory_words, together.trace.peak_memory_words)


def cycles_and_lists(rng: np.random.Generator, n: int) -> np.ndarray:
    """About half the nodes on cycles (lengths 1 to 300), the rest on lists (1 to 300), all
    over randomly numbered nodes."""
    ids = rng.permutation(n)
    succ = np.full(n, -1, dtype=np.int64)
    at = 0
    while at < n:
        length = min(int(rng.integers(1, 301)), n - at)
        chain = ids[at:at + length]
        succ[chain[:-1]] = chain[1:]
        if rng.random() < 0.5:
            succ[chain[-1]] = chain[0]  # close it: a cycle (a self-loop if length 1)
        at += length
    return succ


ADVERSARIAL = {
    "one random list": lists([10_000]),
    "many short lists": lists(list(RNG.integers(1, 4, 5000))),
    "one list in id order": lists([10_000], shuffle=False),
    "cycles and lists": cycles_and_lists(np.random.default_rng(5), 10_000),
}


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_columnar_rounds_keep_the_caps_at_s_n_to_the_half(name: str) -> None:
    """n ~ 10^4 at s = ceil(n^(1/2)): every cap holds (enforced), ranks equal the sequential
    walk (-1 on cycles), and the rounds stay within 2 ceil(log2 n) + 1: exactly that bound
    when a list or a cycle is long enough to need every step."""
    succ = ADVERSARIAL[name]
    n = succ.size
    s = memory_for(n, 1 / 2)
    q, _ = ALGORITHMS["list-ranking"].sizing(n, None, s)
    result = mpcsim.run(ListRanking(), succ, num_machines=q, memory_words=s, seed=3)
    assert list_ranking.verify(result.output, succ)
    assert result.rounds <= list_ranking.round_bound(n, q, s)
    if name != "many short lists":
        assert result.rounds == list_ranking.round_bound(n, q, s)
    # one 1-word request and one 1-word reply per live node and step
    assert all(r.words == r.messages for r in result.trace.rounds)


def test_spare_machines_several_hosts_and_fleets_of_one_change_nothing() -> None:
    """More machines than the input needs (they hold nothing and halt), fleets split over 3
    hosts (replies cross hosts; a round's fleet is not one id range once machines finish),
    and fleets of one machine (vectorize=False) give the same ranks, rounds and per-round
    words as one host."""
    succ = cycles_and_lists(np.random.default_rng(8), 3000)
    q, s = ALGORITHMS["list-ranking"].sizing(3000, None, 55)
    one = mpcsim.run(ListRanking(), succ, num_machines=q, memory_words=s)
    hosts = mpcsim.run(ListRanking(), succ, num_machines=q + 17, memory_words=s,
                       num_workers=3)
    apart = mpcsim.run(ListRanking(), succ, num_machines=q, memory_words=s, vectorize=False)
    for result in (one, hosts, apart):
        assert list_ranking.verify(result.output, succ)
        assert result.rounds == one.rounds
        assert [(r.messages, r.words) for r in result.trace.rounds] == \
            [(r.messages, r.words) for r in one.trace.rounds]


def test_a_machine_peaks_at_2c_words_its_nodes_and_their_replies() -> None:
    """The plan (c, n, J) is the run's, not memory: a machine of c nodes holds one word per
    node (V, or its output once finished, never both) and, after a delivery, at most c words
    of replies or of requests: s = 2c is enough."""
    succ = CASES["one random list"]
    c = 30
    q = -(-succ.size // c)
    result = mpcsim.run(ListRanking(), succ, num_machines=q, memory_words=2 * c)
    assert list_ranking.chunk_for(2 * c) == c
    assert list_ranking.verify(result.output, succ)
    assert result.trace.max_memory_words == 2 * c
    assert result.plan == (c, succ.size, list_ranking.steps_for(succ.size))
