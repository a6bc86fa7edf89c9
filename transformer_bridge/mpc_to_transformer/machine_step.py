"""One machine's round, exactly as mpcsim runs it, on a Machine rebuilt from a token's row.

The per-token map of a round layer calls `step`: it rebuilds an mpcsim Machine (id, round,
memory, output, rng state, and the inbox the layer's attention delivered, as mpcsim builds it:
singly sent payloads as (source, payload) pairs, send_many rows as column chunks, so both
`machine.inbox` and `machine.inbox_columns` read what a real host would hand them), runs the
real program's `round` (or `round_many` on a fleet of one, as mpcsim.run(vectorize=False)
does), and returns the new state and the outbox. It checks the caps mpcsim checks, raising
the same errors (MemoryLimitExceeded, UnknownDestination, UnsupportedValue, ProgramError).

Messages leave as mpcsim's wire delivers them (tuples become lists, numpy scalars Python
numbers, arrays read-only), since that is what the receiver's program will see.

The machine and its round come from mpcsim.solo, the core's public single-machine step.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from mpcsim import (MemoryLimitExceeded, MPCError, ProgramError, UnknownDestination,
                    UnsupportedValue, solo, wire)
from mpcsim.columns import SCALAR, Chunk, Inbox, OutBatch, offsets_of
from mpcsim.program import Program
from mpcsim.wordcount import UncountableValue, memory_words, message_words, words

__all__ = ["Message", "State", "step", "SINGLE", "INPUT", "COLUMN_SCALAR", "COLUMN_ROW",
           "rng_bytes", "rng_state"]

SINGLE, INPUT, COLUMN_SCALAR, COLUMN_ROW = 0, 1, 2, 3


class Message(NamedTuple):
    dest: int
    seq: int  # its place in the sender's outbox (send order)
    kind: int  # SINGLE (send), COLUMN_SCALAR / COLUMN_ROW (send_many), INPUT (first layer)
    payload: Any  # SINGLE: the value as delivered; COLUMN_*, INPUT: a 1-D numpy array
    cost: int  # words: max(1, words(payload))


@dataclass
class State:
    """What a machine keeps between rounds."""

    memory: dict[str, Any]
    output: Any
    rng: bytes | None  # its Generator's state once used (see rng_bytes), else None

    def words(self) -> int:
        """Words held, counted as mpcsim's host counts them (memory values + output)."""
        held = memory_words(self.memory) if self.memory else 0
        out = self.output
        if out is not None:
            held += 1 if type(out) is int or type(out) is float else words(out)
        return held


def rng_bytes(generator: np.random.Generator) -> bytes:
    """A PCG64 Generator's state as 37 bytes (state, increment, has_uint32, uinteger)."""
    st = generator.bit_generator.state
    return (st["state"]["state"].to_bytes(16, "little") + st["state"]["inc"].to_bytes(16, "little")
            + bytes([st["has_uint32"]]) + int(st["uinteger"]).to_bytes(4, "little"))


def rng_state(raw: bytes) -> dict[str, Any]:
    return {"bit_generator": "PCG64",
            "state": {"state": int.from_bytes(raw[:16], "little"),
                      "inc": int.from_bytes(raw[16:32], "little")},
            "has_uint32": raw[32], "uinteger": int.from_bytes(raw[33:37], "little")}


def step(program: Program, machine_id: int, round_idx: int, num_machines: int,
         memory_words_cap: int, seed: int, state: State,
         inbox: list[tuple[int, Message]], run_plan: Any = None
         ) -> tuple[State, bool, list[Message]]:
    """Run round `round_idx` of machine `machine_id` (run_plan: the partition's
    Partition.plan, machine.plan): (new state, halted, outbox)."""
    machine = solo.machine(solo.Settings(num_machines, memory_words_cap, seed, run_plan),
                           machine_id, round_idx, state.memory, state.output)
    if inbox:
        machine.inbox = _inbox(inbox)
    fresh = rng_bytes(machine.rng) if state.rng is None else None
    if state.rng is not None:
        machine.rng.bit_generator.state = rng_state(state.rng)
    try:
        sent = solo.step(program, machine)
    except MPCError:
        raise
    except Exception as exc:
        raise ProgramError(machine=machine_id, round_idx=round_idx,
                           original_type=type(exc).__name__, original_message=str(exc),
                           traceback=traceback.format_exc()) from None
    used = rng_bytes(machine.rng)
    new = State(machine.memory, machine.output, None if used == fresh else used)
    outbox = _outbox(sent, machine_id, round_idx, num_machines)
    _check_caps(new, outbox, machine_id, round_idx, memory_words_cap)
    return new, machine.halted, outbox


def _inbox(messages: list[tuple[int, Message]]) -> Any:
    """The inbox as a host builds it: a list of pairs for single sends only, else an Inbox
    of the singles and windows of column chunks (consecutive rows of one dtype)."""
    singles: list[tuple[int, Any]] = []
    runs: list[tuple[int, list[tuple[int, Message]]]] = []  # (singles before, rows)
    for source, msg in messages:
        if msg.kind == SINGLE:
            singles.append((source, msg.payload))
        elif runs and runs[-1][0] == len(singles) and (
                runs[-1][1][-1][1].payload.dtype == msg.payload.dtype):
            runs[-1][1].append((source, msg))
        else:
            runs.append((len(singles), [(source, msg)]))
    if not runs:
        return singles
    box = Inbox(singles)
    for at, rows in runs:
        values = np.concatenate([m.payload for _, m in rows])
        values.flags.writeable = False
        lens = np.array([SCALAR if m.kind == COLUMN_SCALAR else m.payload.size
                         for _, m in rows], dtype=np.int64)
        chunk = Chunk(np.array([src for src, _ in rows], dtype=np.int64), lens, values)
        box.windows.append((at, chunk, 0, len(rows)))
    return box


def _outbox(sent: list[Any], machine_id: int, round_idx: int,
            num_machines: int) -> list[Message]:
    out: list[Message] = []
    for item in sent:
        if type(item) is OutBatch:
            out += _rows(item, machine_id, round_idx, num_machines, len(out))
            continue
        dest, payload = item
        try:
            cost = message_words(payload)
            delivered = wire.decode(wire.encode(payload))
        except (UncountableValue, TypeError, ValueError, OverflowError):
            found = wire.find_unencodable(payload) or wire.Unencodable(
                "payload", type(payload).__name__, "")
            raise UnsupportedValue.found(machine_id, round_idx,
                                         f"the message to machine {dest}: ", found) from None
        out.append(Message(dest, len(out), SINGLE, delivered, cost))
    return out


def _rows(batch: OutBatch, source: int, round_idx: int, q: int, seq: int) -> list[Message]:
    dests, lens, values = batch
    bad = (dests < 0) | (dests >= q)
    if bad.any():
        raise UnknownDestination(machine=source, round_idx=round_idx,
                                 dest=int(dests[np.flatnonzero(bad)[0]]), num_machines=q)
    offsets = offsets_of(lens)
    rows = []
    for i, (dest, n) in enumerate(zip(dests.tolist(), lens.tolist())):
        part = values[offsets[i]:offsets[i + 1]].copy()
        part.flags.writeable = False
        kind = COLUMN_SCALAR if n == SCALAR else COLUMN_ROW
        rows.append(Message(dest, seq + i, kind, part, max(1, part.size if n != SCALAR else 1)))
    return rows


def _check_caps(state: State, outbox: list[Message], machine: int, round_idx: int,
                cap: int) -> None:
    sent = sum(m.cost for m in outbox)
    if sent > cap:
        raise MemoryLimitExceeded(machine=machine, round_idx=round_idx, limit="sent",
                                  words=sent, cap=cap)
    try:
        held = state.words()
    except UncountableValue as exc:
        where = exc.path if exc.path.startswith("memory") else "machine.output" + exc.path
        raise UnsupportedValue(machine=machine, round_idx=round_idx, where=where,
                               type_name=exc.type_name) from None
    if held > cap:
        raise MemoryLimitExceeded(machine=machine, round_idx=round_idx, limit="memory",
                                  words=held, cap=cap)
