"""Fleet rounds: one round of many machines, written as numpy over their stacked data.

A Program may define `round_many(self, fleet)` instead of `round(self, machine)`. It is the
same round (every machine computes on its own memory and inbox, sends, outputs, halts), applied
to all the runnable machines of a host in one call, so a round's Python overhead is paid once
per host rather than once per machine: with thousands of machines of a few hundred words each,
that overhead is what a per-machine round measures. The model is unchanged and checked exactly
as for `round`: each machine's memory, output, sent and received words are counted and capped
per machine, and every row sent is one message from one machine.

The obligation that comes with it is isolation: what machine i keeps, sends and outputs may
depend only on machine i's memory, its inbox, the round and the run's settings, never on
another machine's data. mpcsim cannot prove that of numpy code, so it makes it testable:
`mpcsim.run(..., vectorize=False)` runs `round_many` on fleets of one machine, in the seeded
shuffled order, and a kernel that keeps machines apart gives the identical output and
transcript both ways. The library's fleet programs are tested like that.

    fleet.ids                   int64[k], ascending: the machines of this round on this host;
                                fleet.index_of(ids) gives their indexes (-1: not in the fleet)
    fleet.machines              their Machine objects, in the same order (memory, output, rng...)
    fleet.round_idx, fleet.num_machines, fleet.memory_words, fleet.plan (Partition.plan)
    fleet.inbox                 FleetMessages: every message to these machines, `dests` naming
                                the receiver; by receiver, then source, then send order
    fleet.batched, fleet.singles    the same messages apart by how they were sent: rows sent
                                with send_many (FleetMessages), and (dest, source, payload)
                                per message sent with send, by receiver, source, send order;
                                e.g. a sort's batches apart from a barrier's few control
                                messages (mpcsim.algorithms.barrier)
    fleet.select(where)         the fleet of the machines where the bool[k] `where` is set,
                                with their messages only: to run a stage on some machines
    fleet.gather(key)           (values, offsets): machine i's memory[key] is
                                values[offsets[i]:offsets[i + 1]]
    fleet.scatter(key, values, offsets)   the reverse: memory[key] = that segment (a view,
                                made when the machine's memory is next read other than by
                                gather; the words are counted at once)
    fleet.send_many(sources, dests, payloads, offsets=None)
                                rows from many machines: row i is one message from sources[i],
                                shaped as in Machine.send_many
    fleet.drop(*keys)           remove those keys from every machine's memory
    fleet.halt(where=None)      halt every machine, or those where the bool[k] `where` is set
    fleet.set_outputs(values, offsets)    output of machine i = that segment (a view)
"""

from __future__ import annotations

from collections import deque
from itertools import repeat
from operator import attrgetter, is_
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .columns import (Chunk, Delivered, Inbox, Messages, offsets_of, out_batch, split_by_source,
                      take_segments)

if TYPE_CHECKING:
    from .program import Machine, RunState

__all__ = ["Fleet", "FleetMessages"]

_EMPTY = np.zeros(0, dtype=np.int64)
_MEMORY = attrgetter("_memory")
_DICT = frozenset((dict,))
_ARRAY_OR_NONE = frozenset((np.ndarray, type(None)))


class FleetMessages(Messages):
    """Messages to several machines: message i went to dests[i] (ascending), from sources[i],
    and holds values[offsets[i]:offsets[i + 1]]."""

    __slots__ = ("dests",)

    def __init__(self, dests: np.ndarray, sources: np.ndarray, offsets: np.ndarray,
                 values: np.ndarray) -> None:
        super().__init__(sources, offsets, values)
        self.dests = dests

    def to(self, ids: np.ndarray) -> FleetMessages:
        """The messages to the machines `ids` (ascending), in the same order."""
        keep = index_in(ids, self.dests) >= 0
        if keep.all():
            return self
        rows = np.flatnonzero(keep)
        offsets = offsets_of(np.diff(self.offsets)[rows])
        return FleetMessages(self.dests[rows], self.sources[rows], offsets,
                             _readonly(take_segments(self.values, self.offsets, rows)))

    def __repr__(self) -> str:
        return (f"FleetMessages({len(self)} messages to {np.unique(self.dests).size} machines, "
                f"{self.values.size} values of {self.values.dtype})")


class Fleet:
    """The runnable machines of one host in one round; see the module docstring."""

    __slots__ = ("machines", "ids", "round_idx", "num_machines", "memory_words", "_run",
                 "_delivered", "_singles", "_parent", "_inbox", "_batched", "_gathered")

    def __init__(self, machines: Sequence[Machine], ids: np.ndarray, run: RunState,
                 delivered: list[tuple[np.ndarray, Chunk]] | None = None,
                 gathered: dict[str, Any] | None = None,
                 singles: list[tuple[int, int, Any]] | None = None,
                 parent: Fleet | None = None) -> None:
        self.machines = machines
        self.ids = ids
        self.round_idx = run.round_idx
        self.num_machines = run.num_machines
        self.memory_words = run.memory_words
        self._run = run
        # from the host: its delivered column chunks and single sends (by receiver), which
        # are all these machines' messages; else (None) they are read from the machines
        self._delivered = delivered
        self._singles = singles
        self._parent = parent  # a select()ed fleet reads its messages from its parent's
        self._inbox: FleetMessages | None = None
        self._batched: FleetMessages | None = None
        # key -> (ids, values, offsets, views) of the last scatter, which gather can return
        # as it is while every machine still holds its view: the host keeps it across rounds
        self._gathered = gathered if gathered is not None else {}

    def __len__(self) -> int:
        return len(self.machines)

    @property
    def plan(self) -> Any:
        """The run's plan (mpcsim.Partition.plan; None if the partition returned none)."""
        return self._run.plan

    # -- reading ------------------------------------------------------------------------------

    @property
    def inbox(self) -> FleetMessages:
        if self._inbox is None:
            if self._parent is not None:
                self._inbox = self._parent.inbox.to(self.ids)
            elif self._delivered is not None and not self._singles:
                self._inbox = self._inbox_from_chunks(self._delivered)
            else:
                self._inbox = self._inbox_from_machines()
        return self._inbox

    @property
    def batched(self) -> FleetMessages:
        """The messages sent with send_many (fleet or machine), as fleet.inbox orders them."""
        if self._batched is None:
            if self._parent is not None:
                self._batched = self._parent.batched.to(self.ids)
            elif self._delivered is not None:
                self._batched = self._inbox_from_chunks(self._delivered)
            else:
                self._batched = self._inbox_from_machines(batched_only=True)
        return self._batched

    @property
    def singles(self) -> list[tuple[int, int, Any]]:
        """The messages sent with send, as (dest, source, payload): by receiver, then source,
        then send order."""
        if self._singles is None:
            if self._parent is not None:
                self._singles = [item for item in self._parent.singles
                                 if self._has(item[0])]
            else:
                self._singles = [(m.id, source, payload) for m in self.machines
                                 if m._in is not None for source, payload in _singles_of(m)]
        return self._singles

    def _has(self, machine: int) -> bool:
        at = int(np.searchsorted(self.ids, machine))
        return at < self.ids.size and int(self.ids[at]) == machine

    def select(self, where: Any) -> Fleet:
        """The fleet of the machines where the bool[k] `where` is True, their messages only
        (inbox, batched, singles); sends, scatters and halts act on those machines."""
        where = np.asarray(where, dtype=bool)
        if where.shape != (len(self.machines),):
            raise ValueError(f"fleet.select: where has shape {where.shape}, the fleet "
                             f"{len(self.machines)} machines")
        machines = self.machines
        chosen = [machines[i] for i in np.flatnonzero(where).tolist()]
        return Fleet(chosen, self.ids[where], self._run, gathered=self._gathered, parent=self)

    @staticmethod
    def _inbox_from_chunks(delivered: list[tuple[np.ndarray, Chunk]]) -> FleetMessages:
        if not delivered:
            return FleetMessages(_EMPTY, _EMPTY, np.zeros(1, dtype=np.int64), _EMPTY)
        if len(delivered) == 1:  # one source host: already by receiver, source, send order
            dests, chunk = delivered[0]
            return FleetMessages(dests, chunk.sources, chunk.offsets, chunk.values)
        dests = np.concatenate([d for d, _ in delivered])
        sources = np.concatenate([c.sources for _, c in delivered])
        lens = np.concatenate([c.lens for _, c in delivered])
        values = np.concatenate([c.values for _, c in delivered])
        order = np.argsort(dests, kind="stable")  # chunks come in source-host order
        values = take_segments(values, offsets_of(lens), order)
        return FleetMessages(dests[order], sources[order], offsets_of(lens[order]), values)

    def _inbox_from_machines(self, batched_only: bool = False) -> FleetMessages:
        parts, dests = [], []
        for m in self.machines:
            if m._in is not None:
                got = _batched_of(m) if batched_only else m.inbox_columns
                parts.append(got)
                dests.append(np.full(len(got), m.id, dtype=np.int64))
        merged = Messages.concat(parts)
        return FleetMessages(np.concatenate(dests) if dests else _EMPTY, merged.sources,
                             merged.offsets, merged.values)

    def index_of(self, ids: np.ndarray) -> np.ndarray:
        """Each machine id's index in this fleet (its position in fleet.ids), -1 if it is
        not a machine of this fleet."""
        return index_in(self.ids, ids)

    def gather(self, key: str, default: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """(values, offsets): machine i's memory[key] (an array, flattened, or a number) is
        values[offsets[i]:offsets[i + 1]]. A machine without `key` contributes `default`, or
        raises KeyError naming it if no default is given. `values` is read-only (it may be
        the very array the last scatter of `key` stored): copy it to change it, and scatter
        the result to change the machines' memory."""
        run = self._run
        if run.pending:
            last = _deferred(run, key)
            if last is not None:
                if np.array_equal(last.ids, self.ids):
                    return _readonly(last.values), last.offsets
                run.settle()
        cached = self._gathered.get(key)
        if cached is not None:
            found = self._from_scatter(key, *cached)
            if found is not None:
                return found
        arrays = []
        for m in self.machines:
            memory = m._memory
            value = memory.get(key) if memory else None
            if value is None:
                if default is None:
                    raise KeyError(f"fleet.gather: machine {m.id} has no memory[{key!r}]")
                value = default
            arrays.append(value if type(value) is np.ndarray else np.asarray(value))
        lengths = np.fromiter((a.size for a in arrays), dtype=np.int64, count=len(arrays))
        offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        values = np.concatenate([a.reshape(-1) for a in arrays]) if arrays else _EMPTY
        return _readonly(values), offsets

    def _suspects(self, round_idx: int) -> list[int] | None:
        """The indexes of this fleet's machines whose memory may have changed other than by
        scatters since before round `round_idx`: those read or set through Machine.memory
        since (the host's touched_round) or in this round so far (RunState.touched); None
        when unknown (no host counting touches: then every machine is a suspect)."""
        host = self._run.host()
        if host is None or not host.counts_touches:
            return None
        if not self.ids.size:
            return []
        late = host.touched_round[self.ids - host.lo] >= round_idx
        touched = self._run.touched
        if touched:
            now = self.index_of(np.fromiter((m.id for m in touched), dtype=np.int64,
                                            count=len(touched)))
            late[now[now >= 0]] = True
        return np.flatnonzero(late).tolist()

    def _from_scatter(self, key: str, ids: np.ndarray, values: np.ndarray,
                      offsets: np.ndarray, views: list[np.ndarray], scattered_at: int
                      ) -> tuple[np.ndarray, np.ndarray] | None:
        """gather(key) from the last scatter of `key` (to the machines `ids`) if every machine
        of this fleet got a view then and still holds it: checked view by view for the
        machines touched through Machine.memory since (all of them if that is unknown)."""
        index = None if np.array_equal(ids, self.ids) else index_in(ids, self.ids)
        if index is not None and index.size and index.min() < 0:
            return None
        suspects = self._suspects(scattered_at)
        machines = self.machines
        if suspects is None:
            memories = [m._memory for m in machines]
            want = views if index is None else [views[i] for i in index.tolist()]
        else:
            memories = [machines[i]._memory for i in suspects]
            want = ([views[i] for i in suspects] if index is None else
                    [views[i] for i in index[suspects].tolist()])
        if not set(map(type, memories)) <= _DICT:
            return None  # a machine without memory (None), or a dict of another type
        if not all(map(is_, map(dict.get, memories, repeat(key)), want)):
            return None
        if index is None:
            return _readonly(values), offsets
        taken = np.zeros(index.size + 1, dtype=np.int64)
        np.cumsum(offsets[index + 1] - offsets[index], out=taken[1:])
        return _readonly(take_segments(values, offsets, index)), taken

    # -- writing ------------------------------------------------------------------------------

    def scatter(self, key: str, values: np.ndarray, offsets: np.ndarray) -> None:
        """memory[key] of machine i = values[offsets[i]:offsets[i + 1]] (a view of `values`).

        In vectorised fleet rounds (where the host counts the words scatters store) the views
        are made and stored later (RunState.settle): before a machine's memory is next read
        or replaced other than through a fleet. Until then fleet.gather(key) reads `values` as
        they are, so a fleet round that scatters and gathers its columns round after round
        builds no per-machine views. The words are counted now, either way."""
        self._check_segments("scatter", values, offsets)
        run = self._run
        host = run.host()
        if host is None or not host.counts_touches:
            _Scattered(key, self.machines, self.ids, values, offsets, self.round_idx,
                       self._gathered)()
            return
        last = _deferred(run, key)
        if last is not None and not np.array_equal(last.ids, self.ids):
            run.settle()
            last = None
        if last is not None:  # this scatter replaces it, on the same machines
            was = last.words()
            run.pending.remove(last)
        else:
            was = self._scattered_words(key, self._olds(key))
            self._gathered.pop(key, None)  # the views the machines hold are about to be stale
        host.memory_held[self.ids - host.lo] += np.diff(offsets) * _width(values) - was
        run.pending.append(_Scattered(key, self.machines, self.ids, values, offsets,
                                      self.round_idx, self._gathered))

    def _olds(self, key: str) -> list[Any]:
        """memory[key] of each machine (None where absent), giving every machine a memory
        dict; a machine whose old value is no array is noted as touched (recounted)."""
        memories = _memories(self.machines)
        olds = (list(map(dict.get, memories, repeat(key))) if set(map(type, memories)) <= _DICT
                else [memory.get(key) for memory in memories])
        _recount_non_arrays(self._run, self.machines, olds)
        return olds

    def _scattered_words(self, key: str, olds: list[Any]) -> np.ndarray:
        """The words of `olds` (memory[key] of this fleet's machines before a scatter) that
        are arrays, 0 for anything else (the host recounts those machines): read off the last
        scatter of `key` when every machine still holds its view of it."""
        cached = self._gathered.get(key)
        if cached is not None:
            ids, values, offsets, views, _ = cached
            if np.array_equal(ids, self.ids) and all(map(is_, olds, views)):
                return np.diff(offsets) * _width(values)
        return np.fromiter((old.size if type(old) is np.ndarray else 0 for old in olds),
                           dtype=np.int64, count=len(olds))

    def drop(self, *keys: str) -> None:
        """Remove `keys` from every machine's memory (where held): what `del memory[key]`
        does, without touching each machine through Machine.memory (the host's word counts
        are kept current by the sizes of the arrays removed)."""
        run = self._run
        host = run.host()
        machines = self.machines
        deferred = {d.key: d for d in run.pending  # at most one per key (_deferred)
                    if type(d) is _Scattered and d.key in keys}
        if not all(np.array_equal(d.ids, self.ids) for d in deferred.values()):
            run.settle()
            deferred = {}
        for d in deferred.values():
            run.pending.remove(d)
        memories = [m._memory if m._memory is not None else {} for m in machines]
        counting = host is not None and host.counts_touches
        freed = np.zeros(len(machines), dtype=np.int64)
        for key in keys:
            olds = list(map(dict.pop, memories, repeat(key), repeat(None)))
            if key in deferred:  # the dicts held what it replaced, already uncounted
                freed += deferred[key].words()
            else:
                _recount_non_arrays(run, machines, olds)
                if counting:
                    freed += self._scattered_words(key, olds)
            self._gathered.pop(key, None)
        if counting:
            host.memory_held[self.ids - host.lo] -= freed

    def set_outputs(self, values: np.ndarray, offsets: np.ndarray) -> None:
        """output of machine i = values[offsets[i]:offsets[i + 1]] (a view of `values`)."""
        self._check_segments("set_outputs", values, offsets)
        bounds = offsets.tolist()
        for i, m in enumerate(self.machines):
            m.output = values[bounds[i]:bounds[i + 1]]

    def halt(self, where: np.ndarray | None = None) -> None:
        """Halt every machine of the fleet, or those where the bool array `where` is True."""
        if where is None:
            for m in self.machines:
                m._halted = True
            return
        where = np.asarray(where, dtype=bool)
        if where.shape != (len(self.machines),):
            raise ValueError(f"fleet.halt: where has shape {where.shape}, the fleet "
                             f"{len(self.machines)} machines")
        machines = self.machines
        for i in np.flatnonzero(where).tolist():
            machines[i]._halted = True

    def send_many(self, sources: Any, dests: Any, payloads: Any, offsets: Any = None) -> None:
        """Row i is one message from machine sources[i] to dests[i]; payloads and offsets as in
        Machine.send_many. Each machine's rows keep their order; sends of one machine (by any
        API) interleave in call order. Sources must be machines of this fleet."""
        who = int(self.ids[0]) if len(self.ids) else -1
        batch = out_batch(who, self.round_idx, self.num_machines, dests, payloads, offsets)
        if batch is None:
            return
        src = np.asarray(sources)
        if src.dtype.kind not in "iu" or src.shape != batch.dests.shape:
            raise ValueError(f"fleet.send_many: sources must be {batch.dests.size} machine ids "
                             f"(ints, one per message), got {src.dtype} of shape {src.shape}")
        src = src.astype(np.int64)  # a private copy, as for dests
        if src.size and not self._all_own(src):
            bad = int(src[np.flatnonzero(self.index_of(src) < 0)[0]])
            raise ValueError(f"fleet.send_many: machine {bad} is not in this fleet (its "
                             f"machines are {self.ids.size} ids from {who}); a machine sends "
                             "only in its own round")
        run = self._run
        whole = run.fleet_out
        if not run.senders and (not whole or whole[0][1].values.dtype == batch.values.dtype):
            whole.append((src, batch))  # routed as it is: no per-machine split
            return
        if whole:  # a machine sent on its own, or a second dtype: per machine, in call order
            run.flush_fleet_out()
        host = run.host()
        machines = host.machines
        for position, part in split_by_source(src, batch, host.lo):
            machines[position]._append(part)

    def _all_own(self, ids: np.ndarray) -> bool:
        """Whether every one of the (non-empty) ids is a machine of this fleet: a range check
        when the fleet's ids are consecutive, else a lookup."""
        own = self.ids
        if not own.size:
            return False
        lo, hi = int(own[0]), int(own[-1])
        if hi - lo + 1 == own.size:
            return lo <= int(ids.min()) and int(ids.max()) <= hi
        return bool(self.index_of(ids).min() >= 0)

    def _check_segments(self, what: str, values: np.ndarray, offsets: np.ndarray) -> None:
        k = len(self.machines)
        if offsets.shape != (k + 1,) or offsets[0] != 0 or offsets[-1] != values.shape[0]:
            raise ValueError(f"fleet.{what}: offsets must be {k + 1} ints from 0 to "
                             f"len(values)={values.shape[0]}, got shape {offsets.shape}")

    def __repr__(self) -> str:
        return f"Fleet({len(self.machines)} machines, round {self.round_idx})"


def _segments(values: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    """values[offsets[i]:offsets[i + 1]] for every i, as views: the rows of one reshape when
    every segment but the last has the same length and the last no more (numpy makes those
    views in C, ~2x faster than slicing each)."""
    k = offsets.size - 1
    width = int(offsets[1]) if k > 1 else 0
    if width > 0:
        lengths = np.diff(offsets)
        if (lengths[:-1] == width).all() and lengths[-1] <= width:
            whole = width * (k - 1)
            views = list(values[:whole].reshape(k - 1, width, *values.shape[1:]))
            views.append(values[whole:])
            return views
    bounds = offsets.tolist()
    return [values[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def index_in(own: np.ndarray, ids: Any) -> np.ndarray:
    """The index of each of `ids` in the ascending array `own`, -1 where it is absent: one
    gather through a table over own's range (own's ids are a host's, so the range is small)."""
    ids = np.asarray(ids, dtype=np.int64)
    if own.size == 0:
        return np.full(ids.shape, -1, dtype=np.int64)
    lo, span = int(own[0]), int(own[-1]) - int(own[0]) + 1
    at = ids - lo
    inside = (at >= 0) & (at < span)
    if span == own.size:  # consecutive ids: the index is the offset
        return np.where(inside, at, -1)
    table = np.full(span, -1, dtype=np.int64)
    table[own - lo] = np.arange(own.size)
    return np.where(inside, table[np.where(inside, at, 0)], -1)


def _singles_of(machine: Machine) -> list[tuple[int, Any]]:
    box = machine._in
    return box if type(box) is list else box.singles if type(box) is Inbox else []


def _batched_of(machine: Machine) -> Messages:
    box = machine._in
    if type(box) is list:
        return Messages.empty()
    if type(box) is Delivered:
        box = machine._in = box.inbox_for(machine.id)
    return Messages.concat([chunk.messages(a, b) for _, chunk, a, b in box.windows])


class _Scattered:
    """A scatter's write: memory[key] of machine i = its segment of `values` (a view), and
    the host's record of it (gathered: what fleet.gather checks the machines still hold)."""

    __slots__ = ("key", "machines", "ids", "values", "offsets", "round_idx", "gathered")

    def __init__(self, key: str, machines: Sequence[Machine], ids: np.ndarray,
                 values: np.ndarray, offsets: np.ndarray, round_idx: int,
                 gathered: dict[str, Any]) -> None:
        self.key, self.machines, self.ids = key, machines, ids
        self.values, self.offsets, self.round_idx = values, offsets, round_idx
        self.gathered = gathered

    def words(self) -> np.ndarray:
        """Words of each machine's segment."""
        return np.diff(self.offsets) * _width(self.values)

    def __call__(self) -> None:
        views = _segments(self.values, self.offsets)
        key = self.key
        memories = _memories(self.machines)
        if set(map(type, memories)) <= _DICT:
            deque(map(dict.__setitem__, memories, repeat(key), views), maxlen=0)  # in C
        else:
            for memory, view in zip(memories, views):
                memory[key] = view
        self.gathered[key] = (self.ids, self.values, self.offsets, views, self.round_idx)


def _memories(machines: Sequence[Machine]) -> list[dict[str, Any]]:
    """Each machine's memory dict, made (empty) where it has none yet."""
    memories = list(map(_MEMORY, machines))
    if None in memories:
        for i, m in enumerate(machines):
            if memories[i] is None:
                memories[i] = m._memory = {}
    return memories


def _recount_non_arrays(run: RunState, machines: Sequence[Machine], olds: list[Any]) -> None:
    """Note as touched (recounted by the host) each machine whose replaced or removed value
    in `olds` was something else than an array: the fleet counts only arrays' words."""
    if set(map(type, olds)) <= _ARRAY_OR_NONE:
        return
    for m, old in zip(machines, olds):
        if old is not None and type(old) is not np.ndarray and not m._touched:
            m._touched = True
            run.touched.append(m)


def _deferred(run: RunState, key: str) -> _Scattered | None:
    """The scatter of `key` waiting in run.pending (at most one: a scatter to the same
    machines replaces it, one to others settles first), or None."""
    for write in run.pending:
        if type(write) is _Scattered and write.key == key:
            return write
    return None


def _width(values: np.ndarray) -> int:
    """Words per row of values (1 for a 1-D array)."""
    return int(np.prod(values.shape[1:], dtype=np.int64))


def _readonly(values: np.ndarray) -> np.ndarray:
    view = values.view()
    view.flags.writeable = False
    return view
