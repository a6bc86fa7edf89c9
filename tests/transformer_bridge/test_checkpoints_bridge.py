"""The paper's trained GPT-2 checkpoints (../shared/checkpoints) run as MPC jobs reproduce
HuggingFace's golden hidden states (<= 2e-4, identical argmax at every position)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from transformer_bridge import load_gpt2
from transformer_bridge.compiler import compile_transformer

CHECKPOINTS = Path(__file__).resolve().parents[2].parent / "shared" / "checkpoints"
pytestmark = pytest.mark.skipif(not CHECKPOINTS.is_dir(), reason=f"no {CHECKPOINTS}")


@pytest.mark.parametrize("name", ["width4-depth2", "width4-depth3"])
@pytest.mark.parametrize("strategy, memory_words", [("tree", 20_000), ("ring", 30_000)])
def test_checkpoint_as_mpc_job_matches_golden_hidden_states(
        name: str, strategy: str, memory_words: int, backend: str) -> None:
    golden = np.load(CHECKPOINTS / name / "golden.npz")
    job = compile_transformer(load_gpt2(CHECKPOINTS / name), 99, memory_words,
                              strategy=strategy)
    assert job.plan.machines > 1  # a real distribution, not one machine doing everything
    hidden, result = job.run(golden["inputs"], backend=backend, num_workers=2)
    assert np.abs(hidden - golden["hidden"]).max() <= 2e-4
    assert (hidden.argmax(-1) == golden["hidden"].argmax(-1)).all()
    assert result.rounds == job.plan.total_rounds
    assert result.trace.max_memory_words <= memory_words
