"""Resume from a checkpoint directory (mpcsim.checkpoint_dir): a run whose driver dies after a
checkpoint, resumed with the same program and inputs, gives the uninterrupted run's output and
transcript; a directory of another run, an empty or a corrupt one is refused with ConfigError;
files are written atomically and only the latest KEEP are kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mpcsim
from cases import CASES, SEED, Case, assert_same, run_case, transcript
from mpcsim import ConfigError, Fault
from mpcsim.checkpoint_dir import KEEP, fingerprint

WORKERS = 3
RESUMABLE = [c for c in CASES if not c.known_bug]
RING = next(c for c in CASES if c.name == "random_sends_use_machine_rng")
PING_PONG = next(c for c in CASES if c.name == "ping_pong")


class DriverDied(Exception):
    """Stands for the driver's process dying: raised from the progress callback."""


def die_after(round_idx: int) -> Any:
    def progress(record: mpcsim.RoundRecord, elapsed_s: float) -> None:
        if record.round_idx == round_idx:
            raise DriverDied
    return progress


def interrupted(case: Case, directory: Path, round_idx: int, **kwargs: Any) -> None:
    with pytest.raises(DriverDied):
        run_case(case, num_workers=WORKERS, seed=SEED, checkpoint_dir=directory,
                 progress=die_after(round_idx), **kwargs)


@pytest.mark.parametrize("case", RESUMABLE, ids=[c.name for c in RESUMABLE])
def test_resume_after_any_round_gives_the_uninterrupted_transcript(case: Case,
                                                                   tmp_path: Path) -> None:
    reference = run_case(case, num_workers=WORKERS, seed=SEED)
    for round_idx in range(case.rounds):  # checkpoint_every=1: one after every round
        directory = tmp_path / f"after-{round_idx}"
        interrupted(case, directory, round_idx, checkpoint_every=1)
        result = run_case(case, seed=SEED, resume=directory, checkpoint_every=1)
        assert_same(result.output, reference.output)
        assert transcript(result) == transcript(reference), round_idx
        assert result.workers == reference.workers  # the saved layout (num_workers not given)


def test_resume_continues_from_the_latest_checkpoint_and_writes_on(tmp_path: Path) -> None:
    reference = run_case(PING_PONG, num_workers=WORKERS, seed=SEED)
    interrupted(PING_PONG, tmp_path, 4, checkpoint_every=2)  # checkpoints after rounds 1, 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "round-000000001.ckpt", "round-000000003.ckpt"]
    result = run_case(PING_PONG, seed=SEED, resume=tmp_path, checkpoint_every=2)
    assert transcript(result) == transcript(reference)
    assert sorted(p.name for p in tmp_path.iterdir()) == [  # round 5 written, round 1 pruned
        "round-000000003.ckpt", "round-000000005.ckpt"][-KEEP:]


def test_resume_after_a_recovery_keeps_its_record_and_the_transcript(tmp_path: Path) -> None:
    reference = run_case(RING, num_workers=WORKERS, seed=SEED)
    interrupted(RING, tmp_path, 2, checkpoint_every=1, faults=(Fault(1, 1),))
    result = run_case(RING, seed=SEED, resume=tmp_path, checkpoint_every=1)
    assert transcript(result) == transcript(reference)
    assert [(r.host, r.round_idx) for r in result.trace.recoveries] == [(1, 1)]


def test_resume_of_a_run_that_did_not_enforce_keeps_its_violations(tmp_path: Path) -> None:
    def over_cap(machine: mpcsim.Machine) -> None:
        if machine.round_idx < 3:
            machine.send((machine.id + 1) % 4, list(range(5)))
        else:
            machine.halt()

    def run(**kwargs: Any) -> mpcsim.Result:
        return mpcsim.run(over_cap, num_machines=4, memory_words=4, num_workers=2,
                          enforce=False, checkpoint_every=1, **kwargs)

    reference = run()
    with pytest.raises(DriverDied):
        run(checkpoint_dir=tmp_path, progress=die_after(1))
    result = run(resume=tmp_path)
    assert transcript(result) == transcript(reference)
    assert result.trace.violations == reference.trace.violations != []


def test_a_directory_with_another_runs_checkpoints_is_refused_naming_each_difference(
        tmp_path: Path) -> None:
    interrupted(RING, tmp_path, 2, checkpoint_every=1)
    with pytest.raises(ConfigError) as info:
        mpcsim.run(RING.program(), [9, 9, 9], num_machines=RING.num_machines,
                   memory_words=RING.memory_words + 1, seed=SEED + 1, resume=tmp_path)
    message = str(info.value)
    for key in ("memory_words", "seed", "input_fingerprint"):
        assert f"was written by a run with {key}=" in message
    assert "num_machines" not in message
    with pytest.raises(ConfigError, match="program='"):
        mpcsim.run(PING_PONG.program(), RING.inputs(), num_machines=RING.num_machines,
                   memory_words=RING.memory_words, seed=SEED, resume=tmp_path)
    with pytest.raises(ConfigError, match="num_workers=3, this run has num_workers=2"):
        run_case(RING, seed=SEED, num_workers=2, resume=tmp_path)


def test_an_empty_missing_or_corrupt_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="holds no checkpoint"):
        run_case(RING, seed=SEED, resume=tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        run_case(RING, seed=SEED, resume=tmp_path / "missing")
    interrupted(RING, tmp_path, 2, checkpoint_every=1)
    latest = max(tmp_path.iterdir())
    data = bytearray(latest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    latest.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match=r"checksum mismatch.*delete it to resume from "
                                          r"round-000000001\.ckpt"):
        run_case(RING, seed=SEED, resume=tmp_path)
    latest.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="no mpcsim checkpoint header"):
        run_case(RING, seed=SEED, resume=tmp_path)


def test_a_new_run_refuses_a_directory_that_holds_checkpoints(tmp_path: Path) -> None:
    interrupted(RING, tmp_path, 2, checkpoint_every=1)
    with pytest.raises(ConfigError, match="already holds checkpoints.*pass resume="):
        run_case(RING, seed=SEED, checkpoint_dir=tmp_path)


def test_checkpoint_dir_needs_checkpoints_and_turns_them_on_locally(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="checkpoint_every must be >= 1 or None"):
        run_case(RING, seed=SEED, checkpoint_dir=tmp_path, checkpoint_every=0)
    config = mpcsim.RunConfig(num_machines=4, memory_words=4, checkpoint_dir=str(tmp_path))
    assert config.snapshot_every == mpcsim.config.CHECKPOINT_EVERY


def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    run_case(RING, num_workers=WORKERS, seed=SEED, checkpoint_dir=tmp_path, checkpoint_every=1)
    assert all(p.name.startswith("round-") for p in tmp_path.iterdir())
    assert len(list(tmp_path.iterdir())) == KEEP


def test_fingerprints_ignore_set_and_dict_order_and_see_contents() -> None:
    a = {"x": {3, 1, 2}, "y": np.arange(4), "z": (1, "a")}
    b = {"z": (1, "a"), "y": np.arange(4), "x": {2, 3, 1}}
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint({**a, "y": np.arange(4) + 1})
    assert fingerprint(np.arange(4, dtype=np.int32)) != fingerprint(np.arange(4))
    assert fingerprint(2**70) != fingerprint(2**70 + 1)
