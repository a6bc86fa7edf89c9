"""`mpcsim transformer` (transformer_bridge.command), run in-process through mpcsim.cli.main: the
outputs file reproduces the checkpoint's golden hidden states, the report's rounds and words
agree with the plan and the cap, and bad models, inputs and caps exit 2 with a message."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mpcsim import cli
from transformer_bridge import load_gpt2, transformer_to_plan

CHECKPOINTS = Path(__file__).resolve().parents[2].parent / "shared" / "checkpoints"
MODEL = CHECKPOINTS / "width4-depth2"
pytestmark = pytest.mark.skipif(not MODEL.is_dir(), reason=f"no checkpoint at {MODEL}")

REPORT_KEYS = {
    "machines", "rounds", "rounds_per_layer", "memory_words", "max_memory_words", "wall_s",
    "dense_wall_s", "max_abs_diff_vs_dense", "strategy", "tile", "fan_in", "blocks",
    "inner_product_machines", "backend", "workers", "nodes", "batch", "seq_len",
}
SEQUENCES = 4  # the first golden sequences: enough for a batch, fast


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(MODEL / "golden.npz") as data:
        return {"inputs": data["inputs"][:SEQUENCES], "hidden": data["hidden"][:SEQUENCES]}


@pytest.fixture
def ids_file(tmp_path: Path, golden: dict[str, np.ndarray]) -> Path:
    path = tmp_path / "ids.npy"
    np.save(path, golden["inputs"])
    return path


def run_command(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["transformer", "--model", str(MODEL), *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_matches_golden(out_file: Path, golden: dict[str, np.ndarray]) -> None:
    hidden = np.load(out_file)
    assert hidden.dtype == np.float32 and hidden.shape == golden["hidden"].shape
    assert np.abs(hidden - golden["hidden"]).max() <= 2e-4
    assert np.array_equal(hidden.argmax(-1), golden["hidden"].argmax(-1))


@pytest.mark.parametrize("strategy", ["tree", "ring"])
def test_json_run_reproduces_golden_hidden_and_the_plans_rounds(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, ids_file: Path,
        golden: dict[str, np.ndarray], strategy: str) -> None:
    out_file = tmp_path / "hidden.npy"
    code, out, err = run_command(capsys, "--inputs", str(ids_file), "--out", str(out_file),
                                 "--strategy", strategy, "--json")
    assert code == 0, err
    assert out.count("\n") == 1  # exactly one JSON object
    report = json.loads(out)
    assert REPORT_KEYS <= set(report)
    assert_matches_golden(out_file, golden)
    plan = transformer_to_plan(load_gpt2(MODEL), golden["inputs"].shape[1],
                               report["memory_words"], strategy=strategy)
    assert report["rounds"] == plan.total_rounds
    assert report["rounds_per_layer"] == plan.rounds_per_layer
    assert (report["tile"], report["blocks"]) == (plan.tile, plan.blocks)
    assert report["machines"] == plan.machines * SEQUENCES
    assert report["max_memory_words"] <= report["memory_words"]
    assert report["max_abs_diff_vs_dense"] <= 1e-4
    assert (report["batch"], report["seq_len"], report["strategy"]) == (SEQUENCES, 99, strategy)


def test_default_cap_splits_attention_over_several_machines(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, ids_file: Path) -> None:
    code, out, _ = run_command(capsys, "--inputs", str(ids_file),
                               "--out", str(tmp_path / "h.npy"), "--json")
    report = json.loads(out)
    assert code == 0 and report["memory_words_default"] is True
    assert report["tile"] <= 25 and report["blocks"] >= 4  # largest tile about N/4
    assert report["inner_product_machines"] >= 3


def test_summary_names_the_plan_rounds_and_cap(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, ids_file: Path) -> None:
    code, out, _ = run_command(capsys, "--inputs", str(ids_file),
                               "--out", str(tmp_path / "h.npy"), "--memory-words", "20000",
                               "--tile", "20", "--fan-in", "2")
    assert code == 0
    for text in ("tree plan for N=99, memory_words=20000", "tile B=20, fan-in b=2", "rounds",
                 "(cap 20000)", "max |mpc - dense|", "dense forward"):
        assert text in out


def test_npz_inputs_are_read_by_key(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                    golden: dict[str, np.ndarray]) -> None:
    npz = tmp_path / "golden.npz"
    np.savez(npz, ids=golden["inputs"])
    out_file = tmp_path / "h.npy"
    code, _, err = run_command(capsys, "--inputs", str(npz), "--key", "ids",
                               "--out", str(out_file), "--json")
    assert code == 0, err
    assert_matches_golden(out_file, golden)


def write(tmp_path: Path, name: str, array: np.ndarray) -> str:
    path = tmp_path / f"{name}.npy"
    np.save(path, array)
    return str(path)


@pytest.mark.parametrize("case, message", [
    ("missing model", "does not exist"),
    ("three axes", "expected token ids [batch, N]"),
    ("float ids", "token ids must be integers"),
    ("ids outside the vocabulary", "outside the model's vocabulary"),
    ("missing inputs file", "no such file"),
    ("missing npz key", "pass --key NAME"),
    ("cap below the minimum", "memory_words >="),
    ("fan-in with ring", "the ring strategy has no fan-in"),
])
def test_bad_model_inputs_or_cap_exit_2_with_a_message(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, ids_file: Path,
        golden: dict[str, np.ndarray], case: str, message: str) -> None:
    ids = golden["inputs"]
    argv = {
        "missing model": ["--model", str(tmp_path / "nowhere")],
        "three axes": ["--inputs", write(tmp_path, "axes", ids[:, :, None])],
        "float ids": ["--inputs", write(tmp_path, "float", ids.astype(np.float32))],
        "ids outside the vocabulary": ["--inputs", write(tmp_path, "vocab", ids + 1000)],
        "missing inputs file": ["--inputs", str(tmp_path / "none.npy")],
        "missing npz key": ["--inputs", str(MODEL / "golden.npz"), "--key", "ids"],
        "cap below the minimum": ["--memory-words", "100"],
        "fan-in with ring": ["--strategy", "ring", "--fan-in", "2"],
    }[case]
    out_file = tmp_path / "h.npy"
    # argparse keeps the last --model / --inputs given, so the case's values win
    code = cli.main(["transformer", "--model", str(MODEL), "--inputs", str(ids_file),
                     "--out", str(out_file), *argv])
    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err and captured.err.startswith("mpcsim transformer: error:")
    assert captured.out == "" and not out_file.exists()


@pytest.mark.ray
def test_ray_backend_gives_the_same_outputs(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                            ids_file: Path, golden: dict[str, np.ndarray],
                                            ray_session: object) -> None:
    out_file = tmp_path / "h.npy"
    code, out, err = run_command(capsys, "--inputs", str(ids_file), "--out", str(out_file),
                                 "--backend", "ray", "--workers", "2", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["backend"], report["workers"]) == ("ray", 2)
    assert_matches_golden(out_file, golden)
