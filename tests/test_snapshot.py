"""Host snapshots (mpcsim.snapshot) driven on Hosts directly: frames in, reports out.

A host restored from a snapshot into a fresh Host and stepped with the same inbound frames
gives the same frames, reports and totals as the host that never stopped; deliver + compute
is step; the exact codec keeps every memory type; what cannot be saved says where.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cases import CASES, SEED, Case
from mpcsim import FunctionProgram, Machine, Program, RunConfig, UnsupportedValue
from mpcsim.host import Host, Layout, StepReport
from mpcsim.snapshot import ACCOUNTING, decode_exact, encode_exact

HOSTS = 2


def as_program(program: Any) -> Program:
    return program if isinstance(program, Program) else FunctionProgram(program)


def make_hosts(program: Program, inputs: Any, q: int, s: int,
               num_hosts: int = HOSTS) -> list[Host]:
    config = RunConfig(num_machines=q, memory_words=s, seed=SEED)
    layout = Layout.spread(q, num_hosts)
    initial = program.partition(inputs, q, s)
    return [Host(program, config, layout, h, dict(initial)) for h in range(layout.num_hosts)]


def fresh_twin(host: Host) -> Host:
    return Host(host.program, host.config, host.layout, host.host, {})


def route(reports: list[StepReport], num_hosts: int) -> list[list[Any]]:
    inbound: list[list[Any]] = [[] for _ in range(num_hosts)]
    for report in reports:
        for dest, frame in report.outbound.items():
            inbound[dest].append(frame.detached())
    return inbound


def assert_between_rounds(hosts: list[Host]) -> None:
    """The invariants of hosts between two steps: no inbox, no outbox, words conserved."""
    for host in hosts:
        assert all(m._in is None and m._out is None for m in host.machines)
        assert not host._run.senders and not host._run.fleet_out
        assert (host.peak_memory >= host.held).all()
    assert sum(int(h.sent_total.sum()) for h in hosts) >= sum(
        int(h.received_total.sum()) for h in hosts)  # sent words are received one step later


def frames_of(reports: list[StepReport]) -> list[dict[int, Any]]:
    return [{d: (f.header, [bytes(b) for b in f.buffers]) for d, f in r.outbound.items()}
            for r in reports]


def counters(report: StepReport) -> tuple[Any, ...]:
    return (report.ran, report.active, report.messages, report.words_sent, report.max_sent,
            report.max_memory, report.max_received, report.max_held, report.violations)


def comparable(outputs: list[Any]) -> list[Any]:
    """Outputs (plain numbers and numeric arrays, as summary gives them in process) as values
    that == compares: an array as its dtype, shape and bytes."""
    return [(o.dtype.str, o.shape, o.tobytes()) if isinstance(o, np.ndarray) else o
            for o in outputs]


def run_hosts(hosts: list[Host], restore_after: int | None = None, max_rounds: int = 50
              ) -> list[Any]:
    """Step `hosts` to the end; after step `restore_after`, swap every host for a fresh one
    restored from its snapshot. Returns per round (frames, counters) and the summaries."""
    transcript = []
    inbound: list[list[Any]] = [[] for _ in hosts]
    for round_idx in range(max_rounds):
        reports = [h.step(round_idx, frames) for h, frames in zip(hosts, inbound)]
        assert all(r.error is None for r in reports)
        assert_between_rounds(hosts)
        transcript.append((frames_of(reports), [counters(r) for r in reports]))
        if round_idx == restore_after:
            snapshots = [h.snapshot(round_idx).detached() for h in hosts]
            hosts = [fresh_twin(h) for h in hosts]
            assert [h.restore(s) for h, s in zip(hosts, snapshots)] == [round_idx] * len(hosts)
        inbound = [[f for f in frames] for frames in route(reports, len(hosts))]
        if sum(r.active for r in reports) == 0 and not any(r.outbound for r in reports):
            break
    summaries = [h.summary(in_process=True) for h in hosts]
    transcript.append([(comparable(s.outputs) if isinstance(s.outputs, list) else s.outputs.header,
                        s.sent_words.tolist(), s.received_words.tolist(),
                        s.peak_memory_words.tolist(), s.rounds_active.tolist())
                       for s in summaries])
    return transcript


RESTORABLE = [c for c in CASES if not c.known_bug]


@pytest.mark.parametrize("case", RESTORABLE, ids=[c.name for c in RESTORABLE])
def test_a_host_restored_after_any_round_gives_the_same_frames_reports_and_totals(
        case: Case) -> None:
    def hosts() -> list[Host]:
        return make_hosts(as_program(case.program()), case.inputs(), case.num_machines,
                          case.memory_words)

    reference = run_hosts(hosts())
    for restore_after in range(case.rounds):
        assert run_hosts(hosts(), restore_after=restore_after) == reference, restore_after


class ExactTypes(Program):
    """Keeps one value of each kind the exact codec must give back unchanged, and checks the
    types every round; draws from machine.rng so restored rng state matters."""

    ROUNDS = 6

    def round(self, machine: Machine) -> None:
        memory = machine.memory
        if machine.round_idx == 0:
            memory.update(pair=(1, (2, "x")), seen={3}, frozen=frozenset({4}),
                          half=np.float32(0.5), small=np.int8(-3), big=2**70,
                          raw=b"ab", arr=np.zeros(3, dtype=np.int16),
                          keyed={(1, 2): [None, True, 1.5, "s", b"b"]}, total=0)
        assert type(memory["pair"]) is tuple and type(memory["pair"][1]) is tuple
        assert type(memory["seen"]) is set and type(memory["frozen"]) is frozenset
        assert type(memory["half"]) is np.float32 and type(memory["small"]) is np.int8
        assert memory["big"] == 2**70 and type(memory["raw"]) is bytes
        assert memory["arr"].dtype == np.int16 and memory["arr"].flags.writeable
        assert list(memory["keyed"]) == [(1, 2)]
        for _, payload in machine.inbox:
            memory["total"] += int(np.sum(payload))
            memory["arr"][0] += 1
            memory["seen"].add(len(memory["seen"]))
        if machine.round_idx < self.ROUNDS:
            dest = int(machine.rng.integers(machine.num_machines))
            machine.send(dest, np.arange(2) + machine.round_idx)
            if machine.id % 2:
                machine.send_many(np.array([dest, 0]), np.array([1.5, float(machine.id)]))
        else:
            machine.output = (memory["total"], int(memory["arr"][0]))
            machine.halt()


def test_restored_memory_keeps_exact_types_and_rng_streams() -> None:
    def hosts() -> list[Host]:
        return make_hosts(ExactTypes(), None, 6, 64, num_hosts=3)

    reference = run_hosts(hosts())
    for restore_after in range(ExactTypes.ROUNDS + 1):
        assert run_hosts(hosts(), restore_after=restore_after) == reference


def test_deliver_then_compute_is_step() -> None:
    case = next(c for c in CASES if c.name == "random_sends_fleet")
    stepped = make_hosts(as_program(case.program()), case.inputs(), case.num_machines,
                         case.memory_words)
    split = make_hosts(as_program(case.program()), case.inputs(), case.num_machines,
                       case.memory_words)
    inbound_a: list[list[Any]] = [[] for _ in stepped]
    inbound_b: list[list[Any]] = [[] for _ in split]
    for round_idx in range(case.rounds):
        reports = [h.step(round_idx, f) for h, f in zip(stepped, inbound_a)]
        deliveries = [h.deliver(round_idx, f) for h, f in zip(split, inbound_b)]
        computed = [h.compute(round_idx) for h in split]
        for report, delivery, computation in zip(reports, deliveries, computed):
            assert (delivery.max_received, delivery.max_held) == (report.max_received,
                                                                  report.max_held)
            assert (computation.ran, computation.active, computation.words_sent,
                    computation.messages) == (report.ran, report.active, report.words_sent,
                                              report.messages)
            assert {d: f.header for d, f in computation.outbound.items()} == {
                d: f.header for d, f in report.outbound.items()}
        with pytest.raises(TypeError):
            computed[0].outbound[0] = None  # type: ignore[index]
        inbound_a = route(reports, len(stepped))
        inbound_b = [[f.detached() for c in computed for d, f in c.outbound.items() if d == h]
                     for h in range(len(split))]


def test_exact_codec_round_trips_every_memory_kind() -> None:
    value = {"t": (1, (2,)), "s": {1, 2}, "f": frozenset({"a"}), "i64": np.int64(-5),
             "c": np.complex64(1 + 2j), "big": -(2**80),
             "arr": np.arange(6, dtype=np.uint32).reshape(2, 3), "b": b"x", "n": None,
             (1, "k"): [1.0, True]}
    back = decode_exact(encode_exact(value).detached())
    assert back.keys() == value.keys()
    for key in value:
        assert type(back[key]) is type(value[key])
    assert (back["arr"] == value["arr"]).all() and back["arr"].dtype == np.uint32
    assert back["i64"] == -5 and back["c"] == np.complex64(1 + 2j)
    assert back["t"] == (1, (2,)) and back["big"] == -(2**80)


class Unsaveable(Program):
    def round(self, machine: Machine) -> None:
        if machine.id == 3:
            machine.memory["log"] = [1, {"handle": object()}]
        machine.halt()


def test_snapshot_of_unencodable_memory_raises_with_machine_and_where() -> None:
    (host,) = make_hosts(Unsaveable(), None, 5, 8, num_hosts=1)
    host.step(0, [])
    with pytest.raises(UnsupportedValue) as info:
        host.snapshot(0)
    assert info.value.machine == 3 and info.value.round_idx == 0
    assert "memory['log'][1]['handle']" in info.value.where
    assert "checkpoint_every=0" in str(info.value)


def test_restoring_another_hosts_snapshot_raises_naming_both() -> None:
    a, b = make_hosts(ExactTypes(), None, 6, 64)
    a.step(0, [])
    with pytest.raises(ValueError, match="snapshot of host 0 .* given to host 1"):
        b.restore(a.snapshot(0))


def test_snapshot_covers_every_per_machine_array_of_the_host() -> None:
    (host,) = make_hosts(ExactTypes(), None, 6, 64, num_hosts=1)
    host.step(0, [])
    per_machine = {name for name, value in vars(host).items()
                   if isinstance(value, np.ndarray) and value.shape == (6,) and name != "_ids"}
    assert per_machine <= set(ACCOUNTING), per_machine - set(ACCOUNTING)
