"""Columnar messages: many messages as a few numpy arrays, on the way out and on the way in.

The model is unchanged: every row is one message that costs max(1, words(row)) of the
sender's sent cap and the receiver's received cap, and an inbox is ordered by source, then
send order. Only the representation changes. A batch of k messages is

    dests   int64[k]          the destination machine of each message
    lens    int64[k]          values per message; -1 marks a scalar message (one value)
    values  1-D numeric array the messages' values, back to back

On the way out, `Machine.send_many` checks its arguments at once and appends an `OutBatch` to
the machine's outbox. The host (mpcsim.host) concatenates the round's batches, sorts them by
destination (stably, so source-then-send order holds within each destination), and ships the
columns in the frame for each destination host (a `Chunk` of arrays: msgpack header plus
out-of-band buffers, no pickle). The receiving host gives each machine a window (chunk, a, b)
of the chunk's rows: no Python object per message is built unless the program asks for one.

On the way in, `Machine.inbox_columns` returns a `Messages` (sources, offsets, values) over
every message received, whichever API sent it; `Machine.inbox` still gives (source, payload)
tuples, where a row of a 2-D batch or a ragged segment is a read-only 1-D array and a scalar
message is a Python number, exactly what `Machine.send` of that value delivers.
"""

from __future__ import annotations

from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np

from .errors import UnknownDestination, UnsupportedValue

__all__ = ["Messages", "Inbox", "Delivered", "OutBatch", "Chunk", "stable_order",
           "stable_order_by", "split_by_source", "NUMERIC_KINDS", "take_segments", "costs_of", "out_batch"]

NUMERIC_KINDS = frozenset("biufc")
SCALAR = -1  # lens value of a scalar message: one value, delivered as a Python number
_EMPTY_INT = np.zeros(0, dtype=np.int64)
_EMPTY_INT.flags.writeable = False


class _Shared:
    """Read-only arrays handed out as views, so a batch of k scalar messages allocates no
    lens (all SCALAR) and no offsets (0..k): grown by doubling, never written. A view's
    `base` is the array itself, which is how common_cost and offsets_of recognise it."""

    scalars = _EMPTY_INT  # SCALAR, repeated
    counting = np.zeros(1, dtype=np.int64)  # 0, 1, 2, ...

    @classmethod
    def grow(cls, k: int) -> None:
        size = max(k + 1, 2 * cls.counting.size)
        cls.scalars = np.full(size, SCALAR, dtype=np.int64)
        cls.counting = np.arange(size + 1, dtype=np.int64)
        cls.scalars.flags.writeable = cls.counting.flags.writeable = False


def scalar_lens(k: int) -> np.ndarray:
    """lens of k scalar messages: a read-only view of one shared array of SCALAR."""
    if k > _Shared.scalars.size:
        _Shared.grow(k)
    return _Shared.scalars[:k]


def _all_scalars(lens: np.ndarray) -> bool:
    """Whether lens is a view of the shared SCALAR array (then every message is a scalar)."""
    return lens.base is _Shared.scalars


class OutBatch(NamedTuple):
    """k messages from one machine, as `Machine.send_many` recorded them (already checked).
    It sits in the machine's outbox between the (dest, payload) pairs of single sends, in
    call order."""

    dests: np.ndarray  # int64[k], a private copy
    lens: np.ndarray  # int64[k]; SCALAR for scalar messages
    values: np.ndarray  # 1-D, numeric; taken as it is at the end of the round, as send does


def out_batch(machine: int, round_idx: int, num_machines: int, dests: Any, payloads: Any,
              offsets: Any = None) -> OutBatch | None:
    """send_many's arguments as an OutBatch (None for no message), checked for shape and
    dtype; see Machine.send_many. `machine` is who is named in the errors."""
    dest_arr = dests if type(dests) is np.ndarray else np.asarray(dests)
    if dest_arr.dtype.kind not in "iu" or dest_arr.ndim != 1:
        _refuse_dests(machine, round_idx, num_machines, dests, dest_arr)
    dest_arr = dest_arr.astype(np.int64)  # a private copy, range-checked at the round end
    values = payloads if type(payloads) is np.ndarray else np.asarray(payloads)
    if values.dtype.kind not in NUMERIC_KINDS:
        raise UnsupportedValue(machine=machine, round_idx=round_idx, where="send_many payloads",
                               type_name=f"numpy array of dtype {values.dtype}")
    k = dest_arr.shape[0]
    if offsets is not None:
        lens = _ragged_lengths(offsets, values, k)
    elif values.ndim == 1:
        if values.shape[0] != k:
            raise ValueError(f"send_many: {k} dests but {values.size} scalar payloads")
        lens = scalar_lens(k)
    elif values.ndim == 2:
        if values.shape[0] != k:
            raise ValueError(f"send_many: {k} dests but {values.shape[0]} payload rows")
        lens = np.full(k, values.shape[1], dtype=np.int64)
        values = values.reshape(-1)
    else:
        raise ValueError(f"send_many: payloads must be 1-D (scalars, or ragged with offsets) "
                         f"or 2-D (rows), got shape {values.shape}")
    return OutBatch(dest_arr, lens, values) if k else None


def _refuse_dests(machine: int, round_idx: int, num_machines: int, dests: Any,
                  arr: np.ndarray) -> None:
    """send_many's dests are not a 1-D int array: say how (the first non-int id, as given)."""
    if arr.ndim != 1:
        raise ValueError(f"send_many: dests must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        return
    items = arr.tolist() if dests is arr else list(dests)
    bad = next((d for d in items if isinstance(d, (bool, np.bool_))
                or not isinstance(d, (int, np.integer))), items[0])
    raise UnknownDestination(machine=machine, round_idx=round_idx, dest=bad,
                             num_machines=num_machines)


def _ragged_lengths(offsets: Any, values: np.ndarray, k: int) -> np.ndarray:
    """Message lengths from send_many's offsets, checked against the values."""
    off = offsets if type(offsets) is np.ndarray else np.asarray(offsets)
    if off.dtype.kind not in "iu" or off.ndim != 1:
        raise ValueError(f"send_many: offsets must be a 1-D int array, got {off.dtype} "
                         f"of shape {off.shape}")
    if values.ndim != 1:
        raise ValueError(f"send_many: ragged payloads (with offsets) must be 1-D, got shape "
                         f"{values.shape}")
    if off.shape[0] != k + 1:
        raise ValueError(f"send_many: {k} dests need {k + 1} offsets, got {off.size}")
    lens = off[1:] - off[:-1]  # np.diff, without its Python-level overhead
    if lens.dtype != np.int64:
        lens = lens.astype(np.int64)
    if off[0] != 0 or off[k] != values.shape[0] or (k and lens.min() < 0):
        raise ValueError(f"send_many: offsets must rise from 0 to len(payloads)="
                         f"{values.size}; got {off[0]}..{off[-1]}"
                         + (" and a decrease" if k and lens.min() < 0 else ""))
    return lens


def costs_of(lens: np.ndarray) -> np.ndarray:
    """Words each message costs: max(1, words(row)); a scalar message (-1) costs 1."""
    return np.maximum(lens, 1)


def common_cost(lens: np.ndarray) -> int | None:
    """The words every message costs when they all cost the same (all scalars, or rows of
    one length), else None: then per-machine totals are message counts times it."""
    if not lens.size or _all_scalars(lens):
        return 1
    low, high = int(lens.min()), int(lens.max())
    return max(1, low) if low == high else None


def value_counts(lens: np.ndarray) -> np.ndarray:
    """Values each message occupies in `values`: a scalar message (SCALAR = -1) holds one,
    a row its length (>= 0): |lens|."""
    return np.abs(lens)


def offsets_of(lens: np.ndarray) -> np.ndarray:
    """int64[k + 1]: message i's values are values[offsets[i]:offsets[i + 1]] (read-only
    0..k when every message is a scalar of the shared `scalar_lens`)."""
    if _all_scalars(lens) and lens.size < _Shared.counting.size:
        return _Shared.counting[:lens.size + 1]
    offsets = np.zeros(lens.size + 1, dtype=np.int64)
    np.cumsum(value_counts(lens), out=offsets[1:])
    return offsets


def take_segments(values: np.ndarray, offsets: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The segments values[offsets[i]:offsets[i+1]] for i in `order`, concatenated."""
    starts = offsets[:-1][order]
    counts = offsets[1:][order] - starts
    total = int(counts.sum())
    if total == values.size and np.array_equal(order, np.arange(order.size)):
        return values
    if counts.size and counts.min() == counts.max():  # equal-width rows: one fancy index
        width = int(counts[0])
        index = starts[:, None] + np.arange(width)
        return values[index.reshape(-1)]
    # index of each output value = its segment's start + its position inside the segment
    shift = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return values[np.arange(total) + shift]


def stable_order(keys: np.ndarray, bound: int) -> np.ndarray:
    """The stable argsort of int `keys` in [0, bound): a radix sort when they fit 16 bits
    (numpy sorts uint16 stably in linear time), else numpy's stable sort."""
    if bound <= 1 << 16:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    return np.argsort(keys, kind="stable")


def stable_order_by(primary: np.ndarray, secondary: np.ndarray, bound: int) -> np.ndarray:
    """The order sorting by (primary, secondary), ties kept in place: two stable passes."""
    first = stable_order(secondary, bound)
    return first[stable_order(primary[first], bound)]


def split_by_source(sources: np.ndarray, batch: OutBatch, lo: int
                    ) -> list[tuple[int, OutBatch]]:
    """A batch of rows from several machines as (position = source - lo, that machine's rows)
    pairs, by source; each machine's rows keep their order."""
    dests, lens, values = batch
    if sources.size > 1 and np.any(sources[1:] < sources[:-1]):
        order = np.argsort(sources, kind="stable")
        values = take_segments(values, offsets_of(lens), order)
        sources, dests, lens = sources[order], dests[order], lens[order]
    bounds = np.flatnonzero(sources[1:] != sources[:-1]) + 1
    bounds = np.concatenate([[0], bounds, [sources.size]])
    value_bounds = offsets_of(lens)[bounds].tolist()
    bounds = bounds.tolist()
    return [(source - lo, OutBatch(dests[a:b], lens[a:b], values[va:vb]))
            for source, a, b, va, vb in zip(sources[bounds[:-1]].tolist(), bounds[:-1],
                                            bounds[1:], value_bounds[:-1], value_bounds[1:])]


class Chunk:
    """Rows of one kind from one frame, sorted by destination (stable): the receive side.

    Built by the receiving host from the frame's columns. `window(a, b)` views rows a..b-1,
    which all go to one machine.
    """

    __slots__ = ("sources", "lens", "offsets", "values")

    def __init__(self, sources: np.ndarray, lens: np.ndarray, values: np.ndarray) -> None:
        self.sources = sources
        self.lens = lens
        self.offsets = offsets_of(lens)
        self.values = values

    def messages(self, a: int, b: int) -> Messages:
        lo, hi = int(self.offsets[a]), int(self.offsets[b])
        return Messages(self.sources[a:b], self.offsets[a:b + 1] - lo, self.values[lo:hi])

    def tuples(self, a: int, b: int) -> list[tuple[int, Any]]:
        """Rows a..b-1 as (source, payload) pairs, payloads exactly as `send` delivers them."""
        sources = self.sources[a:b].tolist()
        lens = self.lens[a:b].tolist()
        offsets = self.offsets[a:b + 1].tolist()
        values = self.values
        out = []
        for i, (source, n) in enumerate(zip(sources, lens)):
            lo = offsets[i]
            payload = values[lo].item() if n == SCALAR else values[lo:lo + n]
            out.append((source, payload))
        return out


class Delivered:
    """One host's column chunks of a round, each sorted by destination, shared by the
    receiving machines until one reads its inbox (fleet rounds mostly read fleet.inbox, so
    the per-machine windows are cut only on demand)."""

    __slots__ = ("chunks",)

    def __init__(self, chunks: list[tuple[np.ndarray, Chunk]]) -> None:
        self.chunks = chunks

    def inbox_for(self, machine: int) -> Inbox:
        box = Inbox([])
        for dests, chunk in self.chunks:
            a, b = np.searchsorted(dests, [machine, machine + 1]).tolist()
            if a < b:
                box.windows.append((0, chunk, a, b))
        return box


class Inbox:
    """A machine's inbox when columns arrived: the singly sent (source, payload) pairs, and
    windows (at, chunk, a, b) of column chunks, `at` being how many singles came before."""

    __slots__ = ("singles", "windows", "_tuples", "_messages")

    def __init__(self, singles: list[tuple[int, Any]]) -> None:
        self.singles = singles
        self.windows: list[tuple[int, Chunk, int, int]] = []
        self._tuples: list[tuple[int, Any]] | None = None
        self._messages: Messages | None = None

    def tuples(self) -> list[tuple[int, Any]]:
        """Every message as (source, payload), in inbox order (built once)."""
        if self._tuples is None:
            merged: list[tuple[int, Any]] = []
            pos = 0
            for at, chunk, a, b in self.windows:
                merged.extend(self.singles[pos:at])
                merged.extend(chunk.tuples(a, b))
                pos = at
            merged.extend(self.singles[pos:])
            self._tuples = merged
        return self._tuples

    def messages(self) -> Messages:
        """Every message as columns, in inbox order (built once)."""
        if self._messages is None:
            self._messages = self._columns()
        return self._messages

    def _columns(self) -> Messages:
        singles, windows = self.singles, self.windows
        if len(windows) == 1 and not singles:
            _, chunk, a, b = windows[0]
            return chunk.messages(a, b)
        parts = []
        pos = 0
        for at, chunk, a, b in windows:
            if at > pos:
                parts.append(tuples_as_messages(singles[pos:at]))
            parts.append(chunk.messages(a, b))
            pos = at
        if pos < len(singles):
            parts.append(tuples_as_messages(singles[pos:]))
        return Messages.concat(parts)


class Messages:
    """A machine's inbox as columns: message i came from sources[i] and holds
    values[offsets[i]:offsets[i + 1]].

    Messages are in inbox order (by source, then send order). A scalar message holds one
    value. Arrays are read-only (copy to modify). When messages of several dtypes arrived,
    `values` has numpy's promoted dtype (e.g. int64 and float64 give float64); read
    `Machine.inbox` to keep each message's own type.
    """

    __slots__ = ("sources", "offsets", "values")

    def __init__(self, sources: np.ndarray, offsets: np.ndarray, values: np.ndarray) -> None:
        self.sources = sources
        self.offsets = offsets
        self.values = values

    def __len__(self) -> int:
        return self.sources.size

    @property
    def lengths(self) -> np.ndarray:
        """Values per message (int64[k])."""
        return np.diff(self.offsets)

    def rows(self, width: int | None = None) -> np.ndarray:
        """The values as a (k, width) array when every message holds `width` values (default:
        the common width). Raises ValueError for ragged messages."""
        k = len(self)
        if k == 0:
            return self.values.reshape(0, width or 0)
        w = self.values.size // k
        if width is not None and width != w or w * k != self.values.size or (
                k > 1 and not np.all(self.offsets == np.arange(k + 1) * w)):
            lengths = self.lengths
            raise ValueError(f"messages hold {lengths.min()}..{lengths.max()} values, not "
                             f"{width if width is not None else 'one common number'} each; "
                             "use values and offsets (or lengths)")
        return self.values.reshape(k, w)

    def segment(self, i: int) -> np.ndarray:
        """The values of message i."""
        return self.values[self.offsets[i]:self.offsets[i + 1]]

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        """(source, values) per message; for bulk work use the arrays directly."""
        for i, source in enumerate(self.sources.tolist()):
            yield source, self.segment(i)

    def __repr__(self) -> str:
        return (f"Messages({len(self)} messages, {self.values.size} values of "
                f"{self.values.dtype})")

    @classmethod
    def empty(cls) -> Messages:
        return cls(_EMPTY_INT, np.zeros(1, dtype=np.int64), _EMPTY_INT)

    @classmethod
    def concat(cls, parts: Sequence[Messages]) -> Messages:
        parts = [p for p in parts if len(p)] or parts[:1]  # an empty part has no dtype to add
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        sizes = np.array([p.values.size for p in parts], dtype=np.int64)
        shifts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        offsets = np.concatenate([[0]] + [p.offsets[1:] + shift
                                          for p, shift in zip(parts, shifts.tolist())])
        return cls(_readonly(np.concatenate([p.sources for p in parts])), _readonly(offsets),
                   _readonly(np.concatenate([p.values for p in parts])))


def tuples_as_messages(pairs: Sequence[tuple[int, Any]]) -> Messages:
    """Per-message (source, payload) pairs as columns. Payloads must be numbers or numeric
    arrays (or lists of numbers); anything else raises TypeError naming the message."""
    sources = np.fromiter((source for source, _ in pairs), dtype=np.int64, count=len(pairs))
    segments = []
    for source, payload in pairs:
        arr = np.asarray(payload)
        if arr.dtype.kind not in NUMERIC_KINDS:
            raise TypeError(
                f"machine.inbox_columns: the message from machine {source} holds a "
                f"{type(payload).__name__}, not numbers; read it through machine.inbox")
        segments.append(arr.reshape(-1))
    lengths = np.fromiter((seg.size for seg in segments), dtype=np.int64, count=len(segments))
    offsets = np.zeros(len(segments) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = np.concatenate(segments) if segments else _EMPTY_INT
    return Messages(_readonly(sources), _readonly(offsets), _readonly(values))


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr
