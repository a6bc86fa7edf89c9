"""Caps and errors: each limit raises MemoryLimitExceeded with its fields (or is recorded with
enforce=False), and every other failure raises its MPCError subclass, the same on every
backend; every error class survives pickling."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import mpcsim
from cases import ScriptedTraffic
from mpcsim import (
    BackendUnavailable, ConfigError, HostLost, MaxRoundsExceeded, MemoryLimitExceeded, MPCError,
    ProgramError, ProgramStateError, UnknownDestination, UnsupportedValue, Violation,
)


def run(program: Any, inputs: Any = None, *, backend: str = "local", num_machines: int,
        memory_words: int, **kwargs: Any) -> mpcsim.Result:
    kwargs.setdefault("num_workers", 2)  # machines on two hosts: messages cross between them
    return mpcsim.run(program, inputs, num_machines=num_machines, memory_words=memory_words,
                      backend=backend, **kwargs)


# -- the three limits, s = 4 -------------------------------------------------------------------

# Machine 1 keeps 3 words and receives 2: it holds 5 after delivery.
OVER_MEMORY_AFTER_DELIVERY = ScriptedTraffic(sends=(((0, 1, 2),),), keeps=((0, 3),))
# Machine 0 keeps 5 words: over the cap after its own round.
OVER_MEMORY_AFTER_COMPUTE = ScriptedTraffic(sends=((),), keeps=((5, 0),))
# Machine 0 sends 3 + 2 words.
OVER_SENT = ScriptedTraffic(sends=(((0, 1, 3), (0, 2, 2)),), keeps=((0, 0, 0),))
# Machine 1 sends 5 words in round 2 (not round 0: the round index must be the right one);
# machine 0 receives them, which is the lowest violation of the round.
OVER_SENT_IN_ROUND_2 = ScriptedTraffic(sends=((), (), ((1, 0, 5),)), keeps=((0, 0, 0),) * 3)
# Machines 0 and 1 send 3 words each to machine 2.
OVER_RECEIVED = ScriptedTraffic(sends=(((0, 2, 3), (1, 2, 3)),), keeps=((0, 0, 0),))
# Exactly memory_words everywhere: machine 0 sends 4, machine 1 holds 2 + 2, machine 2
# receives 2 + 2.
AT_CAP = ScriptedTraffic(sends=(((0, 1, 2), (0, 2, 2), (1, 2, 2)),), keeps=((0, 2, 0),))

OVER_CAP_CASES = [
    pytest.param(OVER_MEMORY_AFTER_DELIVERY, 2, Violation(0, 1, "memory", 5, 4),
                 id="memory_after_delivery"),
    pytest.param(OVER_MEMORY_AFTER_COMPUTE, 2, Violation(0, 0, "memory", 5, 4),
                 id="memory_after_compute"),
    pytest.param(OVER_SENT, 3, Violation(0, 0, "sent", 5, 4), id="sent"),
    pytest.param(OVER_SENT_IN_ROUND_2, 3, Violation(2, 0, "received", 5, 4), id="sent_in_round_2"),
]


@pytest.mark.parametrize("program, num_machines, violation", OVER_CAP_CASES)
def test_over_cap_raises_with_machine_round_limit_words_and_cap(
        program: ScriptedTraffic, num_machines: int, violation: Violation, backend: str) -> None:
    with pytest.raises(MemoryLimitExceeded) as info:
        run(program, num_machines=num_machines, memory_words=4, backend=backend)

    err = info.value
    assert (err.round_idx, err.machine, err.limit, err.words, err.cap) == (
        violation.round_idx, violation.machine, violation.limit, violation.words, violation.cap)
    assert "memory_words=4" in str(err)
    assert f"machine {violation.machine}" in str(err)


@pytest.mark.parametrize("program, num_machines, violation", OVER_CAP_CASES)
def test_without_enforce_the_trace_records_the_violation_and_the_run_completes(
        program: ScriptedTraffic, num_machines: int, violation: Violation, backend: str) -> None:
    result = run(program, num_machines=num_machines, memory_words=4, backend=backend,
                 enforce=False)

    assert violation in result.trace.violations
    assert result.rounds == len(program.sends) + bool(program.sends[-1])
    assert result.trace.rounds[violation.round_idx].violations >= 1


def test_receiving_over_cap_is_recorded_as_received_and_memory(backend: str) -> None:
    result = run(OVER_RECEIVED, num_machines=3, memory_words=4, backend=backend, enforce=False)

    assert sorted(result.trace.violations, key=lambda v: v.limit) == [
        Violation(0, 2, "memory", 6, 4), Violation(0, 2, "received", 6, 4)]
    assert result.trace.rounds[0].max_received_words == 6


def test_receiving_over_cap_raises_the_received_limit(backend: str) -> None:
    with pytest.raises(MemoryLimitExceeded) as info:
        run(OVER_RECEIVED, num_machines=3, memory_words=4, backend=backend)

    err = info.value
    assert (err.round_idx, err.machine, err.limit, err.words, err.cap) == (0, 2, "received", 6, 4)


def test_exactly_at_cap_passes(backend: str) -> None:
    result = run(AT_CAP, num_machines=3, memory_words=4, backend=backend)

    trace = result.trace
    assert trace.violations == []
    assert trace.max_sent_words == trace.max_received_words == trace.max_memory_words == 4
    assert trace.peak_memory_words.tolist() == [0, 4, 4]


def test_enforce_raises_the_lowest_violation_of_the_round(backend: str) -> None:
    over_send_into_machine_0 = ScriptedTraffic(sends=(((1, 0, 5),),), keeps=((0, 0),))

    with pytest.raises(MemoryLimitExceeded) as info:
        run(over_send_into_machine_0, num_machines=2, memory_words=4, backend=backend)

    assert (info.value.round_idx, info.value.machine) == (0, 0)


class OverReceiveThenFail:
    """Round 0: machines 0 and 1 send 3 words each to machine 0 (over s=4); in round 1
    machine 3, on another host when num_workers=2, raises."""

    def __call__(self, machine: mpcsim.Machine) -> None:
        if machine.round_idx == 0 and machine.id in (0, 1):
            machine.send(0, np.zeros(3))
        if machine.round_idx == 1 and machine.id == 3:
            raise RuntimeError("round 1 should never run")
        if machine.round_idx == 1:
            machine.halt()


def test_the_earliest_failure_is_raised_whatever_the_num_workers(backend: str) -> None:
    for num_workers in (1, 2):
        with pytest.raises(MemoryLimitExceeded):
            run(OverReceiveThenFail(), num_machines=4, memory_words=4, backend=backend,
                num_workers=num_workers)


class AppendAfterSend:
    """Machine 0 sends a list, then appends 10 items to it in the same round."""

    def __call__(self, machine: mpcsim.Machine) -> None:
        if machine.round_idx == 0 and machine.id == 0:
            payload: list[int] = []
            machine.send(1, payload)
            payload.extend(range(10))
        elif machine.inbox:
            machine.output = len(machine.inbox[0][1])
        machine.halt()


def test_a_payload_grown_after_send_cannot_bypass_the_caps(backend: str) -> None:
    try:
        result = run(AppendAfterSend(), num_machines=2, memory_words=4, backend=backend)
    except MemoryLimitExceeded:
        return
    assert result.output[1] == 0  # what was sent, not what was appended later


# -- destinations and values -------------------------------------------------------------------

@dataclass(frozen=True)
class SendTo:
    """Machine 0 sends `payload` to `dest` in round 0."""

    dest: Any
    payload: Any = 1

    def __call__(self, machine: mpcsim.Machine) -> None:
        if machine.round_idx == 0 and machine.id == 0:
            machine.send(self.dest, self.payload)
        machine.halt()


@dataclass(frozen=True)
class SendAndKeep(SendTo):
    """As SendTo; the receiver outputs the payload as it arrived."""

    def __call__(self, machine: mpcsim.Machine) -> None:
        super().__call__(machine)
        if machine.inbox:
            machine.output = machine.inbox[0][1]


@pytest.mark.parametrize("dest", [-1, 3, 99, "1", 1.0, None], ids=repr)
def test_sending_to_an_unknown_machine_raises_unknown_destination(dest: Any,
                                                                 backend: str) -> None:
    with pytest.raises(UnknownDestination) as info:
        run(SendTo(dest), num_machines=3, memory_words=4, backend=backend)

    err = info.value
    assert (err.machine, err.round_idx, err.dest, err.num_machines) == (0, 0, dest, 3)
    assert "0..2" in str(err)


def test_numpy_integer_destinations_are_accepted() -> None:
    result = run(SendTo(np.int64(2)), num_machines=3, memory_words=4)
    assert result.trace.received_words.tolist() == [0, 0, 1]


def test_an_unencodable_value_deep_in_a_payload_is_named_by_its_path() -> None:
    with pytest.raises(UnsupportedValue) as info:
        run(SendTo(1, payload=[0, 1, {"k": Opaque()}]), num_machines=2, memory_words=8)

    err = info.value
    assert (err.machine, err.round_idx, err.type_name) == (0, 0, "Opaque")
    assert err.where == "the message to machine 1: payload[2]['k']"
    assert "payload[2]['k'] has type Opaque" in str(err)


def test_an_int_beyond_64_bits_is_refused_as_out_of_range_not_as_its_type() -> None:
    with pytest.raises(UnsupportedValue) as info:
        run(SendTo(1, payload={"a": [1, 2**80]}), num_machines=2, memory_words=8)

    err = info.value
    assert (err.type_name, err.where) == ("int", "the message to machine 1: payload['a'][1]")
    assert "outside the 64-bit range" in str(err) and "has type int" not in str(err)


def test_an_object_array_is_refused_for_its_dtype_with_a_numeric_dtype_advised() -> None:
    with pytest.raises(UnsupportedValue) as info:
        run(SendTo(1, payload=(0, np.array([None, 1], dtype=object))), num_machines=2,
            memory_words=8)

    message = str(info.value)
    assert info.value.where == "the message to machine 1: payload[1]"
    assert "dtype object" in message and "numeric dtypes" in message
    assert "Use numpy arrays" not in message


def test_a_set_payload_arrives_as_a_set_as_memory_counts_it(backend: str) -> None:
    payload = {"a": [1, {2, (3, 4)}], "f": frozenset({5})}
    result = run(SendAndKeep(1, payload=payload), num_machines=2, memory_words=8,
                 backend=backend)

    assert result.output[1] == payload
    assert type(result.output[1]["f"]) is frozenset
    assert result.trace.received_words.tolist() == [0, mpcsim.words(payload)]


def test_tuples_arrive_as_lists_on_every_backend_except_as_keys_and_set_elements(
        backend: str) -> None:
    payload = ((1, 2), {(3, 4): (5, 6)}, {(7, 8)})
    result = run(SendAndKeep(1, payload=payload), num_machines=2, memory_words=16,
                 backend=backend)

    assert result.output[1] == [[1, 2], {(3, 4): [5, 6]}, {(7, 8)}]


class Opaque:
    """A value mpcsim can neither count nor encode."""


@dataclass(frozen=True)
class Keep:
    """Every machine stores `value` at memory[key] (key "output": as its output) in round 1."""

    key: str
    value: Any

    def __call__(self, machine: mpcsim.Machine) -> None:
        if machine.round_idx == 1:
            if self.key == "output":
                machine.output = self.value
            else:
                machine.memory[self.key] = self.value
            machine.halt()


@pytest.mark.parametrize("key, where", [("thing", "memory['thing'][1]"),
                                        ("output", "machine.output[1]")])
def test_a_custom_object_kept_raises_unsupported_value_naming_where(key: str, where: str,
                                                                    backend: str) -> None:
    with pytest.raises(UnsupportedValue) as info:
        run(Keep(key, [1, Opaque()]), num_machines=2, memory_words=8, backend=backend)

    err = info.value
    assert (err.round_idx, err.type_name, err.where) == (1, "Opaque", where)
    assert err.machine in (0, 1)


def test_a_custom_object_payload_raises_unsupported_value_at_send(backend: str) -> None:
    with pytest.raises(UnsupportedValue) as info:
        run(SendTo(1, payload=Opaque()), num_machines=2, memory_words=8, backend=backend)

    assert (info.value.machine, info.value.type_name) == (0, "Opaque")
    assert "machine 1" in info.value.where


def test_an_unencodable_output_raises_unsupported_value_with_its_path(backend: str) -> None:
    with pytest.raises(UnsupportedValue) as info:
        run(Keep("output", {"big": [2**64]}), num_machines=2, memory_words=8, backend=backend)
    assert info.value.where == "machine.output['big'][0]"
    assert info.value.machine == 0  # both machines fail: the lowest is named


class SetInPartition(mpcsim.Program):
    def partition(self, inputs: Any, num_machines: int,
                  memory_words: int) -> dict[int, dict[str, Any]]:
        return {0: {"ids": [1, -(2**70)]}}

    def round(self, machine: mpcsim.Machine) -> None:
        machine.halt()


def test_an_unencodable_initial_memory_raises_unsupported_value() -> None:
    with pytest.raises(UnsupportedValue) as info:
        run(SetInPartition(), num_machines=2, memory_words=8)
    assert info.value.where == "initial memory['ids'][1]"


def test_a_custom_object_in_a_partition_raises_unsupported_value() -> None:
    class OpaqueInPartition(SetInPartition):
        def partition(self, inputs: Any, num_machines: int,
                      memory_words: int) -> dict[int, dict[str, Any]]:
            return {1: {"thing": Opaque()}}

    with pytest.raises(UnsupportedValue) as info:
        run(OpaqueInPartition(), num_machines=2, memory_words=8)
    assert (info.value.machine, info.value.type_name) == (1, "Opaque")
    assert info.value.where == "initial memory['thing']"


def keep_first_inbox_payload(machine: mpcsim.Machine) -> None:
    if machine.round_idx == 0 and machine.id == 0:
        machine.send(1, {(1, (2, 3)): "nested tuple key", 4: "int key"})
    if machine.inbox:
        machine.output = machine.inbox[0][1]
    machine.halt()


def test_a_tuple_keyed_dict_payload_arrives_with_tuple_keys(backend: str) -> None:
    result = run(keep_first_inbox_payload, num_machines=2, memory_words=8, backend=backend)
    assert result.output[1] == {(1, (2, 3)): "nested tuple key", 4: "int key"}


# -- user code and termination -----------------------------------------------------------------

def explode_on_machine_two(machine: mpcsim.Machine) -> None:
    if machine.round_idx == 1 and machine.id == 2:
        raise ValueError("boom in round one")
    if machine.round_idx == 1:
        machine.halt()


def test_user_code_raising_gives_program_error_with_machine_round_and_traceback(
        backend: str) -> None:
    with pytest.raises(ProgramError) as info:
        run(explode_on_machine_two, num_machines=4, memory_words=4, backend=backend)

    err = info.value
    assert (err.machine, err.round_idx) == (2, 1)
    assert (err.original_type, err.original_message) == ("ValueError", "boom in round one")
    assert "explode_on_machine_two" in err.traceback
    assert "explode_on_machine_two" in str(err)


def send_forever(machine: mpcsim.Machine) -> None:
    machine.send((machine.id + 1) % machine.num_machines, machine.round_idx)


def test_a_run_that_never_ends_raises_max_rounds_exceeded(backend: str) -> None:
    with pytest.raises(MaxRoundsExceeded) as info:
        run(send_forever, num_machines=3, memory_words=4, backend=backend, max_rounds=5)

    err = info.value
    assert (err.max_rounds, err.active_machines, err.messages_in_flight) == (5, 3, 3)
    assert "max_rounds=5" in str(err)


def test_a_run_ending_exactly_at_max_rounds_completes() -> None:
    def halt_in_round_4(machine: mpcsim.Machine) -> None:
        if machine.round_idx == 4:
            machine.halt()

    assert run(halt_in_round_4, num_machines=2, memory_words=1, max_rounds=5).rounds == 5


# -- configuration -----------------------------------------------------------------------------

def idle(machine: mpcsim.Machine) -> None:
    machine.halt()


def _fields(err: ConfigError) -> list[str]:
    return [field for field, _, _ in err.problems]


def test_fewer_than_one_machine_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        run(idle, num_machines=0, memory_words=4)
    assert info.value.problems == [("num_machines", 0, "must be an int >= 1")]
    assert "num_machines=0" in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("inputs, need", [
    (np.zeros((2, 5)), 5),  # a row of 5 words
    (["x" * 100], 13),  # an item of 13 words
])
def test_memory_too_small_for_an_input_item_says_the_minimum(inputs: Any, need: int,
                                                             backend: str) -> None:
    with pytest.raises(ConfigError) as info:
        run(idle, inputs, num_machines=4, memory_words=4, backend=backend)
    assert _fields(info.value) == ["memory_words"]
    assert f"memory_words to >= {need}" in str(info.value)


def test_input_needing_more_machines_than_num_machines_says_how_many(backend: str) -> None:
    with pytest.raises(ConfigError) as info:
        run(idle, list(range(10)), num_machines=3, memory_words=2, backend=backend)
    assert _fields(info.value) == ["num_machines"]
    assert "needs 5 machines" in str(info.value)
    assert "num_machines to >= 5" in str(info.value)


def test_an_unknown_backend_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        run(idle, num_machines=2, memory_words=4, backend="dask")
    assert _fields(info.value) == ["backend"]
    assert "local, ray" in str(info.value)


def test_every_config_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        mpcsim.run(idle, num_machines=0, memory_words=-1, backend="nope", max_rounds=0,
                   seed="x", num_workers=0, enforce="yes")
    assert sorted(_fields(info.value)) == sorted([
        "num_machines", "memory_words", "backend", "max_rounds", "seed", "num_workers",
        "enforce"])
    for field in ("num_machines=0", "memory_words=-1", "backend='nope'", "max_rounds=0"):
        assert field in str(info.value)


class OversizedPartition(mpcsim.Program):
    def partition(self, inputs: Any, num_machines: int,
                  memory_words: int) -> dict[int, dict[str, Any]]:
        return {0: {"a": np.zeros(5)}, 1: {"b": np.zeros(6)}, 7: {"c": 1}}

    def round(self, machine: mpcsim.Machine) -> None:
        machine.halt()


def test_a_custom_partition_reports_every_machine_over_memory_and_out_of_range() -> None:
    with pytest.raises(ConfigError) as info:
        run(OversizedPartition(), num_machines=3, memory_words=4)
    text = str(info.value)
    assert _fields(info.value) == ["memory_words", "memory_words", "num_machines"]
    assert "machine 0 starts with 5 words" in text and "machine 1 starts with 6 words" in text
    assert "raise memory_words to >= 6" in text
    assert "machine 7" in text


def test_a_program_class_passed_for_an_instance_is_refused_up_front() -> None:
    class Halts(mpcsim.Program):
        def round(self, machine: mpcsim.Machine) -> None:
            machine.halt()

    with pytest.raises(ConfigError) as info:
        mpcsim.run(Halts, num_machines=2, memory_words=4)  # type: ignore[arg-type]
    assert info.value.problems[0][0] == "program"
    assert "pass an instance, e.g. mpcsim.run(Halts(), ...)" in str(info.value)


def test_a_program_that_is_not_callable_is_refused() -> None:
    with pytest.raises(TypeError, match="mpcsim.Program or a function"):
        mpcsim.run(42, num_machines=1, memory_words=1)  # type: ignore[arg-type]


# -- every error survives pickling -------------------------------------------------------------

ERRORS: list[MPCError] = [
    MPCError(detail="base", count=3),
    ConfigError(problems=[("num_machines", 0, "must be an int >= 1"),
                          ("backend", "x", "must be one of local, ray")]),
    MemoryLimitExceeded(machine=3, round_idx=2, limit="sent", words=9, cap=8),
    UnknownDestination(machine=1, round_idx=0, dest="7", num_machines=4),
    UnsupportedValue(machine=0, round_idx=5, where="the message to machine 1: payload[0]",
                     type_name="int", reason="is the int 2**80, outside the 64-bit range"),
    ProgramError(machine=2, round_idx=1, original_type="KeyError", original_message="'x'",
                 traceback="Traceback (most recent call last):\n  ...\nKeyError: 'x'\n"),
    ProgramStateError(round_idx=3, host=1, attribute="seen", how="changed in place"),
    MaxRoundsExceeded(max_rounds=10, active_machines=4, messages_in_flight=2),
    BackendUnavailable(backend="ray", address="10.0.0.1:6379", reason="no cluster answered"),
    HostLost(host=2, machines="8..11", round_idx=57, node="10.0.0.5",
             reason="4 hosts lost in this run, over max_recoveries=3"),
]


def test_the_pickling_table_covers_every_public_error_class() -> None:
    public = {getattr(mpcsim, name) for name in mpcsim.__all__}
    error_classes = {c for c in public if isinstance(c, type) and issubclass(c, BaseException)}
    assert error_classes == {type(err) for err in ERRORS}


@pytest.mark.parametrize("err", ERRORS, ids=lambda e: type(e).__name__)
def test_every_error_unpickles_as_the_same_type_fields_and_message(err: MPCError) -> None:
    back = pickle.loads(pickle.dumps(err))

    assert type(back) is type(err)
    assert back.fields == err.fields
    for name, value in err.fields.items():
        assert getattr(back, name) == value
    assert str(back) == str(err)
    assert isinstance(back, MPCError)


def test_an_error_raised_by_a_run_unpickles_intact() -> None:
    with pytest.raises(ProgramError) as info:
        run(explode_on_machine_two, num_machines=4, memory_words=4)

    back = pickle.loads(pickle.dumps(info.value))
    assert type(back) is ProgramError
    assert str(back) == str(info.value)


# -- a full machine: the error names memory, output and inbox, and a fix that works -----------

def pass_right_then_sum(machine: mpcsim.Machine) -> None:
    """Round 0: send one word to the next machine; round 1: output the input's sum."""
    if machine.round_idx == 0:
        machine.send((machine.id + 1) % machine.num_machines, 1)
    else:
        machine.output = sum(machine.memory.get("input", [])) + len(machine.inbox)
        machine.halt()


class WithHeadroom(mpcsim.Program):
    """pass_right_then_sum on the partition the error advises: half of memory_words each."""

    def partition(self, inputs: Any, num_machines: int,
                  memory_words: int) -> dict[int, dict[str, Any]]:
        return mpcsim.partition_inputs(inputs, num_machines, memory_words // 2)

    def round(self, machine: mpcsim.Machine) -> None:
        pass_right_then_sum(machine)


def test_a_message_to_a_full_input_machine_names_the_inbox_and_the_partition(
        backend: str) -> None:
    with pytest.raises(MemoryLimitExceeded) as info:
        run(pass_right_then_sum, list(range(40)), num_machines=8, memory_words=10,
            backend=backend, num_workers=2)

    err = info.value
    assert (err.machine, err.round_idx, err.limit, err.words, err.output, err.inbox) == (
        0, 0, "memory", 11, 0, 1)
    message = str(err)
    assert "memory values 10 + output 0 + inbox 1" in message
    assert "the default partition" in message and "Program.partition" in message
    assert "(memory + inbox)" not in message and "or num_machines" not in message


def test_an_output_over_the_cap_is_named_as_the_output_not_the_inbox() -> None:
    def sum_in_place(machine: mpcsim.Machine) -> None:
        machine.output = sum(machine.memory.get("input", []))
        machine.halt()

    with pytest.raises(MemoryLimitExceeded) as info:
        run(sum_in_place, list(range(20)), num_machines=2, memory_words=10)

    assert (info.value.output, info.value.inbox) == (1, 0)
    assert "after its round 0 (memory values 10 + output 1 + inbox 0)" in str(info.value)


def test_the_partition_the_error_advises_leaves_room_and_runs() -> None:
    result = run(WithHeadroom(), list(range(40)), num_machines=8, memory_words=10)

    assert sum(result.output) == sum(range(40)) + 8
    assert result.trace.peak_memory_words.max() <= 10
