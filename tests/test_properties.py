"""The model's laws, as hypothesis properties over random traffic plans (cases.ScriptedTraffic):

(a) no cap is ever exceeded silently: the violations recorded are exactly those an independent
    model computes from the plan, and enforce=True raises one of the earliest of them;
(b) delivery conserves words: what is sent is what is received, per machine and per round;
(c) output and transcript depend neither on the machines' run order (the seed) nor on
    num_workers, nor on the backend;
(d) every error survives pickling;
(e) a program's messages sent by send_many (ragged, empty batches, or mixed with single sends)
    or by a fleet round are the same messages as single sends: same output, transcript and
    violations.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mpcsim
from cases import ScriptedTraffic, assert_same, scripted, transcript, violation_key
from mpcsim import (
    BackendUnavailable, ConfigError, MaxRoundsExceeded, MemoryLimitExceeded, MPCError,
    ProgramError, UnknownDestination, UnsupportedValue,
)



@dataclass(frozen=True)
class Plan:
    num_machines: int  # q
    memory_words: int  # s
    program: ScriptedTraffic


MODES = ("single", "columns", "mixed", "fleet")


@st.composite
def plans(draw: st.DrawFn, log: bool = False) -> Plan:
    """Up to 5 machines and 3 planned rounds; word counts straddle the cap s. Messages go out
    by single sends, by one ragged send_many per machine, alternating the two, or as one fleet
    round per host."""
    q = draw(st.integers(1, 5))
    s = draw(st.integers(1, 10))
    num_rounds = draw(st.integers(1, 3))
    message = st.tuples(st.integers(0, q - 1), st.integers(0, q - 1), st.integers(0, s + 3))
    sends = tuple(tuple(draw(st.lists(message, max_size=6))) for _ in range(num_rounds))
    keep = st.lists(st.integers(0, s + 2), min_size=q, max_size=q).map(tuple)
    keeps = tuple(draw(keep) for _ in range(num_rounds))
    mode = draw(st.sampled_from(MODES))
    return Plan(q, s, scripted(sends, keeps, log, mode))


def run(plan: Plan, **kwargs: Any) -> mpcsim.Result:
    return mpcsim.run(plan.program, num_machines=plan.num_machines,
                      memory_words=plan.memory_words, **kwargs)


# -- the independent model of a plan (without logging) -----------------------------------------

@dataclass
class Expected:
    violations: list[tuple[int, int, str, int, int]] = field(default_factory=list)
    # per round: (messages, words, max memory after delivery, max sent, max received)
    per_round: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    sent_words: list[int] = field(default_factory=list)
    received_words: list[int] = field(default_factory=list)
    peak_memory_words: list[int] = field(default_factory=list)


def model(plan: Plan) -> Expected:
    """What the trace must say, computed from the plan alone: every machine runs the planned
    rounds; if the last one sends, its receivers run once more, holding nothing."""
    q, s, program = plan.num_machines, plan.memory_words, plan.program
    out = Expected(sent_words=[0] * q, received_words=[0] * q, peak_memory_words=[0] * q)
    held = [0] * q
    for r, messages in enumerate(program.sends):
        held = list(program.keeps[r])
        sent, received = [0] * q, [0] * q
        for source, dest, count in messages:
            sent[source] += max(1, count)
            received[dest] += max(1, count)
        for m in range(q):
            after = held[m] + received[m]
            out.sent_words[m] += sent[m]
            out.received_words[m] += received[m]
            out.peak_memory_words[m] = max(out.peak_memory_words[m], after)
            if held[m] > s:
                out.violations.append((r, m, "memory", held[m], s))
            if sent[m] > s:
                out.violations.append((r, m, "sent", sent[m], s))
            if received[m] and received[m] > s:
                out.violations.append((r, m, "received", received[m], s))
            if received[m] and after > s:
                out.violations.append((r, m, "memory", after, s))
        after_delivery = max(h + got for h, got in zip(held, received))
        out.per_round.append((len(messages), sum(sent), after_delivery, max(sent),
                              max(received)))
    if program.sends[-1]:
        woken = {dest for _, dest, _ in program.sends[-1]}
        held = [0 if m in woken else held[m] for m in range(q)]
        out.per_round.append((0, 0, max(held), 0, 0))
    out.violations.sort()
    return out


def recorded(result: mpcsim.Result) -> list[tuple[int, int, int, int, int]]:
    return [(r.messages, r.words, r.max_memory_words, r.max_sent_words, r.max_received_words)
            for r in result.trace.rounds]


# -- (a) caps ----------------------------------------------------------------------------------

@settings(max_examples=80, deadline=None)
@given(plans(), st.integers(1, 3))
def test_recorded_violations_and_traffic_equal_the_independent_model(plan: Plan,
                                                                     num_workers: int) -> None:
    want = model(plan)

    result = run(plan, enforce=False, num_workers=num_workers)

    assert sorted(violation_key(v) for v in result.trace.violations) == want.violations
    assert recorded(result) == want.per_round
    assert result.trace.sent_words.tolist() == want.sent_words
    assert result.trace.received_words.tolist() == want.received_words
    assert result.trace.peak_memory_words.tolist() == want.peak_memory_words


@settings(max_examples=80, deadline=None)
@given(plans(), st.integers(1, 3))
def test_no_cap_is_ever_exceeded_silently(plan: Plan, num_workers: int) -> None:
    want = model(plan)

    try:
        result = run(plan, enforce=True, num_workers=num_workers)
    except MemoryLimitExceeded as err:
        assert want.violations, "raised, but the model finds no violation"
        assert err.round_idx == want.violations[0][0]  # the earliest round with a violation
        assert (err.round_idx, err.machine, err.limit, err.words, err.cap) in want.violations
        assert pickle.loads(pickle.dumps(err)).fields == err.fields
    else:
        s = plan.memory_words
        assert not want.violations, "completed, but the model finds violations"
        trace = result.trace
        assert max(trace.max_memory_words, trace.max_sent_words, trace.max_received_words) <= s
        assert int(trace.peak_memory_words.max()) <= s


# -- (b) conservation --------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(plans(log=True), st.integers(1, 3))
def test_delivery_conserves_words(plan: Plan, num_workers: int) -> None:
    result = run(plan, enforce=False, num_workers=num_workers)
    trace = result.trace

    assert trace.sent_words.sum() == trace.received_words.sum() == trace.total_words_sent
    # every machine logged [round it read the inbox, source, cost] per message received
    logs = [entry for output in result.output for entry in (output or [])]
    for r, record in enumerate(trace.rounds):
        arrived = [cost for read_in, _, cost in logs if read_in == r + 1]
        assert sum(arrived) == record.words
        assert len(arrived) == record.messages
    for m, output in enumerate(result.output):
        assert sum(cost for _, _, cost in output or []) == trace.received_words[m]


# -- (c) independence of order, workers and backend --------------------------------------------

@settings(max_examples=60, deadline=None)
@given(plans(log=True), st.integers(1, 2**31), st.integers(1, 3))
def test_output_and_transcript_do_not_depend_on_order_or_num_workers(
        plan: Plan, seed: int, num_workers: int) -> None:
    reference = run(plan, enforce=False, num_workers=1, seed=0)

    other = run(plan, enforce=False, num_workers=num_workers, seed=seed)

    assert_same(other.output, reference.output)
    assert transcript(other) == transcript(reference)


@pytest.mark.ray
@settings(max_examples=5, deadline=None)
@given(plan=plans(log=True), seed=st.integers(1, 2**31))
def test_output_and_transcript_do_not_depend_on_backend(ray_session: Any, plan: Plan,
                                                        seed: int) -> None:
    reference = run(plan, enforce=False, num_workers=1, seed=0)

    on_ray = run(plan, enforce=False, backend="ray", num_workers=2, seed=seed)

    assert_same(on_ray.output, reference.output)
    assert transcript(on_ray) == transcript(reference)


# -- (e) single sends and send_many are the same messages ---------------------------------------

@settings(max_examples=60, deadline=None)
@given(plans(log=True), st.integers(1, 3), st.booleans())
def test_send_many_and_fleet_rounds_give_the_same_output_and_transcript_as_single_sends(
        plan: Plan, num_workers: int, enforce: bool) -> None:
    results = {}
    program = plan.program
    for mode in MODES:
        program = scripted(program.sends, program.keeps, program.log, mode)
        try:
            results[mode] = run(replace(plan, program=program), enforce=enforce,
                                num_workers=num_workers)
        except MemoryLimitExceeded as err:
            results[mode] = err.fields

    single = results["single"]
    for mode in MODES[1:]:
        if isinstance(single, dict):
            assert results[mode] == single
        else:
            assert_same(results[mode].output, single.output)
            assert transcript(results[mode]) == transcript(single)


@st.composite
def batches(draw: st.DrawFn) -> tuple[int, list[int], np.ndarray, np.ndarray]:
    """q, then one send_many call's dests (some possibly out of range), values and offsets."""
    q = draw(st.integers(1, 6))
    k = draw(st.integers(0, 8))
    dests = draw(st.lists(st.integers(-2, q + 2), min_size=k, max_size=k))
    lengths = draw(st.lists(st.integers(0, 4), min_size=k, max_size=k))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return q, dests, np.arange(int(offsets[-1]), dtype=np.float64), offsets


@settings(max_examples=80, deadline=None)
@given(batches())
def test_send_many_refuses_the_first_unknown_destination(
        batch: tuple[int, list[int], np.ndarray, np.ndarray]) -> None:
    q, dests, values, offsets = batch
    bad = [d for d in dests if not 0 <= d < q]

    def program(machine: mpcsim.Machine) -> None:
        if machine.id == 0 and machine.round_idx == 0:
            machine.send_many(dests, values, offsets)
        machine.halt()

    if bad:
        with pytest.raises(UnknownDestination) as info:
            mpcsim.run(program, num_machines=q, memory_words=64)
        assert info.value.dest == bad[0] and info.value.machine == 0
    else:
        result = mpcsim.run(program, num_machines=q, memory_words=64)
        assert result.trace.rounds[0].messages == len(dests)
        assert result.trace.rounds[0].words == int(np.maximum(np.diff(offsets), 1).sum())


# -- (d) errors pickle -------------------------------------------------------------------------

ints = st.integers(-(10**9), 10**9)
texts = st.text(max_size=40)
errors = st.one_of(
    st.builds(MPCError, detail=texts, count=ints),
    st.builds(ConfigError, problems=st.lists(
        st.tuples(texts, st.one_of(ints, texts, st.none()), texts), min_size=1, max_size=3)),
    st.builds(MemoryLimitExceeded, machine=ints, round_idx=ints,
              limit=st.sampled_from(["memory", "sent", "received"]), words=ints, cap=ints),
    st.builds(UnknownDestination, machine=ints, round_idx=ints,
              dest=st.one_of(ints, texts, st.none(), st.floats(allow_nan=False)),
              num_machines=ints),
    st.builds(UnsupportedValue, machine=ints, round_idx=ints, where=texts, type_name=texts),
    st.builds(ProgramError, machine=ints, round_idx=ints, original_type=texts,
              original_message=texts, traceback=texts),
    st.builds(MaxRoundsExceeded, max_rounds=ints, active_machines=ints,
              messages_in_flight=ints),
    st.builds(BackendUnavailable, backend=texts, address=st.none() | texts, reason=texts),
)


@settings(max_examples=100, deadline=None)
@given(errors)
def test_every_error_survives_pickling(err: MPCError) -> None:
    back = pickle.loads(pickle.dumps(err))

    assert type(back) is type(err)
    assert back.fields == err.fields
    assert str(back) == str(err)
