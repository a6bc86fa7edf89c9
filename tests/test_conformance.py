"""Every case of tests/cases.py through every executor: the expected output and rounds, and a
transcript identical to the reference (the local backend, one host, the same seed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import mpcsim
from cases import CASES, COLUMNAR_TWINS, SEED, Case, assert_same, run_case, transcript

# Worker counts per backend: "wide" spreads machines over several hosts, so messages are routed
# between hosts (in-process for local, actor to actor for Ray).
WORKERS = {"local": {"narrow": 1, "wide": 3}, "ray": {"narrow": 2, "wide": 3}}

_reference_transcripts: dict[str, dict[str, Any]] = {}


def reference_transcript(case: Case) -> dict[str, Any]:
    if case.name not in _reference_transcripts:
        result = run_case(case, backend="local", num_workers=1, seed=SEED)
        _reference_transcripts[case.name] = transcript(result)
    return _reference_transcripts[case.name]


@pytest.fixture(params=["narrow", "wide"])
def num_workers(request: pytest.FixtureRequest, backend: str) -> int:
    return WORKERS[backend][request.param]


def _param(case: Case) -> Any:
    marks = [pytest.mark.xfail(reason=case.known_bug, strict=True)] if case.known_bug else []
    return pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_case_gives_expected_output_rounds_and_reference_transcript(
        case: Case, backend: str, num_workers: int) -> None:
    result = run_case(case, backend=backend, num_workers=num_workers, seed=SEED)

    assert_same(result.output, case.reference(case.inputs(), SEED))
    assert result.rounds == case.rounds
    assert transcript(result) == reference_transcript(case)


def test_case_names_are_unique() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))


_BY_NAME = {case.name: case for case in CASES}


@pytest.mark.parametrize("singles, columns", COLUMNAR_TWINS,
                         ids=[columns for _, columns in COLUMNAR_TWINS])
def test_columnar_twin_gives_the_same_output_and_transcript_as_single_sends(
        singles: str, columns: str, backend: str, num_workers: int) -> None:
    one_by_one = run_case(_BY_NAME[singles], backend=backend, num_workers=num_workers, seed=SEED)

    batched = run_case(_BY_NAME[columns], backend=backend, num_workers=num_workers, seed=SEED)

    assert_same(batched.output, one_by_one.output)
    assert transcript(batched) == transcript(one_by_one)


@pytest.mark.parametrize("case", [_param(c) for c in CASES if hasattr(c.program(), "round_many")])
def test_fleet_program_keeps_machines_apart(case: Case, backend: str) -> None:
    """vectorize=False runs round_many on fleets of one machine: a kernel that never mixes
    machines' data gives the reference output and transcript that way too."""
    result = run_case(case, backend=backend, num_workers=2, seed=SEED, vectorize=False)

    assert_same(result.output, case.reference(case.inputs(), SEED))
    assert transcript(result) == reference_transcript(case)


# -- failing rounds: the lowest (round, machine) is raised, whatever the seed, backend, layout ----

class Opaque:
    """A value mpcsim can neither count nor encode."""


FAILURES = {  # how a failing machine fails in its round
    "unknown destination": lambda m: m.send(m.num_machines + m.id, 1),
    "send_many unknown destination": lambda m: m.send_many(np.array([-1 - m.id]), np.ones(1)),
    "int beyond 64 bits": lambda m: m.send(0, [m.id, 2**70]),
    "uncountable payload": lambda m: m.send(0, {"k": Opaque()}),
    "uncountable memory": lambda m: m.memory.update(x=[Opaque()]),
    "uncountable output": lambda m: setattr(m, "output", {"o": [Opaque()]}),
    "user code raised": lambda m: {}[m.id],
}
ERROR_OF = {"unknown destination": mpcsim.UnknownDestination,
            "send_many unknown destination": mpcsim.UnknownDestination,
            "user code raised": mpcsim.ProgramError}


@dataclass(frozen=True)
class FailFrom:
    """Round 1: the machines in `failing` fail as `how` says (several kinds: by id in turn);
    the others send and keep valid values."""

    failing: tuple[int, ...]
    how: tuple[str, ...]

    def __call__(self, machine: mpcsim.Machine) -> None:
        if machine.round_idx == 1 and machine.id in self.failing:
            FAILURES[self.how[machine.id % len(self.how)]](machine)
        elif machine.round_idx == 1:
            machine.send((machine.id + 1) % machine.num_machines, [machine.id, 2**40])
        machine.halt() if machine.round_idx >= 1 else None


MIXED = [("user code raised", "int beyond 64 bits"), ("int beyond 64 bits", "uncountable memory"),
         ("uncountable payload", "int beyond 64 bits")]
# Every kind and mix on local, 1 and 3 hosts, 3 seeds; the mixes on Ray (a failed Ray run
# replaces its actors: seconds each), where hosts fail in other processes.
FAILING_RUNS = [pytest.param(how, "local", workers, seed,
                             id=f"{' + '.join(how)}-local-{workers}-seed{seed}")
                for how in [(kind,) for kind in FAILURES] + MIXED
                + [("send_many unknown destination", "int beyond 64 bits")]
                for workers in (1, 3) for seed in (0, 1, 7)] + [
    pytest.param(how, "ray", 3, 1, id=f"{' + '.join(how)}-ray-3-seed1", marks=pytest.mark.ray)
    for how in MIXED]


@pytest.mark.parametrize("how, backend, num_workers, seed", FAILING_RUNS)
def test_the_lowest_failing_machine_is_named_whatever_the_seed_and_backend(
        how: tuple[str, ...], backend: str, num_workers: int, seed: int,
        request: pytest.FixtureRequest) -> None:
    if backend == "ray":
        request.getfixturevalue("ray_session")
    failing = (11, 3, 5, 12)
    with pytest.raises(mpcsim.MPCError) as info:
        mpcsim.run(FailFrom(failing, how), num_machines=13, memory_words=64, backend=backend,
                   num_workers=num_workers, seed=seed)

    lowest = min(failing)
    assert (info.value.round_idx, info.value.machine) == (1, lowest)  # type: ignore[attr-defined]
    kind = how[lowest % len(how)]
    assert type(info.value) is ERROR_OF.get(kind, mpcsim.UnsupportedValue)
