"""The command line (mpcsim.cli): run/info output, JSON keys, exit codes, trace files."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from mpcsim import cli, console
from mpcsim.algorithms import ALGORITHMS
from mpcsim.trace import RoundRecord

RUN_KEYS = {
    "algorithm", "n", "machines", "memory_words", "backend", "workers", "nodes", "rounds",
    "round_bound", "wall_s", "verified", "max_memory_words", "max_sent_words",
    "max_received_words", "total_words_sent",
}


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = cli.main(["run", *argv, "--json"])
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # exactly one JSON object
    return code, json.loads(out)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_run_json_has_every_key_and_verifies_within_the_bound(
        capsys: pytest.CaptureFixture[str], name: str) -> None:
    code, report = run_json(capsys, name, "--n", "2000", "--seed", "3")
    assert code == 0
    assert RUN_KEYS <= set(report)
    assert report["algorithm"] == name and report["n"] == 2000 and report["verified"] is True
    assert report["backend"] == "local" and report["workers"] == 1 and report["nodes"] == 1
    assert 1 <= report["rounds"] <= report["round_bound"]
    s = report["memory_words"]
    assert max(report["max_memory_words"], report["max_sent_words"],
               report["max_received_words"]) <= s


def test_run_keeps_the_machines_and_memory_given(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys, "broadcast", "--n", "1000", "--machines", "64",
                            "--workers", "3")
    assert code == 0
    assert (report["machines"], report["memory_words"], report["workers"]) == (64, 8000, 3)
    code, report = run_json(capsys, "all-reduce", "--n", "1000", "--memory-words", "100")
    assert code == 0 and report["memory_words"] == 100 and report["machines"] == 20


def test_run_prints_a_readable_summary_and_the_round_table(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "prefix-sum", "--n", "5000"]) == 0
    out = capsys.readouterr().out
    for text in ("algorithm", "prefix-sum", "rounds", "(bound 3)", "verified", "yes",
                 "max words", "round  wall ms", "0 violations"):
        assert text in out


def test_a_wrong_output_exits_1(capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ALGORITHMS["broadcast"]
    monkeypatch.setitem(ALGORITHMS, "broadcast",
                        dataclasses.replace(spec, verify=lambda output, inputs: False))
    code, report = run_json(capsys, "broadcast", "--n", "10")
    assert code == 1 and report["verified"] is False


@pytest.mark.parametrize("argv, message", [
    (["prefix-sum", "--n", "10000", "--machines", "10", "--memory-words", "64"],
     "raise num_machines to >= 313"),
    (["broadcast", "--n", "100", "--memory-words", "50"], "memory_words to >= 100"),
    (["all-reduce", "--address", "127.0.0.1:6379"], "only used by backend='ray'"),
])
def test_an_mpc_error_exits_2_with_its_message_on_stderr(
        capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert cli.main(["run", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error:" in captured.err and message in captured.err
    assert "Traceback" not in captured.err


@pytest.mark.parametrize("argv", [
    ["run", "sorting"], ["run", "broadcast", "--n", "-5"], ["run", "broadcast", "--n", "x"],
    ["run", "broadcast", "--backend", "mpi"], [],
])
def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "usage: mpcsim" in capsys.readouterr().err


def test_no_enforce_runs_and_reports_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys, "all-reduce", "--n", "100", "--no-enforce")
    assert code == 0 and report["enforce"] is False and report["violations"] == 0


def test_trace_files_are_written(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    trace, chrome = tmp_path / "run.json", tmp_path / "run.chrome.json"
    code, report = run_json(capsys, "prefix-sum", "--n", "1000", "--trace-out", str(trace),
                            "--chrome-trace", str(chrome))
    assert code == 0
    saved = json.loads(trace.read_text())
    assert saved["totals"]["rounds"] == report["rounds"]
    assert saved["totals"]["words_sent"] == report["total_words_sent"]
    assert json.loads(chrome.read_text())["traceEvents"]


def test_an_unwritable_trace_file_exits_2_without_a_traceback(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "run.json"
    assert cli.main(["run", "broadcast", "--n", "10", "--trace-out", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "no-such-folder" in err and "Traceback" not in err


def test_info_json_lists_versions_backends_and_algorithms(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {"mpcsim", "python", "numpy", "msgpack", "ray", "cpus", "backends",
            "algorithms"} <= set(info)
    assert info["backends"]["local"] is True
    assert info["backends"]["ray"] is (info["ray"] is not None)
    assert set(info["algorithms"]) == set(ALGORITHMS)


def test_info_prints_a_plain_table_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "numpy" in out and "backends" in out and "local" in out
    assert all(name in out for name in ALGORITHMS)
    assert "│" not in out  # no rich box drawing when stdout is not a terminal


def test_help_lists_the_commands_and_algorithms(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in cli.COMMANDS:
        assert command.name in out and command.help.split()[0] in out
    assert all(name in out for name in ALGORITHMS)


def test_progress_shows_round_and_elapsed_only_for_long_runs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    progress = console.Progress(bound=9)
    record = RoundRecord(round_idx=2, wall_s=0.1, compute_s=0.1, exchange_s=0.0, barrier_s=0.0,
                         machines_run=1, messages=0, words=0, max_memory_words=0,
                         max_sent_words=0, max_received_words=0)
    progress(record, 0.1)
    assert err.getvalue() == ""  # the first half second stays quiet
    progress(record, 1.5)
    progress.close()
    assert "round 3 (bound 9), 1.5 s elapsed" in err.getvalue()


def test_main_stops_a_ray_the_backend_started(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    fake = types.ModuleType("mpcsim.backends.ray_actors")
    fake.shutdown = lambda: calls.append("shutdown")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mpcsim.backends.ray_actors", fake)
    assert cli.main(["run", "broadcast", "--n", "10", "--json"]) == 0
    assert cli.main(["run", "broadcast", "--n", "10", "--memory-words", "1"]) == 2
    assert calls == ["shutdown", "shutdown"]
    capsys.readouterr()


def test_the_module_runs_as_a_program_with_the_same_exit_codes() -> None:
    ok = subprocess.run([sys.executable, "-m", "mpcsim.cli", "run", "all-reduce", "--n",
                         "1000", "--json"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["verified"] is True
    bad = subprocess.run([sys.executable, "-m", "mpcsim.cli", "run", "prefix-sum", "--n",
                          "1000", "--machines", "1", "--memory-words", "16"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert "error:" in bad.stderr and "Traceback" not in bad.stderr


# -- surviving a lost machine: --fault, --checkpoint-every, --checkpoint-dir, --resume -------------

ALL_REDUCE = ["all-reduce", "--n", "4000", "--memory-words", "20", "--workers", "2"]
SAME_RUN_KEYS = ("rounds", "total_words_sent", "total_messages", "max_memory_words",
                 "max_sent_words", "max_received_words", "verified")


def test_a_fault_on_local_recovers_and_the_json_lists_the_recovery(
        capsys: pytest.CaptureFixture[str]) -> None:
    _, reference = run_json(capsys, *ALL_REDUCE)
    code, report = run_json(capsys, *ALL_REDUCE, "--fault", "1:3", "--fault", "0:4:deliver",
                            "--checkpoint-every", "2", "--max-recoveries", "2")
    assert code == 0 and report["checkpoint_every"] == 2
    assert [(r["host"], r["round_idx"], r["from_round"]) for r in report["recoveries"]] == [
        (1, 3, 1), (0, 4, 3)]
    assert {k: report[k] for k in SAME_RUN_KEYS} == {k: reference[k] for k in SAME_RUN_KEYS}
    assert reference["recoveries"] == [] and reference["checkpoint_every"] == 0


def test_the_summary_says_hosts_were_lost_and_recovered(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", *ALL_REDUCE, "--fault", "1:2"]) == 0
    out = capsys.readouterr().out
    assert "recoveries" in out and "recovery: host 1 lost on local in round 2" in out


def test_one_lost_host_over_max_recoveries_exits_2_naming_the_host(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", *ALL_REDUCE, "--fault", "1:2", "--max-recoveries", "0"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "host 1" in err and "max_recoveries=0" in err


def test_resume_continues_a_killed_run_with_the_same_rounds_and_words(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    _, reference = run_json(capsys, *ALL_REDUCE)
    real_run = cli.run

    def killed_after_round_2(*args: object, **kwargs: object) -> object:
        def progress(record: RoundRecord, elapsed_s: float) -> None:
            if record.round_idx == 2:
                raise KeyboardInterrupt  # the driver stopped after its checkpoint of round 2
        return real_run(*args, **{**kwargs, "progress": progress})

    with monkeypatch.context() as patch:
        patch.setattr(cli, "run", killed_after_round_2)
        assert cli.main(["run", *ALL_REDUCE, "--checkpoint-every", "1",
                         "--checkpoint-dir", str(tmp_path)]) == 130
    capsys.readouterr()
    code, report = run_json(capsys, *ALL_REDUCE, "--checkpoint-every", "1",
                            "--resume", str(tmp_path))
    assert code == 0 and report["resumed_from"] == str(tmp_path)
    assert {k: report[k] for k in SAME_RUN_KEYS} == {k: reference[k] for k in SAME_RUN_KEYS}


@pytest.mark.parametrize("argv, message", [
    (["--resume", "{tmp}"], "holds no checkpoint"),
    (["--checkpoint-dir", "{tmp}", "--checkpoint-every", "0"], "checkpoint_every must be >= 1"),
    (["--fault", "5:1"], "host must be < 2"),
])
def test_a_bad_recovery_setting_exits_2_with_its_message(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str],
        message: str) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert cli.main(["run", *ALL_REDUCE, *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("fault", ["1", "1:x", "1:-2", "1:2:compile", "1:2:3:4"])
def test_a_malformed_fault_is_a_usage_error(capsys: pytest.CaptureFixture[str],
                                            fault: str) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "broadcast", "--fault", fault])
    assert info.value.code == 2
    assert f"argument --fault: '{fault}'" in capsys.readouterr().err


def test_fault_argument_parses_host_round_and_phase() -> None:
    from mpcsim import Fault

    assert console.fault_argument("1:5") == Fault(1, 5, "compute")
    assert console.fault_argument("0:2:deliver") == Fault(0, 2, "deliver")
