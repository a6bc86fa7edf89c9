"""Round replay (mpcsim.recovery) on the local backend, where a Fault drops a host's state:
every conformance case survives losing any host in any round with the failure-free transcript;
the trace records recoveries apart from the rounds; the limits raise HostLost naming the host.
The real kills (SIGKILL of a Ray actor's process) are in tests/backends/test_ray_recovery.py."""

from __future__ import annotations

import pytest

import mpcsim
from cases import CASES, SEED, Case, assert_same, run_case, transcript
from mpcsim import Fault, HostLost

WORKERS = 3
FAILING = [c for c in CASES if not c.known_bug]


@pytest.mark.parametrize("case", FAILING, ids=[c.name for c in FAILING])
def test_losing_any_host_in_any_round_gives_the_failure_free_transcript(case: Case) -> None:
    reference = run_case(case, num_workers=WORKERS, seed=SEED)
    hosts = min(WORKERS, case.num_machines)
    for every in (1, 2):
        for round_idx in range(case.rounds):
            fault = Fault(round_idx % hosts, round_idx)
            result = run_case(case, num_workers=WORKERS, seed=SEED, checkpoint_every=every,
                              faults=(fault,))
            assert_same(result.output, reference.output)
            assert transcript(result) == transcript(reference), (every, fault)
            (record,) = result.trace.recoveries
            assert (record.host, record.round_idx) == (fault.host, round_idx)
            assert record.from_round == (round_idx // every) * every - 1


RING = next(c for c in CASES if c.name == "random_sends_use_machine_rng")


def test_two_hosts_lost_in_one_round_and_one_host_lost_twice_recover() -> None:
    reference = run_case(RING, num_workers=WORKERS, seed=SEED)
    for faults in ((Fault(0, 2), Fault(2, 2)), (Fault(1, 1), Fault(1, 3, "deliver"))):
        result = run_case(RING, num_workers=WORKERS, seed=SEED, checkpoint_every=2,
                          faults=faults)
        assert transcript(result) == transcript(reference)
        assert [(r.host, r.round_idx) for r in result.trace.recoveries] == [
            (f.host, f.round_idx) for f in faults]


def test_recoveries_appear_in_the_summary_and_chrome_trace_not_as_rounds() -> None:
    result = run_case(RING, num_workers=WORKERS, seed=SEED, checkpoint_every=2,
                      faults=(Fault(1, 3),))
    assert result.rounds == RING.rounds and len(result.trace.rounds) == RING.rounds
    assert "recovery: host 1 lost on local in round 3" in result.trace.summary(file=None)
    slices = [e for e in result.trace.to_chrome_trace()["traceEvents"]
              if e.get("cat") == "recovery"]
    assert len(slices) == 2 and all(e["args"]["host"] == 1 for e in slices)
    assert result.trace.to_dict()["recoveries"][0]["replayed_rounds"] == 2


def test_more_lost_hosts_than_max_recoveries_raises_host_lost_naming_the_host() -> None:
    with pytest.raises(HostLost) as info:
        run_case(RING, num_workers=WORKERS, seed=SEED, max_recoveries=1,
                 faults=(Fault(0, 1), Fault(2, 3)))
    assert (info.value.host, info.value.round_idx) == (2, 3)
    assert "max_recoveries=1" in str(info.value) and isinstance(info.value,
                                                                mpcsim.BackendUnavailable)


def test_a_lost_host_without_checkpoints_raises_host_lost_saying_how_to_turn_them_on() -> None:
    with pytest.raises(HostLost, match="checkpoint_every=0.*pass checkpoint_every=K"):
        run_case(RING, num_workers=WORKERS, seed=SEED, checkpoint_every=0,
                 faults=(Fault(1, 2),))


class Unseeded(mpcsim.Program):
    """Draws from state outside the machine (a class counter): a replay cannot repeat it."""

    draws = [0]

    def round(self, machine: mpcsim.Machine) -> None:
        Unseeded.draws[0] += 1
        if machine.round_idx < 4:
            for _ in range(Unseeded.draws[0] % 3):
                machine.send(0, 1)
        else:
            machine.halt()


def test_a_replay_that_comes_out_different_raises_host_lost() -> None:
    with pytest.raises(HostLost, match="came out different"):
        mpcsim.run(Unseeded(), num_machines=4, memory_words=64, num_workers=2,
                   checkpoint_every=10, faults=(Fault(1, 3),))


def test_faults_outside_the_run_are_reported_with_every_problem() -> None:
    with pytest.raises(mpcsim.ConfigError) as info:
        run_case(RING, num_workers=2, faults=(Fault(5, 1), Fault(0, 1, "later")))
    text = str(info.value)
    assert "phase must be one of deliver, compute" in text


def test_snapshots_default_to_ray_and_to_local_runs_with_faults_only() -> None:
    from mpcsim.config import CHECKPOINT_EVERY

    assert mpcsim.RunConfig(4, 8).snapshot_every == 0  # nothing loses a local host
    assert mpcsim.RunConfig(4, 8, faults=(mpcsim.Fault(0, 1),)).snapshot_every == CHECKPOINT_EVERY
    assert mpcsim.RunConfig(4, 8, backend="ray").snapshot_every == CHECKPOINT_EVERY
    assert mpcsim.RunConfig(4, 8, checkpoint_every=5).snapshot_every == 5
    assert mpcsim.RunConfig(4, 8, backend="ray", checkpoint_every=0).snapshot_every == 0
