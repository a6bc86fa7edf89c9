"""`mpcsim demo` and `mpcsim hopk run|eval` (transformer_bridge.hopk_command), run in-process
through mpcsim.cli.main: the demo needs no files and both the transformer and MPC pointer
doubling are exact on its input, the eval's per-k errors are the
dense forward's and it reproduces the checkpoints' golden hidden states, bad options exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mpcsim import cli

CHECKPOINTS = Path(__file__).resolve().parents[2].parent / "shared" / "checkpoints"
MODELS = [CHECKPOINTS / "width4-depth2", CHECKPOINTS / "width4-depth3"]
needs_checkpoints = pytest.mark.skipif(not CHECKPOINTS.is_dir(), reason=f"no {CHECKPOINTS}")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_demo_runs_with_no_files_and_is_exact(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "demo")
    assert code == 0, err
    for row in ("layers", "MPC rounds", "machines", "memory cap", "wall-clock", "per round",
                "accuracy", "pointer doubling"):
        assert row in out
    accuracy = next(line for line in out.splitlines() if line.startswith("accuracy"))
    assert accuracy.split()[1:] == ["1.0000", "1.0000"]  # transformer, pointer doubling


def test_demo_json_reports_the_construction(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "demo", "--json")
    report = json.loads(out)
    assert code == 0
    assert (report["k"], report["n"], report["layers"]) == (8, 256, 5)
    assert report["accuracy"] == 1.0 and report["matches_dense"]
    doubling = report["pointer_doubling"]  # the MPC-native algorithm on the same letters
    assert doubling["accuracy"] == 1.0 and doubling["rounds"] <= doubling["round_bound"]


@pytest.mark.parametrize("k, n, layers", [(0, 16, 1), (3, 100, 4), (64, 300, 8)])
def test_hopk_run_json_has_the_documented_fields(capsys: pytest.CaptureFixture[str], k: int,
                                                 n: int, layers: int) -> None:
    code, out, err = run_cli(capsys, "hopk", "run", "--k", str(k), "--n", str(n),
                             "--sequences", "2", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert {"k", "n", "layers", "rounds", "machines", "accuracy", "wall_s"} <= set(report)
    assert (report["k"], report["n"], report["layers"]) == (k, n, layers)
    assert report["accuracy"] == 1.0 and report["verified"]
    assert report["machines"] == 2 * report["machines_per_sequence"] > 2
    assert report["pointer_doubling"]["accuracy"] == 1.0


@pytest.mark.ray
def test_hopk_run_on_ray_matches_dense(capsys: pytest.CaptureFixture[str],
                                       ray_session: object) -> None:
    code, out, err = run_cli(capsys, "hopk", "run", "--k", "6", "--n", "200", "--backend",
                             "ray", "--workers", "2", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["backend"] == "ray" and report["matches_dense"] and report["accuracy"] == 1.0
    assert report["pointer_doubling"]["accuracy"] == 1.0


def test_hopk_run_reports_a_cap_below_the_minimum(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "hopk", "run", "--k", "2", "--n", "64", "--memory-words",
                           "10")
    assert code == 2 and "memory_words >=" in err


@needs_checkpoints
def test_eval_errors_equal_the_dense_forwards_and_golden_is_reproduced(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plot = tmp_path / "errors.png"
    code, out, err = run_cli(capsys, "hopk", "eval", *[f"--model={m}" for m in MODELS],
                             "--sequences", "2", "--json", "--plot", str(plot))
    assert code == 0, err
    reports = [json.loads(line) for line in out.splitlines()]
    assert [r["layers"] for r in reports] == [2, 3]
    for report in reports:
        assert list(report["errors"]) == [str(k) for k in range(17)]
        assert report["errors"] == report["dense_errors"] and report["matches_dense"]
        assert report["errors"]["0"] == 0.0 and report["errors"]["16"] > 0.3
        assert report["golden"]["sequences"] == 34 and report["golden"]["argmax_equal"]
        assert report["golden"]["max_abs_diff"] <= 2e-4
        assert {"rounds", "machines", "wall_s"} <= set(report) and report["verified"]
        assert report["batch"] == 17 * 2 + 34
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_checkpoints
@pytest.mark.ray
def test_eval_on_ray_is_verified(capsys: pytest.CaptureFixture[str],
                                 ray_session: object) -> None:
    code, out, err = run_cli(capsys, "hopk", "eval", "--model", str(MODELS[0]), "--sequences",
                             "1", "--backend", "ray", "--workers", "2", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["backend"] == "ray" and report["verified"] and report["golden"]["argmax_equal"]


@needs_checkpoints
def test_eval_prints_the_per_k_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "hopk", "eval", "--model", str(MODELS[1]),
                             "--sequences", "1")
    assert code == 0, err
    lines = out.splitlines()
    assert any(line.split()[:1] == ["16"] for line in lines)
    assert "rounds" in out and "golden" in out and "ok" in out


def test_eval_lists_every_bad_folder_at_once(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "hopk", "eval", "--model", str(tmp_path / "nothing"),
                           "--model", str(tmp_path))
    assert code == 2
    assert "nothing" in err and "config.json is missing" in err


def test_options_that_cannot_work_exit_2(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "hopk", "run", "--address", "auto")
    assert code == 2 and "--backend ray" in err
    code, _, err = run_cli(capsys, "hopk", "eval", "--model", str(tmp_path), "--plot",
                           str(tmp_path / "missing" / "p.png"))
    assert code == 2 and "--plot" in err


@needs_checkpoints
def test_eval_refuses_a_checkpoint_trained_on_another_task(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for file in ("config.json", "model.safetensors"):
        (tmp_path / file).write_bytes((MODELS[0] / file).read_bytes())
    (tmp_path / "task.json").write_text(json.dumps({"task": "hop_k", "char_tokens": 8,
                                                    "seq_len": 100}))
    code, _, err = run_cli(capsys, "hopk", "eval", "--model", str(tmp_path))
    assert code == 2 and "char_tokens=8" in err


def test_predictions_are_argmax_over_all_dims() -> None:
    # the paper's models have no output head: the hidden state is the logit vector
    from transformer_bridge.tasks.hopk import paper_error

    hidden = np.zeros((1, 3, 128))
    hidden[0, 1, 17], hidden[0, 2, 100] = 1.0, 1.0
    assert paper_error(hidden.argmax(-1), np.array([[22, 17, 18]])) == 0.5
