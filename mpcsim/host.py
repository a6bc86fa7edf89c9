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

import gc
import hashlib
import io
import pickle
import time
import traceback
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from itertools import compress, repeat
from operator import attrgetter, is_not
from sys import getrefcount
from types import MappingProxyType
from typing import Any, Iterator, Mapping, Sequence

import msgpack
import numpy as np

from . import snapshot, wire
from .columns import (Chunk, Delivered, Inbox, OutBatch, common_cost, costs_of, offsets_of,
                      stable_order, stable_order_by, take_segments)
from .config import RunConfig
from .errors import (MPCError, ProgramError, ProgramStateError, UnknownDestination,
                     UnsupportedValue)
from .fleet import Fleet
from .program import FunctionProgram, Machine, Program, RunState
from .wordcount import UncountableValue, memory_words, message_words, words

__all__ = ["Layout", "Host", "StepReport", "Delivery", "Computation", "HostSummary",
           "Violation"]


SHUFFLE_BLOCK = 1024
FULL_SHUFFLE_MAX = 8192
_SINGLES, _COLUMNS = 0, 1  # the two kinds of chunk in a frame
_HALTED = attrgetter("_halted")


def _first(item: tuple[Any, ...]) -> Any:
    return item[0]


_MUTABLE = frozenset((list, dict, set))  # outputs that can change without being reassigned


class _ShapePickler(pickle.Pickler):
    """Pickles numpy arrays as (shape, dtype, address): a fingerprint that notices an array
    replaced or resized, at no cost for large weights (their contents are not compared)."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is np.ndarray:
            return tuple, ((obj.shape, obj.dtype.str, obj.__array_interface__["data"][0]),)
        return NotImplemented


def _fingerprint(value: Any) -> bytes | None:
    """A digest of `value`'s pickle (arrays by shape and address), to tell whether it changed
    in place; None when it does not pickle (e.g. a lambda): then it is not compared."""
    buffer = io.BytesIO()
    try:
        _ShapePickler(buffer, protocol=5).dump(value)
    except Exception:  # noqa: BLE001 - any pickling failure means "cannot compare"
        return None
    return hashlib.blake2b(buffer.getbuffer(), digest_size=16).digest()


def _output_words(machine: Machine) -> int:
    """The words of a machine's output, as the memory cap counts them (None: 0)."""
    return _output_words_of(machine.output)


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
    # for limit "memory": how many of `words` were the output, and the inbox just delivered
    # (the rest is memory values); what an error message needs, not part of a transcript
    output: int = field(default=0, compare=False)
    inbox: int = field(default=0, compare=False)

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
    snapshot: wire.Frame | None = None  # the host's state after this step, when the driver asks

    def pack(self) -> Any:
        """The report for shipping between processes: msgpack bytes of the counters, plus
        (only when present) the outbound frames and the error, which Ray carries itself.
        A bare bytes reply costs Ray no more than returning None; a dataclass costs ~20%
        of an empty round."""
        counters = msgpack.packb(
            [getattr(self, name) for name in _COUNTER_FIELDS]
            + [[(v.round_idx, v.machine, v.limit, v.words, v.cap, v.output, v.inbox)
                for v in self.violations]]
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
                        if f.name not in ("violations", "outbound", "error", "snapshot"))


@dataclass(frozen=True)
class Delivery:
    """Host.deliver's report: round `sent_round`'s frames put in the inboxes, receive caps
    checked (the first half of a step)."""

    host: int
    sent_round: int
    max_received: int  # max over receivers of words received
    max_held: int  # max over receivers of memory + inbox words
    violations: tuple[Violation, ...]


@dataclass(frozen=True)
class Computation:
    """Host.compute's report: round `round_idx` run on every runnable machine, its sends
    counted, cap-checked and encoded per destination host (the second half of a step)."""

    host: int
    round_idx: int
    ran: int
    active: int  # machines that did not halt
    messages: int
    words_sent: int
    max_sent: int
    max_memory: int  # max over all this host's machines after compute
    violations: tuple[Violation, ...]
    outbound: Mapping[int, wire.Frame]  # dest host -> Frame (read-only mapping)
    error: MPCError | None


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (if it runs) while a host builds or runs its
    machines. Building 10^5 machine objects otherwise triggers collections that traverse every
    one of them, which doubles the cost; the collector resumes afterwards and catches up."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _run_positions(blocks: list[tuple[Any, list[Machine]]]) -> np.ndarray:
    """The positions of the machines in `blocks`, in run order."""
    if len(blocks) == 1:
        return np.asarray(blocks[0][0], dtype=np.int64)
    return np.concatenate([np.asarray(p, dtype=np.int64) for p, _ in blocks])


@dataclass
class HostSummary:
    """Per-machine totals and outputs of one host, collected once at the end of a run."""

    host: int
    lo: int
    outputs: wire.Frame | list[Any]  # outputs of machines lo..hi-1: encoded, or plain numbers
    sent_words: np.ndarray  # per machine, over the run
    received_words: np.ndarray
    peak_memory_words: np.ndarray
    rounds_active: np.ndarray
    node: str = "local"
    actor: str = ""


def _round_error(exc: Exception, m: Machine, round_idx: int) -> MPCError:
    """What machine m's failed round raises: an MPCError as is, an uncountable memory value
    or output as UnsupportedValue (with its path), anything else as ProgramError."""
    if isinstance(exc, MPCError):
        return exc
    if isinstance(exc, UncountableValue):
        where = exc.path if exc.path.startswith("memory") else "machine.output" + exc.path
        return UnsupportedValue(machine=m.id, round_idx=round_idx, where=where,
                                type_name=exc.type_name)
    return ProgramError(machine=m.id, round_idx=round_idx, original_type=type(exc).__name__,
                        original_message=str(exc),
                        traceback="".join(traceback.format_exception(exc, chain=False)))


class _Failed(Exception):
    """A round's failure (Host._run_lazy, _run_counted): `machine` raised `error`, after
    `done` machines of the round ran (-1: all of them)."""

    def __init__(self, machine: Machine, error: Exception, done: int) -> None:
        super().__init__(machine.id)
        self.machine = machine
        self.error = error
        self.done = done


class _Escaped(Exception):
    """Host._run_lazy's signal: a machine did more than set its output and halt."""


_PLAIN_TYPES = frozenset((int, float, type(None)))


def _output_words_of(output: Any) -> int:
    """The words of an output, as the memory cap counts them (None: 0)."""
    return 0 if output is None else words(output)


def _run_counted(run: Any, machines: Sequence[Machine], helds: list[int]) -> int:
    """Run `run` on each machine in turn (un-halting it first), appending its memory +
    output words to `helds`; return how many did not halt. The per-machine hot loop, so the
    word count is inlined. A failing round raises _Failed(machine, error, machines done)."""
    append = helds.append
    active = 0
    m = None
    try:
        for m in machines:
            m._halted = False
            run(m)
            memory = m._memory
            held = memory_words(memory) if memory else 0
            out = m.output
            if out is not None:
                held += 1 if type(out) is int or type(out) is float else words(out)
            append(held)
            if not m._halted:
                active += 1
    except Exception as exc:  # noqa: BLE001 (user code)
        raise _Failed(m, exc, len(helds)) from None
    return active


def _unshared(values: np.ndarray) -> bool:
    """Whether a batch's payload array is reachable only through the batch (and the caller's
    local name for it): it owns its data and nothing else refers to it, so no program can
    change it after the send and the frame may carry it uncopied. The references counted:
    the OutBatch, _split_columns' local, this function's parameter and getrefcount's argument
    (a program that kept the array, in memory or anywhere, adds one: tests/cases.py,
    sender_mutation_of_a_kept_array_after_send_many_is_invisible)."""
    return values.base is None and getrefcount(values) <= 4


def _held_words(m: Machine) -> int:
    """Machine m's memory + output words, as the memory cap counts them."""
    memory = m._memory
    return (memory_words(memory) if memory else 0) + _output_words(m)


def _lowest(a: MPCError | None, b: MPCError | None) -> MPCError | None:
    """Of two errors of one round, the one of the lower machine (the first on a tie)."""
    if a is None or b is None:
        return a if b is None else b
    return b if getattr(b, "machine", 0) < getattr(a, "machine", 0) else a


class Host:
    """Machines lo..hi-1 of a run (layout.bounds(host)) and their per-machine accounting."""

    def __init__(self, program: Program, config: RunConfig, layout: Layout, host: int,
                 initial: dict[int, dict[str, Any]], plan: Any = None) -> None:
        self.program = program
        self.config = config
        self.layout = layout
        self.host = host
        self.lo, self.hi = layout.bounds(host)
        q, s, seed = config.num_machines, config.memory_words, config.seed
        self._run = RunState(q, s, seed)  # shared by this host's machines
        self._run.plan = plan
        self._run.host = weakref.ref(self)
        n = self.hi - self.lo
        self._fleet_fn = getattr(program, "round_many", None)  # a fleet program (mpcsim.fleet)
        # A host of a per-machine program whose machines start empty builds no Machine objects
        # until something needs them (self.machines): its rounds run the program on one
        # reusable machine (_run_lazy) and keep each machine's output and halt vote in these
        # two columns, as long as no machine does more than set its output and halt.
        self._machines: list[Machine] | None = None
        self._lazy_out: list[Any] | None = None  # outputs, by position, while lazy
        self._lazy_halted: bytearray | None = None  # halt votes of the last round run
        self._lazy_ran = False  # whether a round ran while lazy (the votes are meaningful)
        self._lazy_types: set[type] = set()  # the output types lazy rounds left (a superset)
        if self._fleet_fn is None and not any(self.lo <= i < self.hi and memory is not None
                                              for i, memory in initial.items()):
            self._lazy_out = [None] * n
            self._lazy_halted = bytearray(n)
        else:
            with gc_paused():
                self._machines = Machine.fleet(self._run, self.lo, self.hi, initial)
        # per-machine accounting, by position j = id - lo
        self.held = np.zeros(n, dtype=np.int64)  # memory + output words after the last compute
        for i, memory in initial.items():
            if memory and self.lo <= i < self.hi:
                self.held[i - self.lo] = memory_words(memory)
        self.sent_total = np.zeros(n, dtype=np.int64)
        self.received_total = np.zeros(n, dtype=np.int64)
        self.peak_memory = self.held.copy()
        self.rounds_active = np.zeros(n, dtype=np.int64)
        self.counts_touches = self._fleet_fn is not None and config.vectorize
        if self.counts_touches:
            # a vectorised fleet round's accounting (_account_fleet): memory and output words
            # apart, kept current by fleet.scatter / set_outputs and by recounting the
            # machines a program touched; and the last round each machine was touched (for
            # Fleet.gather)
            self.memory_held = self.held.copy()
            self.output_held = np.zeros(n, dtype=np.int64)
            self.touched_round = np.full(n, -1, dtype=np.int64)
            self._outputs: list[Any] = [None] * n  # each machine's output as last counted
            self._ids = np.arange(self.lo, self.hi, dtype=np.int64)
        self._mutable_outputs: set[int] = set()  # ... positions where that is a container
        self._order_rng = np.random.default_rng([seed, host, 0x5EED])
        # the program as built: rounds must not change it (ProgramStateError)
        self._program_attrs = dict(getattr(program, "__dict__", {}))
        self._program_fingerprints = {name: _fingerprint(value)
                                      for name, value in self._program_attrs.items()}
        self._round_fn = program.fn if isinstance(program, FunctionProgram) else program.round
        # an in-process transport (the local backend) sets this: column frames then carry
        # arrays made for them (a sender's own array is copied in _split_columns), marked
        # Frame.owned, so the transport need not copy them again
        self.owned_frames = False
        if self._fleet_fn is not None and not config.vectorize:
            self._round_fn = self._fleet_of_one
        self._delivered: list[tuple[np.ndarray, Chunk]] = []  # this round's column chunks
        self._singles: list[tuple[int, int, Any]] = []  # ... and its single sends
        self._gathered: dict[str, Any] = {}  # fleet rounds' last scatters (Fleet.gather)
        self._active = n  # machines that did not halt in the last round
        self._receivers: list[int] = []  # positions whose inbox the last delivery filled

    @property
    def machines(self) -> list[Machine]:
        """Machines lo..hi-1, by position (id - lo); built now if the host was lazy."""
        machines = self._machines
        if machines is None:
            machines = self._materialize({})
        return machines

    def _materialize(self, kept: dict[int, Machine], ran: Sequence[int] | None = None
                     ) -> list[Machine]:
        """End a lazy host: build its Machine objects from the output and halt columns, the
        machines in `kept` (by position) being the objects a lazy round had to keep. `ran`:
        the positions that have run, if not all of them (in the first round)."""
        outputs, votes = self._lazy_out, self._lazy_halted
        assert outputs is not None and votes is not None
        with gc_paused():
            machines = Machine.fleet(self._run, self.lo, self.hi, {})
            if ran is not None:
                for j in ran:
                    m = machines[j]
                    m.output = outputs[j]
                    m._halted = votes[j] != 0
            elif self._lazy_ran:
                for m, out, halted in zip(machines, outputs, votes):
                    m.output = out
                    m._halted = halted != 0
            for j, m in kept.items():
                machines[j] = m
        self._machines = machines
        self._lazy_out = self._lazy_halted = None
        return machines

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
        with gc_paused():
            senders = self._compute(round_idx, report)
        t2 = time.perf_counter()
        report.error = _lowest(report.error, self._route_and_encode(round_idx, senders, report))
        report.compute_s = t2 - t1
        report.exchange_s = (t1 - t0) + (time.perf_counter() - t2)
        return report

    def _deliver(self, sent_round: int, inbound: list[wire.Frame], report: StepReport) -> None:
        """Put each frame's messages in their machines' inboxes; check the received caps.

        Frames come in source-host order and list their chunks in (source, send) order, each
        column chunk sorted stably by destination, so appending in arrival order keeps every
        inbox ordered by source, then send order.
        """
        lo, machines = self.lo, self.machines
        got = np.zeros(len(machines), dtype=np.int64)  # words received, by position
        delivered = self._delivered = []
        single: dict[int, int] = {}  # the same, for messages sent one by one
        chunks = [chunk for frame in inbound for chunk in wire.decode(frame)]
        # a vectorised fleet round reads fleet.inbox: cut per-machine windows only on demand
        lazy = (self._fleet_fn is not None and self.config.vectorize
                and all(chunk[0] == _COLUMNS for chunk in chunks))
        shared = Delivered(delivered)
        for chunk in chunks:
            if chunk[0] == _SINGLES:
                _, dests, sources, costs, payloads = chunk
                for dest, source, cost, payload in zip(dests, sources, costs, payloads):
                    m = machines[dest - lo]
                    box = m._in
                    if box is None:
                        m._in = [(source, payload)]
                    elif type(box) is list:
                        box.append((source, payload))
                    else:
                        box.singles.append((source, payload))
                    single[dest] = single.get(dest, 0) + cost
                if self._fleet_fn is not None:
                    self._singles.extend(zip(dests, sources, payloads))
                continue
            _, dests, sources, lens, values = chunk
            if not dests.size:
                continue
            columns = Chunk(sources, lens, values)
            delivered.append((dests, columns))
            # dests are sorted: machine first + i receives rows cuts[i] .. cuts[i + 1] - 1
            first = int(dests[0])
            cuts = dests.searchsorted(np.arange(first, int(dests[-1]) + 2))
            rows = cuts[1:] - cuts[:-1]
            hit = np.flatnonzero(rows)
            positions = hit + (first - lo)
            cost = common_cost(lens)
            if cost is not None:  # messages per receiver, times it
                got[positions] += rows[hit] * cost
            else:
                costs = np.concatenate([[0], np.cumsum(costs_of(lens))])
                got[positions] += costs[cuts[hit + 1]] - costs[cuts[hit]]
            if lazy:
                for j in positions.tolist():
                    machines[j]._in = shared
                continue
            for j, a, b in zip(positions.tolist(), cuts[hit].tolist(), cuts[hit + 1].tolist()):
                m = machines[j]
                box = m._in
                if type(box) is not Inbox:
                    box = m._in = Inbox([] if box is None else box)
                box.windows.append((len(box.singles), columns, a, b))
        for dest, words_in in single.items():
            got[dest - lo] += words_in
        receivers = np.flatnonzero(got)  # every message costs >= 1 word
        if receivers.size == 0:
            return
        g = got[receivers]
        held = self.held[receivers] + g
        self.received_total[receivers] += g
        self.peak_memory[receivers] = np.maximum(self.peak_memory[receivers], held)
        report.max_received = int(g.max())
        report.max_held = int(held.max())
        cap = self.config.memory_words
        if report.max_held > cap:  # received > cap implies held > cap
            for j, words_in, words_held in zip(receivers.tolist(), g.tolist(), held.tolist()):
                if words_in > cap:
                    report.violations.append(
                        Violation(sent_round, lo + j, "received", words_in, cap))
                if words_held > cap:
                    report.violations.append(
                        Violation(sent_round, lo + j, "memory", words_held, cap,
                                  _output_words(machines[j]), words_in))
        self._receivers = receivers.tolist()

    def _compute(self, round_idx: int, report: StepReport) -> list[Machine]:
        """Run every active machine once, in a seeded shuffled order, and count its words.

        One fused loop, since this is the per-machine hot path: run the round, count memory +
        output words, note senders; cap checks, accounting and inbox clearing happen after it,
        on arrays. Returns the machines that sent, in id order (so frames list messages by
        source id).
        """
        machines = self._machines  # None while the host is lazy
        run_state = self._run
        run_state.round_idx = round_idx
        n = self.hi - self.lo
        if self._active == n and not self._receivers:
            runnable = None  # all of them
            count = n
        elif machines is None:  # lazy: no machine has an inbox
            runnable = np.flatnonzero(np.frombuffer(self._lazy_halted, dtype=np.uint8) == 0
                                      ).tolist()
            count = len(runnable)
        else:
            runnable = [j for j, m in enumerate(machines) if not m._halted or m._in is not None]
            count = len(runnable)
        run = self._round_fn
        cap = self.config.memory_words
        helds: list[int] = []  # in run order
        lazy_held: np.ndarray | None = None  # ... or by position, for a lazy round
        active = 0
        m = None
        vectorized = self._fleet_fn is not None and self.config.vectorize
        blocks = (self._fleet_order(runnable) if vectorized else
                  self._order(count, runnable, machines))
        try:
            if machines is None:
                active, lazy_held = self._run_lazy(blocks, runnable, helds)
                run_state.touched = []  # the machines that were kept are counted
            elif vectorized:
                fleet = blocks[0][1]
                for m in fleet:
                    m._halted = False
                m = fleet[0] if fleet else None  # who a failing fleet round is blamed on
                ids = self._ids if runnable is None else self._ids[blocks[0][0]]
                singles = sorted(self._singles, key=_first) if self._singles else []
                self._fleet_fn(Fleet(fleet, ids, run_state, self._delivered, self._gathered,
                                     singles))
                m = None
                self._account_fleet(round_idx, None if runnable is None else blocks[0][0],
                                    fleet)
                ran_now = blocks[0][0]
                helds = self.memory_held[ran_now] + self.output_held[ran_now]  # type: ignore
                active = len(fleet) - sum(map(_HALTED, fleet))
            else:
                for _, block in blocks:
                    active += _run_counted(run, block, helds)
                run_state.touched = []  # recounted above; their flags stay set (no appends)
        except Exception as exc:  # noqa: BLE001 (user code: re-raised by the driver)
            done = len(helds)
            if type(exc) is _Failed:  # a lazy round's: the machine, and what it raised
                m, done, exc = exc.machine, exc.done, exc.error
            m = getattr(exc, "_blame", m)  # a fleet round's uncountable value: whose it is
            assert m is not None
            rest = ([] if vectorized or done < 0 else
                    _run_positions(blocks)[done + 1:].tolist())
            report.error = self._lowest_failure(_round_error(exc, m, round_idx), rest)
        machines = self._machines
        for j in self._receivers:  # every machine with an inbox ran: its messages are read
            machines[j]._in = None
        self._receivers = []
        self._delivered = []
        self._singles = []
        senders = run_state.senders
        run_state.senders = []
        if lazy_held is not None:  # by position: no run order to undo
            ran = np.arange(n) if runnable is None else np.asarray(runnable, dtype=np.int64)
            held = lazy_held
            at: Any = slice(None) if runnable is None else ran
        else:
            ran = _run_positions(blocks)
            if len(helds) < len(ran):  # the round failed part-way
                ran = ran[:len(helds)]
            held = np.array(helds, dtype=np.int64)
            at = ran
        self.held[at] = held
        self.peak_memory[at] = np.maximum(self.peak_memory[at], held)
        if runnable is None:
            self.rounds_active += 1
        else:
            self.rounds_active[runnable] += 1
        self._active = active
        report.ran = count
        report.active = active
        report.max_memory = int(self.held.max()) if self.held.size else 0
        if report.max_memory > cap:  # rare: find who, among the machines that ran
            machines = self.machines
            for j in np.sort(ran[held > cap]).tolist():
                report.violations.append(
                    Violation(round_idx, machines[j].id, "memory", int(self.held[j]), cap,
                              _output_words(machines[j])))
        senders.sort(key=_machine_id)
        if report.error is None:
            report.error = self._program_changed(round_idx)
        return senders

    def _program_changed(self, round_idx: int) -> ProgramStateError | None:
        """An error if the round set, added or removed an attribute of the program."""
        now = getattr(self.program, "__dict__", None)
        before = self._program_attrs
        if now is None or (now.keys() == before.keys()
                           and all(now[k] is v for k, v in before.items())):
            return None
        for name in sorted(set(now) | set(before)):
            if name not in now or name not in before or now[name] is not before[name]:
                how = "added" if name not in before else "removed" if name not in now else "set"
                return ProgramStateError(round_idx=round_idx, host=self.host, attribute=name,
                                         how=how)
        return None

    def _program_mutated(self) -> ProgramStateError | None:
        """An error if an attribute of the program changed in place during the run (compared
        by its pickle, taken when the host was built)."""
        for name, fingerprint in self._program_fingerprints.items():
            if _fingerprint(getattr(self.program, name, None)) != fingerprint:
                return ProgramStateError(round_idx=self._run.round_idx, host=self.host,
                                         attribute=name, how="changed in place")
        return None

    def recount(self) -> None:
        """Count every machine's memory and output words afresh, apart, for vectorised fleet
        rounds (after a restore)."""
        if not self.counts_touches:
            return
        self._run.settle()
        for j, m in enumerate(self.machines):
            memory = m._memory
            self.memory_held[j] = memory_words(memory) if memory else 0
            self.output_held[j] = _output_words(m)
            self._outputs[j] = m.output
        self._mutable_outputs = {j for j, out in enumerate(self._outputs)
                                 if type(out) in _MUTABLE}
        self.touched_round[:] = self._run.round_idx

    def _account_fleet(self, round_idx: int, positions: Any, fleet: list[Machine]) -> None:
        """After a vectorised fleet round on `fleet` (at `positions`): recount the memory of
        the machines the program touched (read or set memory through the machine), and the
        output of those whose output object changed; other memory changed only through
        fleet.scatter, which kept memory_held current. An uncountable value raises
        UncountableValue with `_blame` set to the lowest machine holding one."""
        run_state = self._run
        touched, run_state.touched = run_state.touched, []
        seen = self._outputs
        outputs = [m.output for m in fleet]
        if positions is not None and len(fleet) != len(seen):
            seen = [seen[j] for j in positions.tolist()]
        changed = [i for i in compress(range(len(fleet)), map(is_not, outputs, seen))]
        if self._mutable_outputs:  # a list or dict output may have changed in place
            at = range(len(fleet)) if positions is None else positions.tolist()
            mutable = self._mutable_outputs
            changed = sorted(set(changed).union(i for i, j in enumerate(at) if j in mutable))
        if not touched and not changed:
            return
        lo = self.lo
        memory_held, output_held = self.memory_held, self.output_held
        if touched and run_state.pending:  # a touched machine scattered to since: write it
            run_state.settle()
        try:
            for m in touched:
                m._touched = False
                memory = m._memory
                memory_held[m.id - lo] = memory_words(memory) if memory else 0
            for i in changed:
                m = fleet[i]
                out = m.output
                output_held[m.id - lo] = (0 if out is None else 1 if type(out) is int
                                          or type(out) is float else words(out))
                self._outputs[m.id - lo] = out
                if type(out) in _MUTABLE:
                    self._mutable_outputs.add(m.id - lo)
                else:
                    self._mutable_outputs.discard(m.id - lo)
        except UncountableValue:
            for m in sorted(set(touched) | {fleet[i] for i in changed}, key=_machine_id):
                m._touched = False  # the lowest machine's error, as documented
                try:
                    memory_words(m._memory or {})
                    _output_words(m)
                except UncountableValue as exc:
                    exc._blame = m  # type: ignore[attr-defined]
                    raise
        if touched:
            self.touched_round[[m.id - lo for m in touched]] = round_idx

    def _lowest_failure(self, error: MPCError, rest: list[int]) -> MPCError:
        """The error of the lowest machine whose round fails, so that which error a round
        raises depends on no seed or layout: `error` is the first failure in run order and
        `rest` the positions that had yet to run; those below the failed machine run now, in
        id order, until one fails."""
        below = error.machine - self.lo  # type: ignore[attr-defined]
        machines = self.machines
        for j in sorted(j for j in rest if j < below):
            m = machines[j]
            try:
                m._halted = False
                self._round_fn(m)
                memory_words(m.memory)
                words(m.output)
            except Exception as exc:  # noqa: BLE001
                return _round_error(exc, m, error.round_idx)  # type: ignore[attr-defined]
        return error

    def _route_and_encode(self, round_idx: int, senders: list[Machine],
                          report: StepReport) -> MPCError | None:
        """Route and encode the senders' messages into report.outbound; the error of the
        lowest source whose messages cannot be counted or encoded, or None."""
        errors: list[MPCError] = []
        try:
            routed = self._route(senders, report, errors)
        except MPCError as exc:
            return exc
        error = errors[0] if errors else None
        for h, chunks in routed.items():
            try:
                report.outbound[h] = self._encode(round_idx, chunks)
            except MPCError as exc:  # several frames may fail: the lowest source's error
                error = _lowest(error, exc)
        return error

    def _fleet_order(self, runnable: list[int] | None
                     ) -> list[tuple[Sequence[int], list[Machine]]]:
        """A fleet round's one block: the runnable machines in id order."""
        machines = self.machines
        if runnable is None:
            return [(np.arange(len(machines)), machines)]
        return [(np.asarray(runnable, dtype=np.int64), [machines[j] for j in runnable])]

    def _fleet_of_one(self, machine: Machine) -> None:
        """vectorize=False: a fleet program's round on this machine alone."""
        assert self._fleet_fn is not None
        self._fleet_fn(Fleet([machine], np.array([machine.id]), self._run))

    def _order(self, count: int, runnable: list[int] | None, machines: list[Machine] | None
               ) -> list[tuple[Sequence[int], Sequence[Any]]]:
        """A seeded shuffled order of the runnable machines, as blocks of (positions, machines),
        or of (positions, positions as ints) when `machines` is None (a lazy host).

        Up to FULL_SHUFFLE_MAX runnable machines: one uniformly random permutation. Beyond
        that, blocks of SHUFFLE_BLOCK consecutive machines run in a uniformly random order,
        each block forwards or backwards at random: a uniform permutation over 10^5 machines
        costs ~3x the round in cache misses, and the order stays seeded and far from id order,
        which is what surfaces order-dependence bugs.
        """
        rng = self._order_rng
        if count <= FULL_SHUFFLE_MAX:
            order = rng.permutation(count)
            positions = order if runnable is None else np.asarray(runnable)[order]
            at = positions.tolist()
            return [(positions, at if machines is None else [machines[j] for j in at])]
        blocks = -(-count // SHUFFLE_BLOCK)
        flips = (rng.random(blocks) < 0.5).tolist()
        chunks: list[tuple[Sequence[int], Sequence[Any]]] = []
        for b, flip in zip(rng.permutation(blocks).tolist(), flips):
            lo, hi = b * SHUFFLE_BLOCK, min((b + 1) * SHUFFLE_BLOCK, count)
            block: Sequence[Any]
            if runnable is None:
                positions: Any = np.arange(lo, hi)
                block = range(lo, hi) if machines is None else machines[lo:hi]
            else:
                positions = np.asarray(runnable[lo:hi])
                block = (runnable[lo:hi] if machines is None else
                         [machines[j] for j in runnable[lo:hi]])
            chunks.append((positions[::-1], block[::-1]) if flip else (positions, block))
        return chunks

    def _run_lazy(self, blocks: list[tuple[Sequence[int], Sequence[Any]]],
                  runnable: list[int] | None, helds: list[int]
                  ) -> tuple[int, np.ndarray | None]:
        """A lazy host's round: run the program on one reusable Machine per position (in
        `blocks`, from _order; `runnable` the same positions, ascending, or None for all);
        return how many did not halt, and the held words of those machines, by position (or
        None when the round ended on built machines: then `helds` has them, in run order).

        The machine's output and halt vote go back to the columns. At the first machine that
        does anything else (reads or sets memory, sends, uses its rng or inbox, or is kept by
        the program: all of these add a reference to it) the host builds its machines, that
        one being the reusable Machine, and runs the rest of the round on them (_run_built);
        later rounds run as usual. A failing round raises _Failed with the machine."""
        run = self._round_fn
        outputs, votes = self._lazy_out, self._lazy_halted
        assert outputs is not None and votes is not None
        lo, first = self.lo, not self._lazy_ran
        (m,) = Machine.fleet(self._run, lo, lo + 1, {})
        refs = getrefcount(m)  # a program that kept or changed more than the columns adds one
        b = j = 0
        try:
            for b, (_, block) in enumerate(blocks):
                for j in block:
                    m.id = lo + j
                    m.output = outputs[j]
                    m._halted = False
                    run(m)
                    if getrefcount(m) != refs:
                        raise _Escaped
                    outputs[j] = m.output
                    votes[j] = m._halted
        except Exception as exc:  # noqa: BLE001 (user code, or _Escaped)
            done = sum(len(block) for _, block in blocks[:b]) + list(blocks[b][1]).index(j)
            ran = _run_positions(blocks)[:done].tolist()
            self._lazy_ran = True
            self._materialize({j: m}, ran if first else None)
            if type(exc) is _Escaped:
                return self._run_built(blocks, done + 1, helds), None
            raise self._failure(m, exc, ran, done) from None
        self._lazy_ran = True
        active = votes.count(0)  # the machines that did not run are halted
        outs = outputs if runnable is None else [outputs[j] for j in runnable]
        types = set(map(type, outs))
        self._lazy_types |= types
        if not types <= _PLAIN_TYPES:
            try:
                return active, np.fromiter(map(_output_words_of, outs), dtype=np.int64,
                                           count=len(outs))
            except UncountableValue:
                at = range(len(outs)) if runnable is None else runnable
                self._materialize({})
                failure = self._lowest_uncountable(at)
                assert failure is not None
                raise failure from None
        if type(None) not in types:  # one word each
            return active, np.ones(len(outs), dtype=np.int64)
        return active, np.fromiter(map(is_not, outs, repeat(None)), dtype=bool,
                                   count=len(outs)).astype(np.int64)

    def _run_built(self, blocks: list[tuple[Sequence[int], Sequence[Any]]], start: int,
                   helds: list[int]) -> int:
        """The rest of a lazy round from its `start`-th machine in run order, on the machines
        now built, counted as the usual loop in _compute counts them: append every machine's
        held words to `helds`, in run order; return how many did not halt."""
        machines, run = self.machines, self._round_fn
        order = _run_positions(blocks).tolist()
        append = helds.append
        active = 0
        try:  # the machines that ran already
            for j in order[:start]:
                m = machines[j]
                memory = m._memory
                append((memory_words(memory) if memory else 0) + _output_words(m))
                if not m._halted:
                    active += 1
        except UncountableValue:
            failure = self._lowest_uncountable(order[:start])
            assert failure is not None
            raise _Failed(failure.machine, failure.error, start - 1) from None
        return active + _run_counted(run, [machines[j] for j in order[start:]], helds)

    def _failure(self, m: Machine, exc: Exception, ran: list[int], done: int) -> _Failed:
        """Machine m's round raised `exc` after the machines at positions `ran` ran (`done`
        of them): the failure of the lowest machine, m or one of those whose memory or
        output cannot be counted (as if each had been counted after its round)."""
        lower = self._lowest_uncountable(ran)
        if lower is not None and lower.machine.id < m.id:
            return _Failed(lower.machine, lower.error, done)
        return _Failed(m, exc, done)

    def _lowest_uncountable(self, positions: Sequence[int]) -> _Failed | None:
        """The failure of the lowest of these machines (built) whose memory or output cannot
        be counted, or None."""
        machines = self.machines
        for j in sorted(positions):
            try:
                _held_words(machines[j])
            except UncountableValue as exc:
                return _Failed(machines[j], exc, -1)
        return None

    def _route(self, senders: list[Machine], report: StepReport,
               errors: list[MPCError]) -> dict[int, list[list[Any]]]:
        """The senders' messages as chunks per destination host; check and total sent words.

        Messages are walked in (source id, send order). Consecutive single sends form one
        "singles" chunk (lists, one payload each); consecutive send_many batches of one dtype
        form one column chunk, concatenated and sorted stably by destination with numpy. Each
        chunk is cut into one piece per destination host; a host's frame lists its pieces in
        walk order, which is what keeps inboxes in (source, send) order. A send_many
        destination outside 0..q-1 is appended to `errors` (the lowest source's), not raised.
        """
        runs: list[list[Any]] = []
        single_sent: dict[int, int] = {}
        batched = self._run.batched
        if self._run.fleet_out:  # whole fleet batches: no machine sent on its own this round
            whole, self._run.fleet_out = self._run.fleet_out, []
            runs.append([_COLUMNS, whole[0][1].values.dtype, None, whole])
        for m in senders:
            out = m._out
            m._out = None
            if m.id not in batched:
                self._add_singles(runs, m, out, single_sent, report)
                continue
            singles: list[tuple[int, Any]] = []
            for item in out:
                if type(item) is not OutBatch:
                    singles.append(item)
                    continue
                if singles:
                    self._add_singles(runs, m, singles, single_sent, report)
                    singles = []
                last = runs[-1] if runs else None
                if last is not None and last[0] == _COLUMNS and last[1] == item.values.dtype:
                    last[2].append(m.id)
                    last[3].append(item)
                else:
                    runs.append([_COLUMNS, item.values.dtype, [m.id], [item]])
            if singles:
                self._add_singles(runs, m, singles, single_sent, report)
        self._run.batched = set()
        lo, n = self.lo, self.hi - self.lo
        sent = np.zeros(n, dtype=np.int64)
        frames: dict[int, list[list[Any]]] = {}
        unknown: UnknownDestination | None = None  # the lowest machine's, over every run
        for run in runs:
            if run[0] == _SINGLES:
                pieces = self._split_singles(run)
            else:
                try:
                    pieces, words_out, count = self._split_columns(run)
                except UnknownDestination as exc:
                    if unknown is None or exc.machine < unknown.machine:
                        unknown = exc
                    continue
                sent += words_out
                report.messages += count
            for h, piece in pieces:
                frames.setdefault(h, []).append(piece)
        if unknown is not None:  # the frames still go to _encode: a lower source may fail there
            errors.append(unknown)
        for source, words_out in single_sent.items():
            sent[source - lo] += words_out
        self.sent_total += sent
        report.words_sent = int(sent.sum())
        report.max_sent = int(sent.max()) if n else 0
        cap = self.config.memory_words
        if report.max_sent > cap:
            for j in np.flatnonzero(sent > cap).tolist():
                report.violations.append(
                    Violation(report.round_idx, lo + j, "sent", int(sent[j]), cap))
        return frames

    def _add_singles(self, runs: list[list[Any]], m: Machine, messages: list[tuple[int, Any]],
                     single_sent: dict[int, int], report: StepReport) -> None:
        """Append m's single sends to the walk (a singles run), counting their words."""
        last = runs[-1] if runs else None
        if last is None or last[0] != _SINGLES:
            last = [_SINGLES, [], [], [], []]
            runs.append(last)
        _, dests, sources, costs, payloads = last
        source = m.id
        sent = 0
        for dest, payload in messages:
            try:
                cost = message_words(payload)
            except UncountableValue:  # nor can it be encoded: _encode reports it, with the
                cost = 1  # other unencodable payloads, the lowest source's first
            sent += cost
            dests.append(dest)
            sources.append(source)
            costs.append(cost)
            payloads.append(payload)
        single_sent[source] = single_sent.get(source, 0) + sent
        report.messages += len(messages)

    def _split_singles(self, run: list[Any]) -> list[tuple[int, list[Any]]]:
        _, dests, sources, costs, payloads = run
        hosts, q = self.layout.num_hosts, self.layout.num_machines
        if hosts == 1:
            return [(0, run)]
        pieces: dict[int, list[Any]] = {}
        for dest, source, cost, payload in zip(dests, sources, costs, payloads):
            h = ((dest + 1) * hosts - 1) // q  # Layout.host_of, inlined
            piece = pieces.get(h)
            if piece is None:
                piece = pieces[h] = [_SINGLES, [], [], [], []]
            piece[1].append(dest)
            piece[2].append(source)
            piece[3].append(cost)
            piece[4].append(payload)
        return list(pieces.items())

    def _split_columns(self, run: list[Any]
                       ) -> tuple[list[tuple[int, list[Any]]], np.ndarray, int]:
        """A column run sorted stably by destination (then source, for whole fleet batches)
        and cut by destination host; also the words each of this host's machines sent in it
        (for the sent caps) and its message count. `ids` is the source of each batch, or None
        when the run holds whole fleet batches as (sources, batch) pairs."""
        _, _, ids, batches = run
        fleet = ids is None
        if fleet:
            sources = (batches[0][0] if len(batches) == 1 else
                       np.concatenate([src for src, _ in batches]))
            batches = [batch for _, batch in batches]
        if len(batches) == 1:
            (batch,) = batches
            dests, lens, values = batch.dests, batch.lens, batch.values
        else:
            dests = np.concatenate([b.dests for b in batches])
            lens = np.concatenate([b.lens for b in batches])
            values = np.concatenate([b.values for b in batches])
        if not fleet:
            sources = (np.full(dests.size, ids[0], dtype=np.int64) if len(batches) == 1 else
                       np.repeat(np.asarray(ids, dtype=np.int64),
                                 [b.dests.size for b in batches]))
        q = self.layout.num_machines
        if dests.size and (dests.min() < 0 or dests.max() >= q):
            first = int(np.flatnonzero((dests < 0) | (dests >= q))[0])  # lowest source's first
            raise UnknownDestination(machine=int(sources[first]), round_idx=self._run.round_idx,
                                     dest=int(dests[first]), num_machines=q)
        n = len(self.machines)
        cost = common_cost(lens)
        at = sources - self.lo if self.lo else sources  # each message's sender, by position
        if cost is not None:  # messages per sender, times it
            words_out = np.bincount(at, minlength=n) * cost
        else:
            words_out = np.bincount(at, weights=costs_of(lens), minlength=n).astype(np.int64)
        order = None
        if dests.size > 1:
            rises = dests[1:] >= dests[:-1]
            if not rises.all():
                order = stable_order_by(dests, sources, q) if fleet else stable_order(dests, q)
            elif fleet and not ((dests[1:] > dests[:-1]) | (sources[1:] >= sources[:-1])).all():
                order = stable_order_by(dests, sources, q)  # by source within a destination
        if order is not None:
            values = take_segments(values, offsets_of(lens), order)
            dests, sources, lens = dests[order], sources[order], lens[order]
        elif len(batches) == 1 and self.owned_frames and not _unshared(values):
            values = values.copy()  # the sender's own array, still reachable: copy it now
        hosts = self.layout.num_hosts
        if hosts == 1:
            return [(0, [_COLUMNS, dests, sources, lens, values])], words_out, dests.size
        cuts = np.searchsorted(dests, [self.layout.bounds(h)[0] for h in range(hosts + 1)])
        cuts[-1] = dests.size
        offsets = offsets_of(lens)
        pieces = []
        for h in range(hosts):
            a, b = int(cuts[h]), int(cuts[h + 1])
            if a < b:
                va, vb = int(offsets[a]), int(offsets[b])
                pieces.append((h, [_COLUMNS, dests[a:b], sources[a:b], lens[a:b],
                                   values[va:vb]]))
        return pieces, words_out, dests.size

    def _encode(self, round_idx: int, chunks: list[list[Any]]) -> wire.Frame:
        try:
            frame = wire.encode(chunks)
            if self.owned_frames and all(chunk[0] == _COLUMNS for chunk in chunks):
                frame = frame._replace(owned=True)  # its columns are the host's, made in _route
            return frame
        except (TypeError, ValueError, OverflowError):
            for chunk in chunks:
                if chunk[0] != _SINGLES:
                    continue
                for dest, source, payload in zip(chunk[1], chunk[2], chunk[4]):
                    found = wire.find_unencodable(payload)
                    if found:
                        raise UnsupportedValue.found(source, round_idx,
                                                     f"the message to machine {dest}: ", found
                                                     ) from None
            raise

    # -- the round as two explicit steps, and snapshots (mpcsim.snapshot) ---------------------

    def deliver(self, round_idx: int, inbound: list[wire.Frame]) -> Delivery:
        """The first half of step(round_idx, inbound): deliver round r-1's frames and check
        the receive caps. compute(round_idx) is the second half; together they leave the host
        exactly as step does."""
        report = StepReport(self.host, round_idx)
        if inbound:
            self._deliver(round_idx - 1, inbound, report)
        return Delivery(self.host, round_idx - 1, report.max_received, report.max_held,
                        tuple(report.violations))

    def compute(self, round_idx: int) -> Computation:
        """The second half of a step: run round r, count and check its sends, encode them
        into one Frame per destination host. A program error is reported, not raised."""
        report = StepReport(self.host, round_idx)
        with gc_paused():
            senders = self._compute(round_idx, report)
        report.error = _lowest(report.error, self._route_and_encode(round_idx, senders, report))
        return Computation(self.host, round_idx, report.ran, report.active, report.messages,
                           report.words_sent, report.max_sent, report.max_memory,
                           tuple(report.violations), MappingProxyType(report.outbound),
                           report.error)

    def snapshot(self, round_idx: int) -> wire.Frame:
        """This host's state after its step `round_idx` (between rounds), as one Frame.

        Arrays in it are the machines' own (referenced, not copied): detach it (Frame.detached)
        or ship it before the machines run again. Raises UnsupportedValue naming the machine
        when a memory value or output cannot be encoded (see mpcsim.snapshot)."""
        return snapshot.host_to_frame(self, round_idx)

    def restore(self, frame: wire.Frame) -> int:
        """Replace this host's state by a snapshot of the same run and host index; return the
        round whose step it followed (the next step is that round + 1)."""
        return snapshot.frame_into_host(self, frame)

    # -- the end ------------------------------------------------------------------------------

    def summary(self, in_process: bool = False) -> HostSummary:
        """Per-machine totals and outputs. The outputs are encoded (a Frame), except for an
        `in_process` caller: then the list, as decoding the frame would give it (wire.copied,
        told the output types the lazy rounds recorded). Raises
        ProgramStateError if the rounds changed the program in place."""
        changed = self._program_mutated()
        if changed is not None:
            raise changed
        outputs = (list(self._lazy_out) if self._machines is None else
                   [m.output for m in self._machines])
        types = None
        if self._machines is None and self._lazy_ran and self._lazy_types <= _PLAIN_TYPES:
            types = self._lazy_types  # as the lazy rounds found them
        try:
            encoded = wire.copied(outputs, types) if in_process else wire.encode(outputs)
        except (TypeError, ValueError, OverflowError):
            for m in self.machines:
                found = wire.find_unencodable(m.output, "machine.output")
                if found:
                    raise UnsupportedValue.found(m.id, self._run.round_idx, "", found
                                                 ) from None
            raise
        return self._summary(encoded)

    def _summary(self, outputs: wire.Frame | list[Any]) -> HostSummary:
        return HostSummary(
            host=self.host, lo=self.lo, outputs=outputs,
            sent_words=np.asarray(self.sent_total, dtype=np.int64),
            received_words=np.asarray(self.received_total, dtype=np.int64),
            peak_memory_words=np.asarray(self.peak_memory, dtype=np.int64),
            rounds_active=self.rounds_active.copy(),
        )
