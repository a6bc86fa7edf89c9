"""Values as words: how a machine's memory, output and messages sit in a residual row.

A value is split into two parts:

- its **data words**: the numbers it holds, in order (a scalar is one word, an array its
  elements in C order), each an integer with |w| <= WORD_LIMIT = 2^50, stored exactly in a
  float64 column. Data words never exceed mpcsim's count of the value (mpcsim.words), so a
  machine's memory + output fits s = memory_words data columns whenever mpcsim's caps hold.
- its **shape codes**: a prefix code of small ints (0..65535) that says how to rebuild the
  value from its data words: types, lengths, dtypes, array shapes, names and strings. Codes
  are packed three to a float64 column (c0 + c1 2^16 + c2 2^32 < 2^48, exact), the packed
  stream starting with its own length.

Representable: None, bool, int, float (integral), numpy scalars and arrays of bool, int8..64,
uint8..64, float16..64 (integral values, native byte order), str and bytes (held in shape
codes), and lists, tuples and dicts of these. Refused, with NotRepresentable naming the path:
non-integral or non-finite floats, -0.0, integers beyond WORD_LIMIT, complex numbers, sets,
and any other type. (mpcsim itself refuses what its wire cannot carry; see mpcsim.wire.)

Why 2^50: routing averages a receiver's cells over its c senders (transformer_bridge
.mpc_to_transformer.routing); a clean cell holds one sender's word w, read back as
rint(fl(w / c) * c), which is w exactly when 2 u |w| < 1/2, u = 2^-53, i.e. |w| < 2^51.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mpcsim import MPCError

__all__ = ["NotRepresentable", "Refusal", "encode", "decode", "pack", "unpack", "packed_columns",
           "array_words", "data_paths", "WORD_LIMIT", "CODE_LIMIT", "DTYPES", "dtype_code"]

WORD_LIMIT = 2 ** 50
CODE_LIMIT = 2 ** 16  # a shape code is 0..CODE_LIMIT-1
CODES_PER_COLUMN = 3

# shape-code tags
NONE, BOOL, INT, FLOAT, NPSCALAR, ARRAY, LIST, TUPLE, DICT, STR, BYTES, RUN = range(1, 13)
_SCALAR_TAGS = {type(None): NONE, bool: BOOL, int: INT, float: FLOAT}
_RUN_MIN = 4  # a list run of this many same-type Python scalars is coded as RUN tag count

DTYPES = tuple(np.dtype(t) for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                                     np.uint16, np.uint32, np.uint64, np.float16, np.float32,
                                     np.float64))
_DTYPE_CODE = {dt: i for i, dt in enumerate(DTYPES)}


class NotRepresentable(MPCError, ValueError):
    """A value the compiled transformer cannot hold as words: which value, where, why."""

    machine: int | None  # the machine holding or sending it (None: an input word)
    round_idx: int  # the round that produced it (0 for the input and the initial memory)
    where: str  # e.g. "memory['acc'][2]", "the message to machine 3", "input word 5"
    value: str  # repr of the offending part, truncated
    reason: str  # what is wrong and what to change

    def _message(self) -> str:
        who = "the input" if self.machine is None else f"machine {self.machine}"
        return (f"{who}, round {self.round_idx}: {self.where} = {self.value} cannot be held "
                f"by the compiled transformer: {self.reason}")


class Refusal(Exception):
    """Internal: raised with the offending path; callers add machine and round."""

    def __init__(self, path: str, value: Any, reason: str) -> None:
        super().__init__(path, reason)
        self.path, self.value, self.reason = path, _short(value), reason

    def error(self, machine: int | None, round_idx: int, where: str = "") -> NotRepresentable:
        return NotRepresentable(machine=machine, round_idx=round_idx,
                                where=(where + self.path) if where else self.path,
                                value=self.value, reason=self.reason)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def dtype_code(dtype: np.dtype, path: str) -> int:
    code = _DTYPE_CODE.get(np.dtype(dtype))
    if code is None or not np.dtype(dtype).isnative:
        raise Refusal(path, dtype, f"dtype {dtype} is not one of bool, int8..64, uint8..64, "
                                   "float16..64 in native byte order")
    return code


# -- encoding --------------------------------------------------------------------------------

def encode(value: Any, path: str = "") -> tuple[list[int], list[float]]:
    """(shape codes, data words) of `value`; raises Refusal naming the offending part."""
    codes: list[int] = []
    data: list[float] = []
    _encode(value, path, codes, data)
    return codes, data


def data_paths(value: Any, path: str = "") -> list[str]:
    """The path of each data word of `value`, in encode's order (for error messages)."""
    t = type(value)
    if value is None or t is str or t is bytes:
        return []
    if t is np.ndarray:
        return [f"{path}[{', '.join(map(str, i))}]" if value.ndim > 1 else f"{path}[{i[0]}]"
                for i in np.ndindex(value.shape)]
    if t is list or t is tuple:
        return [p for i, item in enumerate(value) for p in data_paths(item, f"{path}[{i}]")]
    if t is dict:
        return [p for key, item in value.items()
                for p in data_paths(key, f"{path} key {key!r}") + data_paths(item,
                                                                             f"{path}[{key!r}]")]
    return [path]


def _word(v: Any, path: str) -> float:
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not np.isfinite(f) or f != int(f) or (f == 0.0 and np.signbit(f)):
            raise Refusal(path, v, "a word must be an integer (a float holding one is kept "
                                   "with its type; non-integral, non-finite and -0.0 are not)")
        if abs(f) > WORD_LIMIT:
            raise Refusal(path, v, f"a word must satisfy |w| <= 2^50 (WORD_LIMIT)")
        return f
    i = int(v)
    if abs(i) > WORD_LIMIT:
        raise Refusal(path, v, "a word must satisfy |w| <= 2^50 (WORD_LIMIT)")
    return float(i)


def _code(n: int, path: str, what: str) -> int:
    if not 0 <= n < CODE_LIMIT:
        raise Refusal(path, n, f"{what} must be below {CODE_LIMIT} to fit a shape code")
    return n


def array_words(arr: np.ndarray, path: str) -> np.ndarray:
    """The elements as float64 words, checked: integral, |w| <= WORD_LIMIT, no -0.0."""
    kind = arr.dtype.kind
    flat = arr.reshape(-1)
    if kind == "b":
        return flat.astype(np.float64)
    if kind in "iu":
        if flat.size and (int(flat.max()) > WORD_LIMIT or int(flat.min()) < -WORD_LIMIT):
            bad = flat[(flat > WORD_LIMIT) | (flat < -WORD_LIMIT)][0]
            raise Refusal(path, bad, "a word must satisfy |w| <= 2^50 (WORD_LIMIT)")
        return flat.astype(np.float64)
    words = flat.astype(np.float64)
    ok = np.isfinite(words)
    ok[ok] = (words[ok] == np.trunc(words[ok])) & (np.abs(words[ok]) <= WORD_LIMIT)
    ok &= ~((words == 0.0) & np.signbit(words))
    if not ok.all():
        at = int(np.flatnonzero(~ok)[0])
        index = ", ".join(str(int(i)) for i in np.unravel_index(at, arr.shape))
        raise Refusal(f"{path}[{index}]" if arr.ndim else path, flat[at].item(),
                      "array words must be integers with |w| <= 2^50 (no -0.0, no nan or inf)")
    return words


def _encode(v: Any, path: str, codes: list[int], data: list[float]) -> None:
    t = type(v)
    tag = _SCALAR_TAGS.get(t)
    if tag is not None:
        codes.append(tag)
        if tag != NONE:
            data.append(_word(v, path))
    elif t is np.ndarray:
        codes += [ARRAY, dtype_code(v.dtype, path), int(v.flags.writeable), _code(v.ndim, path,
                                                                                  "ndim")]
        codes += [_code(int(d), path, "an array dimension") for d in v.shape]
        data.extend(array_words(v, path).tolist())
    elif isinstance(v, np.generic) and not isinstance(v, (np.str_, np.bytes_)):
        codes += [NPSCALAR, dtype_code(v.dtype, path)]
        data.append(float(array_words(np.asarray(v), path)[0]))
    elif t is list or t is tuple:
        codes += [LIST if t is list else TUPLE, _code(len(v), path, "a list's length")]
        _encode_items(v, path, codes, data)
    elif t is dict:
        codes += [DICT, _code(len(v), path, "a dict's size")]
        for key, item in v.items():
            _encode(key, f"{path} key {key!r}", codes, data)
            _encode(item, f"{path}[{key!r}]", codes, data)
    elif t is str or t is bytes:
        raw = v.encode("utf-8") if t is str else v
        codes += [STR if t is str else BYTES, _code(len(raw), path, "a string's length")]
        padded = raw + b"\0" * (len(raw) % 2)
        codes += np.frombuffer(padded, dtype="<u2").tolist() if padded else []
    else:
        raise Refusal(path, v, f"type {t.__name__} is not representable (use None, bool, int, "
                               "integral float, numpy ints/floats, str, bytes, lists, tuples, "
                               "dicts)")


def _encode_items(items: Any, path: str, codes: list[int], data: list[float]) -> None:
    i, n = 0, len(items)
    while i < n:
        t = type(items[i])
        j = i + 1
        if t in _SCALAR_TAGS:
            while j < n and type(items[j]) is t:
                j += 1
        if j - i >= _RUN_MIN:
            codes += [RUN, _SCALAR_TAGS[t], _code(j - i, path, "a run's length")]
            if t is not type(None):
                data.extend(_word(x, f"{path}[{i + k}]") for k, x in enumerate(items[i:j]))
            i = j
        else:
            _encode(items[i], f"{path}[{i}]", codes, data)
            i += 1


# -- decoding --------------------------------------------------------------------------------

class _Reader:
    __slots__ = ("codes", "data", "at", "word")

    def __init__(self, codes: Any, data: Any) -> None:
        self.codes, self.data, self.at, self.word = codes, data, 0, 0

    def code(self) -> int:
        c = int(self.codes[self.at])
        self.at += 1
        return c

    def words(self, n: int) -> Any:
        out = self.data[self.word:self.word + n]
        self.word += n
        return out


def decode(codes: Any, data: Any) -> tuple[Any, int, int]:
    """(value, codes used, data words used) from a code sequence and data words (float64)."""
    reader = _Reader(codes, data)
    value = _decode(reader)
    return value, reader.at, reader.word


def _scalar(tag: int, word: float) -> Any:
    if tag == BOOL:
        return bool(word)
    if tag == INT:
        return int(word)
    return float(word)


def _decode(r: _Reader) -> Any:
    tag = r.code()
    if tag == NONE:
        return None
    if tag in (BOOL, INT, FLOAT):
        return _scalar(tag, float(r.words(1)[0]))
    if tag == NPSCALAR:
        dtype = DTYPES[r.code()]
        return np.asarray(r.words(1), dtype=np.float64).astype(dtype)[0]
    if tag == ARRAY:
        dtype, writable, ndim = DTYPES[r.code()], r.code(), r.code()
        shape = tuple(r.code() for _ in range(ndim))
        size = int(np.prod(shape, dtype=np.int64))
        arr = np.asarray(r.words(size), dtype=np.float64).astype(dtype).reshape(shape)
        if not writable:
            arr.flags.writeable = False
        return arr
    if tag in (LIST, TUPLE):
        n = r.code()
        items: list[Any] = []
        while len(items) < n:
            if int(r.codes[r.at]) == RUN:
                r.at += 1
                kind, count = r.code(), r.code()
                if kind == NONE:
                    items += [None] * count
                else:
                    items += [_scalar(kind, w) for w in np.asarray(r.words(count)).tolist()]
            else:
                items.append(_decode(r))
        return items if tag == LIST else tuple(items)
    if tag == DICT:
        n = r.code()
        out = {}
        for _ in range(n):
            key = _decode(r)
            out[key] = _decode(r)
        return out
    if tag in (STR, BYTES):
        n = r.code()
        raw = np.asarray([r.code() for _ in range((n + 1) // 2)], dtype="<u2").tobytes()[:n]
        return raw.decode("utf-8") if tag == STR else raw
    raise ValueError(f"corrupt shape code {tag} at position {r.at - 1}")


# -- packing codes into float64 columns --------------------------------------------------------

def packed_columns(num_codes: int) -> int:
    """Columns that hold a stream of num_codes codes (plus its length)."""
    return -(-(num_codes + 1) // CODES_PER_COLUMN)


_RADIX = np.array([1, 1 << 16, 1 << 32], dtype=np.int64)


def pack(codes: list[int], columns: int) -> np.ndarray:
    """The code stream [len, *codes] as `columns` float64 words (zero-padded); the caller
    checks that it fits (packed_columns(len(codes)) <= columns)."""
    assert len(codes) < CODE_LIMIT and packed_columns(len(codes)) <= columns
    stream = np.zeros(columns * CODES_PER_COLUMN, dtype=np.int64)
    stream[0] = len(codes)
    stream[1:len(codes) + 1] = codes
    return (stream.reshape(columns, CODES_PER_COLUMN) @ _RADIX).astype(np.float64)


def unpack(columns: np.ndarray) -> np.ndarray:
    """The codes packed by `pack` (int64), from exact float64 words."""
    words = np.rint(columns).astype(np.int64)
    stream = np.stack([words & 0xFFFF, (words >> 16) & 0xFFFF, words >> 32], axis=1).reshape(-1)
    return stream[1:1 + int(stream[0])]
