"""hop_k after the sort, as fleet rounds: find from the sorted pairs, then pointer doubling.

What the stage computes, its rounds and its memory are in mpcsim.algorithms.hopk's docstring;
this module is how one round of it runs on a host's machines at once (mpcsim.fleet), as numpy
over their stacked memories. `step(layout, fleet, tau)` runs lock-step round tau (tau = 0 at
the first round after the sort, or after the barrier that follows a sample sort):

    tau 0          each sorted machine sends its last pair (symbol, position) to the next one
    tau 1          f for every sorted pair; one 3-word row (p, f(p), X_p) to the owner of p
    tau 2          owners store X, P = f, R = identity per position: memory["x"], ["p"], ["r"];
                   requests
    tau 3, 5, ...  owners answer each 1-word request with one word (P, or X in the fetch)
    tau 4, 6, ...  askers apply the replies; then the next requests, or the output

After a find by scan (mpcsim.algorithms.hopk_scan) every machine already holds f for its own
positions, and `start` runs tau 2 on those columns directly.

A request is one word: the offset, at the owner of t, of a pointer t = P(p) (double) or R(p)
(compose, fetch); an asker's requests to one owner travel as one message (as
fleet_order.send_grouped would send them: the same words, one message where there were
many), and so do the owner's replies and the finds for one owner. An asker sorts its
requests by owner once (a packed-key sort) and keeps the order it asked in as memory["ask"]
(<= 2c words); the owner answers each asker in the order asked, so the replies arrive in that
order (by owner, then as asked) and land without another sort. A round stores anew only the
columns it changed (P after a double, R after a compose or copy).

Every per-item pass (routing the finds, storing them, asking, answering, applying) runs over
runs of consecutive machines of about _CHUNK_ROWS positions (_chunks): hundreds of small
machines at once, a large machine alone, so that its sort and its random reads stay in
cache (when machines are few and large, that halves the lock-step's time). The runs change
only how the numpy work is cut, never what a machine sends or keeps.

What machine m keeps, sends and outputs depends only on its memory and inbox, the round and
the layout (tested with vectorize=False).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..fleet import Fleet
from .fleet_order import bits, ids_at, positions, sorted_keys
from .segments import offsets_of

if TYPE_CHECKING:
    from .hopk import _Layout

__all__ = ["schedule", "step", "start", "NONE"]

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

def _sorted_pairs(layout: _Layout, fleet: Fleet, last: bool = False
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(symbols, positions, offsets): each machine's sorted pairs, stacked; with `last`, only
    the last pair of each machine that has one (the rest are not decoded)."""
    keys, offsets = fleet.gather("mk", _EMPTY)
    at = offsets[1:][offsets[1:] > offsets[:-1]] - 1 if last else slice(None)
    keys = keys[at]
    if layout.composite is not None:
        low, n = layout.composite
        return keys // n + low, keys % n, offsets
    values, _ = fleet.gather("mv", _EMPTY)
    return keys, values[at], offsets


def _send_last_pairs(layout: _Layout, fleet: Fleet) -> None:
    """A sorted machine's last pair goes to the next sorted machine, as the 2-word row
    (symbol, position): the predecessor of that machine's first pair."""
    symbols, places, offsets = _sorted_pairs(layout, fleet, last=True)
    has = offsets[1:] > offsets[:-1]
    sends = (fleet.ids + 1 < layout.sort_plan.machines)[has]  # of the machines that have pairs
    if not sends.any():
        return
    rows = np.empty((int(sends.sum()), 2), dtype=np.int64)
    rows[:, 0], rows[:, 1] = symbols[sends], places[sends]
    sources = fleet.ids[has][sends]
    fleet.send_many(sources, sources + 1, rows)


def _route_finds(layout: _Layout, fleet: Fleet) -> None:
    """A pair's predecessor in sorted order, if it has the same symbol, is the previous
    occurrence: f(p) = p' + 1 (else -1). (p, f(p), X_p) goes to p's owner as one 3-word row."""
    symbols, places, offsets = _sorted_pairs(layout, fleet)
    counts = offsets[1:] - offsets[:-1]
    fleet.drop("mk", "mv", "r")  # the pairs are consumed (and the sort's empty "r" dropped)
    if symbols.size == 0:
        return
    same = np.empty(symbols.size, dtype=bool)  # the predecessor has the same symbol
    np.equal(symbols[1:], symbols[:-1], out=same[1:])
    f = np.empty_like(places)  # the predecessor's position + 1, where it has the same symbol
    np.add(places[:-1], 1, out=f[1:])
    same[offsets[:-1][counts > 0]] = False  # a machine's first pair: from its inbox
    got = fleet.inbox
    if len(got):
        at = positions(fleet, got.dests)
        told = counts[at] > 0
        first = offsets[at][told]
        rows = got.values.reshape(-1, 2)[told]
        same[first], f[first] = rows[:, 0] == symbols[first], rows[:, 1] + 1
    np.putmask(f, ~same, -1)
    rows = np.empty((symbols.size, 3), dtype=np.int64)  # by machine, owner, sorted order
    order = np.empty(symbols.size, dtype=np.int64)
    heads = []
    for a, b in _chunks(offsets):  # a run of machines at a time, in cache
        lo, hi = int(offsets[a]), int(offsets[b])
        machine = None if b - a == 1 else np.repeat(np.arange(b - a), counts[a:b])
        owners = places[lo:hi] // layout.positions
        machine, owners, lengths = _by_owner(owners, machine, np.arange(hi - lo), hi - lo,
                                             b - a, fleet.num_machines, order[lo:])
        at = order[lo:hi]
        rows[lo:hi, 0], rows[lo:hi, 1] = places[lo:hi][at], f[lo:hi][at]
        rows[lo:hi, 2] = symbols[lo:hi][at]
        heads.append((machine + a, owners, lengths))
    machine, owners, lengths = (np.concatenate(part) for part in zip(*heads))
    fleet.send_many(ids_at(fleet, machine), owners, rows.reshape(-1), 3 * offsets_of(lengths))


def _receive_finds(layout: _Layout, fleet: Fleet) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """The owner of positions [jc, jc + size) stores, per position p, X_p, P = f(p) and R = p
    (the identity), as memory["x"], ["p"], ["r"]. Machines that own no position halt: their
    part is over. A run of machines at a time (_chunks)."""
    got = fleet.inbox  # 3-word rows (p, f(p), X_p), by owner
    at = positions(fleet, got.dests)  # each message's owner, ascending
    lengths = (got.offsets[1:] - got.offsets[:-1]) // 3
    counts = np.bincount(at, weights=lengths, minlength=len(fleet)).astype(np.int64)
    starts = offsets_of(counts)
    columns = {j: np.empty(int(starts[-1]), dtype=np.int64) for j in (X, P, R)}
    rows = got.values.reshape(-1, 3)
    for a, b in _chunks(starts):
        first, last = np.searchsorted(at, (a, b)).tolist()
        lo, hi = int(got.offsets[first]) // 3, int(got.offsets[last]) // 3
        if b - a == 1:
            where = rows[lo:hi, 0] - int(got.dests[first]) * layout.positions if hi > lo else _EMPTY
        else:
            base = got.dests[first:last] * layout.positions - (starts[at[first:last]] - starts[a])
            where = rows[lo:hi, 0] - np.repeat(base, lengths[first:last])
        for j, col in ((X, 2), (P, 1), (R, 0)):
            columns[j][starts[a]:starts[b]][where] = rows[lo:hi, col]
    fleet.halt(where=counts == 0)
    return columns, starts


# -- doubling ------------------------------------------------------------------------------------

_KEYS = {X: "x", P: "p", R: "r"}  # memory keys of the columns, c words each
_CHUNK_ROWS = 1 << 14  # an asker's requests are ordered a few machines at a time (cache-sized)
_FEW_OWNERS = 8  # a machine asking fewer owners than this groups its requests by masks, no sort


def start(layout: _Layout, fleet: Fleet, found: dict[str, np.ndarray], starts: np.ndarray
          ) -> None:
    """The first request round (lock-step round 2) on machines that found f for their own
    positions (mpcsim.algorithms.hopk_scan): `found` holds the columns "x" (as memory["x"]
    holds them already), "p" (f) and "r" (the positions), machine i's at
    starts[i]:starts[i + 1]."""
    _request_round(layout, fleet, 0, ({j: found[key] for j, key in _KEYS.items()}, starts))


def _request_round(layout: _Layout, fleet: Fleet, i: int,
                   found: tuple[dict[int, np.ndarray], np.ndarray] | None = None) -> None:
    """Request round i of the schedule: apply round i - 1's replies (or, for i = 0, store the
    finds: `found`, or those arriving), then send round i's requests. Only the columns that
    change are stored anew."""
    plan = schedule(layout.k)
    if i == 0:
        columns, starts = found if found is not None else _receive_finds(layout, fleet)
        changed = {X, P, R} if found is None else {P, R}  # a finder keeps X where it was
    else:
        columns = {}
        for j in (P, R):
            columns[j], starts = fleet.gather(_KEYS[j], _EMPTY)
        asked = _columns(plan[i - 1]) if i < len(plan) else (R,)
        fetch = i == len(plan)
        fresh = _apply(fleet, starts, asked, NONE if fetch else -1)
        if fetch:  # the fetch's replies, X at R: the output
            _output(fleet, fresh[R], starts)
            return
        columns.update(fresh)
        changed = set(fresh)
    copy, double, compose = plan[i]
    if copy:
        columns[R] = columns[P]
        changed.add(R)
    for j in sorted(changed):
        fleet.scatter(_KEYS[j], columns[j], starts)
    _ask(layout, fleet, columns, starts, _columns(plan[i]) if double or compose else (R,))


def _columns(entry: tuple[bool, bool, bool]) -> tuple[int, ...]:
    """The pointer columns a request round asks about: P (double), R (compose)."""
    _, double, compose = entry
    return (P,) * double + (R,) * compose


def _ask(layout: _Layout, fleet: Fleet, columns: dict[int, np.ndarray], starts: np.ndarray,
         asked: tuple[int, ...]) -> None:
    """One word per pointer asked about (those >= 0): its offset at its owner; a machine's
    requests to one owner as one message, its messages by owner. Each machine keeps the
    codes of what it asked (ncols*row + j, j the index of the column in `asked`), in the order
    the replies will arrive in, as memory["ask"]. Ordered a chunk of machines at a time."""
    ncols = len(asked)
    targets = columns[asked[0]] if ncols == 1 else \
        np.stack([columns[j] for j in asked], axis=1).reshape(-1)
    k, q, c = len(fleet), fleet.num_machines, layout.positions
    codes = np.empty(np.count_nonzero(targets >= 0), dtype=np.int64)
    wanted = np.empty_like(codes)
    heads, lengths, done = [], [], 0
    for a, b in _chunks(starts):
        machine, owners, sizes = _requests(targets[ncols * starts[a]:ncols * starts[b]],
                                           ncols * (starts[a:b + 1] - starts[a]), q, c,
                                           codes[done:], wanted[done:])
        heads.append((machine + a, owners))
        lengths.append(sizes)
        done += int(sizes.sum())
    machine = np.concatenate([m for m, _ in heads]) if heads else _EMPTY
    owners = np.concatenate([o for _, o in heads]) if heads else _EMPTY
    lengths = np.concatenate(lengths) if heads else _EMPTY
    per_machine = np.bincount(machine, weights=lengths, minlength=k).astype(np.int64)
    fleet.scatter("ask", codes, offsets_of(per_machine))
    if wanted.size:
        fleet.send_many(ids_at(fleet, machine), owners, wanted, offsets_of(lengths))


def _chunks(starts: np.ndarray) -> list[tuple[int, int]]:
    """Runs [a, b) of consecutive machines of about _CHUNK_ROWS rows (at least one machine)."""
    k = starts.size - 1
    if k == 0:
        return []
    cuts = np.unique(np.searchsorted(starts[:-1], np.arange(0, int(starts[-1]) + 1,
                                                            _CHUNK_ROWS), side="right") - 1)
    cuts = cuts[(cuts > 0) & (cuts < k)].tolist()
    bounds = [0] + cuts + [k]
    return list(zip(bounds[:-1], bounds[1:]))


def _requests(targets: np.ndarray, bounds: np.ndarray, q: int, c: int, codes: np.ndarray,
              wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The requests of a run of machines whose pointers (flat, ncols per row) are
    targets[bounds[m]:bounds[m + 1]] for machine m, in the order sent (machine, owner, code):
    each one's code (its flat index local to its machine) and offset at its owner, written
    to the starts of `codes` and `wanted`. Returns (machine, owner, words) per message."""
    nm = bounds.size - 1
    asked = np.flatnonzero(targets >= 0)
    owners = targets[asked] // c
    machine = None
    if nm > 1:
        machine = np.repeat(np.arange(nm), bounds[1:] - bounds[:-1])[asked]
        asked -= bounds[machine]
    width = int((bounds[1:] - bounds[:-1]).max(initial=1))
    machine, owners, lengths = _by_owner(owners, machine, asked, width, nm, q, codes)
    n = asked.size
    if nm == 1:
        np.take(targets, codes[:n], out=wanted[:n])
    else:
        np.take(targets, codes[:n] + np.repeat(bounds[machine], lengths), out=wanted[:n])
    wanted[:n] -= np.repeat(owners * c, lengths)
    return machine, owners, lengths


def _by_owner(owners: np.ndarray, machine: np.ndarray | None, code: np.ndarray, width: int,
              nm: int, q: int, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Items of a run of nm machines (machine: each one's, None for one machine) for their
    owners, codes distinct per machine in [0, width), ascending within a machine: the codes
    in (machine, owner, code) order, written to the start of `codes` (one packed-key sort;
    for one machine asking fewer than _FEW_OWNERS owners, one mask per owner); returns
    (machine, owner, items) per (machine, owner) run."""
    if machine is None and owners.size:  # one machine: few owners are grouped mask by mask
        low, high = int(owners.min()), int(owners.max())
        if high - low < _FEW_OWNERS:
            parts = [np.flatnonzero(owners == o) for o in range(low, high + 1)]
            lengths = np.array([part.size for part in parts], dtype=np.int64)
            np.take(code, np.concatenate(parts), out=codes[:owners.size])
            kept = np.flatnonzero(lengths)
            return np.zeros(kept.size, dtype=np.int64), kept + low, lengths[kept]
    qb = bits(q)
    major = owners if machine is None else (machine << qb) | owners
    keys = sorted_keys(major, nm << qb, code, width)
    n, b = keys.size, bits(width)
    np.bitwise_and(keys, (1 << b) - 1, out=codes[:n], casting="unsafe")
    major = keys >> keys.dtype.type(b)
    first = np.flatnonzero(major[1:] != major[:-1]) + 1
    first = np.concatenate([np.zeros(min(n, 1), dtype=np.int64), first])
    lengths = np.diff(first, append=n)
    heads = major[first].astype(np.int64)
    return heads >> qb, heads & ((1 << qb) - 1), lengths


def _answer(layout: _Layout, fleet: Fleet, i: int) -> None:
    """Answer request round i: P at each offset asked (X in the fetch), to each asker in the
    order it asked (one message per asker, as its request came). Looked up a run of owners
    at a time (_chunks), so a large owner's column is read in cache."""
    got = fleet.inbox  # by owner, asker, order asked
    if len(got) == 0:
        return
    column = X if i == len(schedule(layout.k)) - 1 else P
    values, offsets = fleet.gather(_KEYS[column], _EMPTY)
    at = positions(fleet, got.dests)  # each message's owner, ascending
    lengths = got.offsets[1:] - got.offsets[:-1]
    replies = np.empty(got.values.size, dtype=values.dtype)
    for a, b in _chunks(offsets):
        first, last = np.searchsorted(at, (a, b)).tolist()
        lo, hi = int(got.offsets[first]), int(got.offsets[last])
        asked = got.values[lo:hi]
        if b - a > 1:
            asked = asked + np.repeat(offsets[at[first:last]] - offsets[a], lengths[first:last])
        np.take(values[offsets[a]:offsets[b]], asked, out=replies[lo:hi])
    fleet.send_many(got.dests, got.sources, replies, got.offsets)


def _apply(fleet: Fleet, starts: np.ndarray, asked: tuple[int, ...], none: int
           ) -> dict[int, np.ndarray]:
    """The columns `asked` anew from the replies: each machine's replies arrive in the order
    of its memory["ask"] (by owner, then as asked); where nothing was asked (the pointer is
    none) the new value is `none`. A run of machines at a time (_chunks)."""
    ask, offsets = fleet.gather("ask", _EMPTY)
    replies = fleet.inbox.values
    if replies.size != ask.size:
        raise AssertionError(f"hop-k: {replies.size} replies for {ask.size} requests "
                             f"(columns {asked})")
    ncols = len(asked)
    fresh = np.empty(ncols * int(starts[-1]), dtype=np.int64)
    for a, b in _chunks(starts):
        part = fresh[ncols * starts[a]:ncols * starts[b]]
        part.fill(none)
        lo, hi = offsets[a], offsets[b]
        where = ask[lo:hi]
        if b - a > 1:
            where = where + ncols * np.repeat(starts[a:b] - starts[a],
                                              offsets[a + 1:b + 1] - offsets[a:b])
        part[where] = replies[lo:hi]
    if ncols == 1:
        return {asked[0]: fresh}
    both = fresh.reshape(-1, ncols)
    return {j: np.ascontiguousarray(both[:, at]) for at, j in enumerate(asked)}


def _output(fleet: Fleet, fetched: np.ndarray, starts: np.ndarray) -> None:
    """After the fetch: hop_k at each position is X at R (fetched), or NONE where R is none."""
    fleet.drop("x", "p", "r", "ask")
    fleet.set_outputs(fetched, starts)
    fleet.halt()
