"""A host: a contiguous block of logical machines and the pure round logic over them.

`Host.step(round_idx, inbound)` is the whole MPC round for its machines, as a state machine
with no I/O, clocks aside: deliver the previous round's message frames (checking the received
and memory caps), run every active machine once in a seeded shuffled order, count words, and
encode the outgoing messages into one Frame per destination host. It returns a StepReport; the
driver (mpcsim.driver) routes frames between hosts and decides what violations mean. Backends
only carry reports and frames: the local backend calls hosts in-process, the Ray backend holds
one Host per actor.

Cap checks, per machine and round r (s = memory_words):
- sent words in round r <= s, checked after the machine's round;
- memory words after round r's compute (memory values + output) <= s;
- received words of round r <= s and memory + inbox after delivery <= s, checked by the
  receiving host when it delivers, i.e. at the start of step r + 1 (reported as round r).
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import wire
from .config import RunConfig
from .errors import MPCError, ProgramError, UnsupportedValue
from .program import Machine, Program
from .words import UncountableValue, memory_words, words

__all__ = ["Layout", "Host", "StepReport", "HostSummary", "Violation"]


@dataclass(frozen=True)
class Layout:
    """How q machines are split into hosts: equal contiguous blocks of `per_host` ids."""

    num_machines: int
    per_host: int

    @classmethod
    def spread(cls, num_machines: int, num_hosts: int) -> Layout:
        return cls(num_machines, -(-num_machines // max(1, min(num_hosts, num_machines))))

    @property
    def num_hosts(self) -> int:
        return -(-self.num_machines // self.per_host)

    def bounds(self, host: int) -> tuple[int, int]:
        lo = host * self.per_host
        return lo, min(lo + self.per_host, self.num_machines)

    def host_of(self, machine: int) -> int:
        return machine // self.per_host


@dataclass(frozen=True)
class Violation:
    """A cap exceeded: `machine` held/sent/received `words` > `cap` in round `round_idx`."""

    round_idx: int
    machine: int
    limit: str  # "memory", "sent" or "received"
    words: int
    cap: int

    def to_dict(self) -> dict[str, Any]:
        return {"round_idx": self.round_idx, "machine": self.machine, "limit": self.limit,
                "words": self.words, "cap": self.cap}


@dataclass
class StepReport:
    """What one host did in one step: delivery of round r-1, then compute of round r."""

    host: int
    round_idx: int
    # delivery of round r-1's messages
    max_received: int = 0
    max_held: int = 0  # max over receivers of memory + inbox words
    # compute of round r
    ran: int = 0
    active: int = 0  # machines that did not halt
    messages: int = 0
    words_sent: int = 0
    max_sent: int = 0
    max_memory: int = 0  # max over all this host's machines after compute
    violations: list[Violation] = field(default_factory=list)
    outbound: dict[int, Any] = field(default_factory=dict)  # dest host -> Frame (or Ray ref)
    compute_s: float = 0.0
    exchange_s: float = 0.0
    started_at: float = 0.0  # time.time(), for timelines
    error: MPCError | None = None


@dataclass
class HostSummary:
    """Per-machine totals and outputs of one host, collected once at the end of a run."""

    host: int
    lo: int
    outputs: wire.Frame  # encoded list of outputs for machines lo..hi-1
    sent_words: np.ndarray  # per machine, over the run
    received_words: np.ndarray
    peak_memory_words: np.ndarray
    rounds_active: np.ndarray
    node: str = "local"
    actor: str = ""


class Host:
    def __init__(self, program: Program, config: RunConfig, layout: Layout, host: int,
                 initial: dict[int, dict[str, Any]]) -> None:
        self.program = program
        self.config = config
        self.layout = layout
        self.host = host
        self.lo, self.hi = layout.bounds(host)
        q, s, seed = config.num_machines, config.memory_words, config.seed
        self.machines = [Machine(i, q, s, seed, initial.get(i)) for i in range(self.lo, self.hi)]
        n = len(self.machines)
        self.held = [memory_words(m.memory) if m.memory else 0 for m in self.machines]
        self.sent_total = [0] * n
        self.received_total = [0] * n
        self.peak_memory = list(self.held)
        self.rounds_active = [0] * n
        self._order_rng = np.random.default_rng([seed, host, 0x5EED])

    # -- the round ----------------------------------------------------------------------------

    def step(self, round_idx: int, inbound: list[wire.Frame]) -> StepReport:
        report = StepReport(self.host, round_idx, started_at=time.time())
        t0 = time.perf_counter()
        if inbound:
            self._deliver(round_idx - 1, inbound, report)
        t1 = time.perf_counter()
        if not (report.violations and self.config.enforce):
            runnable = [m for m in self.machines if not m._halted or m.inbox]
            report.error = self._compute(round_idx, runnable)
            t2 = time.perf_counter()
            if report.error is None:
                try:
                    self._account(round_idx, runnable, report)
                except MPCError as exc:
                    report.error = exc
            t3 = time.perf_counter()
            report.compute_s = t2 - t1
            report.exchange_s = (t1 - t0) + (t3 - t2)
        return report

    def _deliver(self, sent_round: int, inbound: list[wire.Frame], report: StepReport) -> None:
        lo, machines = self.lo, self.machines
        received: dict[int, int] = {}
        for frame in inbound:
            dests, sources, costs, payloads = wire.decode(frame)
            for dest, source, cost, payload in zip(dests, sources, costs, payloads):
                machines[dest - lo].inbox.append((source, payload))
                received[dest] = received.get(dest, 0) + cost
        cap = self.config.memory_words
        for dest, got in received.items():
            j = dest - lo
            held = self.held[j] + got
            self.received_total[j] += got
            if held > self.peak_memory[j]:
                self.peak_memory[j] = held
            if got > report.max_received:
                report.max_received = got
            if held > report.max_held:
                report.max_held = held
            if got > cap:
                report.violations.append(Violation(sent_round, dest, "received", got, cap))
            if held > cap:
                report.violations.append(Violation(sent_round, dest, "memory", held, cap))

    def _compute(self, round_idx: int, runnable: list[Machine]) -> MPCError | None:
        run = self.program.round
        current = None
        try:
            for i in self._order_rng.permutation(len(runnable)).tolist():
                current = runnable[i]
                current.round_idx = round_idx
                current._halted = False
                run(current)
        except MPCError as exc:
            return exc
        except Exception as exc:  # user code: re-raised by the driver as ProgramError
            assert current is not None
            return ProgramError(
                machine=current.id, round_idx=round_idx, original_type=type(exc).__name__,
                original_message=str(exc), traceback=traceback.format_exc(),
            )
        return None

    def _account(self, round_idx: int, runnable: list[Machine], report: StepReport) -> None:
        """Count words of every machine that ran, check caps, encode outgoing frames."""
        cap, lo = self.config.memory_words, self.lo
        layout = self.layout
        single = layout.num_hosts == 1
        buckets: dict[int, tuple[list[int], list[int], list[int], list[Any]]] = {}
        for m in runnable:
            j = m.id - lo
            if m.inbox:
                m.inbox = []
            try:
                held = memory_words(m.memory) if m.memory else 0
                if m.output is not None:
                    held += words(m.output)
            except UncountableValue as exc:
                where = exc.path or "machine.output"
                raise UnsupportedValue(machine=m.id, round_idx=round_idx, where=where,
                                       type_name=exc.type_name) from None
            self.held[j] = held
            self.rounds_active[j] += 1
            if held > self.peak_memory[j]:
                self.peak_memory[j] = held
            if held > cap:
                report.violations.append(Violation(round_idx, m.id, "memory", held, cap))
            if not m._halted:
                report.active += 1
            if m._outbox:
                sent = m._sent_words
                self.sent_total[j] += sent
                report.messages += len(m._outbox)
                report.words_sent += sent
                if sent > report.max_sent:
                    report.max_sent = sent
                if sent > cap:
                    report.violations.append(Violation(round_idx, m.id, "sent", sent, cap))
                for dest, payload, cost in m._outbox:
                    h = 0 if single else dest // layout.per_host
                    bucket = buckets.get(h)
                    if bucket is None:
                        bucket = buckets[h] = ([], [], [], [])
                    bucket[0].append(dest)
                    bucket[1].append(m.id)
                    bucket[2].append(cost)
                    bucket[3].append(payload)
                m._outbox = []
                m._sent_words = 0
        report.ran = len(runnable)
        report.max_memory = max(self.held) if self.held else 0
        for h, bucket in buckets.items():
            report.outbound[h] = self._encode(round_idx, bucket)

    def _encode(self, round_idx: int, bucket: tuple[list[int], list[int], list[int], list[Any]]
                ) -> wire.Frame:
        try:
            return wire.encode(list(bucket))
        except (TypeError, ValueError, OverflowError):
            for dest, source, payload in zip(bucket[0], bucket[1], bucket[3]):
                found = wire.find_unencodable(payload)
                if found:
                    path, type_name = found
                    raise UnsupportedValue(
                        machine=source, round_idx=round_idx,
                        where=f"the message to machine {dest} ({path})", type_name=type_name,
                    ) from None
            raise

    # -- the end ------------------------------------------------------------------------------

    def summary(self) -> HostSummary:
        return HostSummary(
            host=self.host, lo=self.lo,
            outputs=wire.encode([m.output for m in self.machines]),
            sent_words=np.asarray(self.sent_total, dtype=np.int64),
            received_words=np.asarray(self.received_total, dtype=np.int64),
            peak_memory_words=np.asarray(self.peak_memory, dtype=np.int64),
            rounds_active=np.asarray(self.rounds_active, dtype=np.int64),
        )
