"""hop_k: the MPC program equals the plain-Python definition (NOTES §4) on random and
adversarial sequences, for k = 0, small k, large k and k > N, within its round bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mpcsim
from mpcsim.algorithms import ALGORITHMS, HopK, hopk, hopk_doubling

RNG = np.random.default_rng(11)
PAPER = np.array([ord(c) for c in "baebcabebdea"])


def run(x: np.ndarray, k: int, s: int = 600, sort_kind: str | None = None,
        find: str | None = None, **kwargs: object) -> tuple[mpcsim.Result, HopK]:
    spec = ALGORITHMS["hop-k"]
    q, _ = spec.sizing(max(x.size, 1), None, s)
    program = HopK(k, seed=2, sort_kind=sort_kind, find=find)
    return mpcsim.run(program, x, num_machines=q, memory_words=s, **kwargs), program


def as_text(values: np.ndarray) -> str:
    return "".join("~" if v == hopk.NONE else chr(v) for v in values)


@pytest.mark.parametrize("k, want", [(0, "baebcabebdea"), (1, "~~~a~ecbe~bb"),
                                     (2, "~~~~~~~ab~ec")])
def test_the_papers_example(k: int, want: str) -> None:
    result, _ = run(PAPER, k)
    assert as_text(np.concatenate([o for o in result.output if o is not None])) == want
    assert as_text(hopk.definition(PAPER, k)) == want


SEQUENCES = {
    "paper-like": hopk.make_input(1500, RNG),
    "all equal (fixed points)": np.zeros(1500, dtype=np.int64),
    "all distinct (all none)": RNG.permutation(1500),
    "sorted runs": np.repeat(np.arange(30), 50),
    "two symbols": RNG.integers(0, 2, 1500),
    "huge symbols (records)": RNG.integers(-2**62, 2**62, 1500),
}


@pytest.mark.parametrize("k, sort_kind, find", [(0, None, None), (1, None, "sort"),
                                                 (3, "levels", None), (8, None, "sort"),
                                                 (64, "levels", None), (2000, None, "sort"),
                                                 (1, None, None), (8, None, None),
                                                 (2000, None, None)])
@pytest.mark.parametrize("name", list(SEQUENCES))
def test_equals_the_definition_within_the_bound(name: str, k: int, sort_kind: str | None,
                                                find: str | None) -> None:
    # find="sort" at s = 600: the network sort (no barrier); "levels": the sample sort and
    # barrier; None: the fewer rounds, a scan where the symbols span few values
    x = SEQUENCES[name]
    result, program = run(x, k, sort_kind=sort_kind, find=find, seed=k)
    assert hopk.verify(result.output, x, k)
    got = np.concatenate([o for o in result.output if o is not None])
    np.testing.assert_array_equal(got, hopk.definition(x, k))
    assert result.plan is not None and result.rounds <= result.plan.rounds()


def test_after_a_direct_sort_the_barrier_releases_every_machine() -> None:
    """Few large machines sort by the direct plan (4 rounds) and then wait at the barrier,
    whose root hears its children only after the sort's last round."""
    x = hopk.make_input(10_000, np.random.default_rng(3))
    program = HopK(5, sort_kind="direct")
    result = mpcsim.run(program, x, num_machines=4, memory_words=2**15)

    assert result.plan is not None and result.plan.barrier is not None
    assert result.plan.barrier.machines > 1
    assert hopk.verify(result.output, x, 5) and result.rounds <= result.plan.rounds()


def test_reference_equals_the_definition_on_random_sequences() -> None:
    for trial in range(20):
        x = RNG.integers(0, 1 + trial % 5, int(RNG.integers(0, 200)))
        for k in (0, 1, 2, 5, 17, 300):
            np.testing.assert_array_equal(hopk.reference(x, k), hopk.definition(x, k))


@pytest.mark.parametrize("n, delta", [(1000, 1 / 2), (1000, 2 / 3), (10_000, 1 / 2),
                                      (10_000, 2 / 3), (100_000, 1 / 2), (100_000, 2 / 3)])
def test_caps_hold_and_rounds_stay_within_the_bound_at_s_n_to_the_delta(n: int,
                                                                         delta: float) -> None:
    spec = ALGORITHMS["hop-k"]
    s = math.ceil(n ** delta - 1e-9)  # exactly: the model's regime, no extra words
    q, _ = spec.sizing(n, None, s)
    assert q * s <= 16 * n  # q*s = O(n): see hopk.sizing
    x = spec.make_input(n, np.random.default_rng(n))
    result = mpcsim.run(spec.program(k=16), x, num_machines=q, memory_words=s)
    assert spec.verify(result.output, x, k=16)
    assert result.rounds <= spec.round_bound(n, q, s, k=16)
    assert max(result.trace.max_memory_words, result.trace.max_sent_words,
               result.trace.max_received_words) <= s


def test_doubling_takes_ceil_log2_k_steps_of_two_rounds() -> None:
    x = hopk.make_input(4000, np.random.default_rng(0))
    rounds = {}
    for k in (1, 2, 4, 8, 16, 32, 64):
        result, program = run(x, k, s=3000, seed=0)
        rounds[k] = result.rounds
    steps = [rounds[2 * k] - rounds[k] for k in (1, 2, 4, 8, 16, 32)]
    assert steps == [2] * 6  # one more doubling step (request + reply) per doubling of k
    assert hopk.doubling_steps(64) == 6 and hopk.doubling_steps(65) == 7


@pytest.mark.parametrize("sort_kind, find", [("levels", None), ("network", None), (None, "scan")])
def test_runs_the_same_on_every_backend(backend: str, sort_kind: str | None,
                                        find: str | None) -> None:
    x = hopk.make_input(1200, np.random.default_rng(3))
    result, _ = run(x, 5, sort_kind=sort_kind, find=find, backend=backend, num_workers=2)
    local, _ = run(x, 5, sort_kind=sort_kind, find=find)
    assert hopk.verify(result.output, x, 5)
    assert result.rounds == local.rounds


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(mpcsim.ConfigError, match="int symbols"):
        run(np.array([0.5, 1.5]), 1)
    with pytest.raises(mpcsim.ConfigError, match="reserved"):
        run(np.array([hopk.NONE, 1]), 1)
    with pytest.raises(mpcsim.ConfigError, match="k"):
        HopK(-1)
    with pytest.raises(mpcsim.ConfigError, match="sort_kind"):
        HopK(1, sort_kind="bubble")
    with pytest.raises(mpcsim.ConfigError, match="find"):
        HopK(1, find="guess")
    with pytest.raises(mpcsim.ConfigError, match="sort_kind"):
        HopK(1, find="scan", sort_kind="levels")
    with pytest.raises(mpcsim.ConfigError, match="span 1500"):  # no table of 1500 fits
        run(np.arange(1500), 1, find="scan")


def test_the_cli_takes_k_and_reports_it(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from mpcsim import cli

    assert cli.main(["run", "hop-k", "--n", "3000", "--k", "9", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["k"] == 9 and report["verified"] is True
    assert report["rounds"] <= report["round_bound"]
    assert cli.main(["run", "sort", "--n", "100", "--k", "3"]) == 2  # not a sort option
    assert "--k=3: is not an option of sort" in capsys.readouterr().err


@pytest.mark.parametrize("sort_kind, find, s", [("network", None, 600), ("levels", None, 600),
                                                (None, "scan", 40), (None, "scan", 600)])
def test_the_fleet_rounds_keep_machines_apart(sort_kind: str | None, find: str | None,
                                              s: int) -> None:
    """Fleets of one machine (vectorize=False) and fleets split over 3 hosts give the same
    output, rounds and per-round words as one host: no machine's result depends on another's
    data (the scan at s = 40: a tree of depth 5)."""
    x = hopk.make_input(1500, np.random.default_rng(4))
    one, _ = run(x, 7, s=s, sort_kind=sort_kind, find=find)
    apart, _ = run(x, 7, s=s, sort_kind=sort_kind, find=find, vectorize=False)
    hosts, _ = run(x, 7, s=s, sort_kind=sort_kind, find=find, num_workers=3)
    for result in (apart, hosts):
        assert hopk.verify(result.output, x, 7)
        assert result.rounds == one.rounds
        assert [(r.messages, r.words) for r in result.trace.rounds] == \
            [(r.messages, r.words) for r in one.trace.rounds]


@pytest.mark.parametrize("chunk_rows, few_owners", [(1, 8), (150, 8), (1, 0), (10**6, 10**6)])
def test_ordering_requests_a_few_machines_at_a_time_changes_nothing(
        chunk_rows: int, few_owners: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Askers order their requests over runs of machines of about _CHUNK_ROWS positions: one
    machine at a time or a few give the output and per-round trace of one run over all; and
    a machine alone groups them by owner with masks (fewer than _FEW_OWNERS owners) or a sort,
    alike."""
    x = hopk.make_input(3000, np.random.default_rng(5))
    whole, _ = run(x, 13)
    monkeypatch.setattr(hopk_doubling, "_FEW_OWNERS", few_owners)
    monkeypatch.setattr(hopk_doubling, "_CHUNK_ROWS", chunk_rows)
    runs, _ = run(x, 13)
    assert hopk.verify(runs.output, x, 13)
    assert [(r.messages, r.words, r.max_memory_words) for r in runs.trace.rounds] == \
        [(r.messages, r.words, r.max_memory_words) for r in whole.trace.rounds]


ADVERSARIAL = {
    "paper-like": hopk.make_input(10_000, np.random.default_rng(6)),
    "all equal (fixed points)": np.zeros(10_000, dtype=np.int64),
    "all distinct (all none)": np.random.default_rng(6).permutation(10_000),
    "two symbols": np.random.default_rng(6).integers(0, 2, 10_000),
}


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_caps_hold_at_s_n_to_the_half_with_one_word_requests(name: str) -> None:
    """N = 10^4 at s = ceil(N^(1/2)), k = 64: every cap holds (enforced), the output is the
    definition's, the rounds are the bound (a network sort), and the doubling moves one word
    per pointer asked and one word back per request (an asker's requests to one owner, and
    the owner's replies, travel as one message each)."""
    x = ADVERSARIAL[name]
    spec = ALGORITHMS["hop-k"]
    s = math.ceil(x.size ** 0.5 - 1e-9)
    q, _ = spec.sizing(x.size, None, s)
    program = HopK(64)
    result = mpcsim.run(program, x, num_machines=q, memory_words=s)
    np.testing.assert_array_equal(np.concatenate([o for o in result.output if o is not None]),
                                  hopk.reference(x, 64))
    assert result.plan is not None and result.rounds == result.plan.rounds()
    layout = result.plan
    if layout.scan is not None:  # few symbols: found by scan, the doubling from round 2D
        start = layout.scan.rounds()
    else:
        start = layout.sort_plan.round_bound() + 2
    assert (layout.scan is not None) == (name != "all distinct (all none)")
    doubling = result.trace.rounds[start:]
    requests, replies = doubling[0:-1:2], doubling[1::2]
    assert len(requests) == len(replies) == len(hopk_doubling.schedule(64))
    assert [r.words for r in replies] == [r.words for r in requests]
    assert all(r.messages <= r.words for r in requests)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 600), span=st.integers(1, 60), low=st.integers(-10**12, 10**12),
       k=st.integers(0, 70), s=st.integers(24, 400), seed=st.integers(0, 2**31))
def test_a_find_by_scan_equals_the_definition_in_exactly_its_rounds(
        n: int, span: int, low: int, k: int, s: int, seed: int) -> None:
    """Any symbols spanning few values (found symbol by symbol up to 16, else by a sort), any
    s at which a table tree fits (depth 0 to ~8):
    the scan's output is the definition's, every cap holds (enforced by the run), and it
    takes exactly 2D + the doubling's rounds."""
    x = low + np.random.default_rng(seed).integers(0, span, n)
    try:
        result, _ = run(x, k, s=s, find="scan")
    except mpcsim.ConfigError as exc:  # only when no table of `span` words fits
        assert "span" in str(exc) and span > min(2 * ((s - 4) // 10), (s - (s - 4) // 10 - 4) // 4)
        return
    np.testing.assert_array_equal(np.concatenate([o for o in result.output if o is not None]),
                                  hopk.definition(x, k))
    assert result.plan.scan is not None and result.rounds == result.plan.rounds()
