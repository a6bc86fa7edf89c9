"""The one table of named MPC programs every executor must agree on (tests/test_conformance.py).

Each Case is a program factory, an inputs factory, the model's parameters (q, s), a reference
function giving the expected output from the inputs and seed, and the expected rounds. Programs
are module-level classes and functions so that they pickle by reference: the Ray backend ships
them to actors, whose workers import this module (tests/conftest.py puts tests/ on their path).

Also here, because the conformance suite and the property tests share them: `run_case`,
`transcript` (the backend-independent record of a run), `as_received` (what the wire makes of a
value) with `assert_same` (exact comparison, dtypes and shapes included), the `PAYLOADS` table of
every encodable kind of value, and `ScriptedTraffic`, a program that replays a traffic plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

import mpcsim
from mpcsim import Fleet, FunctionProgram, Machine, Program

SEED = 7  # the seed conformance runs use (it also seeds every machine.rng)


@dataclass(frozen=True)
class Case:
    name: str
    program: Callable[[], Program | Callable[[Machine], None]]  # builds a fresh program
    inputs: Callable[[], Any]  # builds the run's inputs; None: the program makes its own data
    num_machines: int  # q
    memory_words: int  # s
    reference: Callable[[Any, int], list[Any]]  # (inputs, seed) -> expected output per machine
    rounds: int  # rounds the run must take
    known_bug: str = ""  # non-empty: a core bug makes this case fail (run as a strict xfail)


def run_case(case: Case, **kwargs: Any) -> mpcsim.Result:
    """Run `case` with its q and s; kwargs go to mpcsim.run (backend, num_workers, seed...)."""
    return mpcsim.run(case.program(), case.inputs(), num_machines=case.num_machines,
                      memory_words=case.memory_words, **kwargs)


def expected(output: list[Any]) -> Callable[[Any, int], list[Any]]:
    """A reference for a case whose output does not depend on its inputs or seed."""
    return lambda inputs, seed: output


def no_inputs() -> None:
    return None


# -- what must be identical across backends, worker counts and (order-blind programs) seeds ----

def transcript(result: mpcsim.Result) -> dict[str, Any]:
    """The run's backend-independent record: rounds, per-round traffic, per-machine totals."""
    trace = result.trace
    return {
        "rounds": result.rounds,
        "per_round": [
            {"round_idx": r.round_idx, "machines_run": r.machines_run, "messages": r.messages,
             "words": r.words, "max_memory_words": r.max_memory_words,
             "max_sent_words": r.max_sent_words, "max_received_words": r.max_received_words,
             "violations": r.violations}
            for r in trace.rounds
        ],
        "sent_words": trace.sent_words.tolist(),
        "received_words": trace.received_words.tolist(),
        "peak_memory_words": trace.peak_memory_words.tolist(),
        "rounds_active": trace.rounds_active.tolist(),
        "violations": sorted(violation_key(v) for v in trace.violations),
    }


def violation_key(v: mpcsim.Violation) -> tuple[int, int, str, int, int]:
    return (v.round_idx, v.machine, v.limit, v.words, v.cap)


# -- values as the wire delivers them ----------------------------------------------------------

def as_received(value: Any) -> Any:
    """What a receiver gets for `value`: tuples become lists, numpy scalars Python scalars."""
    if isinstance(value, np.ndarray):
        return np.ascontiguousarray(value) if value.ndim else value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [as_received(v) for v in value]
    if isinstance(value, dict):
        return {as_received(k): as_received(v) for k, v in value.items()}
    if isinstance(value, bytearray):
        return bytes(value)
    return value


def assert_same(actual: Any, wanted: Any, path: str = "output") -> None:
    """Exact equality that also checks types, array dtypes and shapes; names the path."""
    if isinstance(wanted, np.ndarray):
        assert isinstance(actual, np.ndarray), f"{path}: {type(actual).__name__} is no array"
        assert actual.dtype == wanted.dtype, f"{path}: dtype {actual.dtype} != {wanted.dtype}"
        assert actual.shape == wanted.shape, f"{path}: shape {actual.shape} != {wanted.shape}"
        assert np.array_equal(actual, wanted), f"{path}: {actual!r} != {wanted!r}"
    elif isinstance(wanted, list):
        assert type(actual) is list, f"{path}: {type(actual).__name__} is no list"
        assert len(actual) == len(wanted), f"{path}: length {len(actual)} != {len(wanted)}"
        for i, (a, w) in enumerate(zip(actual, wanted)):
            assert_same(a, w, f"{path}[{i}]")
    elif isinstance(wanted, dict):
        assert type(actual) is dict, f"{path}: {type(actual).__name__} is no dict"
        assert list(actual) == list(wanted), f"{path}: keys {list(actual)} != {list(wanted)}"
        for key in wanted:
            assert_same(actual[key], wanted[key], f"{path}[{key!r}]")
    else:
        assert type(actual) is type(wanted), (
            f"{path}: {type(actual).__name__} {actual!r} != {type(wanted).__name__} {wanted!r}")
        assert actual == wanted, f"{path}: {actual!r} != {wanted!r}"


# Every kind of value a message may carry (mpcsim.wire), each as its own payload.
PAYLOADS: list[Any] = [
    None, True, False,
    0, -1, 2**62, -(2**63), 2**64 - 1,
    1.5, -0.0, float("inf"),
    "", "ascii", "ünïcödé ✓ 日本語",
    b"", b"\x00\xff" * 5, bytearray(b"abc"),
    [], [1, [2.5, [None, "x"]]], (1, 2, (3,)),
    {1: "one", 2: [3.0]}, {"k": {"nested": [None, True]}, -5: b"b"},
    np.arange(6, dtype=np.int8).reshape(2, 3),
    np.linspace(0.0, 1.0, 5, dtype=np.float32),
    np.array([True, False, True]),
    np.arange(4, dtype=np.uint16),
    np.array([1 + 2j, -3j], dtype=np.complex128),
    np.zeros((0, 3)),
    np.arange(24.0).reshape(2, 3, 4),
    np.arange(12, dtype=np.int64).reshape(3, 4)[:, ::2],  # not contiguous: sent as a copy
    np.arange(3, dtype=">f8"),  # big-endian
    np.int64(7), np.float32(0.5), np.bool_(True), np.uint8(255), np.float64(-2.25),
]

ZERO_DIM_PAYLOADS: list[Any] = [np.array(3.5), np.array(7, dtype=np.int32)]


# -- the programs ------------------------------------------------------------------------------

class PingPong(Program):
    """Machines 0 and 1 bounce a counter, adding one per hop, until it reaches `last`."""

    def __init__(self, last: int) -> None:
        self.last = last

    def round(self, machine: Machine) -> None:
        if machine.round_idx == 0 and machine.id == 0:
            machine.send(1, 0)
        for _, value in machine.inbox:
            machine.output = value
            if value < self.last:
                machine.send(1 - machine.id, value + 1)
        machine.halt()


class RingSum(Program):
    """Each machine makes the value id**2 and passes values around the ring; after q-1 hops
    every machine holds the total. Memory + output + inbox is exactly 3 words."""

    def round(self, machine: Machine) -> None:
        q, nxt = machine.num_machines, (machine.id + 1) % machine.num_machines
        if machine.round_idx == 0:
            machine.memory["total"] = machine.id ** 2
            if q > 1:
                machine.send(nxt, machine.id ** 2)
        for _, value in machine.inbox:
            machine.memory["total"] += value
            if machine.round_idx < q - 1:
                machine.send(nxt, value)
        machine.output = machine.memory["total"]
        machine.halt()


class AllToAll(Program):
    """Machine i holds rows 4i..4i+3 and sends its j-th row to machine j; each machine outputs
    the rows it received, stacked in source order (a block transpose). Sent, received and held
    are exactly memory_words = 12."""

    def round(self, machine: Machine) -> None:
        if machine.round_idx == 0:
            rows = machine.memory.pop("input")
            for dest in range(machine.num_machines):
                machine.send(dest, rows[dest])
        else:
            machine.output = np.stack([row for _, row in machine.inbox])
        machine.halt()


def all_to_all_inputs() -> np.ndarray:
    return np.arange(48, dtype=np.float64).reshape(16, 3)


def all_to_all_reference(inputs: np.ndarray, seed: int) -> list[Any]:
    return [inputs[[4 * i + j for i in range(4)]] for j in range(4)]


class GatherToZero(Program):
    """Every machine sums its share of the input and sends the sum to machine 0, which outputs
    its own sum followed by the received ones in source order."""

    def round(self, machine: Machine) -> None:
        if machine.round_idx == 0:
            total = sum(machine.memory.pop("input", []))
            if machine.id == 0:
                machine.memory["own"] = total
            else:
                machine.send(0, total)
        else:
            machine.output = [machine.memory.pop("own")] + [v for _, v in machine.inbox]
        machine.halt()


def gather_reference(inputs: list[int], seed: int) -> list[Any]:
    sums = [sum(inputs[i:i + 8]) for i in range(0, len(inputs), 8)]
    return [sums + [0] * (6 - len(sums))] + [None] * 5


class WakeUpChain(Program):
    """Everyone halts in round 0; machine 0 wakes machine q-1, which wakes q-2, ... down to 1
    (Pregel: a halted machine runs again when a message arrives). Output: rounds each ran in."""

    def round(self, machine: Machine) -> None:
        machine.output = (machine.output or []) + [machine.round_idx]
        if machine.round_idx == 0 and machine.id == 0:
            machine.send(machine.num_machines - 1, "wake")
        if machine.inbox and machine.id > 1:
            machine.send(machine.id - 1, "wake")
        machine.halt()


class RandomSends(Program):
    """For `sending_rounds` rounds every machine sends a random value (machine.rng) to a
    random machine; then each outputs the sum of what it received."""

    sending_rounds = 3

    def round(self, machine: Machine) -> None:
        got = machine.memory.get("got", 0) + sum(v for _, v in machine.inbox)
        machine.memory["got"] = got
        if machine.round_idx < self.sending_rounds:
            dest = int(machine.rng.integers(machine.num_machines))
            machine.send(dest, int(machine.rng.integers(100)))
        else:
            machine.output = got
            machine.halt()


def random_sends_reference(inputs: None, seed: int, num_machines: int = 5) -> list[Any]:
    got = [0] * num_machines
    for machine in range(num_machines):
        rng = np.random.default_rng([seed, machine])  # machine.rng, as documented
        for _ in range(RandomSends.sending_rounds):
            dest = int(rng.integers(num_machines))
            got[dest] += int(rng.integers(100))
    return got


class ManySmallMessages(Program):
    """Machine 0 sends 50 one-word messages to machine 1 and 10 empty ones (1 word each, the
    minimum) to machine 2. Machine 1 outputs the values in send order, machine 2 the count."""

    def round(self, machine: Machine) -> None:
        if machine.round_idx == 0 and machine.id == 0:
            for value in range(50):
                machine.send(1, value)
            for _ in range(10):
                machine.send(2, [])
        elif machine.inbox:
            values = [v for _, v in machine.inbox]
            machine.output = values if machine.id == 1 else len(values)
        machine.halt()


class EchoPayloads(Program):
    """Machine 0 sends each of `payloads` as its own message to machine 1, which outputs the
    list of what it received."""

    def __init__(self, payloads: list[Any]) -> None:
        self.payloads = payloads

    def round(self, machine: Machine) -> None:
        if machine.round_idx == 0 and machine.id == 0:
            for payload in self.payloads:
                machine.send(1, payload)
        elif machine.inbox:
            machine.output = [payload for _, payload in machine.inbox]
        machine.halt()


def send_id_to_next(machine: Machine) -> None:
    """A plain-function program: send my id to the next machine; output what arrives."""
    if machine.round_idx == 0:
        machine.send((machine.id + 1) % machine.num_machines, machine.id)
    else:
        machine.output = machine.inbox[0][1]
    machine.halt()


def square_id(machine: Machine) -> None:
    machine.output = machine.id ** 2
    machine.halt()


class ReversedPlacement(Program):
    """A custom partition: input item i starts on machine q-1-i; each machine outputs 10x it."""

    def partition(self, inputs: Any, num_machines: int,
                  memory_words: int) -> dict[int, dict[str, Any]]:
        return {num_machines - 1 - i: {"value": v} for i, v in enumerate(inputs)}

    def round(self, machine: Machine) -> None:
        machine.output = machine.memory.get("value", 0) * 10
        machine.halt()


class RowBlockSums(Program):
    """The default partition of a 2-D array: each machine outputs the sum of its row block."""

    def round(self, machine: Machine) -> None:
        if "input" in machine.memory:
            machine.output = int(machine.memory.pop("input").sum())
        machine.halt()


def row_block_reference(inputs: np.ndarray, seed: int) -> list[Any]:
    return [int(inputs[i:i + 3].sum()) for i in range(0, 10, 3)] + [None]


class TryWritingInbox(Program):
    """Machine 1 tries to write into a received array: it must be read-only."""

    def round(self, machine: Machine) -> None:
        if machine.round_idx == 0 and machine.id == 0:
            machine.send(1, np.arange(4.0))
        for _, arr in machine.inbox:
            try:
                arr[0] = -1.0
                machine.output = "writable"
            except ValueError:
                machine.output = "read-only"
        machine.halt()


class MutateAfterDelivery(Program):
    """Machine 0 sends an array it keeps, then changes it in the next round, while (in shuffled
    order, before or after) machine 1 reads the message: the message must not change."""

    def round(self, machine: Machine) -> None:
        if machine.id == 0 and machine.round_idx == 0:
            machine.memory["data"] = np.arange(4.0)
            machine.send(1, machine.memory["data"])
            return  # stay active to mutate in round 1
        if machine.id == 0:
            machine.memory["data"] += 100.0
        elif machine.inbox:
            machine.output = machine.inbox[0][1].tolist()
        machine.halt()


class MutateAfterDeliveryColumns(Program):
    """MutateAfterDelivery with send_many: machine 0 sends its kept array as one row (a view
    of it, as the core routes it unchanged) and changes it in the next round."""

    def round(self, machine: Machine) -> None:
        if machine.id == 0 and machine.round_idx == 0:
            machine.memory["data"] = np.arange(4.0)
            machine.send_many(np.array([1]), machine.memory["data"].reshape(1, 4))
            return  # stay active to mutate in round 1
        if machine.id == 0:
            machine.memory["data"] += 100.0
        elif len(machine.inbox_columns):
            machine.output = machine.inbox_columns.rows()[0].tolist()
        machine.halt()


class MutateKeptArrayAfterSendMany(Program):
    """Machine 0 sends the very array it keeps in memory (1-D, its own data: scalar messages)
    with send_many and changes it in place in the next round, while machine 1 reads them."""

    def round(self, machine: Machine) -> None:
        if machine.id == 0 and machine.round_idx == 0:
            machine.memory["data"] = np.arange(4.0)
            machine.send_many(np.ones(4, dtype=np.int64), machine.memory["data"])
            return  # stay active to mutate in round 1
        if machine.id == 0:
            machine.memory["data"] += 100.0
        elif len(machine.inbox_columns):
            machine.output = machine.inbox_columns.values.tolist()
        machine.halt()


# -- columnar twins: the same programs written with send_many / inbox_columns ------------------

class AllToAllColumns(Program):
    """AllToAll with one send_many of the 2-D block (row j to machine j), read back as rows."""

    def round(self, machine: Machine) -> None:
        if machine.round_idx == 0:
            rows = machine.memory.pop("input")
            machine.send_many(np.arange(machine.num_machines), rows)
        else:
            machine.output = machine.inbox_columns.rows().copy()
        machine.halt()


class ManySmallMessagesColumns(Program):
    """ManySmallMessages as two send_many calls: 50 scalars, then 10 empty ragged messages."""

    def round(self, machine: Machine) -> None:
        if machine.round_idx == 0 and machine.id == 0:
            machine.send_many(np.ones(50, dtype=np.int64), np.arange(50))
            machine.send_many([2] * 10, np.zeros(0, dtype=np.int64), offsets=np.zeros(11, int))
        elif machine.id == 1 and machine.inbox_columns:
            machine.output = machine.inbox_columns.values.tolist()
        elif machine.inbox_columns:
            machine.output = len(machine.inbox_columns)
        machine.halt()


class RandomSendsColumns(RandomSends):
    """RandomSends with its one message per round as a one-row send_many, summed from columns."""

    def round(self, machine: Machine) -> None:
        got = machine.memory.get("got", 0) + int(machine.inbox_columns.values.sum())
        machine.memory["got"] = got
        if machine.round_idx < self.sending_rounds:
            dest = int(machine.rng.integers(machine.num_machines))
            machine.send_many([dest], np.array([int(machine.rng.integers(100))]))
        else:
            machine.output = got
            machine.halt()


class RingSumFleet(Program):
    """RingSum as a fleet round: the machines' values move as one send_many per host."""

    def round_many(self, fleet: Fleet) -> None:
        q, ids = fleet.num_machines, fleet.ids
        if fleet.round_idx == 0:
            for m in fleet.machines:
                m.memory["total"] = m.id ** 2
            if q > 1:
                fleet.send_many(ids, (ids + 1) % q, ids ** 2)
        got = fleet.inbox
        totals, offsets = fleet.gather("total")
        position = np.searchsorted(ids, got.dests)
        np.add.at(totals, position, got.values)
        if fleet.round_idx < q - 1 and len(got):
            fleet.send_many(got.dests, (got.dests + 1) % q, got.values)
        fleet.scatter("total", totals, offsets)
        for m in fleet.machines:
            m.output = int(m.memory["total"][0])
        fleet.halt()


class AllToAllFleet(Program):
    """AllToAll as a fleet round: every machine's rows in one send_many, sources repeated."""

    def round_many(self, fleet: Fleet) -> None:
        q = fleet.num_machines
        if fleet.round_idx == 0:
            rows, _ = fleet.gather("input")
            for m in fleet.machines:
                del m.memory["input"]
            fleet.send_many(np.repeat(fleet.ids, q), np.tile(np.arange(q), len(fleet)),
                            rows.reshape(-1, 3))
        else:
            got = fleet.inbox.rows()
            for i, m in enumerate(fleet.machines):
                m.output = got[np.flatnonzero(fleet.inbox.dests == m.id)].copy()
        fleet.halt()


class RandomSendsFleet(RandomSends):
    """RandomSends as a fleet round (each machine draws from its own rng, in id order)."""

    def round_many(self, fleet: Fleet) -> None:
        got = fleet.inbox
        received = np.bincount(np.searchsorted(fleet.ids, got.dests), weights=got.values,
                               minlength=len(fleet)).astype(np.int64)
        for m, value in zip(fleet.machines, received.tolist()):
            m.memory["got"] = m.memory.get("got", 0) + value
        if fleet.round_idx < self.sending_rounds:
            draws = [(int(m.rng.integers(fleet.num_machines)), int(m.rng.integers(100)))
                     for m in fleet.machines]
            fleet.send_many(fleet.ids, [d for d, _ in draws], np.array([v for _, v in draws]))
        else:
            for m in fleet.machines:
                m.output = m.memory["got"]
            fleet.halt()


def _mixed_plan(machine: Machine) -> list[tuple[str, Any, Any, Any]]:
    """Machine i's sends in round 0, in call order: singles and batches of every shape."""
    q, i = machine.num_machines, machine.id
    nxt = (i + 1) % q
    return [
        ("one", nxt, 7 + i, None),
        ("many", [0, 1, 2], np.arange(6, dtype=np.int64).reshape(3, 2) + 10 * i, None),
        ("one", 0, {"from": i}, None),
        ("many", [2, 0], np.array([1.5, 2.5 + i]), None),
        ("many", [1, 1, 0], np.arange(5, dtype=np.int32) + i, np.array([0, 2, 2, 5])),
        ("one", nxt, np.arange(3.0) * i, None),
        ("many", [], np.zeros(0), None),
    ]


def _as_singles(kind: str, dests: Any, payloads: Any, offsets: Any) -> list[tuple[int, Any]]:
    """One send_many call as the (dest, payload) pairs of the equivalent single sends."""
    if kind == "one":
        return [(dests, payloads)]
    payloads = np.asarray(payloads)
    if offsets is not None:
        return [(d, payloads[a:b]) for d, a, b in zip(dests, offsets[:-1], offsets[1:])]
    if payloads.ndim == 2:
        return list(zip(dests, payloads))
    return [(d, v.item()) for d, v in zip(dests, payloads)]


class MixedSends(Program):
    """Round 0: every machine interleaves send and send_many (rows, scalars, ragged, empty,
    several dtypes); with `columns` False the same messages go out one send each. Round 1:
    each machine outputs its inbox as [source, payload] pairs and, from inbox_columns, the
    sources and lengths."""

    def __init__(self, columns: bool) -> None:
        self.columns = columns

    def round(self, machine: Machine) -> None:
        if machine.round_idx == 0:
            for kind, dests, payloads, offsets in _mixed_plan(machine):
                if kind == "many" and self.columns:
                    machine.send_many(dests, payloads, offsets)
                else:
                    for dest, payload in _as_singles(kind, dests, payloads, offsets):
                        machine.send(dest, payload)
            return
        machine.output = [[source, payload] for source, payload in machine.inbox]
        machine.halt()


def mixed_reference(inputs: None, seed: int, num_machines: int = 3) -> list[Any]:
    inboxes: list[list[Any]] = [[] for _ in range(num_machines)]
    for i in range(num_machines):
        machine = Machine(i, num_machines, 64, seed)
        for call in _mixed_plan(machine):
            for dest, payload in _as_singles(*call):
                inboxes[dest].append([i, as_received(payload)])
    return inboxes


CASES: list[Case] = [
    Case("ping_pong", lambda: PingPong(last=5), no_inputs, 2, 2, expected([5, 4]), rounds=7),
    Case("ring_sum_makes_own_data", RingSum, no_inputs, 5, 3, expected([30] * 5), rounds=5),
    Case("all_to_all_arrays", AllToAll, all_to_all_inputs, 4, 12, all_to_all_reference,
         rounds=2),
    Case("gather_to_zero", GatherToZero, lambda: list(range(1, 25)), 6, 8, gather_reference,
         rounds=2),
    Case("pregel_wake_up", WakeUpChain, no_inputs, 4, 8,
         expected([[0], [0, 3], [0, 2], [0, 1]]), rounds=4),
    Case("random_sends_use_machine_rng", RandomSends, no_inputs, 5, 8, random_sends_reference,
         rounds=4),
    Case("many_small_messages", ManySmallMessages, no_inputs, 3, 64,
         expected([None, list(range(50)), 10]), rounds=2),
    Case("many_small_messages_columns", ManySmallMessagesColumns, no_inputs, 3, 64,
         expected([None, list(range(50)), 10]), rounds=2),
    Case("all_to_all_columns", AllToAllColumns, all_to_all_inputs, 4, 12, all_to_all_reference,
         rounds=2),
    Case("random_sends_columns", RandomSendsColumns, no_inputs, 5, 8, random_sends_reference,
         rounds=4),
    Case("ring_sum_fleet", RingSumFleet, no_inputs, 5, 3, expected([30] * 5), rounds=5),
    Case("all_to_all_fleet", AllToAllFleet, all_to_all_inputs, 4, 12, all_to_all_reference,
         rounds=2),
    Case("random_sends_fleet", RandomSendsFleet, no_inputs, 5, 8, random_sends_reference,
         rounds=4),
    Case("mixed_sends_singles", lambda: MixedSends(columns=False), no_inputs, 3, 64,
         mixed_reference, rounds=2),
    Case("mixed_sends_columns", lambda: MixedSends(columns=True), no_inputs, 3, 64,
         mixed_reference, rounds=2),
    Case("every_encodable_payload", lambda: EchoPayloads(PAYLOADS), no_inputs, 2, 256,
         expected([None, as_received(PAYLOADS)]), rounds=2),
    Case("zero_dim_array_payload", lambda: EchoPayloads(ZERO_DIM_PAYLOADS), no_inputs, 2, 8,
         expected([None, as_received(ZERO_DIM_PAYLOADS)]), rounds=2),
    Case("plain_function", lambda: send_id_to_next, no_inputs, 3, 2, expected([2, 0, 1]),
         rounds=2),
    Case("function_program", lambda: FunctionProgram(square_id), no_inputs, 4, 1,
         expected([0, 1, 4, 9]), rounds=1),
    Case("custom_partition", ReversedPlacement, lambda: [1, 2, 3], 5, 2,
         expected([0, 0, 30, 20, 10]), rounds=1),
    Case("default_partition_of_array_rows", RowBlockSums,
         lambda: np.arange(20, dtype=np.int64).reshape(10, 2), 5, 6, row_block_reference,
         rounds=1),
    Case("inbox_arrays_are_read_only", TryWritingInbox, no_inputs, 2, 4,
         expected([None, "read-only"]), rounds=2),
    Case("sender_mutation_after_delivery_is_invisible", MutateAfterDelivery, no_inputs, 2, 8,
         expected([None, [0.0, 1.0, 2.0, 3.0]]), rounds=2),
    Case("sender_mutation_after_send_many_is_invisible", MutateAfterDeliveryColumns, no_inputs,
         2, 8, expected([None, [0.0, 1.0, 2.0, 3.0]]), rounds=2),
    Case("sender_mutation_of_a_kept_array_after_send_many_is_invisible",
         MutateKeptArrayAfterSendMany, no_inputs, 2, 8,
         expected([None, [0.0, 1.0, 2.0, 3.0]]), rounds=2),
]


# -- a traffic plan replayed, for the property tests (tests/test_properties.py) ----------------

Message = tuple[int, int, int]  # (source, dest, payload words)


# The same program written with single sends and with send_many: outputs and transcripts must
# be identical on every backend (tests/test_conformance.py).
COLUMNAR_TWINS: list[tuple[str, str]] = [
    ("many_small_messages", "many_small_messages_columns"),
    ("all_to_all_arrays", "all_to_all_columns"),
    ("random_sends_use_machine_rng", "random_sends_columns"),
    ("mixed_sends_singles", "mixed_sends_columns"),
    ("ring_sum_makes_own_data", "ring_sum_fleet"),
    ("all_to_all_arrays", "all_to_all_fleet"),
    ("random_sends_use_machine_rng", "random_sends_fleet"),
]


@dataclass(frozen=True)
class ScriptedTraffic(Program):
    """Replays a plan. In round r < len(sends) every machine keeps keeps[r][id] words in memory
    and sends its messages of sends[r] (payload: an int32 array of that many words; 0 words
    still costs 1); it halts in the last planned round. In later rounds (only receivers run)
    memory is cleared. With `log`, each machine appends [round_idx, source, cost] to its output
    for every message it finds in its inbox; without, output stays None.

    Uses no randomness: its outcome must not depend on the seed (the machines' order)."""

    sends: tuple[tuple[Message, ...], ...]
    keeps: tuple[tuple[int, ...], ...]
    log: bool = False
    mode: str = "single"  # "single": send; "columns": one ragged send_many; "mixed": alternate

    def round(self, machine: Machine) -> None:
        r = machine.round_idx
        if self.log:
            if self.mode == "columns":
                got = machine.inbox_columns
                entries = [[r, src, max(1, n)]
                           for src, n in zip(got.sources.tolist(), got.lengths.tolist())]
            else:
                entries = [[r, src, max(1, int(np.size(p)))] for src, p in machine.inbox]
            if entries:
                machine.output = (machine.output or []) + entries
        if r >= len(self.sends):
            machine.memory.clear()
            machine.halt()
            return
        machine.memory["kept"] = np.zeros(self.keeps[r][machine.id], dtype=np.int8)
        mine = [(dest, count) for source, dest, count in self.sends[r] if source == machine.id]
        if self.mode == "columns":  # an empty batch too: it sends nothing
            counts = np.array([count for _, count in mine], dtype=np.int64)
            offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            machine.send_many([dest for dest, _ in mine],
                              np.full(int(offsets[-1]), machine.id, dtype=np.int32), offsets)
        for i, (dest, count) in enumerate(mine):
            payload = np.full(count, machine.id, dtype=np.int32)
            if self.mode == "single" or (self.mode == "mixed" and i % 2 == 0):
                machine.send(dest, payload)
            elif self.mode == "mixed":
                machine.send_many([dest], payload, offsets=[0, count])
        if r == len(self.sends) - 1:
            machine.halt()


@dataclass(frozen=True)
class ScriptedFleetTraffic(ScriptedTraffic):
    """ScriptedTraffic as a fleet round: each round's messages go out in one fleet.send_many
    (rows in plan order, so each machine's keep their order), the log comes from fleet.inbox."""

    mode: str = "fleet"

    def round_many(self, fleet: Fleet) -> None:
        r = fleet.round_idx
        if self.log:
            got = fleet.inbox
            costs = np.maximum(got.lengths, 1).tolist()
            logs: dict[int, list[list[int]]] = {}
            for dest, source, cost in zip(got.dests.tolist(), got.sources.tolist(), costs):
                logs.setdefault(dest, []).append([r, source, cost])
            for m in fleet.machines:
                if m.id in logs:
                    m.output = (m.output or []) + logs[m.id]
        if r >= len(self.sends):
            for m in fleet.machines:
                m.memory.clear()
            fleet.halt()
            return
        for m in fleet.machines:
            m.memory["kept"] = np.zeros(self.keeps[r][m.id], dtype=np.int8)
        ours = set(fleet.ids.tolist())
        rows = [(source, dest, count) for source, dest, count in self.sends[r] if source in ours]
        counts = np.array([count for _, _, count in rows], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        values = np.repeat(np.array([source for source, _, _ in rows], dtype=np.int32), counts)
        fleet.send_many([source for source, _, _ in rows], [dest for _, dest, _ in rows],
                        values, offsets)
        if r == len(self.sends) - 1:
            fleet.halt()


def scripted(sends: tuple[tuple[Message, ...], ...], keeps: tuple[tuple[int, ...], ...],
             log: bool, mode: str) -> ScriptedTraffic:
    """The traffic plan as a program sending in `mode`: single, columns, mixed or fleet."""
    if mode == "fleet":
        return ScriptedFleetTraffic(sends=sends, keeps=keeps, log=log)
    return ScriptedTraffic(sends=sends, keeps=keeps, log=log, mode=mode)
