"""Columnar messages: Machine.send_many, Machine.inbox_columns and mpcsim.Messages.

The model's laws for send_many (caps, word conservation, order, backend independence) are
hypothesis properties in tests/test_properties.py and twin cases in tests/cases.py; here are the
API's own behaviours: shapes, errors, views and dtypes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import mpcsim
from mpcsim import Machine, MemoryLimitExceeded, Messages, ProgramError, UnknownDestination
from mpcsim import UnsupportedValue
from mpcsim.columns import SCALAR, common_cost, offsets_of, scalar_lens, take_segments


def deliver(send: Any, num_machines: int = 3, memory_words: int = 64,
            read: Any = None, **kwargs: Any) -> mpcsim.Result:
    """Machine 0 calls send(machine) in round 0; in round 1 every machine outputs read(machine)
    (default: its inbox_columns as plain lists)."""

    def columns(machine: Machine) -> Any:
        got = machine.inbox_columns
        return [got.sources.tolist(), got.offsets.tolist(), got.values.tolist(),
                str(got.values.dtype)]

    def program(machine: Machine) -> None:
        if machine.round_idx == 0:
            if machine.id == 0:
                send(machine)
            return
        machine.output = (read or columns)(machine)
        machine.halt()

    return mpcsim.run(program, num_machines=num_machines, memory_words=memory_words, **kwargs)


def test_rows_arrive_as_one_message_each_in_send_order() -> None:
    block = np.arange(12, dtype=np.int64).reshape(4, 3)

    result = deliver(lambda m: m.send_many([2, 1, 2, 2], block))

    assert result.output[2] == [[0, 0, 0], [0, 3, 6, 9], [0, 1, 2, 6, 7, 8, 9, 10, 11], "int64"]
    assert result.output[1] == [[0], [0, 3], [3, 4, 5], "int64"]
    assert result.trace.rounds[0].messages == 4
    assert result.trace.rounds[0].words == 12


def test_scalar_messages_come_back_as_python_numbers_in_the_inbox() -> None:
    result = deliver(lambda m: m.send_many([1, 1], np.array([2.5, -1.0])),
                     read=lambda m: m.inbox)

    assert result.output[1] == [[0, 2.5], [0, -1.0]]
    assert all(type(payload) is float for _, payload in result.output[1])


def test_empty_ragged_messages_cost_one_word_each() -> None:
    result = deliver(lambda m: m.send_many([1, 2, 1], np.array([5, 6]), offsets=[0, 0, 2, 2]))

    assert result.output[1] == [[0, 0], [0, 0, 0], [], "int64"]
    assert result.output[2] == [[0], [0, 2], [5, 6], "int64"]
    assert result.trace.rounds[0].words == 4  # 1 + 2 + 1
    assert result.trace.received_words.tolist() == [0, 2, 2]


def test_an_empty_batch_sends_nothing() -> None:
    result = deliver(lambda m: m.send_many([], np.zeros(0)))

    assert result.trace.rounds[0].messages == 0
    assert result.rounds == 2


def test_columns_mix_with_single_sends_in_call_order() -> None:
    def send(machine: Machine) -> None:
        machine.send(1, 10)
        machine.send_many([1, 1], np.array([20, 30]))
        machine.send(1, np.array([40, 41]))

    result = deliver(send, read=lambda m: [[s, np.asarray(p).tolist()] for s, p in m.inbox])
    columns = deliver(send)

    assert result.output[1] == [[0, 10], [0, 20], [0, 30], [0, [40, 41]]]
    assert columns.output[1] == [[0, 0, 0, 0], [0, 1, 2, 3, 5], [10, 20, 30, 40, 41], "int64"]


def test_mixed_dtypes_are_promoted_in_columns_but_kept_in_the_inbox() -> None:
    def send(machine: Machine) -> None:
        machine.send_many([1], np.array([3], dtype=np.int64))
        machine.send_many([1], np.array([0.5]))

    columns = deliver(send)
    tuples = deliver(send, read=lambda m: [type(p).__name__ for _, p in m.inbox])

    assert columns.output[1][2:] == [[3.0, 0.5], "float64"]
    assert tuples.output[1] == ["int", "float"]


def test_inbox_columns_refuse_a_non_numeric_single_message_and_say_what_to_use() -> None:
    def read(machine: Machine) -> Any:
        return machine.inbox_columns.values.tolist()

    with pytest.raises(ProgramError) as info:
        deliver(lambda m: m.send(1, {"k": 1}), read=read)

    assert "inbox_columns" in info.value.original_message
    assert "machine.inbox" in info.value.original_message


def test_received_arrays_are_read_only_views() -> None:
    def read(machine: Machine) -> Any:
        got = machine.inbox_columns
        if not len(got):
            return None
        try:
            got.values[0] = 99
        except ValueError:
            return "read-only"
        return "writable"

    result = deliver(lambda m: m.send_many([1], np.ones((1, 2))), read=read)

    assert result.output[1] == "read-only"


def test_dests_are_copied_at_the_call_and_payloads_taken_at_the_round_end() -> None:
    def send(machine: Machine) -> None:
        dests = np.array([1, 1])
        values = np.array([1, 2])
        machine.send_many(dests, values)
        dests[:] = 2  # too late: the destinations were checked and copied
        values[:] = 7  # like send: the payload is taken as it is when the round ends

    result = deliver(send)

    assert result.output[1][:3] == [[0, 0], [0, 1, 2], [7, 7]]
    assert result.output[2][:3] == [[], [0], []]


@pytest.mark.parametrize("dests, bad", [
    ([0, 5, -1], 5), ([-1], -1), ([0, 1.5], 1.5), ([True], True), (np.array([2, 3, 9]), 3),
])
def test_unknown_destinations_name_the_first_bad_id(dests: Any, bad: Any) -> None:
    with pytest.raises(UnknownDestination) as info:
        deliver(lambda m: m.send_many(dests, np.zeros(len(dests))))

    assert info.value.dest == bad
    assert (info.value.machine, info.value.round_idx, info.value.num_machines) == (0, 0, 3)


@pytest.mark.parametrize("payloads, offsets, words", [
    (np.zeros(3), None, "3 scalar payloads"),
    (np.zeros((3, 2)), None, "3 payload rows"),
    (np.zeros((2, 2, 2)), None, "must be 1-D"),
    (np.zeros(4), [0, 4], "need 3 offsets"),
    (np.zeros(4), [0, 3, 2], "rise from 0"),
    (np.zeros(4), [1, 2, 4], "rise from 0"),
    (np.zeros((2, 2)), [0, 2, 4], "must be 1-D"),
    (np.zeros(4), [0.0, 2.0, 4.0], "int array"),
])
def test_mismatched_shapes_are_refused_with_the_numbers(payloads: Any, offsets: Any,
                                                        words: str) -> None:
    with pytest.raises(ProgramError) as info:
        deliver(lambda m: m.send_many([1, 2], payloads, offsets))

    assert info.value.original_type == "ValueError"
    assert words in info.value.original_message
    assert info.value.machine == 0 and info.value.round_idx == 0


def test_non_numeric_payloads_are_unsupported() -> None:
    with pytest.raises(UnsupportedValue) as info:
        deliver(lambda m: m.send_many([1], np.array(["text"])))

    assert "send_many payloads" in str(info.value)
    assert info.value.machine == 0


def test_a_batch_over_the_sent_cap_raises_with_machine_round_words_and_cap() -> None:
    with pytest.raises(MemoryLimitExceeded) as info:
        deliver(lambda m: m.send_many(np.arange(1, 3).repeat(3), np.zeros((6, 2))),
                memory_words=11)

    err = info.value
    assert (err.machine, err.round_idx, err.limit, err.words, err.cap) == (0, 0, "sent", 12, 11)


def test_a_receiver_over_its_cap_is_found_among_many_senders() -> None:
    def program(machine: Machine) -> None:
        if machine.round_idx == 0:
            machine.send_many([3, 3], np.ones(2))  # 2 words each to machine 3 from 4 senders
        machine.halt()

    with pytest.raises(MemoryLimitExceeded) as info:
        mpcsim.run(program, num_machines=4, memory_words=7, num_workers=2)

    err = info.value
    assert (err.machine, err.round_idx, err.limit, err.words, err.cap) == (3, 0, "received", 8, 7)


def test_messages_rows_and_segments() -> None:
    got = Messages(np.array([4, 4, 7]), np.array([0, 2, 4, 6]), np.arange(6.0))

    assert len(got) == 3
    assert got.rows().tolist() == [[0, 1], [2, 3], [4, 5]]
    assert got.rows(2).shape == (3, 2)
    assert got.lengths.tolist() == [2, 2, 2]
    assert got.segment(1).tolist() == [2.0, 3.0]
    assert [(s, v.tolist()) for s, v in got] == [(4, [0, 1]), (4, [2, 3]), (7, [4, 5])]
    with pytest.raises(ValueError, match="2..2 values, not 3"):
        got.rows(3)


def test_ragged_messages_have_no_rows() -> None:
    got = Messages(np.array([1, 2]), np.array([0, 1, 3]), np.arange(3))

    with pytest.raises(ValueError, match="1..2 values"):
        got.rows()


def test_messages_concat_keeps_order_and_shifts_offsets() -> None:
    a = Messages(np.array([0]), np.array([0, 2]), np.array([1, 2]))
    b = Messages(np.array([1, 1]), np.array([0, 0, 1]), np.array([3.5]))

    both = Messages.concat([a, Messages.empty(), b])

    assert both.sources.tolist() == [0, 1, 1]
    assert both.offsets.tolist() == [0, 2, 2, 3]
    assert both.values.tolist() == [1.0, 2.0, 3.5]


@pytest.mark.parametrize("lengths", [[0, 3, 1, 0, 2], [2, 2, 2], [], [5]])
def test_take_segments_matches_a_python_gather(lengths: list[int]) -> None:
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    values = np.arange(int(offsets[-1])) * 10
    order = np.random.default_rng(1).permutation(len(lengths))

    got = take_segments(values, offsets, order)

    want = [v for i in order for v in values[offsets[i]:offsets[i + 1]]]
    assert got.tolist() == want


@pytest.mark.parametrize("sizes", [[3, 0, 1], [5, 40, 7], [1000, 1, 2001]])
def test_scalar_batches_share_read_only_lens_and_offsets_that_mean_what_arrays_would(
        sizes: list[int]) -> None:
    for k in sizes:  # growing the shared arrays leaves earlier views intact
        lens = scalar_lens(k)
        assert lens.tolist() == [SCALAR] * k and not lens.flags.writeable
        assert offsets_of(lens).tolist() == list(range(k + 1))
        assert common_cost(lens) == 1
        copied = lens.copy()  # the same values in a private array: the general path agrees
        assert offsets_of(copied).tolist() == list(range(k + 1)) and common_cost(copied) == 1


def test_many_scalar_batches_arrive_with_their_own_sources_after_the_shared_lens_grow() -> None:
    def step(m: Machine) -> None:
        if m.round_idx == 0:
            m.send_many(np.zeros(m.id + 1, dtype=np.int64), np.full(m.id + 1, m.id * 1.5))
        elif m.id == 0:
            got = m.inbox_columns
            m.output = (got.sources.tolist(), got.values.tolist())
            m.halt()
        else:
            m.halt()

    result = mpcsim.run(step, None, num_machines=40, memory_words=2000)

    sources, values = result.output[0]
    assert sources == [i for i in range(40) for _ in range(i + 1)]
    assert values == [i * 1.5 for i in range(40) for _ in range(i + 1)]


def test_a_payload_array_nothing_else_refers_to_crosses_in_process_uncopied() -> None:
    import weakref

    sent: list[Any] = []
    shared: list[bool] = []

    class Fresh(mpcsim.Program):
        def round_many(self, fleet: mpcsim.Fleet) -> None:
            if fleet.round_idx == 0:
                payload = np.arange(len(fleet)) * 10
                sent.append(weakref.ref(payload))  # a weak reference: not a holder
                fleet.send_many(fleet.ids, fleet.ids, payload)
                return
            alive = sent[0]()
            shared.append(alive is not None and np.shares_memory(alive, fleet.inbox.values))
            fleet.set_outputs(fleet.inbox.values.copy(), np.arange(len(fleet) + 1))
            fleet.halt()

    result = mpcsim.run(Fresh(), None, num_machines=4, memory_words=8)

    assert shared == [True]  # routed as it is: no copy (a kept array is copied: tests/cases.py)
    assert [int(o[0]) for o in result.output] == [0, 10, 20, 30]
