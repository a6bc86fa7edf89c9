"""The wire format: msgpack frames with numpy arrays carried out of band, zero-copy.

A Frame is a msgpack header plus a tuple of raw uint8 buffers, one per numpy array in the
value. In the header an array is the ext type 1 holding [dtype, shape, buffer index]; the
array's bytes travel in `buffers` untouched, so a receiver's arrays are views of the received
buffers (in Ray, of the object store's shared memory). Decoding builds only msgpack's plain
types and numpy arrays of numeric dtype: there is no pickle on the data path, and a received
message can never run code.

What encodes: None, bool, int (-2**63 to 2**64 - 1), float, str, bytes, lists, tuples, dicts,
sets and frozensets (ext types 2 and 3), numpy bool/int/uint/float scalars (decoded as
bool/int/float) and arrays of dtype kinds b, i, u, f, c (decoded read-only unless
`writable=True`). Tuples are decoded as lists (msgpack has one array type; a tuple keeps its
type only where a list cannot stand: as a dict key or a set element). Anything else raises
TypeError or OverflowError from `encode`; callers turn it into mpcsim.UnsupportedValue with a
path to the offending part and the reason (see `find_unencodable`).

In one process a round trip can be skipped: `copied(value)` builds what
decode(encode(value), writable=True) gives by copying, for values made of dicts, lists,
tuples, numeric arrays and plain scalars (the local backend's initial memories and outputs),
and `InProcess` carries such a copy where a Frame would go.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgpack
import numpy as np

__all__ = ["Frame", "InProcess", "Unencodable", "encode", "decode", "copied", "opened",
           "array_ext", "array_of", "find_unencodable", "plain_numbers"]

_EXT_ARRAY = 1
_EXT_SET = 2
_EXT_FROZENSET = 3
_NUMERIC_KINDS = frozenset("biufc")


class Frame(NamedTuple):
    """An encoded value: msgpack header bytes and the out-of-band array buffers (uint8)."""

    header: bytes
    buffers: tuple[np.ndarray, ...]
    owned: bool = False  # every buffer is the frame's alone (no sender holds it): no detach


    @property
    def nbytes(self) -> int:
        return len(self.header) + sum(b.nbytes for b in self.buffers)

    def detached(self) -> Frame:
        """A copy that shares no memory with the sender's arrays (the local transport); the
        frame itself if it is `owned`."""
        if self.owned:
            return self
        return Frame(self.header, tuple(b.copy() for b in self.buffers), True)


def array_ext(arr: np.ndarray, buffers: list[np.ndarray]) -> msgpack.ExtType:
    """The ext type 1 that carries `arr` out of band: its bytes are appended to `buffers` (a
    view, not a copy) and the ext holds [dtype, shape, buffer index]. TypeError for a
    non-numeric dtype."""
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(f"numpy array of dtype {arr.dtype}")
    flat = arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)
    buffers.append(flat.reshape(-1).view(np.uint8))
    return msgpack.ExtType(_EXT_ARRAY, msgpack.packb([arr.dtype.str, list(arr.shape),
                                                     len(buffers) - 1]))


def array_of(data: bytes, buffers: tuple[np.ndarray, ...], where: str) -> np.ndarray:
    """The array an ext type 1 (array_ext) refers to: a view of its buffer. ValueError for a
    non-numeric dtype (`where`: "frame", "snapshot", for the message)."""
    dtype_str, shape, index = msgpack.unpackb(data)
    dtype = np.dtype(dtype_str)
    if dtype.kind not in _NUMERIC_KINDS:
        raise ValueError(f"refusing non-numeric dtype {dtype_str!r} in an mpcsim {where}")
    return buffers[index].view(dtype).reshape(shape)


def encode(value: Any) -> Frame:
    """Encode `value`; arrays are referenced, not copied (copy happens in transport)."""
    buffers: list[np.ndarray] = []

    def default(obj: Any) -> Any:
        if isinstance(obj, np.ndarray):
            return array_ext(obj, buffers)
        if isinstance(obj, np.generic) and obj.dtype.kind in "biuf":
            return obj.item()
        if isinstance(obj, (set, frozenset)):
            items = msgpack.packb(list(obj), default=default, use_bin_type=True)
            return msgpack.ExtType(_EXT_FROZENSET if isinstance(obj, frozenset) else _EXT_SET,
                                   items)
        raise TypeError(type(obj).__name__)

    header = msgpack.packb(value, default=default, use_bin_type=True)
    return Frame(header, tuple(buffers))


def decode(frame: Frame, writable: bool = False) -> Any:
    """Decode a Frame. Arrays are read-only views of its buffers unless `writable` (copies)."""
    buffers = frame.buffers

    def ext_hook(code: int, data: bytes) -> Any:
        if code == _EXT_SET or code == _EXT_FROZENSET:
            items = msgpack.unpackb(data, ext_hook=ext_hook, raw=False, strict_map_key=False,
                                    use_list=True, object_pairs_hook=_dict_with_tuple_keys)
            kind = set if code == _EXT_SET else frozenset
            return kind(_as_tuple(k) if type(k) is list else k for k in items)
        if code != _EXT_ARRAY:
            raise ValueError(f"unknown msgpack ext type {code} in an mpcsim frame")
        arr = array_of(data, buffers, "frame")
        if writable:
            return arr.copy()
        if arr.flags.writeable:
            arr = arr.view()
            arr.flags.writeable = False
        return arr

    return msgpack.unpackb(frame.header, ext_hook=ext_hook, raw=False, strict_map_key=False,
                           use_list=True, object_pairs_hook=_dict_with_tuple_keys)


def _dict_with_tuple_keys(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    """Build a decoded dict; keys that arrive as lists were tuples (a list is no dict key)."""
    return {(_as_tuple(k) if type(k) is list else k): v for k, v in pairs}


def _as_tuple(key: list[Any]) -> tuple[Any, ...]:
    return tuple(_as_tuple(k) if type(k) is list else k for k in key)


class Unencodable(NamedTuple):
    """Where a value fails to encode (`path`, e.g. "payload[2]['k']"), the failing part's
    type name, and why, as the end of a sentence that starts with the path."""

    path: str
    type_name: str
    reason: str


def find_unencodable(value: Any, path: str = "payload") -> Unencodable | None:
    """The first part of `value` that does not encode, or None when all of it encodes."""
    try:
        encode(value)
        return None
    except (TypeError, ValueError, OverflowError):
        pass
    if isinstance(value, dict):
        for key, item in value.items():
            found = find_unencodable(key, f"{path} key {key!r:.40}") or find_unencodable(
                item, f"{path}[{key!r:.40}]"
            )
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = find_unencodable(item, f"{path}[{i}]")
            if found:
                return found
    elif isinstance(value, (set, frozenset)):
        for item in value:
            found = find_unencodable(item, f"{path} element {item!r:.40}")
            if found:
                return found
    return Unencodable(path, type(value).__name__, _reason(value))


def _reason(value: Any) -> str:
    """Why `value` itself (not a part of it) does not encode."""
    if isinstance(value, int) and not isinstance(value, bool):
        digits = str(value)
        shown = digits if len(digits) <= 40 else f"{digits[:16]}...{digits[-8:]}"
        return (f"is the int {shown} ({value.bit_length()} bits), outside the 64-bit range "
                f"messages and outputs carry (-2**63 to 2**64 - 1); send it as a str, or split it "
                f"into 64-bit parts")
    if isinstance(value, np.ndarray):
        return (f"is a numpy array of dtype {value.dtype}, and only numeric dtypes (bool, int, "
                f"uint, float, complex) are carried; convert it (e.g. .astype(np.int64)) or "
                f"send a list")
    if isinstance(value, np.generic):
        return (f"is a numpy scalar of dtype {value.dtype}, and only bool, int, uint and "
                f"float scalars are carried; convert it (e.g. .item(), or a 1-element array)")
    return (f"has type {type(value).__name__}, which mpcsim cannot count or encode")


_PLAIN = frozenset((type(None), bool, int, float))
_PLAIN_OR_ARRAY = _PLAIN | {np.ndarray}


def plain_numbers(values: list[Any], types: set[type] | None = None) -> bool:
    """True when every value is None, a bool, a float or an int msgpack carries (-2^63 to
    2^64 - 1): values a frame would deliver unchanged, in value and type, so an in-process
    caller may skip the round trip. `types`: the values' types or a superset, if known."""
    if types is None:
        types = set(map(type, values))
    if not types <= _PLAIN:
        return False
    if int not in types:
        return True
    ints = values if len(types) == 1 else [v for v in values if type(v) is int]
    try:
        np.fromiter(ints, dtype=np.int64, count=len(ints))  # one pass in C: all fit int64
        return True
    except OverflowError:
        return -(2**63) <= min(ints) and max(ints) < 2**64


class InProcess(NamedTuple):
    """A value handed over in one process in place of its Frame: `copied`'s private copy."""

    value: Any


class _NotPlain(Exception):
    """A part `copied` leaves to the round trip."""


def copied(value: Any, types: set[type] | None = None) -> Any:
    """decode(encode(value), writable=True), built by copying when `value` holds only dicts
    (with str, int, float, bool or None keys), lists, tuples (as lists), numeric arrays (as
    writable contiguous copies), numpy bool/int/uint/float scalars (as Python numbers) and
    None, bool, int (64-bit), float, str, bytes; anything else takes the round trip, and
    raises exactly as `encode` does. A flat list of plain numbers (plain_numbers) and numeric
    arrays is copied in a few passes in C; `types`, if known, are its items' types or a
    superset (as for plain_numbers)."""
    if type(value) is list:
        flat = _flat_copy(value, types)
        if flat is not None:
            return flat
    try:
        return _copy(value)
    except _NotPlain:
        return decode(encode(value), writable=True)


def _flat_copy(values: list[Any], types: set[type] | None) -> list[Any] | None:
    """`copied` of a list of plain numbers and numeric arrays, or None for any other list."""
    if types is None:
        types = set(map(type, values))
    if np.ndarray not in types:
        return list(values) if plain_numbers(values, types) else None
    if not types <= _PLAIN_OR_ARRAY:
        return None
    arrays = [v for v in values if type(v) is np.ndarray]
    if not {a.dtype.kind for a in arrays} <= _NUMERIC_KINDS:
        return None
    if not plain_numbers([v for v in values if type(v) is not np.ndarray]):
        return None
    return [v.copy() if type(v) is np.ndarray else v for v in values]


def opened(packed: Frame | InProcess) -> Any:
    """A fresh writable copy of what `packed` holds (decoded, or copied again)."""
    return copied(packed.value) if type(packed) is InProcess else decode(packed, writable=True)


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind is np.ndarray:
        if value.dtype.kind not in _NUMERIC_KINDS:
            raise _NotPlain
        return value.copy()
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) not in _KEYS or (type(key) is int and not -(2**63) <= key < 2**64):
                raise _NotPlain
            out[key] = _copy(item)
        return out
    if kind is list or kind is tuple:
        return [_copy(item) for item in value]
    if kind is int:
        if not -(2**63) <= value < 2**64:
            raise _NotPlain
        return value
    if kind in _ATOMS:
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    raise _NotPlain


_KEYS = frozenset((str, int, float, bool, type(None)))
_ATOMS = frozenset((float, bool, str, bytes, type(None)))
