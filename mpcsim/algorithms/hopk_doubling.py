"""hop_k after the sort, as fleet rounds: find from the sorted pairs, then pointer doubling.

What the stage computes, its rounds and its memory are in mpcsim.algorithms.hopk's docstring;
this module is how one round of it runs on a host's machines at once (mpcsim.fleet), as numpy
over their stacked memories. `step(layout, fleet, tau)` runs lock-step round tau (tau = 0 at
the first round after the sort, or after the barrier that follows a sample sort):

    tau 0          each sorted machine sends its last pair (symbol, position) to the next one
    tau 1          f for every sorted pair; one 3-word row (p, f(p), X_p) to the owner of p
    tau 2          owners store (X, P = f, R = identity) per position: memory["xpr"]; requests
    tau 3, 5, ...  owners answer each 1-word request with one word (P, or X in the fetch)
    tau 4, 6, ...  askers apply the replies; then the next requests, or the output

A request is one word: the offset, at the owner of t, of a pointer t = P(p) (double) or R(p)
(compose, fetch); an asker's requests to one owner travel as one message (send_grouped: the
same words, one message where there were many), and so do the owner's replies and the finds
for one owner. An asker sorts its requests by owner once (one packed-key sort over the fleet)
and keeps the order it asked in as memory["ask"] (<= 2c words); the owner answers each asker
in the order asked, so the replies arrive in that order (by owner, then as asked) and land
without another sort. What machine m keeps, sends and outputs depends only on its memory and inbox, the round and
the layout (tested with vectorize=False).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..fleet import Fleet
from .fleet_order import (bits, ids_at, per_item, positions, send_grouped, sorted_keys,
                          stable_order)

if TYPE_CHECKING:
    from .hopk import _Layout

__all__ = ["schedule", "step", "NONE"]

NONE = np.iinfo(np.int64).min  # hop_k's 'none' in outputs
X, P, R = 0, 1, 2  # columns of memory["xpr"]: the symbol, f^(2^j), f^(bits of k below j)
_EMPTY = np.zeros(0, dtype=np.int64)


def schedule(k: int) -> tuple[tuple[bool, bool, bool], ...]:
    """The request rounds that compose f^k (k >= 1) by doubling, as (copy, double, compose):
    step j (j = 0..top, top = k's highest set bit) has P = f^(2^j); at k's lowest set bit R
    (still the identity) becomes a copy of P, at a later set bit R <- P o R (compose, a
    request); below top, P <- P o P (double, a request). A step with no request (only top,
    when k is a power of two) passes its copy on to the fetch of X at R, which is one more
    request round, the last, listed as (copy, False, False). ceil(log2 k) + 1 rounds."""
    top = k.bit_length() - 1
    rounds: list[tuple[bool, bool, bool]] = []
    have_r = copy = False
    for j in range(top + 1):
        bit = bool((k >> j) & 1)
        compose = bit and have_r
        copy = copy or (bit and not have_r)
        have_r = have_r or bit
        if j < top or compose:
            rounds.append((copy, j < top, compose))
            copy = False
    rounds.append((copy, False, False))
    return tuple(rounds)


def step(layout: _Layout, fleet: Fleet, tau: int) -> None:
    """Lock-step round tau on every machine of the fleet (module docstring)."""
    if tau == 0:
        _send_last_pairs(layout, fleet)
    elif tau == 1:
        _route_finds(layout, fleet)
    elif tau % 2:
        _answer(layout, fleet, (tau - 3) // 2)
    else:
        _request_round(layout, fleet, (tau - 2) // 2)


# -- find ----------------------------------------------------------------------------------------

def _sorted_pairs(layout: _Layout, fleet: Fleet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(symbols, positions, offsets): each machine's sorted pairs, stacked."""
    keys, offsets = fleet.gather("mk", _EMPTY)
    if layout.composite is not None:
        low, n = layout.composite
        return keys // n + low, keys % n, offsets
    values, _ = fleet.gather("mv", _EMPTY)
    return keys, values, offsets


def _send_last_pairs(layout: _Layout, fleet: Fleet) -> None:
    """A sorted machine's last pair goes to the next sorted machine, as the 2-word row
    (symbol, position): the predecessor of that machine's first pair."""
    symbols, places, offsets = _sorted_pairs(layout, fleet)
    sends = (offsets[1:] > offsets[:-1]) & (fleet.ids + 1 < layout.sort_plan.machines)
    if not sends.any():
        return
    last = offsets[1:][sends] - 1
    rows = np.empty((last.size, 2), dtype=np.int64)
    rows[:, 0], rows[:, 1] = symbols[last], places[last]
    sources = fleet.ids[sends]
    fleet.send_many(sources, sources + 1, rows)


def _route_finds(layout: _Layout, fleet: Fleet) -> None:
    """A pair's predecessor in sorted order, if it has the same symbol, is the previous
    occurrence: f(p) = p' + 1 (else -1). (p, f(p), X_p) goes to p's owner as one 3-word row."""
    symbols, places, offsets = _sorted_pairs(layout, fleet)
    counts = offsets[1:] - offsets[:-1]
    for m in fleet.machines:  # the pairs are consumed (and the sort's empty "r" dropped)
        memory = m.memory
        memory.pop("mk", None)
        memory.pop("mv", None)
        memory.pop("r", None)
    if symbols.size == 0:
        return
    prev_symbol = np.empty_like(symbols)
    prev_place = np.empty_like(places)
    prev_symbol[1:], prev_place[1:] = symbols[:-1], places[:-1]
    has_prev = np.ones(symbols.size, dtype=bool)
    has_prev[offsets[:-1][counts > 0]] = False  # a machine's first pair: from its inbox
    got = fleet.inbox
    if len(got):
        at = positions(fleet, got.dests)
        told = counts[at] > 0
        first = offsets[at][told]
        rows = got.values.reshape(-1, 2)[told]
        prev_symbol[first], prev_place[first], has_prev[first] = rows[:, 0], rows[:, 1], True
    f = np.where(has_prev & (prev_symbol == symbols), prev_place + 1, -1)
    order, owners = stable_order(places // layout.positions, fleet.num_machines)
    rows = np.empty((order.size, 3), dtype=np.int64)
    rows[:, 0], rows[:, 1], rows[:, 2] = places[order], f[order], symbols[order]
    machine = np.repeat(np.arange(len(fleet)), counts)
    send_grouped(fleet, ids_at(fleet, machine[order]), owners, rows)


def _receive_finds(layout: _Layout, fleet: Fleet) -> tuple[np.ndarray, np.ndarray]:
    """The owner of positions [jc, jc + size) stores (X_p, f(p), p) per position: X, P = f
    and R = the identity. Machines that own no position halt: their part is over."""
    dests, _, rows = per_item(fleet.inbox, 3)
    counts = np.zeros(len(fleet), dtype=np.int64)
    if dests.size:
        at = positions(fleet, dests)
        counts += np.bincount(at, minlength=len(fleet))
    starts = np.zeros(len(fleet) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    xpr = np.empty((int(starts[-1]), 3), dtype=np.int64)
    if dests.size:
        where = starts[at] + rows[:, 0] - dests * layout.positions
        xpr[where, X], xpr[where, P], xpr[where, R] = rows[:, 2], rows[:, 1], rows[:, 0]
    fleet.halt(where=counts == 0)
    return xpr, starts


# -- doubling ------------------------------------------------------------------------------------

def _request_round(layout: _Layout, fleet: Fleet, i: int) -> None:
    """Request round i of the schedule: apply round i - 1's replies (or, for i = 0, store the
    finds), then send round i's requests."""
    plan = schedule(layout.k)
    if i == 0:
        rows, starts = _receive_finds(layout, fleet)
    else:
        flat, offsets = fleet.gather("xpr", _EMPTY)
        rows, starts = flat.reshape(-1, 3).copy(), offsets // 3
        if i == len(plan):  # the fetch's replies: the output
            _output(fleet, rows, starts, *_apply(layout, fleet, rows, starts, (R,)))
            return
        where, replies = _apply(layout, fleet, rows, starts, _columns(plan[i - 1]))
        rows.reshape(-1)[where] = replies
    copy, double, compose = plan[i]
    if copy:
        rows[:, R] = rows[:, P]
    fleet.scatter("xpr", rows.reshape(-1), 3 * starts)
    _ask(layout, fleet, rows, starts, _columns(plan[i]) if double or compose else (R,))


def _columns(entry: tuple[bool, bool, bool]) -> tuple[int, ...]:
    """The pointer columns a request round asks about: P (double), R (compose)."""
    _, double, compose = entry
    return (P,) * double + (R,) * compose


def _asked(rows: np.ndarray, columns: tuple[int, ...]) -> np.ndarray:
    """Flat indexes 3*row + column of the pointers asked about (those >= 0), ascending: by
    machine, position, then column."""
    if len(columns) == 1:
        return 3 * np.flatnonzero(rows[:, columns[0]] >= 0) + columns[0]
    both = np.flatnonzero(rows[:, P:R + 1].reshape(-1) >= 0)  # (row, P or R), row-major
    return 3 * (both >> 1) + P + (both & 1)


def _ask(layout: _Layout, fleet: Fleet, rows: np.ndarray, starts: np.ndarray,
         columns: tuple[int, ...]) -> None:
    """One word per pointer asked about: its offset at its owner; a machine's requests to one
    owner as one message, its messages by owner. The flat indexes 3*row + column asked, in
    that order (the order the replies will arrive in), are kept as memory["ask"]."""
    asked = _asked(rows, columns)
    k, qb = len(fleet), bits(fleet.num_machines)
    machine = _machine_of_row(starts)[asked // 3]
    local = asked - 3 * starts[machine]
    targets = rows.reshape(-1)[asked]
    width = 3 * int((starts[1:] - starts[:-1]).max(initial=1))  # local < width
    keys = sorted_keys((machine << qb) | (targets // layout.positions), k << qb, local, width)
    b = bits(width)
    local = (keys & ((1 << b) - 1)).astype(np.int64)  # by (machine, owner, row, column)
    major = (keys >> b).astype(np.int64)
    machine, owners = major >> qb, major & ((1 << qb) - 1)
    fleet.scatter("ask", local, _offsets(np.bincount(machine, minlength=k)))
    if local.size:
        wanted = rows.reshape(-1)[3 * starts[machine] + local]
        send_grouped(fleet, ids_at(fleet, machine), owners, wanted - owners * layout.positions)


def _offsets(counts: np.ndarray) -> np.ndarray:
    offsets = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def _machine_of_row(starts: np.ndarray) -> np.ndarray:
    """The fleet index of the machine holding each row."""
    return np.repeat(np.arange(starts.size - 1), starts[1:] - starts[:-1])


def _answer(layout: _Layout, fleet: Fleet, i: int) -> None:
    """Answer request round i: P at each offset asked (X in the fetch), to each asker in the
    order it asked (one message per asker, as its request came)."""
    dests, sources, wanted = per_item(fleet.inbox)  # by owner, asker, order asked
    if dests.size == 0:
        return
    flat, offsets = fleet.gather("xpr", _EMPTY)
    column = X if i == len(schedule(layout.k)) - 1 else P
    asked = 3 * (offsets[positions(fleet, dests)] // 3 + wanted) + column
    send_grouped(fleet, dests, sources, flat[asked])  # the core orders them by asker


def _apply(layout: _Layout, fleet: Fleet, rows: np.ndarray, starts: np.ndarray,
           columns: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(where, replies): the flat indexes 3*row + column asked, in the order the replies
    arrive (by owner: memory["ask"], kept when asking), and the replies. `columns` are the
    ones the request round asked about (for the check)."""
    ask, offsets = fleet.gather("ask", _EMPTY)
    replies = fleet.inbox.values
    if replies.size != ask.size:
        raise AssertionError(f"hop-k: {replies.size} replies for {ask.size} requests "
                             f"(columns {columns})")
    where = 3 * np.repeat(starts[:-1], offsets[1:] - offsets[:-1]) + ask
    return where, replies


def _output(fleet: Fleet, rows: np.ndarray, starts: np.ndarray, fetched: np.ndarray,
            symbols: np.ndarray) -> None:
    """After the fetch: hop_k at each position is X at R (fetched), or NONE where R is none."""
    out = np.full(rows.shape[0], NONE, dtype=np.int64)
    out[fetched // 3] = symbols
    for m in fleet.machines:
        m.memory.pop("xpr", None)
        m.memory.pop("ask", None)
    fleet.set_outputs(out, starts)
    fleet.halt()
