"""A token's row and its attention output, as machine state, outbox and inbox (plan.py layout).

- write_state / read_state: the STATE field, (memory, output, rng) in s data words and packed
  shape codes (codec.py).
- write_outbox: each band's KEY (residue code of the band's destinations plus the sender
  itself) and CELL ([1, id, id^2, data words, packed message codes]).
- read_inbox: from one token's attention output [H, value_dim], every message addressed to
  it. Per band, the heads' outputs are the averages over the maximisers (the band's senders
  and the receiver itself, c of them) of their cells. A cell's count column averages to
  n / c for the n senders that filled it; every maximiser is alone in some cell (moduli.py),
  so the smallest positive count is 1 / c, which gives c. A cell is clean when its count
  reads 1 and its id^2 column is the square of its id column (a cell shared by several ids
  cannot pass that check); a clean cell is one sender's cell, read back exactly as
  rint(average * c) (codec.py: words are below 2^50). Every maximiser must be found in a
  clean cell: if not, some receiver got more band-b senders than the received cap allows,
  and RoutingOverflow says so.
"""

from __future__ import annotations

import numpy as np

from mpcsim import MemoryLimitExceeded
from mpcsim.wordcount import words

from .codec import DTYPES, Refusal, array_words, decode, dtype_code, encode, pack, unpack
from .machine_step import COLUMN_ROW, COLUMN_SCALAR, INPUT, SINGLE, Message, State
from .moduli import set_code
from .plan import CELL_HEADER, HEADER_CODES, Band, RoutingPlan

__all__ = ["write_state", "read_state", "write_outbox", "clear_outbox", "read_inbox",
           "band_of", "RoutingOverflow", "message_codes", "cell_messages"]


class RoutingOverflow(MemoryLimitExceeded):
    """A receiver's band had more senders than the caps allow, so it received more than
    memory_words: mpcsim's "received" violation, found by the routing itself. `words` is a
    lower bound (each other sender of the band sent it at least 2^b words)."""

    band: int
    senders: int  # maximisers counted (the receiver included)
    found: int  # of which read back from clean cells

    def _message(self) -> str:
        return (f"machine {self.machine} received at least {self.words} words in round "
                f"{self.round_idx} (band-{self.band} messages from {self.senders - 1} other "
                f"machines, {self.found} readable), over the received cap of memory_words="
                f"{self.cap}. Raise memory_words, or keep every machine's received words "
                f"within it.")


def band_of(cost: int, plan: RoutingPlan) -> int:
    return min(cost.bit_length() - 1, len(plan.bands) - 1)


# -- state -------------------------------------------------------------------------------------

def write_state(row: np.ndarray, state: State, plan: RoutingPlan, machine: int,
                round_idx: int) -> None:
    off, s = plan.offsets, plan.memory_words
    try:
        codes, data = encode((state.memory, state.output, state.rng))
    except Refusal as exc:
        raise exc.error(machine, round_idx, _state_path(exc.path)) from None
    if len(codes) > plan.state_codes:
        raise Refusal("memory and output", f"{len(codes)} shape codes",
                      f"the state needs {len(codes)} shape codes; compile with "
                      f"state_shape_codes >= {len(codes)}").error(machine, round_idx)
    row[off["state_data"]:off["state_data"] + s] = 0.0
    row[off["state_data"]:off["state_data"] + len(data)] = data
    row[off["state_codes"]:off["state_codes"] + off["state_columns"]] = pack(
        codes, off["state_columns"])


def _state_path(path: str) -> str:
    """codec paths of the (memory, output, rng) tuple as the program knows them."""
    if path.startswith("[0]"):
        return "memory" + path[3:]
    if path.startswith("[1]"):
        return "machine.output" + path[3:]
    return path


def read_state(row: np.ndarray, plan: RoutingPlan) -> State:
    off, s = plan.offsets, plan.memory_words
    codes = unpack(row[off["state_codes"]:off["state_codes"] + off["state_columns"]])
    (memory, output, rng), _, _ = decode(codes, row[off["state_data"]:off["state_data"] + s])
    return State(memory, output, rng)


# -- outbox ------------------------------------------------------------------------------------

def message_codes(msg: Message, path: str) -> tuple[list[int], list[float]]:
    """Header [dest, seq, kind, arg] + the payload's shape codes, and its data words."""
    if msg.kind == SINGLE:
        codes, data = encode(msg.payload, path)
        return [msg.dest, msg.seq, SINGLE, 0] + codes, data
    words = array_words(msg.payload, path).tolist()
    if msg.kind == INPUT:
        return [msg.dest, msg.seq, INPUT, 0], words
    kind = 4 + 2 * dtype_code(msg.payload.dtype, path) + (msg.kind == COLUMN_ROW)
    return [msg.dest, msg.seq, kind, msg.payload.size], words


def clear_outbox(row: np.ndarray, plan: RoutingPlan) -> None:
    off = plan.offsets
    for b in plan.bands:
        row[off[f"key{b.index}"]:off[f"cell{b.index}"] + b.cell_width] = 0.0


def write_outbox(row: np.ndarray, sender: int, messages: list[Message], plan: RoutingPlan,
                 round_idx: int, receives: bool) -> None:
    """The band fields of a sender (a machine if `receives`: its key holds itself too)."""
    clear_outbox(row, plan)
    by_band: list[list[Message]] = [[] for _ in plan.bands]
    for msg in messages:
        by_band[band_of(msg.cost, plan)].append(msg)
    for band, msgs in zip(plan.bands, by_band):
        if not msgs and not receives:
            continue
        _write_band(row, band, sender, msgs, plan, round_idx, receives)


def _write_band(row: np.ndarray, band: Band, sender: int, msgs: list[Message],
                plan: RoutingPlan, round_idx: int, receives: bool) -> None:
    off, s = plan.offsets, plan.memory_words
    codes: list[int] = []
    data: list[float] = []
    for msg in msgs:
        try:
            c, d = message_codes(msg, "payload")
        except Refusal as exc:
            raise exc.error(sender, round_idx, f"the message to machine {msg.dest}: ") from None
        codes += c
        data += d
    if len(codes) > band.message_codes:
        need = -(-(len(codes) - band.max_messages * HEADER_CODES) // band.max_messages)
        raise Refusal("", f"{len(codes)} shape codes",
                      f"its band-{band.index} messages need {len(codes)} shape codes, the "
                      f"plan allows {band.message_codes}; compile with message_shape_codes "
                      f">= {need}").error(sender, round_idx, "the outbox")
    key = off[f"key{band.index}"]
    dests = sorted({m.dest for m in msgs} | ({sender} if receives else set()))
    row[key:key + band.key_dim] = set_code(dests, band.key_moduli)
    cell = off[f"cell{band.index}"]
    row[cell:cell + CELL_HEADER] = (1.0, float(sender), float(sender) ** 2)
    row[cell + CELL_HEADER:cell + CELL_HEADER + len(data)] = data
    start = cell + CELL_HEADER + s
    row[start:start + band.code_columns] = pack(codes, band.code_columns)


# -- inbox -------------------------------------------------------------------------------------

def read_inbox(attended: np.ndarray, receiver: int, plan: RoutingPlan,
               round_idx: int) -> list[tuple[int, Message]]:
    """Every message to `receiver` in its attention output [H, value_dim], as (source,
    message), by source then send order. round_idx: the round they were sent in."""
    got: list[tuple[int, Message]] = []
    for band in plan.bands:
        cells = _band_cells(attended, band, plan)
        for source, cell in _senders(cells, band, receiver, round_idx,
                                     plan.memory_words).items():
            got += [(source, m) for m in cell_messages(cell, plan) if m.dest == receiver]
    got.sort(key=lambda pair: (pair[0], pair[1].seq))
    return got


def _band_cells(attended: np.ndarray, band: Band, plan: RoutingPlan) -> np.ndarray:
    w = band.cell_width
    parts = [attended[h, :head.cells * w].reshape(head.cells, w)
             for h, head in enumerate(plan.heads) if head.band == band.index]
    return np.concatenate(parts)


def _senders(cells: np.ndarray, band: Band, receiver: int, round_idx: int,
             cap: int) -> dict[int, np.ndarray]:
    """{sender: its cell, read back exactly} for every maximiser of the band."""
    count = cells[:, 0]
    positive = count[count > 0]
    c = float(np.rint(1.0 / positive.min())) if positive.size else 0.0
    n = np.rint(count * c)
    ids = np.rint(cells[:, 1] * c)
    squares = np.rint(cells[:, 2] * c)
    clean = np.flatnonzero((n == 1) & (squares == ids * ids))
    found: dict[int, np.ndarray] = {}
    for at in clean.tolist():
        sender = int(ids[at])
        if sender not in found:
            found[sender] = np.rint(cells[at] * c)
    if len(found) != c or receiver not in found:
        raise RoutingOverflow(machine=receiver, round_idx=round_idx, limit="received",
                              words=max(int(c) - 1, band.max_senders + 1) * band.min_words,
                              cap=cap, band=band.index, senders=int(c), found=len(found))
    return found


def cell_messages(cell: np.ndarray, plan: RoutingPlan) -> list[Message]:
    """The messages in one sender's cell (read back exactly), every destination."""
    s = plan.memory_words
    data = cell[CELL_HEADER:CELL_HEADER + s]
    codes = unpack(cell[CELL_HEADER + s:])
    out = []
    at = used = 0
    while at < len(codes):
        dest, seq, kind, arg = (int(c) for c in codes[at:at + HEADER_CODES])
        at += HEADER_CODES
        if kind == SINGLE:
            payload, n_codes, n_words = decode(codes[at:], data[used:])
            at += n_codes
            used += n_words
            cost = max(1, words(payload))
        elif kind == INPUT:
            payload, cost = data[used:used + 1].copy(), 1
            used += 1
        else:
            dtype = DTYPES[(kind - 4) // 2]
            size = arg if (kind - 4) % 2 else 1
            payload = data[used:used + size].astype(dtype)
            payload.flags.writeable = False
            used += size
            cost = max(1, size)
            kind = COLUMN_ROW if (kind - 4) % 2 else COLUMN_SCALAR
        out.append(Message(dest, seq, kind, payload, cost))
    return out

