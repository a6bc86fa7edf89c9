"""compile_program (MPC -> transformer, Thm 3.1): one table of programs, each run three ways:
mpcsim.run, the compiled transformer's dense forward, and the compiled transformer run as an
MPC job by compile_transformer (local and Ray), with identical outputs (types and dtypes
included). Also: the conformance table (tests/cases.py) through the compiler, random fixed
routing patterns (hypothesis, up to N = 256, s = 8), the routing rows' margins, the laws of
the residue codes and the word codec, typed refusals, the plan's numbers, and the CLI.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mpcsim
from mpcsim.algorithms import ALGORITHMS, AllReduce, Broadcast, HopK, PrefixSum, SampleSort
from mpcsim.cli import main
from transformer_bridge import (CompiledProgram, CompileError, NotRepresentable, compile_program,
                                compile_transformer, forward)
from transformer_bridge.command import default_memory_words
from transformer_bridge.mpc_to_transformer import codec
from transformer_bridge.mpc_to_transformer.margins import (MARGIN, SAFETY, roundoff_bound,
                                                           routing_margins)
from transformer_bridge.mpc_to_transformer.moduli import (collisions_allowed, residue_code,
                                                          separating_moduli, set_code)
from transformer_bridge.mpc_to_transformer.plan import program_to_plan

from cases import CASES as CONFORMANCE, SEED, assert_same, run_case


# -- programs -----------------------------------------------------------------------------------

class PointerJumping(mpcsim.Program):
    """List ranking by pointer jumping, one node per machine: machine i starts with succ[i]
    (-1 ends a list); in round 2t it asks its current successor for (succ, dist), in round
    2t + 1 it answers whoever asked. Where every message goes depends on the input."""

    def partition(self, inputs: Any, num_machines: int, memory_words: int) -> dict[int, Any]:
        return {i: {"succ": v} for i, v in enumerate(np.asarray(inputs).tolist())}

    def round(self, machine: mpcsim.Machine) -> None:
        memory = machine.memory
        step, answering = divmod(machine.round_idx, 2)
        if machine.round_idx == 0:
            memory["dist"] = int(memory["succ"] != -1)
        if answering:
            for source, _ in machine.inbox:
                machine.send(source, [memory["succ"], memory["dist"]])
            machine.halt()  # woken by the reply
            return
        if machine.inbox:  # the reply to this machine's question
            (_, (succ, dist)), = machine.inbox
            memory["succ"], memory["dist"] = succ, memory["dist"] + dist
        if memory["succ"] != -1 and 2 ** step < machine.num_machines:
            machine.send(memory["succ"], machine.id)
        else:
            machine.output = memory["dist"] if memory["succ"] == -1 else -1
        machine.halt()


class FixedRouting(mpcsim.Program):
    """A fixed routing pattern: in round r machine i sends pattern[r][i], a tuple of
    (dest, words); the values come from what it received, so data really flows. Odd machines
    send with send_many and read inbox_columns; even ones use send and inbox. The last round
    outputs the sum of what arrived + 10^6 x the messages received (one word: s may be 1)."""

    def __init__(self, pattern: tuple[tuple[tuple[tuple[int, int], ...], ...], ...]) -> None:
        self.pattern = pattern

    def round(self, machine: mpcsim.Machine) -> None:
        r, me = machine.round_idx, machine.id
        if me % 2:
            got = machine.inbox_columns
            total, count = int(got.values.sum()) + me, len(got)
        else:
            total = sum(int(np.sum(p)) for _, p in machine.inbox) + me
            count = len(machine.inbox)
        if r == len(self.pattern):
            machine.output = total + 10 ** 6 * count
            machine.halt()
            return
        sends = self.pattern[r][me]
        if me % 2 and sends:
            sizes = np.array([w for _, w in sends])
            offsets = np.concatenate([[0], np.cumsum(sizes)])
            machine.send_many(np.array([d for d, _ in sends]), (total + np.arange(offsets[-1]))
                              % 1000, offsets)
        for k, (dest, w) in enumerate(sends if me % 2 == 0 else ()):
            payload = (total + k + np.arange(w)) % 1000
            machine.send(dest, payload if w > 1 else int(payload[0]))


def random_pattern(rng: np.random.Generator, q: int, s: int, rounds: int) -> tuple[Any, ...]:
    """Random dests and sizes 1..s; no machine sends or receives more than s words a round."""
    pattern = []
    for _ in range(rounds):
        received = np.zeros(q, dtype=np.int64)
        per_machine = []
        for _ in range(q):
            budget, sends = s, []
            while budget and rng.random() < 0.85:
                w, dest = int(rng.integers(1, budget + 1)), int(rng.integers(q))
                if received[dest] + w > s:
                    break
                received[dest] += w
                budget -= w
                sends.append((dest, w))
            per_machine.append(tuple(sends))
        pattern.append(tuple(per_machine))
    return tuple(pattern)


class DrawsAndStores(mpcsim.Program):
    """Uses machine.rng in two rounds: the compiled state must carry the generator."""

    def round(self, machine: mpcsim.Machine) -> None:
        draw = int(machine.rng.integers(0, 1000))
        if machine.round_idx == 0:
            machine.memory["first"] = draw
            machine.send((machine.id + 1) % machine.num_machines, draw)
        else:
            machine.output = [machine.memory.pop("first"), draw, machine.inbox[0][1]]
            machine.halt()


class Keeps(mpcsim.Program):
    """Keeps `value` in memory (refused when not a word)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def round(self, machine: mpcsim.Machine) -> None:
        machine.memory["x"] = [1, self.value]
        machine.halt()


class Sends(mpcsim.Program):
    """Machine 0 sends `payload` to machine 1 in round 0."""

    def __init__(self, payload: Any) -> None:
        self.payload = payload

    def round(self, machine: mpcsim.Machine) -> None:
        if machine.round_idx == 0 and machine.id == 0:
            machine.send(1, self.payload)
        machine.output = machine.inbox[0][1] if machine.inbox else None
        machine.halt()


class NeverHalts(mpcsim.Program):
    def round(self, machine: mpcsim.Machine) -> None:
        machine.output = machine.round_idx


# -- the table: each program three ways ---------------------------------------------------------

@dataclass(frozen=True)
class Case:
    name: str
    program: Callable[[], mpcsim.Program]
    n: int
    num_machines: int
    memory_words: int
    rounds: int
    make_input: Callable[[np.random.Generator], Any]


def _ints(n: int, low: int = -1000, high: int = 1000) -> Callable[[np.random.Generator], Any]:
    return lambda rng: rng.integers(low, high, size=n)


def _bound(name: str, n: int, q: int, s: int) -> int:
    return ALGORITHMS[name].round_bound(n, q, s)


CASES = [
    Case("broadcast", Broadcast, 3, 8, 8, _bound("broadcast", 3, 8, 8), _ints(3, 0, 1 << 30)),
    Case("all-reduce", AllReduce, 16, 8, 8, _bound("all-reduce", 16, 8, 8), _ints(16)),
    Case("prefix-sum", PrefixSum, 32, 6, 12, _bound("prefix-sum", 32, 6, 12), _ints(32)),
    Case("sort", SampleSort, 16, 6, 8, _bound("sort", 16, 6, 8), _ints(16, -50, 50)),
    Case("list-ranking", PointerJumping, 12, 12, 4, 2 * math.ceil(math.log2(12)) + 1,
         lambda rng: ALGORITHMS["list-ranking"].make_input(12, rng)),
]


@lru_cache(maxsize=None)
def compiled(case: Case) -> CompiledProgram:
    probe = (lambda n, rng: np.asarray(case.make_input(rng)))  # valid inputs for the partition
    return compile_program(case.program(), n_in=case.n, num_machines=case.num_machines,
                           memory_words=case.memory_words, rounds=case.rounds, probe=probe)


def run(case: Case, inputs: Any) -> mpcsim.Result:
    return mpcsim.run(case.program(), inputs, num_machines=case.num_machines,
                      memory_words=case.memory_words)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_dense_forward_equals_mpcsim_run(case: Case) -> None:
    model = compiled(case)
    for seed in range(2):
        inputs = case.make_input(np.random.default_rng(seed))
        want = run(case, inputs)
        y = forward(model, model.ids(inputs))
        assert_same(model.outputs(y), want.output)
        assert model.rounds_used(y) == want.rounds <= case.rounds


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_compiled_transformer_as_an_mpc_job_equals_mpcsim_run(case: Case, backend: str) -> None:
    model = compiled(case)
    inputs = case.make_input(np.random.default_rng(5))
    ids = model.ids(inputs)
    job = compile_transformer(model, seq_len=model.seq_len,
                              memory_words=default_memory_words(model, model.seq_len))
    hidden, result = job.run(ids, backend=backend, num_workers=2)
    assert result.trace.violations == [] and job.plan.blocks > 1
    assert np.array_equal(hidden, forward(model, ids))  # bit-identical to the dense forward
    assert_same(model.outputs(hidden), run(case, inputs).output)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_routing_row_has_exactly_its_senders_with_margin_one(case: Case) -> None:
    report = routing_margins(compiled(case), case.make_input(np.random.default_rng(3)))
    assert report.mismatches == 0 and report.rows > 0
    assert report.smallest == MARGIN
    assert MARGIN >= SAFETY * report.roundoff_bound  # ~1e-14: a million times below


def test_plan_reports_the_theorems_numbers_and_each_heads_band() -> None:
    model = compiled(CASES[1])  # all-reduce: q = 8, s = 8, N = 16
    plan = model.plan
    assert plan is not None
    bounds = plan.bounds()
    assert bounds["L"] == model.num_layers == plan.rounds and bounds["L_bound"] == plan.rounds + 1
    assert bounds["H"] == model.layers[0].attention.num_heads == len(plan.heads)
    assert bounds["bands"] == math.floor(math.log2(8)) + 1 == 4
    assert {head.band for head in plan.heads} == {0, 1, 2, 3}
    assert bounds["N"] == 16 and bounds["m"] == plan.width >= model.width
    assert bounds["m_unit"] == 8 ** 4 * math.log2(16)
    assert "band 3 (messages of 8 words)" in plan.describe()


# -- the conformance table through the compiler -------------------------------------------------

UNREPRESENTABLE = {  # cases whose messages hold non-integral floats or words beyond 2^50
    "mixed_sends_singles", "mixed_sends_columns", "every_encodable_payload",
    "zero_dim_array_payload"}


@pytest.mark.parametrize("case", CONFORMANCE, ids=lambda c: c.name)
def test_conformance_case_compiles_to_the_same_outputs_or_is_refused(case: Any) -> None:
    inputs = case.inputs()
    kind = ("list" if isinstance(inputs, list) else "int64" if inputs is None
            else str(np.asarray(inputs).dtype))
    model = compile_program(case.program(), input_shape=np.shape(inputs) if inputs is not None
                            else (0,), input_type=kind, num_machines=case.num_machines,
                            memory_words=case.memory_words, rounds=case.rounds, seed=SEED)
    words = np.zeros(0) if inputs is None else np.asarray(inputs)
    if case.name in UNREPRESENTABLE:
        with pytest.raises(NotRepresentable) as info:
            model.forward(words)
        assert info.value.machine is not None and info.value.round_idx == 0
        assert info.value.where.startswith("the message to machine")
        return
    assert_same(model.forward(words), run_case(case, seed=SEED).output)


# -- random fixed routing patterns ---------------------------------------------------------------

def check_pattern(q: int, s: int, rounds: int, seed: int) -> None:
    program = FixedRouting(random_pattern(np.random.default_rng(seed), q, s, rounds))
    want = mpcsim.run(program, None, num_machines=q, memory_words=s)
    model = compile_program(program, n_in=0, num_machines=q, memory_words=s, rounds=rounds + 1)
    y = forward(model, model.ids(np.zeros(0)))
    assert_same(model.outputs(y), want.output)
    assert model.rounds_used(y) == want.rounds


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(q=st.integers(2, 64), s=st.integers(1, 8), rounds=st.integers(1, 3),
       seed=st.integers(0, 2 ** 32 - 1))
def test_random_fixed_routing_patterns_route_exactly(q: int, s: int, rounds: int,
                                                     seed: int) -> None:
    check_pattern(q, s, rounds, seed)


@pytest.mark.parametrize("q", [64, 256])
def test_random_fixed_routing_at_s_8_up_to_256_machines(q: int) -> None:
    check_pattern(q, 8, 2, seed=q)


# -- the residue codes and the codec --------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 300), others=st.integers(1, 9), data=st.data())
def test_residue_codes_separate_and_test_membership(n: int, others: int, data: Any) -> None:
    moduli = separating_moduli(n, others)
    assert all(math.gcd(a, b) == 1 for i, a in enumerate(moduli) for b in moduli[i + 1:])
    assert moduli == (n,) or len(moduli) > others * collisions_allowed(moduli, n)
    ids = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=min(n, others + 1),
                             unique=True))
    x, rest = ids[0], ids[1:]
    # separation: x is alone in some modulus among up to `others` other ids
    assert any(all((x - y) % m for y in rest) for m in moduli)
    # membership of sets of up to `others` ids: the score is len(moduli) exactly on members
    members = ids[:others]
    scores = residue_code(np.arange(n), moduli) @ set_code(members, moduli)
    assert set(np.flatnonzero(scores == len(moduli)).tolist()) == set(members)
    assert scores.max() == len(moduli)


words = st.integers(-codec.WORD_LIMIT, codec.WORD_LIMIT)
leaves = (st.none() | st.booleans() | words | words.map(float) | st.text(max_size=5)
          | st.binary(max_size=5)
          | st.lists(words, max_size=6).map(lambda v: np.array(v, dtype=np.int64))
          | st.lists(st.integers(0, 255), max_size=4).map(lambda v: np.array(v, np.uint8))
          | words.map(np.int64))
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=5)
                      | st.lists(inner, max_size=3).map(tuple)
                      | st.dictionaries(st.text(max_size=4) | words, inner, max_size=3),
                      max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(value=values)
def test_codec_round_trips_every_representable_value(value: Any) -> None:
    codes, data = codec.encode(value)
    assert len(data) <= mpcsim.words(value)  # data words never exceed mpcsim's count
    packed = codec.pack(codes, codec.packed_columns(len(codes)))
    back, used_codes, used_words = codec.decode(codec.unpack(packed), np.asarray(data))
    assert (used_codes, used_words) == (len(codes), len(data))
    assert_same(_tuples_marked(back), _tuples_marked(value))


def _tuples_marked(value: Any) -> Any:
    """assert_same compares lists: a tuple becomes ["tuple", *items] so it must stay one."""
    if isinstance(value, tuple):
        return ["tuple"] + [_tuples_marked(v) for v in value]
    if isinstance(value, list):
        return [_tuples_marked(v) for v in value]
    if isinstance(value, dict):
        return {k: _tuples_marked(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("value, reason", [
    (0.5, "integer"), (-0.0, "integer"), (float("nan"), "integer"), (2 ** 51, "2^50"),
    (np.array([1.0, 2.5]), "integers"), ({1, 2}, "set"),
    (np.arange(3, dtype=">i8"), "byte order")])
def test_memory_that_is_not_words_is_refused_naming_machine_round_and_path(value: Any,
                                                                           reason: str) -> None:
    model = compile_program(Keeps(value), n_in=0, num_machines=2, memory_words=8, rounds=1)
    with pytest.raises(NotRepresentable) as info:
        model.forward(np.zeros(0))
    error = info.value
    assert (error.machine, error.round_idx) == (0, 0)  # machine 0 is the first token
    assert error.where.startswith("memory['x'][1]") and reason in str(error)


def test_what_mpcsim_cannot_count_is_refused_as_mpcsim_refuses_it() -> None:
    with pytest.raises(mpcsim.UnsupportedValue) as want:
        mpcsim.run(Keeps(1 + 2j), None, num_machines=2, memory_words=8)
    model = compile_program(Keeps(1 + 2j), n_in=0, num_machines=2, memory_words=8, rounds=1)
    with pytest.raises(mpcsim.UnsupportedValue) as got:
        model.forward(np.zeros(0))
    # mpcsim names the first machine of its shuffled order to fail; the model, the lowest
    assert {**got.value.fields, "machine": None} == {**want.value.fields, "machine": None}


def test_a_message_that_is_not_words_is_refused_naming_the_receiver() -> None:
    model = compile_program(Sends([3, 2.5]), n_in=0, num_machines=2, memory_words=8, rounds=2)
    with pytest.raises(NotRepresentable) as info:
        model.forward(np.zeros(0))
    assert (info.value.machine, info.value.round_idx) == (0, 0)
    assert info.value.where == "the message to machine 1: payload[1]"


def test_input_words_beyond_the_limit_are_refused() -> None:
    model = compiled(CASES[1])
    with pytest.raises(NotRepresentable, match="input word 3"):
        model.ids(np.r_[np.zeros(3, dtype=np.int64), 2 ** 52, np.zeros(12, dtype=np.int64)])


# -- the model's other promises -------------------------------------------------------------------

def test_machine_rng_state_is_carried_between_rounds() -> None:
    want = mpcsim.run(DrawsAndStores(), None, num_machines=3, memory_words=4, seed=11)
    model = compile_program(DrawsAndStores(), n_in=0, num_machines=3, memory_words=4,
                            rounds=2, seed=11)
    assert_same(model.forward(np.zeros(0)), want.output)


def test_caps_are_enforced_with_mpcsims_error() -> None:
    with pytest.raises(mpcsim.MemoryLimitExceeded) as want:
        mpcsim.run(Sends(list(range(5))), None, num_machines=2, memory_words=4)
    model = compile_program(Sends(list(range(5))), n_in=0, num_machines=2, memory_words=4,
                            rounds=2)
    with pytest.raises(mpcsim.MemoryLimitExceeded) as got:
        model.forward(np.zeros(0))
    assert got.value.fields == want.value.fields


def test_a_program_still_running_after_its_rounds_raises_max_rounds_exceeded() -> None:
    model = compile_program(NeverHalts(), n_in=0, num_machines=3, memory_words=2, rounds=4)
    with pytest.raises(mpcsim.MaxRoundsExceeded) as info:
        model.forward(np.zeros(0))
    assert info.value.active_machines == 3


def test_a_partition_that_computes_words_is_refused_naming_them() -> None:
    # hop-k's sort keys are (symbol - min) * N + position: computed, not copied
    with pytest.raises(CompileError, match=r"machine \d+: memory\['k'\].*neither a constant "
                                           r"nor a copy"):
        compile_program(HopK(1, find="sort"), n_in=8, num_machines=8, memory_words=16,
                        rounds=40, probe=lambda n, rng: ALGORITHMS["hop-k"].make_input(n, rng))


# -- widths: the README's table -------------------------------------------------------------------

WIDTH_CONSTANT = 8  # m <= C s^4 log2 N over the table (the largest ratio is 7.9, at s = 2)
WIDTHS = {(2, 16): 336, (2, 64): 588, (2, 256): 1008, (4, 16): 960, (4, 64): 2400,
          (4, 256): 3840, (8, 16): 2112, (8, 64): 6776, (8, 256): 19272}


@pytest.mark.parametrize("s, n", sorted(WIDTHS))
def test_width_table(s: int, n: int) -> None:
    plan = program_to_plan(0, n, s, 3, 8, 64 + 4 * s)
    assert plan.width == WIDTHS[s, n]
    assert plan.width <= WIDTH_CONSTANT * s ** 4 * math.log2(n)


# -- the CLI ---------------------------------------------------------------------------------------

def test_cli_compiles_an_algorithm_and_checks_it(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["compile", "all-reduce", "--n", "16", "--machines", "8", "--memory-words", "8",
                 "--trials", "2", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["identical"] and report["max_abs_diff"] == 0.0
    assert (report["L"], report["L_bound"], report["N"]) == (report["rounds"],
                                                             report["rounds"] + 1, 16)
    assert report["H"] == len(report["heads"]) and report["m"] > 0


def test_cli_explains_a_program_it_cannot_compile(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", "hop-k", "--n", "8", "--memory-words", "16"]) == 2  # a sort's keys
    assert "memory['k']" in capsys.readouterr().err
    assert main(["compile", "sort", "--n", "16", "--memory-words", "8"]) == 2
    assert "--integers" in capsys.readouterr().err


def test_importing_the_cli_does_not_import_the_bridge() -> None:
    code = "import sys, mpcsim.cli; assert 'transformer_bridge' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


class AllToZero(mpcsim.Program):
    """Every machine but 0 sends machine 0 one word: over its received cap when q > s + 1."""

    def round(self, machine: mpcsim.Machine) -> None:
        if machine.round_idx == 0 and machine.id:
            machine.send(0, machine.id)
        machine.halt()


def test_receiving_over_the_cap_is_mpcsims_received_violation() -> None:
    with pytest.raises(mpcsim.MemoryLimitExceeded) as want:
        mpcsim.run(AllToZero(), None, num_machines=12, memory_words=2)
    model = compile_program(AllToZero(), n_in=0, num_machines=12, memory_words=2, rounds=2)
    with pytest.raises(mpcsim.MemoryLimitExceeded) as got:
        model.forward(np.zeros(0))
    for field in ("machine", "round_idx", "limit", "cap"):
        assert getattr(got.value, field) == getattr(want.value, field)
    assert got.value.words > got.value.cap
