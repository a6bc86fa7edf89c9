"""hop-k's find by a prefix scan over machines, for small alphabets: no sort, no barrier.

find needs, for every position p, the previous occurrence of X_p. When the symbols span a
small range A = max - min + 1, a block of positions is summarised by a *table* of A words:
the last position of each symbol in it (-1: absent). The previous occurrence of X_p is then
the last one within p's block before p, or else entry X_p of the block's *carry*, the
elementwise max of the tables of every earlier block (positions only grow from block to
block, so the max is the latest). The carries are an exclusive prefix max over machines,
computed in a tree; every position is found where it lives, so the pointer doubling
(mpcsim.algorithms.hopk_doubling) starts at once, with no routing of finds.

Machine j < m = ceil(N / c) holds positions [jc, (j + 1)c) (memory["x"]). The tree: fan-in
F, depth D = ceil(log_F m); machine j's *top* t(j) is the largest l <= D with F^l | j (so
t(0) = D), and for j > 0 its parent is j - j mod F^(t + 1): the first machine of its level-
(t + 1) block. Its level-t block is the F^t machines from j. Rounds (`step`, r = round):

    r = 0          every machine takes its table; a top-0 machine j > 0 sends it up
    r = 1 .. D     a machine of top t >= r receives the tables of its level-(r - 1) children
                   (j + i F^(r-1), i = 1..F-1), in order; tells each child its *left* table
                   (the max of its own block so far and the children before that one), keeps
                   the max of all, and in round t (if j > 0) sends that, its block's table, up
    r = t + 2      machine j > 0 of top t receives its left; if its parent is machine 0 (whose
                   carry is all -1) that is its carry
    r = 2D - t     else its carry arrives: its parent's carry, maxed with its left
    r = 2D - l - 1 a machine j > 0 of top t > l sends its carry to its level-l children
                   (l <= D - 2: their parent is not 0); it knows it by then (2D - t <= r, or
                   t + 2 <= r for a child of 0, as t <= D - 1)
    r = 2D         every machine has its carry: f for its positions, and the lock-step's
                   first request round (hopk_doubling.start)

A machine receives one kind of message in a round (children's tables in rounds <= t, its
left in t + 2, its carry in 2D - t, the same round only for t = D - 1, whose parent is 0
and sends no carry). Rounds: exactly 2D before the lock-step (0 for one machine).
Memory: memory["x"] (c words) and one table (memory["tab"]: the block's running max while
t >= r, then the left, then the carry), plus at most F - 1 tables arriving: c + F*A words;
sent per round <= F*A (F - 1 lefts and one table up, or F - 1 carries). `ScanFind.fit`
takes the largest F with c + (F + 2)A + 4 <= s (and A <= 2c, so the carry arriving in
round 2D fits the lock-step's bound of 7c + 3); no scan if F < 2.
What machine j keeps and sends depends only on its memory, inbox, the round and the plan
(tested with vectorize=False).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..fleet import Fleet, FleetMessages
from .fleet_order import bits, positions, sorted_keys

__all__ = ["ScanFind", "step"]

_EMPTY = np.zeros(0, dtype=np.int64)
_SPARE_WORDS = 4


@dataclass(frozen=True)
class ScanFind:
    """The scan's shape: m machines of c positions, symbols low..low + width - 1, tables
    merged F at a time in a tree of depth D."""

    machines: int  # m = ceil(N / c)
    positions: int  # c
    low: int  # the least symbol
    width: int  # A: words per table
    fan: int  # F >= 2
    depth: int  # D = ceil(log_F m)

    @classmethod
    def fit(cls, x: np.ndarray, c: int, s: int) -> ScanFind | None:
        """The scan for symbols x at c positions per machine within s words, None if the
        symbols span too wide a range for a fan-in of 2 (module docstring)."""
        if x.size == 0:
            return None
        low, width = int(x.min()), int(x.max()) - int(x.min()) + 1
        fan = (s - c - _SPARE_WORDS) // width - 2
        if fan < 2 or width > 2 * c:
            return None
        m = -(-x.size // c)
        depth, reach = 0, 1
        while reach < m:
            depth, reach = depth + 1, reach * fan
        return cls(m, c, low, width, min(fan, max(2, m)), depth)

    def rounds(self) -> int:
        """Rounds before the lock-step's first request round: 2D."""
        return 2 * self.depth

    def top(self, ids: np.ndarray) -> np.ndarray:
        """t(j) for machine ids j < m."""
        top = np.zeros(ids.size, dtype=np.int64)
        block = 1
        for level in range(1, self.depth + 1):
            block *= self.fan
            top[ids % block == 0] = level
        top[ids == 0] = self.depth
        return top

    def parent(self, ids: np.ndarray, top: np.ndarray) -> np.ndarray:
        """The parent of each machine j > 0 (of top t): j - j mod F^(t + 1); -1 for 0."""
        span = np.power(self.fan, np.minimum(top + 1, self.depth)).astype(np.int64)
        return np.where(ids == 0, -1, ids - ids % span)


def step(find: ScanFind, fleet: Fleet) -> tuple[dict[str, np.ndarray], np.ndarray] | None:
    """Scan round r = fleet.round_idx <= 2D on machines < m (module docstring). In round 2D
    returns ({"x", "p", "r"} columns: X, P = f, R = the positions; their offsets), for the
    lock-step to store and ask with; before, None."""
    r, d, width = fleet.round_idx, find.depth, find.width
    ids = fleet.ids
    top = find.top(ids)
    parent = find.parent(ids, top)
    k = ids.size
    if r == 0:
        tables = _tables(find, fleet)
        has = np.ones(k, dtype=bool)
        up = (top == 0) & (ids > 0) if d else np.zeros(k, dtype=bool)
    else:
        held, offsets = fleet.gather("tab", _EMPTY)
        has = np.diff(offsets) == width
        tables = np.full((k, width), -1, dtype=np.int64)
        tables[has] = held.reshape(-1, width)
        got = fleet.inbox
        if len(got):
            _receive(find, fleet, got, tables, has, top, parent)
        up = (top == r) & (ids > 0) & (r <= d)
    if r < 2 * d:
        _send_carries(find, fleet, tables, has, top)
    if up.any():
        sent = np.flatnonzero(up)
        fleet.send_many(ids[sent], parent[sent], tables[sent])
        has[sent] = False
    if r == d:
        has[ids == 0] = False  # the root's block is everything: its carry is all -1
    if r < 2 * d:
        fleet.scatter("tab", tables[has].reshape(-1), np.concatenate(
            [np.zeros(1, dtype=np.int64), np.cumsum(has * width)]))
        return None
    fleet.drop("tab")
    tables[ids == 0] = -1
    return _finds(find, fleet, tables)


def _tables(find: ScanFind, fleet: Fleet) -> np.ndarray:
    """Each machine's table: the last position of each symbol in its block, -1 if absent."""
    x, offsets = fleet.gather("x", _EMPTY)
    k, width = fleet.ids.size, find.width
    machine = np.repeat(np.arange(k) * width, np.diff(offsets))
    tables = np.full(k * width, -1, dtype=np.int64)
    np.maximum.at(tables, machine + (x - find.low), _places(find, fleet.ids, x, offsets))
    return tables.reshape(k, width)


def _receive(find: ScanFind, fleet: Fleet, got: FleetMessages, tables: np.ndarray, has: np.ndarray,
             top: np.ndarray, parent: np.ndarray) -> None:
    """This round's inbox, one kind per machine: children's tables (merged, lefts sent back),
    a left, or a carry (module docstring)."""
    r, d, width = fleet.round_idx, find.depth, find.width
    at = positions(fleet, got.dests)
    rows = got.values.reshape(-1, width)
    if rows.shape[0] != len(got):
        raise AssertionError(f"hop-k scan: round {r} got messages of other than {width} words")
    kind_up = top[at] >= r
    kind_left = top[at] == r - 2
    kind_carry = (top[at] == 2 * d - r) & (parent[at] > 0)
    if (kind_up.astype(int) + kind_left + kind_carry != 1).any():
        raise AssertionError(f"hop-k scan: round {r} delivered a table no machine expects")
    if kind_up.any():  # children's tables, by receiver, then child in order
        i = np.flatnonzero(kind_up)
        _merge(fleet, got.sources[i], at[i], rows[i], tables, has)
    for kind in (kind_left, kind_carry):
        i = np.flatnonzero(kind)
        if i.size:
            own = at[i]
            base = np.where(has[own, None], tables[own], -1)
            tables[own] = np.maximum(base, rows[i]) if kind is kind_carry else rows[i]
            has[own] = True


def _merge(fleet: Fleet, children: np.ndarray, at: np.ndarray, rows: np.ndarray,
           tables: np.ndarray, has: np.ndarray) -> None:
    """Receivers `at` (fleet indexes, ascending, a run per receiver) take the max of their
    table and their children's (rows, in child order), and send each child its left: the max
    of the receiver's table and the children before it. A segmented running max: positions
    + 1 >= 0, lifted by the receiver's index times a bound above them, so one running max
    over all rows never mixes receivers."""
    lift = (at * (int(max(rows.max(initial=-1), tables.max(initial=-1))) + 2))[:, None]
    first = np.ones(at.size, dtype=bool)
    first[1:] = at[1:] != at[:-1]
    own = tables[at] + 1 + lift
    running = np.maximum.accumulate(rows + 1 + lift, axis=0)
    before = np.empty_like(running)
    before[1:] = running[:-1]
    before[first] = own[first]
    lefts = np.maximum(before, own) - lift - 1
    last = np.ones(at.size, dtype=bool)
    last[:-1] = first[1:]
    tables[at[last]] = np.maximum(running[last], own[last]) - lift[last] - 1
    has[at] = True
    fleet.send_many(fleet.ids[at], children, lefts)


def _send_carries(find: ScanFind, fleet: Fleet, tables: np.ndarray, has: np.ndarray,
                  top: np.ndarray) -> None:
    """Round 2D - l - 1: machines j > 0 of top t > l send their carry to their level-l
    children (l <= D - 2), whose parent is not machine 0."""
    level = 2 * find.depth - fleet.round_idx - 1
    if not 0 <= level <= find.depth - 2:
        return
    ids = fleet.ids
    senders = np.flatnonzero((top > level) & (ids > 0))
    if not senders.size:
        return
    if not has[senders].all():
        raise AssertionError(f"hop-k scan: round {fleet.round_idx}: a machine sends its "
                             "carry before it knows it")
    step = find.fan ** level
    children = ids[senders, None] + step * np.arange(1, find.fan, dtype=np.int64)
    live = children < find.machines
    source = np.repeat(senders, live.sum(axis=1))
    fleet.send_many(ids[source], children[live], tables[source])


def _finds(find: ScanFind, fleet: Fleet, carries: np.ndarray
           ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """f for every position of the fleet's machines: the last earlier occurrence in its block,
    else its carry's entry; + 1, or -1 for none."""
    order, symbols, place, (x, offsets) = _by_symbol(find, fleet)
    p = place[order]
    found = np.empty(order.size, dtype=np.int64)  # f, in (symbol, position) order
    np.add(p[:-1], 1, out=found[1:])
    head = np.ones(order.size, dtype=bool)  # no earlier occurrence in the block
    np.logical_not(_same_block(symbols, p, find.positions), out=head[1:])
    carried = carries[positions(fleet, p[head] // find.positions), symbols[head]]
    found[head] = np.where(carried >= 0, carried + 1, -1)
    f = np.empty_like(found)
    f[order] = found
    return {"x": x, "p": f, "r": place}, offsets


_FEW_SYMBOLS = 16  # up to this many values, occurrences are found symbol by symbol


def _by_symbol(find: ScanFind, fleet: Fleet
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The fleet's symbols x (flat, machine after machine, positions ascending) grouped by
    symbol: (order, symbol - low for each in that order, the position of every item of x,
    (x, offsets)); within a symbol, positions ascend. Symbol by symbol (a pass each) for few
    values, else one packed-key sort."""
    x, offsets = fleet.gather("x", _EMPTY)
    n, place = x.size, _places(find, fleet.ids, x, offsets)
    if find.width <= _FEW_SYMBOLS:
        parts = [np.flatnonzero(x == find.low + a) for a in range(find.width)]
        order = np.concatenate(parts) if parts else _EMPTY
        symbols = np.repeat(np.arange(find.width), [part.size for part in parts])
    else:
        keys = sorted_keys(x - find.low, find.width, np.arange(n), n)
        b = bits(n)
        order = (keys & ((1 << b) - 1)).astype(np.int64)
        symbols = (keys >> keys.dtype.type(b)).astype(np.int64)
    return order, symbols, place, (x, offsets)


def _places(find: ScanFind, ids: np.ndarray, x: np.ndarray, offsets: np.ndarray
            ) -> np.ndarray:
    """The position of every item of the machines' stacked blocks x."""
    c = find.positions
    if ids.size and np.array_equal(offsets[:-1], (ids - ids[0]) * c):  # consecutive blocks
        return np.arange(ids[0] * c, ids[0] * c + x.size, dtype=np.int64)
    return np.arange(x.size, dtype=np.int64) + np.repeat(ids * c - offsets[:-1], np.diff(offsets))


def _same_block(symbols: np.ndarray, p: np.ndarray, c: int) -> np.ndarray:
    """For each consecutive pair in (symbol, position) order: the same symbol, in the same
    block of c positions (the earlier one is the later one's previous occurrence there)."""
    same = symbols[1:] == symbols[:-1]
    same &= p[:-1] >= p[1:] - p[1:] % c
    return same
