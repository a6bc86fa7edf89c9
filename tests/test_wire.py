"""The wire format (mpcsim.wire): what round-trips, zero-copy read-only arrays, and what is
refused on encode (non-numeric dtypes, custom objects) and on decode (a hostile frame)."""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cases import PAYLOADS, ZERO_DIM_PAYLOADS, as_received, assert_same
from mpcsim import wire


@pytest.mark.parametrize("value", PAYLOADS, ids=lambda v: f"{type(v).__name__}:{v!r:.30}")
def test_every_encodable_value_round_trips(value: Any) -> None:
    assert_same(wire.decode(wire.encode(value)), as_received(value))


def test_a_frame_detached_from_the_sender_round_trips_too() -> None:
    value = {"rows": np.arange(6.0).reshape(2, 3), "ids": [1, 2], "tag": "x"}
    assert_same(wire.decode(wire.encode(value).detached()), as_received(value))


@pytest.mark.parametrize("value", ZERO_DIM_PAYLOADS, ids=repr)
def test_a_zero_dim_array_keeps_its_shape(value: np.ndarray) -> None:
    assert_same(wire.decode(wire.encode(value)), value)


def test_encoding_references_contiguous_arrays_without_copying() -> None:
    arr = np.arange(10, dtype=np.int32)
    frame = wire.encode([arr])
    assert np.shares_memory(frame.buffers[0], arr)


def test_decoded_arrays_are_read_only_views_of_the_frame_buffers() -> None:
    frame = wire.encode({"a": np.arange(8.0), "b": [np.ones((2, 2), dtype=np.int16)]}).detached()

    out = wire.decode(frame)

    assert np.shares_memory(out["a"], frame.buffers[0])
    assert np.shares_memory(out["b"][0], frame.buffers[1])
    for arr in (out["a"], out["b"][0]):
        assert not arr.flags.writeable
        with pytest.raises(ValueError):
            arr[(0,) * arr.ndim] = 5


def test_writable_decode_copies_the_arrays() -> None:
    frame = wire.encode([np.arange(8.0)]).detached()

    (arr,) = wire.decode(frame, writable=True)

    assert arr.flags.writeable
    assert not np.shares_memory(arr, frame.buffers[0])
    arr[0] = 42.0
    assert wire.decode(frame)[0][0] == 0.0


def test_a_detached_frame_shares_no_memory_with_the_sender() -> None:
    arr = np.arange(4.0)
    frame = wire.encode(arr).detached()
    arr[:] = -1.0
    assert wire.decode(frame).tolist() == [0.0, 1.0, 2.0, 3.0]


@pytest.mark.parametrize("arr", [
    np.array(["a", "bc"]),
    np.array([b"x"]),
    np.array([object(), 1], dtype=object),
    np.array(["2020-01-01"], dtype="datetime64[D]"),
    np.array([1], dtype="timedelta64[s]"),
    np.zeros(2, dtype=[("a", "i4"), ("b", "f8")]),
    np.zeros(3, dtype="V4"),
], ids=lambda a: str(a.dtype))
def test_arrays_of_non_numeric_dtype_are_refused(arr: np.ndarray) -> None:
    with pytest.raises(TypeError):
        wire.encode({"payload": arr})


class Custom:
    def __repr__(self) -> str:
        return "Custom()"


@pytest.mark.parametrize("value", [
    Custom(), object(), {1, Custom()}, frozenset({1j}), 1 + 2j, len, slice(1, 2), [1, Custom()],
], ids=lambda v: type(v).__name__)
def test_custom_objects_are_refused_also_inside_sets(value: Any) -> None:
    with pytest.raises(TypeError):
        wire.encode(value)


def _hostile_frame(meta: list[Any], code: int = 1) -> wire.Frame:
    header = msgpack.packb([msgpack.ExtType(code, msgpack.packb(meta))], use_bin_type=True)
    return wire.Frame(header, (np.zeros(8, dtype=np.uint8),))


@pytest.mark.parametrize("dtype", ["|O", "O", "|V8", "<U2", "<M8[s]"])
def test_a_frame_claiming_a_non_numeric_dtype_is_refused_on_decode(dtype: str) -> None:
    with pytest.raises(ValueError, match="non-numeric dtype"):
        wire.decode(_hostile_frame([dtype, [1], 0]))


def test_a_frame_with_an_unknown_ext_type_is_refused_on_decode() -> None:
    with pytest.raises(ValueError, match="unknown msgpack ext type 9"):
        wire.decode(_hostile_frame(["<f8", [1], 0], code=9))


def test_a_value_that_encodes_also_decodes() -> None:
    value = {(1, 2): "pair"}
    try:
        frame = wire.encode(value)
    except TypeError:
        return  # refused up front: fine
    wire.decode(frame)


@pytest.mark.parametrize("value, found", [
    ({"a": [1, {2, Custom()}]}, ("payload['a'][1] element Custom()", "Custom")),
    ([1, 2, Custom()], ("payload[2]", "Custom")),
    ((0, [np.array(["s"])]), ("payload[1][0]", "ndarray")),
    ({"ok": 1, Custom(): 2}, ("payload key Custom()", "Custom")),
    (Custom(), ("payload", "Custom")),
    ([0, {"k": 2**64}], ("payload[1]['k']", "int")),
])
def test_find_unencodable_gives_the_path_and_type(value: Any, found: tuple[str, str]) -> None:
    assert wire.find_unencodable(value)[:2] == found


@pytest.mark.parametrize("value, says", [
    (2**80, "is the int 1208925819614629174706176 (81 bits), outside the 64-bit range"),
    (-(2**63) - 1, "is the int -9223372036854775809 (64 bits), outside the 64-bit range"),
    (np.array([object()]), "is a numpy array of dtype object, and only numeric dtypes"),
    (np.array(["s"]), "is a numpy array of dtype <U1"),
    (np.complex128(1j), "is a numpy scalar of dtype complex128"),
    (Custom(), "has type Custom, which mpcsim cannot count or encode"),
])
def test_find_unencodable_says_what_is_wrong_not_only_the_type(value: Any, says: str) -> None:
    assert wire.find_unencodable(value).reason.startswith(says)


@pytest.mark.parametrize("value", [{1, 2}, frozenset({"a", (1, 2)}), {"s": {(1, (2, 3))}},
                                   {frozenset({1}): [set()]}], ids=repr)
def test_sets_and_frozensets_round_trip_with_tuple_elements(value: Any) -> None:
    assert wire.decode(wire.encode(value)) == value
    assert type(wire.decode(wire.encode(value))) is type(value)


def test_find_unencodable_is_none_for_an_encodable_value() -> None:
    assert wire.find_unencodable(PAYLOADS) is None


# -- law: decode(encode(v)) is v as a receiver sees it -----------------------------------------

numeric_arrays = st.sampled_from(["i1", "i4", "u2", "u8", "f4", "f8", "c16", "?", ">i8"]).flatmap(
    lambda dtype: st.lists(st.integers(0, 100), min_size=0, max_size=6).map(
        lambda xs: np.array(xs, dtype=dtype)))
leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False), st.text(max_size=10), st.binary(max_size=10), numeric_arrays,
)
encodable = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.integers(-5, 5) | st.text(max_size=4), inner, max_size=3)),
    max_leaves=10)


@settings(max_examples=150, deadline=None)
@given(encodable)
def test_decode_inverts_encode(value: Any) -> None:
    assert_same(wire.decode(wire.encode(value).detached()), as_received(value))


unusual = st.one_of(st.integers(2**64, 2**70), st.frozensets(st.integers(0, 9), max_size=3),
                    st.just(np.float32(1.5)), st.just(np.int8(-3)), st.just(np.array(["a"])),
                    st.just(object()), st.just(np.arange(6).reshape(2, 3)[:, ::2]))
maybe_encodable = st.recursive(leaves | unusual, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.integers(-5, 5) | st.text(max_size=4) | st.tuples(st.integers(0, 3)),
                    inner, max_size=3)), max_leaves=10)


@settings(max_examples=200, deadline=None)
@given(maybe_encodable)
def test_an_in_process_copy_is_what_a_round_trip_gives(value: Any) -> None:
    """wire.copied (the local backend's initial memories and outputs) gives what a writable
    decode of the frame gives, or raises what encode raises; its arrays are the receiver's
    own writable copies."""
    try:
        want = wire.decode(wire.encode(value), writable=True)
    except Exception as exc:  # noqa: BLE001 - the same error, whatever it is
        with pytest.raises(type(exc)):
            wire.copied(value)
        return
    got = wire.copied(value)
    assert_same(got, want)
    assert_same(wire.opened(wire.InProcess(got)), want)
    stack = [got]
    while stack:
        part = stack.pop()
        if isinstance(part, np.ndarray):
            assert part.flags.writeable and part.flags.c_contiguous
        elif isinstance(part, dict):
            stack.extend(part.values())
        elif isinstance(part, list):
            stack.extend(part)


def test_a_flat_list_is_copied_as_a_writable_decode_of_the_frame_gives_it() -> None:
    big_endian = np.arange(3, dtype=">i4")
    values = [None, 1, 2.5, True, -(2**63), 2**64 - 1, np.arange(6).reshape(2, 3)[:, ::2],
              np.float32(1.5) * np.ones(0, dtype=np.float32), np.array(7), big_endian,
              np.array([1 + 2j]), np.array([True, False])]
    copied = wire.copied(values)
    decoded = wire.decode(wire.encode(values), writable=True)
    assert len(copied) == len(decoded)
    for got, want in zip(copied, decoded):
        assert type(got) is type(want)
        if isinstance(want, np.ndarray):
            assert got.dtype == want.dtype and got.shape == want.shape
            assert np.array_equal(got, want) and got.flags.writeable
            assert got.flags.c_contiguous and got.base is None
        else:
            assert got == want
    assert copied[6] is not values[6]


@pytest.mark.parametrize("value", [np.float64(1.0), (1, 2), [1], 2**64, -(2**63) - 1,
                                   np.array(["a"]), np.array([object()])])
def test_a_flat_list_with_what_a_frame_changes_or_refuses_is_copied_as_the_frame_would(
        value: Any) -> None:
    values = [1, np.zeros(2), value]
    try:
        want = wire.decode(wire.encode(values), writable=True)
    except (TypeError, ValueError, OverflowError) as exc:
        with pytest.raises(type(exc)):
            wire.copied(values)
        return
    got = wire.copied(values)
    assert [type(v) for v in got] == [type(v) for v in want]
    assert repr(got) == repr(want)
