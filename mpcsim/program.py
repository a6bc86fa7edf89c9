"""Round programs: the Program base class, the Machine a round runs on, and input partitioning.

A Program says what one machine does in one synchronous round (`round(machine)`); the runtime
(mpcsim.host, driven by mpcsim.driver) calls it on every active machine, delivers messages at
the end of the round and enforces the caps. Programs are plain picklable Python: the Ray
backend ships them to its actors.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .columns import (Delivered, Inbox, Messages, OutBatch, out_batch, split_by_source,
                      tuples_as_messages)
from .errors import ConfigError, UnknownDestination
from .wordcount import words

__all__ = ["Program", "FunctionProgram", "Machine", "Partition", "RunState", "partition_inputs"]


class RunState:
    """What a host's machines share: the run's settings, the round, and who sent this round."""

    __slots__ = ("num_machines", "memory_words", "seed", "round_idx", "senders", "batched",
                 "fleet_out", "touched", "host", "plan", "pending")

    def __init__(self, num_machines: int, memory_words: int, seed: int) -> None:
        self.num_machines = num_machines
        self.memory_words = memory_words
        self.seed = seed
        self.round_idx = 0
        self.senders: list[Machine] = []  # machines that sent this round, in first-send order
        self.batched: set[int] = set()  # ids of those that used send_many
        # fleet.send_many batches (sources, batch) of one dtype, kept whole while no machine
        # sends on its own this round; see Fleet.send_many and flush_fleet_out
        self.fleet_out: list[tuple[np.ndarray, OutBatch]] = []
        # machines whose memory dict a program may have changed (read or set through the
        # machine): a fleet round recounts only these, and takes scatters' words as given
        self.touched: list[Machine] = []
        # the host's machines, ids lo.. (set by the host; a weak reference, as the machines
        # refer to this state: no reference cycle keeps 10^5 machines alive after a run)
        self.host: Callable[[], Any] = lambda: None
        self.plan: Any = None  # the run's plan (Partition.plan), shipped by the driver
        # fleet scatters not yet written into the machines' memory dicts (Fleet.scatter),
        # each a callable that writes its views; `settle` runs them in order
        self.pending: list[Callable[[], None]] = []

    def settle(self) -> None:
        """Write the deferred fleet scatters into the machines' memory dicts: before anything
        reads or replaces a memory dict other than through a fleet."""
        pending, self.pending = self.pending, []
        for write in pending:
            write()

    def flush_fleet_out(self) -> None:
        """Move the whole fleet batches into their machines' outboxes (call order kept),
        before a machine's own send would otherwise overtake them."""
        pending, self.fleet_out = self.fleet_out, []
        host = self.host()
        machines = host.machines
        for sources, batch in pending:
            for position, part in split_by_source(sources, batch, host.lo):
                machines[position]._append(part)


class Machine:
    """One logical machine, as seen by `Program.round`.

    id, round_idx: ints. memory: dict that persists across rounds (its values count against
    memory_words; its keys are names and do not). inbox: list of (source_id, payload) sent to
    this machine in the previous round, ordered by source id, then send order; arrays in it are
    read-only views (copy to modify). inbox_columns: the same messages as numpy columns
    (mpcsim.Messages). send / send_many: one message, or many as arrays. output: this
    machine's share of the result.
    num_machines (q) and memory_words (s) are the run's settings; rng is a numpy Generator
    seeded by (seed, id), the same on every backend.
    """

    __slots__ = ("id", "output", "_memory", "_run", "_in", "_out", "_halted", "_touched",
                 "_rng")

    def __init__(self, machine_id: int, num_machines: int, memory_words: int, seed: int,
                 memory: dict[str, Any] | None = None) -> None:
        self.id = machine_id
        self._memory: dict[str, Any] | None = memory  # made on first use if None
        self.output: Any = None
        self._touched = False  # in run.touched
        self._run = RunState(num_machines, memory_words, seed)
        self._in: list[tuple[int, Any]] | Inbox | Delivered | None = None  # inbox
        self._out: list[Any] | None = None  # (dest, payload) pairs and OutBatches, in order
        self._halted = False

    @classmethod
    def fleet(cls, run: RunState, lo: int, hi: int,
              memories: dict[int, dict[str, Any]]) -> list[Machine]:
        """Machines lo..hi-1 sharing `run` (a host's machines): built without __init__, since
        building 10^5 of them is a measurable part of a run (the rng is made on first use)."""
        new = cls.__new__
        machines = []
        append = machines.append
        for i in range(lo, hi):
            m = new(cls)
            m.id = i
            m._memory = None  # most machines start empty: the dict is made on first use
            m.output = None
            m._touched = False
            m._run = run
            m._in = None
            m._out = None
            append(m)  # _halted is set before each run of the machine
        for i, memory in memories.items():
            if lo <= i < hi and memory is not None:
                machines[i - lo]._memory = memory
        return machines

    @property
    def memory(self) -> dict[str, Any]:
        """This machine's local memory: a dict that persists across rounds."""
        if self._run.pending:
            self._run.settle()
        if not self._touched:
            self._touched = True
            self._run.touched.append(self)
        memory = self._memory
        if memory is None:
            memory = self._memory = {}
        return memory

    @memory.setter
    def memory(self, memory: dict[str, Any]) -> None:
        if self._run.pending:
            self._run.settle()
        if not self._touched:
            self._touched = True
            self._run.touched.append(self)
        self._memory = memory

    @property
    def num_machines(self) -> int:
        """q, the run's number of machines."""
        return self._run.num_machines

    @property
    def memory_words(self) -> int:
        """s, the run's cap on words held, sent and received per round."""
        return self._run.memory_words

    @property
    def round_idx(self) -> int:
        """The current round, counted from 0 (one shared clock per host: no per-machine write)."""
        return self._run.round_idx

    @property
    def plan(self) -> Any:
        """The run's plan: what the program's partition returned as Partition.plan (None if
        it returned only the memory). The same read-only value on every machine and host."""
        return self._run.plan

    def send(self, dest: int, payload: Any) -> None:
        """Send `payload` to machine `dest`; delivered at the end of this round.

        The payload is taken as it is when the round ends (counted and encoded then, so
        changing it after send changes what is sent, and is counted). It costs
        max(1, words(payload)) of this round's sent cap and of dest's received cap.
        Raises UnknownDestination at once for an id outside the ints 0..q-1; a payload that
        cannot be counted or encoded raises UnsupportedValue at the end of the round.
        """
        if type(dest) is not int or not 0 <= dest < self._run.num_machines:
            dest = self._checked_dest(dest)
        out = self._out
        if out is None:
            run = self._run
            if run.fleet_out:
                run.flush_fleet_out()
                out = self._out
        if out is None:
            self._out = [(dest, payload)]
            self._run.senders.append(self)
        else:
            out.append((dest, payload))

    def send_many(self, dests: Any, payloads: Any, offsets: Any = None) -> None:
        """Send len(dests) messages in one call; delivered at the end of this round.

        `dests`: ints in 0..q-1, one per message. `payloads`, numeric (numpy dtype kinds
        b, i, u, f, c):
        - 1-D, offsets None: message i is the scalar payloads[i] (as `send(d, x)` of a number);
        - 2-D: message i is the row payloads[i] (as `send(d, row)` of a 1-D array);
        - 1-D with `offsets` (ints, len(dests) + 1, from 0 rising to len(payloads)): message i
          is payloads[offsets[i]:offsets[i + 1]] (ragged; an empty row is a message too).
        Every message costs max(1, its values) words of this round's sent cap and of its
        receiver's received cap, exactly as `send` of the same value; sends of both kinds
        interleave in call order. Shapes are checked at once (ValueError, with the numbers),
        as are the dtypes (a non-numeric payload raises UnsupportedValue, non-int dests
        UnknownDestination). Destinations outside 0..q-1 are found when the round ends, for
        all machines at once: UnknownDestination names the lowest such machine and its first
        bad id. `dests` is copied at the call; the payload values are taken as they are when
        the round ends, as `send` does.
        """
        run = self._run
        batch = out_batch(self.id, run.round_idx, run.num_machines, dests, payloads, offsets)
        if batch is not None:
            self._append(batch)

    def _append(self, batch: OutBatch) -> None:
        out = self._out
        run = self._run
        if out is None and run.fleet_out:
            run.flush_fleet_out()
            out = self._out
        if out is None:
            self._out = [batch]
            run.senders.append(self)
        else:
            out.append(batch)
        run.batched.add(self.id)

    @property
    def inbox(self) -> list[tuple[int, Any]]:
        """(source, payload) per message of the previous round, by source then send order."""
        box = self._in
        if box is None:
            return []
        if type(box) is list:
            return box
        if type(box) is Delivered:
            box = self._in = box.inbox_for(self.id)
        return box.tuples()

    @inbox.setter
    def inbox(self, messages: list[tuple[int, Any]]) -> None:
        self._mark()
        self._in = messages

    @property
    def inbox_columns(self) -> Messages:
        """The previous round's messages as columns (sources, offsets, values), in inbox
        order, without a Python object per message; see mpcsim.columns.Messages."""
        box = self._in
        if box is None:
            return Messages.empty()
        if type(box) is list:
            return tuples_as_messages(box)
        if type(box) is Delivered:
            box = self._in = box.inbox_for(self.id)
        return box.messages()

    def halt(self) -> None:
        """Vote to stop. A halted machine runs again if it receives a message (Pregel)."""
        self._halted = True

    @property
    def halted(self) -> bool:
        """Whether halt() was called in this machine's latest round."""
        return getattr(self, "_halted", False)

    @property
    def rng(self) -> np.random.Generator:
        """This machine's generator, seeded by (seed, id): identical on every backend."""
        try:
            return self._rng
        except AttributeError:  # made on first use
            self._mark()
            self._rng = np.random.default_rng([self._run.seed, self.id])
            return self._rng

    def _mark(self) -> None:
        """Note that this machine's state changed beyond its output and halt vote (as reading
        memory does): a lazy host (mpcsim.host) then keeps its Machine object, and a fleet
        round recounts its memory."""
        if not self._touched:
            self._touched = True
            self._run.touched.append(self)

    def _checked_dest(self, dest: Any) -> int:
        try:
            index = -1 if isinstance(dest, (bool, np.bool_)) else operator.index(dest)
        except TypeError:
            index = -1
        if not 0 <= index < self.num_machines:
            raise UnknownDestination(
                machine=self.id, round_idx=self.round_idx, dest=dest,
                num_machines=self.num_machines,
            )
        return index

    def __repr__(self) -> str:
        return f"Machine(id={self.id}, round_idx={self.round_idx}, halted={self.halted})"


@dataclass(frozen=True)
class Partition:
    """What Program.partition may return instead of the memory dict alone: the initial memory
    per machine id and the run's plan, any picklable value computed once from the input and
    (q, s) (a schedule, splitters, a layout). The driver ships the plan to every host with
    the program; rounds read it as machine.plan or fleet.plan. It is not memory: it is the
    algorithm's code specialised to this input's size, the same on every machine."""

    memory: dict[int, dict[str, Any]]
    plan: Any = None


class Program:
    """Base class of a round program. Subclass and define `round(self, machine)`, or
    `round_many(self, fleet)`: the same round for all of a host's runnable machines at once,
    as numpy over their stacked data (see mpcsim.fleet; it is used when defined).

    Optionally override `partition(inputs, num_machines, memory_words)` to place the input
    differently than the paper's convention (see `partition_inputs`), and to compute a plan
    for the run: return `Partition(memory, plan)`, read as machine.plan / fleet.plan. Keep
    per-machine state in machine.memory, not on self: machines run in a shuffled order, and on
    Ray in other processes; a round that changes the program raises ProgramStateError.
    """

    def round(self, machine: Machine) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define round(self, machine)")

    def partition(self, inputs: Any, num_machines: int,
                  memory_words: int) -> dict[int, dict[str, Any]] | Partition:
        """Initial memory per machine id, before round 0, or a Partition (memory and the run's
        plan). Default: `partition_inputs`."""
        return partition_inputs(inputs, num_machines, memory_words)


class FunctionProgram(Program):
    """A Program from a plain function `fn(machine)` (the functional style of mpcsim.run)."""

    def __init__(self, fn: Callable[[Machine], None]) -> None:
        self.fn = fn

    def round(self, machine: Machine) -> None:
        self.fn(machine)

    def __repr__(self) -> str:
        return f"FunctionProgram({getattr(self.fn, '__qualname__', self.fn)!r})"


def partition_inputs(inputs: Any, num_machines: int,
                     memory_words: int) -> dict[int, dict[str, Any]]:
    """The paper's convention: the input fills the first ceil(n/s) machines, s words each.

    `inputs` is None (no input), a numpy array (split by rows; a row of d elements is d words)
    or a sequence (split greedily so each machine holds at most s words). Machine i gets
    memory {"input": chunk} with chunk of the same kind as `inputs`. Raises ConfigError when a
    single item is larger than memory_words or the input needs more than num_machines machines.
    """
    if inputs is None:
        return {}
    if isinstance(inputs, np.ndarray):
        chunks = _split_array(inputs, memory_words)
    else:
        chunks = _split_sequence(list(inputs) if not isinstance(inputs, list) else inputs,
                                 memory_words)
    if len(chunks) > num_machines:
        n = words(inputs) if not isinstance(inputs, np.ndarray) else inputs.size
        raise ConfigError(problems=[(
            "num_machines", num_machines,
            f"the input of {n} words needs {len(chunks)} machines of memory_words="
            f"{memory_words}; raise num_machines to >= {len(chunks)} or raise memory_words",
        )])
    return {i: {"input": chunk} for i, chunk in enumerate(chunks)}


def _split_array(arr: np.ndarray, memory_words: int) -> list[np.ndarray]:
    row_words = int(math.prod(arr.shape[1:])) if arr.ndim > 1 else 1
    if arr.ndim == 0 or row_words > memory_words:
        need = arr.size if arr.ndim == 0 else row_words
        raise ConfigError(problems=[(
            "memory_words", memory_words,
            f"one input row holds {need} words; raise memory_words to >= {need}",
        )])
    rows = memory_words // max(row_words, 1)
    return [arr[i:i + rows] for i in range(0, len(arr), rows)]


def _split_sequence(items: Sequence[Any], memory_words: int) -> list[list[Any]]:
    chunks: list[list[Any]] = []
    chunk: list[Any] = []
    held = 0
    for item in items:
        w = words(item)
        if w > memory_words:
            raise ConfigError(problems=[(
                "memory_words", memory_words,
                f"input item {item!r:.60} holds {w} words; raise memory_words to >= {w}",
            )])
        if held + w > memory_words:
            chunks.append(chunk)
            chunk, held = [], 0
        chunk.append(item)
        held += w
    if chunk:
        chunks.append(chunk)
    return chunks
