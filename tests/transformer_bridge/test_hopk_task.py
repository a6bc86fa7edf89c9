"""transformer_bridge.tasks.hopk: find and hop_k follow Def. 4.1 literally (checked against a
brute-force transcription), the paper's example, the paper's encoding (NOTES §6), whose
golden targets the reference reproduces from the inputs, and the paper's error metric."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from transformer_bridge.tasks import hopk

CHECKPOINTS = Path(__file__).resolve().parents[2].parent / "shared" / "checkpoints"


def brute_force_find(x: list[int]) -> list[int]:
    """Def. 4.1 transcribed: find(i) = max({0} U {j <= i : X_(j-1) = X_i}), 1-indexed."""
    one_based = [None] + list(x)
    return [0] + [max([0] + [j for j in range(2, i + 1) if one_based[j - 1] == one_based[i]])
                  for i in range(1, len(x) + 1)]


def brute_force_hop(x: list[int], k: int) -> list[int]:
    f = brute_force_find(x)
    out = []
    for i in range(1, len(x) + 1):
        j = i
        for _ in range(k):
            j = f[j]
        out.append(x[j - 1] if j else -1)
    return out


def test_hop_k_reproduces_the_papers_example() -> None:
    x = np.array([ord(c) for c in "baebcabebdea"])
    show = lambda h: "".join("~" if s < 0 else chr(s) for s in h)  # noqa: E731
    assert show(hopk.hop_k(x, 0)) == "baebcabebdea"
    assert show(hopk.hop_k(x, 1)) == "~~~a~ecbe~bb"
    assert show(hopk.hop_k(x, 2)) == "~~~~~~~ab~ec"


@given(st.lists(st.integers(0, 3), max_size=40), st.integers(0, 12))
def test_find_and_hop_k_equal_the_definition_transcribed(x: list[int], k: int) -> None:
    arr = np.array(x, dtype=np.int64)
    assert hopk.find(arr).tolist() == brute_force_find(x)
    assert hopk.hop_k(arr, k).tolist() == brute_force_hop(x, k)


def test_hop_k_works_on_batches_and_large_alphabets() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 1000, size=(3, 500))
    batch = hopk.hop_k(x, 5)
    assert [row.tolist() for row in batch] == [brute_force_hop(row.tolist(), 5) for row in x]


def test_negative_hops_are_refused() -> None:
    with pytest.raises(ValueError, match="k=-1"):
        hopk.hop_k(np.array([1, 2]), -1)


def test_random_strings_never_repeat_a_letter_and_use_every_letter() -> None:
    strings = hopk.random_strings(200, 100, 4, np.random.default_rng(0))
    assert strings.shape == (200, 100)
    assert (strings[:, 1:] != strings[:, :-1]).all()
    assert set(np.unique(strings)) == {0, 1, 2, 3}


def test_paper_sequences_use_the_papers_encoding() -> None:
    inputs, targets = hopk.paper_sequences(3, 5, np.random.default_rng(0))
    assert inputs.shape == targets.shape == (5, hopk.SEQ_LEN) == (5, 99)
    assert (inputs[:, 0] == 3).all() and (targets[:, 0] == hopk.BLANK_ID).all()
    assert ((inputs[:, 1:] >= 17) & (inputs[:, 1:] <= 20)).all()
    assert ((targets[:, 1:] >= 17) & (targets[:, 1:] <= 21)).all()
    again, _ = hopk.paper_sequences(3, 5, np.random.default_rng(0))
    assert np.array_equal(inputs, again)  # one seeded generator decides everything


def test_paper_sequences_refuse_hop_counts_without_a_token() -> None:
    with pytest.raises(ValueError, match="0..16"):
        hopk.paper_sequences(17, 1, np.random.default_rng(0))


@pytest.mark.skipif(not CHECKPOINTS.is_dir(), reason=f"no {CHECKPOINTS}")
@pytest.mark.parametrize("name", ["width4-depth2", "width4-depth3"])
def test_reference_reproduces_every_golden_target_from_its_input(name: str) -> None:
    with np.load(CHECKPOINTS / name / "golden.npz") as golden:
        assert (golden["inputs"][:, 0] == golden["hops"]).all()
        assert np.array_equal(hopk.hop_targets(golden["inputs"]), golden["targets"])


def test_hop_targets_refuse_tokens_outside_the_encoding() -> None:
    inputs, _ = hopk.paper_sequences(2, 1, np.random.default_rng(0))
    inputs[0, 5] = hopk.NONE_ID
    with pytest.raises(ValueError, match="paper's encoding"):
        hopk.hop_targets(inputs)


def test_paper_error_counts_only_letter_targets() -> None:
    targets = np.array([[22, 21, 17, 18, 21, 19]])
    predictions = np.array([[0, 0, 17, 20, 0, 19]])  # wrong on blank/none: ignored
    assert hopk.paper_error(predictions, targets) == pytest.approx(1 / 3)
    assert np.isnan(hopk.paper_error(predictions[:, :2], targets[:, :2]))
