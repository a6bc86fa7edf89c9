"""The word-counting rule (mpcsim.words): numbers 1, arrays their elements, str/bytes 8 bytes
per word (str in UTF-8), containers the sum of their parts, messages at least 1 word, memory
keys free, and anything else refused."""

from __future__ import annotations

import enum

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mpcsim
from mpcsim import words
from mpcsim.wordcount import UncountableValue, memory_words, message_words


class Colour(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize("value", [
    None, True, False, 0, -5, 2**100, 1.5, float("nan"), Colour.RED,
    np.int8(3), np.uint64(2**63), np.float64(2.0), np.float16(1.0), np.bool_(False),
], ids=repr)
def test_a_number_is_one_word(value: object) -> None:
    assert words(value) == 1


@pytest.mark.parametrize("arr, expected", [
    (np.zeros((3, 4), dtype=np.int8), 12),
    (np.zeros((3, 4), dtype=np.float64), 12),
    (np.zeros((3, 4), dtype=np.complex128), 12),
    (np.zeros((2, 0, 5)), 0),
    (np.array(7.0), 1),
    (np.arange(10)[::3], 4),
])
def test_an_array_counts_its_elements_whatever_its_dtype(arr: np.ndarray, expected: int) -> None:
    assert words(arr) == expected


@pytest.mark.parametrize("value, expected", [
    ("", 0), ("a", 1), ("a" * 8, 1), ("a" * 9, 2), ("a" * 64, 8),
    (b"", 0), (b"x", 1), (b"x" * 16, 2), (b"x" * 17, 3), (bytearray(b"x" * 9), 2),
])
def test_str_and_bytes_take_one_word_per_8_bytes(value: str | bytes, expected: int) -> None:
    assert words(value) == expected


@pytest.mark.parametrize("value, utf8_bytes", [
    ("é" * 4, 8), ("é" * 5, 10), ("日本語", 9), ("✓", 3), ("😀" * 2, 8), ("a😀", 5),
])
def test_non_ascii_str_is_measured_in_utf8_bytes(value: str, utf8_bytes: int) -> None:
    assert len(value.encode("utf-8")) == utf8_bytes
    assert words(value) == -(-utf8_bytes // 8)


@pytest.mark.parametrize("value, expected", [
    ([], 0),
    ([1, 2.0, "abc", np.zeros(3)], 6),
    ((1, (2, (3, 4))), 4),
    ({1, 2, 3}, 3),
    (frozenset({"a", "b"}), 2),
    ({1: "a", "key": [1, 2]}, 5),  # (1 + 1) + (1 + 2): dict keys count inside values
    ({}, 0),
    ([[], [[]], {}], 0),
    ([np.zeros((2, 2)), {"x": np.ones(5)}], 4 + 1 + 5),
])
def test_containers_count_the_sum_of_their_parts(value: object, expected: int) -> None:
    assert words(value) == expected


def test_memory_keys_are_free_but_nested_dict_keys_count() -> None:
    long_name = "a_descriptive_variable_name_of_many_bytes"
    assert memory_words({long_name: 1}) == 1
    assert memory_words({long_name: {long_name: 1}}) == words(long_name) + 1
    assert memory_words({"a": np.zeros(10), "b": "x" * 9, "c": None}) == 10 + 2 + 1
    assert memory_words({}) == 0


@pytest.mark.parametrize("payload, cost", [
    (None, 1), ([], 1), ({}, 1), ("", 1), (b"", 1), (np.zeros(0), 1),
    (7, 1), (np.zeros(5), 5), ("a" * 17, 3), ([1, 2, 3], 3),
], ids=repr)
def test_a_message_costs_at_least_one_word(payload: object, cost: int) -> None:
    assert message_words(payload) == cost


def empty_message_to_next(machine: mpcsim.Machine) -> None:
    if machine.round_idx == 0:
        machine.send((machine.id + 1) % machine.num_machines, [])
    machine.halt()


def test_an_empty_message_is_charged_one_word_in_the_trace() -> None:
    result = mpcsim.run(empty_message_to_next, num_machines=3, memory_words=1)

    assert result.trace.sent_words.tolist() == [1, 1, 1]
    assert result.trace.received_words.tolist() == [1, 1, 1]
    assert result.trace.rounds[0].words == 3


class Opaque:
    pass


@pytest.mark.parametrize("value, type_name", [
    (object(), "object"), (Opaque(), "Opaque"), (1 + 2j, "complex"),
    (len, "builtin_function_or_method"),
    ([1, Opaque()], "Opaque"), ({"k": {Opaque()}}, "Opaque"),
])
def test_an_uncountable_value_raises_naming_its_type(value: object, type_name: str) -> None:
    with pytest.raises(UncountableValue) as info:
        words(value)
    assert info.value.type_name == type_name
    assert isinstance(info.value, TypeError)


def test_an_uncountable_memory_value_names_its_key() -> None:
    with pytest.raises(UncountableValue) as info:
        memory_words({"fine": 1, "thing": Opaque()})
    assert info.value.path == "memory['thing']"


def test_numpy_str_and_bytes_count_like_str_and_bytes() -> None:
    assert words(np.str_("x" * 100)) == words("x" * 100) == 13
    assert words(np.bytes_(b"y" * 80)) == words(b"y" * 80) == 10


# -- laws --------------------------------------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=20), st.binary(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.integers() | st.text(max_size=5), inner, max_size=3)), max_leaves=12)


@settings(max_examples=100, deadline=None)
@given(st.lists(values, max_size=5), st.lists(values, max_size=5))
def test_words_add_up_over_concatenation(left: list, right: list) -> None:
    assert words(left + right) == words(left) + words(right)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_a_str_takes_ceil_of_utf8_bytes_over_8_words(text: str) -> None:
    assert words(text) == -(-len(text.encode("utf-8")) // 8)


@settings(max_examples=50, deadline=None)
@given(values)
def test_a_message_costs_max_of_one_and_its_words(value: object) -> None:
    assert message_words(value) == max(1, words(value))


@pytest.mark.parametrize("value, path", [
    ([1, 2, {"k": Opaque()}], "[2]['k']"),
    (({1: (2, Opaque())},), "[0][1][1]"),
    ({"a": [1, {2: [3]}, Opaque()]}, "['a'][2]"),
])
def test_an_uncountable_part_is_named_by_its_path_inside_containers(value: object,
                                                                    path: str) -> None:
    with pytest.raises(UncountableValue) as info:
        words(value)
    assert (info.value.path, info.value.type_name) == (path, "Opaque")


def test_an_uncountable_part_of_a_memory_value_is_named_from_memory() -> None:
    with pytest.raises(UncountableValue) as info:
        memory_words({"x": [1, [Opaque()]]})
    assert info.value.path == "memory['x'][1][0]"
