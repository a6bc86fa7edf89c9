"""The word-counting rule: how many MPC words a value occupies.

One rule for every backend, applied to memory, outputs and message payloads:

- a number (None, bool, int, float, numpy scalar) is one word;
- a numpy array counts its elements (``arr.size``), whatever its dtype;
- str and bytes take ceil(len / 8) words (str measured in UTF-8 bytes), so 8 bytes per word;
- lists, tuples, sets and dicts count the sum of their parts (dict keys and values);
- a message costs ``max(1, words(payload))``: sending is never free;
- the keys of ``machine.memory`` itself are variable names and cost nothing; its values count.

Anything else (a custom object, a file handle) cannot be counted and raises UnsupportedValue
naming where it was found, as a path into the value (``memory['x'][2]['k']``). Message
payloads, outputs and initial memory are also encoded (mpcsim.wire), which refuses a few values
this rule counts: ints outside 64 bits, numpy arrays of a non-numeric dtype (object, str, ...)
and non-numeric numpy scalars; ``mpcsim.UnsupportedValue`` says which, and where.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["words", "memory_words", "message_words", "UncountableValue"]

_ndarray = np.ndarray
_generic = np.generic


class UncountableValue(TypeError):
    """Internal: raised with the offending path; hosts turn it into UnsupportedValue.

    `path` leads from the counted value to the uncountable part: "" for the value itself,
    "[2]['k']" for value[2]['k'] (memory_words prefixes "memory['x']")."""

    def __init__(self, path: str, type_name: str) -> None:
        super().__init__(path, type_name)
        self.path = path
        self.type_name = type_name

    def inside(self, step: str) -> UncountableValue:
        """The same error one container further out: `step` is the part's place in it."""
        return UncountableValue(step + self.path, self.type_name)


def words(value: Any) -> int:
    """Words occupied by `value` under the counting rule in this module's docstring."""
    t = type(value)
    if t is int or t is float or t is bool or value is None:
        return 1
    if t is _ndarray:
        return value.size
    if t is list or t is tuple:
        total = 0
        try:
            for item in value:
                ti = type(item)
                total += 1 if (ti is int or ti is float) else words(item)
        except UncountableValue:
            raise _located(value) from None
        return total
    return _words_slow(value, t)


def _located(value: Any) -> UncountableValue:
    """The UncountableValue of the first uncountable part of a container, with its path."""
    if isinstance(value, dict):
        for key, item in value.items():
            for part, step in ((key, f" key {key!r:.40}"), (item, f"[{key!r:.40}]")):
                try:
                    words(part)
                except UncountableValue as exc:
                    return exc.inside(step)
    else:
        for i, item in enumerate(value):
            try:
                words(item)
            except UncountableValue as exc:
                return exc.inside(f"[{i}]" if not isinstance(value, (set, frozenset))
                                  else f" element {item!r:.40}")
    return UncountableValue("", type(value).__name__)  # not reached: some part failed


def _words_slow(value: Any, t: type) -> int:
    if t is str:
        n = len(value)
        if not value.isascii():
            n = len(value.encode("utf-8"))
        return -(-n // 8)
    if t is bytes or t is bytearray:
        return -(-len(value) // 8)
    if t is dict:
        try:
            return sum(words(k) + words(v) for k, v in value.items())
        except UncountableValue:
            raise _located(value) from None
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
    try:
        if isinstance(value, (list, tuple, set, frozenset)):
            return sum(words(item) for item in value)
        if isinstance(value, dict):
            return sum(words(k) + words(v) for k, v in value.items())
    except UncountableValue:
        raise _located(value) from None
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
                raise exc.inside(f"memory[{_key_of(memory, value)!r}]") from None
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
