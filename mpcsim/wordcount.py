"""The word-counting rule: how many MPC words a value occupies.

One rule for every backend, applied to memory, outputs and message payloads:

- a number (None, bool, int, float, numpy scalar) is one word;
- a numpy array counts its elements (``arr.size``), whatever its dtype;
- str and bytes take ceil(len / 8) words (str measured in UTF-8 bytes), so 8 bytes per word;
- lists, tuples, sets and dicts count the sum of their parts (dict keys and values);
- a message costs ``max(1, words(payload))``: sending is never free;
- the keys of ``machine.memory`` itself are variable names and cost nothing; its values count.

Anything else (a custom object, a file handle) cannot be counted and raises UnsupportedValue
naming where it was found. Message payloads (mpcsim.wire) accept the same values except sets.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["words", "memory_words", "message_words", "UncountableValue"]

_ndarray = np.ndarray
_generic = np.generic


class UncountableValue(TypeError):
    """Internal: raised with the offending path; hosts turn it into UnsupportedValue."""

    def __init__(self, path: str, type_name: str) -> None:
        super().__init__(path, type_name)
        self.path = path
        self.type_name = type_name


def words(value: Any) -> int:
    """Words occupied by `value` under the counting rule in this module's docstring."""
    t = type(value)
    if t is int or t is float or t is bool or value is None:
        return 1
    if t is _ndarray:
        return value.size
    if t is list or t is tuple:
        total = 0
        for item in value:
            ti = type(item)
            total += 1 if (ti is int or ti is float) else words(item)
        return total
    return _words_slow(value, t)


def _words_slow(value: Any, t: type) -> int:
    if t is str:
        n = len(value)
        if not value.isascii():
            n = len(value.encode("utf-8"))
        return -(-n // 8)
    if t is bytes or t is bytearray:
        return -(-len(value) // 8)
    if t is dict:
        return sum(words(k) + words(v) for k, v in value.items())
    if isinstance(value, str):  # before np.generic: numpy.str_ is both
        return -(-len(value.encode("utf-8")) // 8)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return -(-len(memoryview(value).cast("B")) // 8)
    if isinstance(value, _generic):
        return 1
    if isinstance(value, _ndarray):
        return value.size
    if isinstance(value, (int, float)):  # int/float subclasses such as enum.IntEnum
        return 1
    if isinstance(value, (list, tuple, set, frozenset)):
        return sum(words(item) for item in value)
    if isinstance(value, dict):
        return sum(words(k) + words(v) for k, v in value.items())
    raise UncountableValue("", t.__name__)


def memory_words(memory: dict[str, Any]) -> int:
    """Words held by a machine's memory dict: the values only (keys are names)."""
    total = 0
    for value in memory.values():
        t = type(value)
        if t is int or t is float:
            total += 1
        elif t is _ndarray:
            total += value.size
        else:
            try:
                total += words(value)
            except UncountableValue as exc:
                raise UncountableValue(f"memory[{_key_of(memory, value)!r}]", exc.type_name)
    return total


def message_words(payload: Any) -> int:
    """Words a message costs: its payload's words, and at least one."""
    n = words(payload)
    return n if n > 0 else 1


def _key_of(memory: dict[str, Any], value: Any) -> str:
    for key, v in memory.items():
        if v is value:
            return key
    return "?"
