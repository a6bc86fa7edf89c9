"""transformer_bridge.bench: the checkpoint row's inputs come from golden.npz when the folder has
one, else from the paper's sequences in the same layout (a converted folder has none)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from transformer_bridge.bench import CHECKPOINT, golden_inputs
from transformer_bridge.tasks.hopk import hop_targets


def test_golden_inputs_without_golden_npz_are_the_papers_sequences(tmp_path: Path) -> None:
    ids = golden_inputs(tmp_path)
    assert ids.shape == (34, 99) and ids.dtype == np.int64
    assert ids[:, 0].tolist() == [i % 17 for i in range(34)]  # the hop count first
    assert hop_targets(ids).shape == ids.shape
    np.testing.assert_array_equal(ids, golden_inputs(tmp_path))  # seeded


def test_golden_inputs_read_golden_npz_when_present(tmp_path: Path) -> None:
    inputs = np.arange(6, dtype=np.int64).reshape(2, 3)
    np.savez(tmp_path / "golden.npz", inputs=inputs)
    np.testing.assert_array_equal(golden_inputs(tmp_path), inputs)


def test_the_default_checkpoint_is_a_converted_folder_not_a_project_path() -> None:
    assert CHECKPOINT.name == "width4-depth3" and "shared" not in CHECKPOINT.parts
