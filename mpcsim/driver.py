"""The round loop: drive hosts through synchronous rounds until every machine has halted.

The driver owns the barrier and the run's semantics; it does no computation on messages.
Each round it asks the backend to step every host (delivery of the previous round, then
compute), waits for all reports (the barrier), decides on violations, routes the outbound
frames (or Ray references) to their destination hosts, and records the round. The run ends
after the first round in which every machine halted and no message was sent; it fails with
MaxRoundsExceeded after max_rounds rounds otherwise.

Backends implement the small `Backend` protocol below; see mpcsim.backends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from . import checkpoint_dir, wire
from .config import RunConfig
from .errors import ConfigError, MaxRoundsExceeded, MemoryLimitExceeded, UnsupportedValue
from .host import HostSummary, Layout, StepReport, Violation
from .program import Partition, Program
from .recovery import Recovery
from .trace import HostSpan, RoundRecord, Trace
from .wordcount import UncountableValue, memory_words

__all__ = ["Backend", "Result", "execute", "ProgressFn"]

ProgressFn = Callable[[RoundRecord, float], None]


class Backend(Protocol):
    name: str

    def available_workers(self) -> int: ...

    def start(self, program: Program, config: RunConfig, layout: Layout,
              initial: list[wire.Frame | wire.InProcess], plan: Any = None) -> None:
        """Create one Host per layout host; initial[h] holds {machine id: memory dict}: a
        Frame, or, for a backend whose hosts share this process (`in_process = True`), a
        wire.InProcess copy; `plan` (Partition.plan) goes to every host with the program."""

    def step(self, round_idx: int, inbound: list[list[Any]], compute: bool = True,
             checkpoint: bool = False, hosts: list[int] | None = None) -> list[StepReport]:
        """Every host (or `hosts`) delivers `inbound` (round r-1's frames) and, if `compute`,
        runs round r; `checkpoint` and recovery (HostsLost): mpcsim.recovery."""

    def replace(self, snapshots: dict[int, wire.Frame | None], after_round: int
                ) -> dict[int, str]:
        """Fresh hosts restored from snapshots (mpcsim.recovery.RecoverableBackend)."""

    def finish(self) -> list[HostSummary]: ...

    def close(self) -> None: ...


@dataclass
class Result:
    output: list[Any]  # every machine's output, indexed by machine id (None if unset)
    rounds: int  # rounds executed
    trace: Trace
    wall_s: float  # the rounds' wall time (start-up and collection excluded)
    config: RunConfig
    plan: Any = None  # the run's plan, as the program's partition returned it (Partition)

    @property
    def workers(self) -> int:
        return len(self.trace.hosts)


def execute(program: Program, inputs: Any, config: RunConfig, backend: Backend,
            progress: ProgressFn | None = None) -> Result:
    """Run `program` on `inputs` under `config` through `backend`; see mpcsim.run."""
    initial, plan = _partition(program, inputs, config)
    saved, store, layout = _checkpoints(program, initial, plan, config, backend)
    per_host: list[dict[int, dict[str, Any]]] = [{} for _ in range(layout.num_hosts)]
    for machine, memory in initial.items():
        per_host[layout.host_of(machine)][machine] = memory
    _check_faults(config, layout)
    in_process = getattr(backend, "in_process", False)
    backend.start(program, config, layout,
                  [_encode_initial(memories, in_process) for memories in per_host], plan)
    recovery = Recovery(config, layout)
    try:
        if saved is not None:  # every host restored from the checkpoint's snapshots
            backend.replace(dict(enumerate(saved.snapshots)), saved.round_idx)
            recovery.resume(saved.round_idx, saved.snapshots, saved.outbound, saved.recoveries,
                            saved.hosts_lost)
        records, violations, spans = _rounds(config, layout, backend, progress, recovery,
                                             saved, store)
        summaries = backend.finish()
    finally:
        backend.close()
    result = _result(config, layout, backend.name, records, violations, spans, summaries)
    result.trace.recoveries = recovery.records
    result.plan = plan
    return result


def _checkpoints(program: Program, initial: dict[int, dict[str, Any]], plan: Any,
                 config: RunConfig, backend: Backend
                 ) -> tuple[checkpoint_dir.Checkpoint | None, checkpoint_dir.CheckpointDir | None,
                            Layout]:
    """The checkpoint to resume from (config.resume), where to write checkpoints
    (config.writes_to), and the layout: a resumed run keeps the hosts of the run it resumes
    unless num_workers says otherwise (then the identity check refuses it)."""
    hosts = config.workers_for(backend.available_workers())
    saved = None
    if config.resume is not None:
        saved = checkpoint_dir.load(config.resume)
        saved_hosts = saved.identity.get("num_workers")
        if config.num_workers is None and isinstance(saved_hosts, int):
            hosts = saved_hosts
        checkpoint_dir.check(saved, checkpoint_dir.identity(config, hosts, program, initial,
                                                            plan), config.resume)
    layout = Layout.spread(config.num_machines, hosts)
    if config.writes_to is None:
        return saved, None, layout
    identity = checkpoint_dir.identity(config, layout.num_hosts, program, initial, plan)
    store = checkpoint_dir.CheckpointDir(config.writes_to, identity)
    if saved is None:
        store.claim()
    return saved, store, layout


def _check_faults(config: RunConfig, layout: Layout) -> None:
    problems = [("faults", f, f"host must be < {layout.num_hosts}, the run's hosts")
                for f in config.faults if f.host >= layout.num_hosts]
    if problems:
        raise ConfigError(problems=problems)


def _partition(program: Program, inputs: Any, config: RunConfig
               ) -> tuple[dict[int, dict[str, Any]], Any]:
    """(initial memory per machine, the run's plan) from program.partition, checked."""
    q, s = config.num_machines, config.memory_words
    initial = program.partition(inputs, q, s)
    plan = None
    if isinstance(initial, Partition):
        initial, plan = initial.memory, initial.plan
    if not isinstance(initial, dict):
        raise ConfigError(problems=[("partition", type(initial).__name__, "must return a dict "
                                     "{machine id: memory dict} or an mpcsim.Partition")])
    problems = []
    for machine, memory in sorted(initial.items()):
        if not 0 <= machine < q:
            problems.append(("num_machines", q, f"partition placed input on machine {machine}"))
            continue
        try:
            held = memory_words(memory)
        except UncountableValue as exc:
            raise UnsupportedValue(machine=machine, round_idx=0, where=f"initial {exc.path}",
                                   type_name=exc.type_name) from None
        if held > s:
            problems.append(("memory_words", s, f"machine {machine} starts with {held} words "
                             f"of input; raise memory_words to >= {held}"))
    if problems:
        raise ConfigError(problems=problems)
    return initial, plan


def _encode_initial(memories: dict[int, dict[str, Any]], in_process: bool = False
                    ) -> wire.Frame | wire.InProcess:
    """The hosts' initial memories as a Frame, or an in-process copy (the same values, not
    the caller's arrays): UnsupportedValue naming the machine and the part that fails."""
    try:
        return wire.InProcess(wire.copied(memories)) if in_process else wire.encode(memories)
    except (TypeError, ValueError, OverflowError):
        for machine, memory in sorted(memories.items()):
            found = wire.find_unencodable(memory, "initial memory")
            if found:
                raise UnsupportedValue.found(machine, 0, "", found) from None
        raise


def _rounds(config: RunConfig, layout: Layout, backend: Backend, progress: ProgressFn | None,
            recovery: Recovery, saved: checkpoint_dir.Checkpoint | None = None,
            store: checkpoint_dir.CheckpointDir | None = None
            ) -> tuple[list[RoundRecord], list[Violation], list[HostSpan]]:
    records: list[RoundRecord] = [] if saved is None else saved.records
    violations: list[Violation] = [] if saved is None else saved.violations
    spans: list[HostSpan] = [] if saved is None else saved.spans
    inbound: list[list[Any]] = [[] for _ in range(layout.num_hosts)]
    first = 0
    if saved is not None:  # round k's frames in flight into round k + 1, by source host
        if saved.active == 0 and records[-1].messages == 0:
            return records, violations, spans  # the checkpoint is of the run's last round
        inbound = recovery.inbound(saved.round_idx + 1)
        first = saved.round_idx + 1
    started = time.perf_counter()
    epoch = time.time() - started  # perf_counter() + epoch = time.time(), for timelines
    for round_idx in range(first, config.max_rounds):
        t0 = time.perf_counter()
        reports = recovery.step(backend, round_idx, inbound)
        wall = time.perf_counter() - t0 - recovery.lost_s  # replayed steps are not the round's
        found = sorted((v for r in reports for v in r.violations), key=_violation_order)
        if config.enforce:
            _raise_first(v for v in found if v.round_idx < round_idx)  # round r-1's delivery
        errors = [r.error for r in reports if r.error is not None]
        if errors:  # several hosts failed: the lowest machine's error, whatever the layout
            raise min(errors, key=lambda e: getattr(e, "machine", 0))
        if found and config.enforce:
            # Round r's receive-side caps are checked when it is delivered: deliver it (no
            # compute) so the lowest violation of the round is raised whatever the layout.
            delivered = backend.step(round_idx + 1, _route(reports, layout), compute=False)
            _raise_first(found + [v for r in delivered for v in r.violations])
        violations.extend(found)
        if records:  # this step delivered the previous round's messages: complete its record
            prev = records[-1]
            prev.max_received_words = max(r.max_received for r in reports)
            prev.max_memory_words = max(prev.max_memory_words, max(r.max_held for r in reports))
            prev.violations += sum(v.round_idx == prev.round_idx for v in found)
        record = _record(round_idx, wall, reports)
        record.violations = sum(v.round_idx == round_idx for v in found)
        record.started_at = epoch + t0
        records.append(record)
        spans.extend(HostSpan(round_idx, r.host, r.started_at, r.compute_s, r.exchange_s)
                     for r in reports)
        active = sum(r.active for r in reports)
        if store is not None and recovery.due(round_idx):
            store.write(checkpoint_dir.Checkpoint(
                store.identity, round_idx, records, violations, spans, recovery.records,
                recovery.hosts_lost, active, recovery.snapshots, recovery.log[round_idx]))
        if progress is not None:
            progress(record, time.perf_counter() - started)
        inbound = _route(reports, layout)
        if active == 0 and record.messages == 0:
            return records, violations, spans
    raise MaxRoundsExceeded(max_rounds=config.max_rounds, active_machines=active,
                            messages_in_flight=records[-1].messages)


_LIMIT_ORDER = {"sent": 0, "received": 1, "memory": 2}


def _violation_order(v: Violation) -> tuple[int, int, int]:
    # "received" before "memory": receiving over the cap always also overfills memory
    return v.round_idx, v.machine, _LIMIT_ORDER[v.limit]


def _raise_first(violations: Any) -> None:
    ordered = sorted(violations, key=_violation_order)
    if ordered:
        v = ordered[0]
        raise MemoryLimitExceeded(machine=v.machine, round_idx=v.round_idx, limit=v.limit,
                                  words=v.words, cap=v.cap, output=v.output, inbox=v.inbox)


def _route(reports: list[StepReport], layout: Layout) -> list[list[Any]]:
    """Frames by destination host, in source-host order (so inboxes are sorted by source)."""
    inbound: list[list[Any]] = [[] for _ in range(layout.num_hosts)]
    for report in reports:
        for dest_host, frame in report.outbound.items():
            inbound[dest_host].append(frame)
    return inbound


def _record(round_idx: int, wall: float, reports: list[StepReport]) -> RoundRecord:
    compute = max(r.compute_s for r in reports)
    exchange = max(r.exchange_s for r in reports)
    return RoundRecord(
        round_idx=round_idx, wall_s=wall, compute_s=compute, exchange_s=exchange,
        barrier_s=max(0.0, wall - max(r.compute_s + r.exchange_s for r in reports)),
        machines_run=sum(r.ran for r in reports), messages=sum(r.messages for r in reports),
        words=sum(r.words_sent for r in reports),
        max_memory_words=max(r.max_memory for r in reports),
        max_sent_words=max(r.max_sent for r in reports), max_received_words=0,
    )


def _result(config: RunConfig, layout: Layout, backend: str, records: list[RoundRecord],
            violations: list[Violation], spans: list[HostSpan],
            summaries: list[HostSummary]) -> Result:
    summaries = sorted(summaries, key=lambda s: s.host)
    output: list[Any] = []
    for summary in summaries:
        outputs = summary.outputs
        output.extend(outputs if isinstance(outputs, list) else wire.decode(outputs, writable=True))
    machine_host = np.repeat(np.arange(layout.num_hosts),
                             [hi - lo for lo, hi in map(layout.bounds, range(layout.num_hosts))])
    trace = Trace(
        rounds=records, backend=backend, num_machines=config.num_machines,
        memory_words=config.memory_words,
        sent_words=np.concatenate([s.sent_words for s in summaries]),
        received_words=np.concatenate([s.received_words for s in summaries]),
        peak_memory_words=np.concatenate([s.peak_memory_words for s in summaries]),
        rounds_active=np.concatenate([s.rounds_active for s in summaries]),
        machine_host=machine_host,
        hosts=[{"node": s.node, "actor": s.actor} for s in summaries],
        violations=violations, spans=spans,
    )
    return Result(output=output, rounds=len(records), trace=trace,
                  wall_s=sum(r.wall_s for r in records), config=config)
