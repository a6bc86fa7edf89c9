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
from dataclasses import dataclass, field, fields
from typing import Any, Sequence

import msgpack
import numpy as np

from . import wire
from .config import RunConfig
from .errors import MPCError, ProgramError, UnsupportedValue
from .program import FunctionProgram, Machine, Program
from .wordcount import UncountableValue, memory_words, message_words, words

__all__ = ["Layout", "Host", "StepReport", "HostSummary", "Violation"]


SHUFFLE_BLOCK = 1024
FULL_SHUFFLE_MAX = 8192


def _machine_id(machine: Machine) -> int:
    return machine.id


@dataclass(frozen=True)
class Layout:
    """How q machines are split into W hosts: contiguous, balanced blocks.

    Host h holds ids [floor(h q / W), floor((h + 1) q / W)); block sizes differ by at most 1.
    """

    num_machines: int
    num_hosts: int

    @classmethod
    def spread(cls, num_machines: int, num_hosts: int) -> Layout:
        return cls(num_machines, max(1, min(num_hosts, num_machines)))

    def bounds(self, host: int) -> tuple[int, int]:
        q, w = self.num_machines, self.num_hosts
        return host * q // w, (host + 1) * q // w

    def host_of(self, machine: int) -> int:
        # the largest h with floor(h q / W) <= m, i.e. h q < (m + 1) W
        return ((machine + 1) * self.num_hosts - 1) // self.num_machines


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

    def pack(self) -> Any:
        """The report for shipping between processes: msgpack bytes of the counters, plus
        (only when present) the outbound frames and the error, which Ray carries itself.
        A bare bytes reply costs Ray no more than returning None; a dataclass costs ~20%
        of an empty round."""
        counters = msgpack.packb(
            [getattr(self, name) for name in _COUNTER_FIELDS]
            + [[(v.round_idx, v.machine, v.limit, v.words, v.cap) for v in self.violations]]
        )
        if self.outbound or self.error is not None:
            return counters, self.outbound, self.error
        return counters

    @classmethod
    def unpack(cls, packed: Any) -> StepReport:
        counters, outbound, error = (packed, {}, None) if isinstance(packed, bytes) else packed
        *values, violations = msgpack.unpackb(counters)
        report = cls(**dict(zip(_COUNTER_FIELDS, values)), outbound=outbound, error=error)
        report.violations = [Violation(*v) for v in violations]
        return report


_COUNTER_FIELDS = tuple(f.name for f in fields(StepReport)
                        if f.name not in ("violations", "outbound", "error"))


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
    """Machines lo..hi-1 of a run (layout.bounds(host)) and their per-machine accounting."""

    def __init__(self, program: Program, config: RunConfig, layout: Layout, host: int,
                 initial: dict[int, dict[str, Any]]) -> None:
        self.program = program
        self.config = config
        self.layout = layout
        self.host = host
        self.lo, self.hi = layout.bounds(host)
        q, s, seed = config.num_machines, config.memory_words, config.seed
        self._clock = [0]  # the round index every machine of this host reads
        self.machines = [Machine(i, q, s, seed, initial.get(i), self._clock)
                         for i in range(self.lo, self.hi)]
        n = len(self.machines)
        self.held = [memory_words(m.memory) if m.memory else 0 for m in self.machines]
        self.sent_total = [0] * n
        self.received_total = [0] * n
        self.peak_memory = list(self.held)
        self.rounds_active = np.zeros(n, dtype=np.int64)
        self._order_rng = np.random.default_rng([seed, host, 0x5EED])
        self._round_fn = program.fn if isinstance(program, FunctionProgram) else program.round
        self._active = n  # machines that did not halt in the last round
        self._receivers: list[int] = []  # positions whose inbox the last delivery filled

    # -- the round ----------------------------------------------------------------------------

    def step(self, round_idx: int, inbound: list[wire.Frame], compute: bool = True
             ) -> StepReport:
        """Deliver round r-1's frames, then (if `compute`) run round r and encode its sends."""
        report = StepReport(self.host, round_idx, started_at=time.time())
        t0 = time.perf_counter()
        if inbound:
            self._deliver(round_idx - 1, inbound, report)
        t1 = time.perf_counter()
        if not compute or (report.violations and self.config.enforce):
            report.exchange_s = t1 - t0
            return report
        senders = self._compute(round_idx, report)
        t2 = time.perf_counter()
        if report.error is None:
            try:
                for h, bucket in self._route(senders, report).items():
                    report.outbound[h] = self._encode(round_idx, bucket)
            except MPCError as exc:
                report.error = exc
        report.compute_s = t2 - t1
        report.exchange_s = (t1 - t0) + (time.perf_counter() - t2)
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
        self._receivers = [dest - lo for dest in received]

    def _compute(self, round_idx: int, report: StepReport) -> list[Machine]:
        """Run every active machine once, in a seeded shuffled order, and count its words.

        One fused loop, since this is the per-machine hot path: run the round, count memory +
        output words, note senders; cap checks and inbox clearing happen after it, touching
        only the machines concerned. Returns the machines that sent, in id order (so frames
        list messages by source id).
        """
        machines = self.machines
        self._clock[0] = round_idx
        if self._active == len(machines) and not self._receivers:
            runnable = None  # all of them
            count = len(machines)
        else:
            runnable = [j for j, m in enumerate(machines) if not m._halted or m.inbox]
            count = len(runnable)
        run = self._round_fn
        cap = self.config.memory_words
        held_list, peak = self.held, self.peak_memory
        senders: list[Machine] = []
        active = 0
        m = None
        try:
            for positions, block in self._order(count, runnable):
                for j, m in zip(positions, block):
                    m._halted = False
                    run(m)
                    held = memory_words(m.memory) if m.memory else 0
                    out = m.output
                    if out is not None:
                        held += 1 if type(out) is int or type(out) is float else words(out)
                    held_list[j] = held
                    if held > peak[j]:
                        peak[j] = held
                    if not m._halted:
                        active += 1
                    if m._outbox:
                        senders.append(m)
        except MPCError as exc:
            report.error = exc
        except UncountableValue as exc:
            assert m is not None
            report.error = UnsupportedValue(machine=m.id, round_idx=round_idx,
                                            where=exc.path or "machine.output",
                                            type_name=exc.type_name)
        except Exception as exc:  # user code: re-raised by the driver as ProgramError
            assert m is not None
            report.error = ProgramError(
                machine=m.id, round_idx=round_idx, original_type=type(exc).__name__,
                original_message=str(exc), traceback=traceback.format_exc(),
            )
        for j in self._receivers:  # every machine with an inbox ran: its messages are read
            machines[j].inbox = []
        self._receivers = []
        if runnable is None:
            self.rounds_active += 1
        else:
            self.rounds_active[runnable] += 1
        self._active = active
        report.ran = count
        report.active = active
        report.max_memory = max(held_list) if held_list else 0
        if report.max_memory > cap:  # rare: find who, among the machines that ran
            for j in range(count) if runnable is None else runnable:
                if held_list[j] > cap:
                    report.violations.append(
                        Violation(round_idx, machines[j].id, "memory", held_list[j], cap))
        senders.sort(key=_machine_id)
        return senders

    def _order(self, count: int, runnable: list[int] | None
               ) -> list[tuple[Sequence[int], list[Machine]]]:
        """A seeded shuffled order of the runnable machines, as blocks of (positions, machines).

        Up to FULL_SHUFFLE_MAX runnable machines: one uniformly random permutation. Beyond
        that, blocks of SHUFFLE_BLOCK consecutive machines run in a uniformly random order,
        each block forwards or backwards at random: a uniform permutation over 10^5 machines
        costs ~3x the round in cache misses, and the order stays seeded and far from id order,
        which is what surfaces order-dependence bugs.
        """
        rng, machines = self._order_rng, self.machines
        if count <= FULL_SHUFFLE_MAX:
            order = rng.permutation(count).tolist()
            positions = order if runnable is None else [runnable[i] for i in order]
            return [(positions, [machines[j] for j in positions])]
        blocks = -(-count // SHUFFLE_BLOCK)
        flips = (rng.random(blocks) < 0.5).tolist()
        chunks = []
        for b, flip in zip(rng.permutation(blocks).tolist(), flips):
            lo, hi = b * SHUFFLE_BLOCK, min((b + 1) * SHUFFLE_BLOCK, count)
            if runnable is None:
                positions: Any = range(lo, hi)
                block = machines[lo:hi]
            else:
                positions = runnable[lo:hi]
                block = [machines[j] for j in positions]
            chunks.append((positions[::-1], block[::-1]) if flip else (positions, block))
        return chunks

    def _route(self, senders: list[Machine], report: StepReport
               ) -> dict[int, tuple[list[int], list[int], list[int], list[Any]]]:
        """Group the senders' messages by destination host; check and total the sent words."""
        cap, lo = self.config.memory_words, self.lo
        q, hosts = self.layout.num_machines, self.layout.num_hosts
        single = hosts == 1
        buckets: dict[int, tuple[list[int], list[int], list[int], list[Any]]] = {}
        for m in senders:
            sent = 0
            for dest, payload in m._outbox:
                try:
                    cost = message_words(payload)
                except UncountableValue as exc:
                    raise UnsupportedValue(
                        machine=m.id, round_idx=report.round_idx, type_name=exc.type_name,
                        where=f"the message to machine {dest}") from None
                sent += cost
                h = 0 if single else ((dest + 1) * hosts - 1) // q  # Layout.host_of, inlined
                bucket = buckets.get(h)
                if bucket is None:
                    bucket = buckets[h] = ([], [], [], [])
                bucket[0].append(dest)
                bucket[1].append(m.id)
                bucket[2].append(cost)
                bucket[3].append(payload)
            self.sent_total[m.id - lo] += sent
            report.messages += len(m._outbox)
            report.words_sent += sent
            if sent > report.max_sent:
                report.max_sent = sent
            if sent > cap:
                report.violations.append(Violation(report.round_idx, m.id, "sent", sent, cap))
            m._outbox = []
        return buckets

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
        outputs = [m.output for m in self.machines]
        try:
            encoded = wire.encode(outputs)
        except (TypeError, ValueError, OverflowError):
            for m in self.machines:
                found = wire.find_unencodable(m.output, "machine.output")
                if found:
                    raise UnsupportedValue(machine=m.id, round_idx=self._clock[0],
                                           where=found[0], type_name=found[1]) from None
            raise
        return HostSummary(
            host=self.host, lo=self.lo, outputs=encoded,
            sent_words=np.asarray(self.sent_total, dtype=np.int64),
            received_words=np.asarray(self.received_total, dtype=np.int64),
            peak_memory_words=np.asarray(self.peak_memory, dtype=np.int64),
            rounds_active=self.rounds_active.copy(),
        )
