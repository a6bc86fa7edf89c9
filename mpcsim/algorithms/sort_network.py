"""The sort's small-memory plan: a bitonic merge-split network over the machines.

When s is too small for the sample sort's split trees and samples (sort_plan), or when this
plan's bound is lower, the sort runs Batcher's bitonic sorter on machines instead of on items
(sort_plan.network_plan chooses). How the sample sort works is in mpcsim.algorithms.sort.

Layout: the sort's dense layout, m = ceil(n / c) machines, machine i holding slots
[ic, (i+1)c) (the last one n_(m-1) = n - (m-1)c <= c items). The network is the bitonic
sorter in its ascending-only form on 2^L >= m machines, L = ceil(log2 m): for each merge size
2^e (e = 1..L), one stage pairs i with i XOR (2^e - 1), then one stage each pairs i with
i XOR 2^j (j = e-2 .. 0); T = L(L+1)/2 stages, every pair (i < i') putting its smaller items on
i. In a stage both partners send each other all their items, merge the two sorted runs, and
i keeps the lowest n_i, i' the highest n_i'. A machine paired with one >= m sits the stage
out: think of machines m..2^L-1, and the unused slots of machine m-1, as holding +infinity;
then the lower partner keeps what it has and machine m-1 always keeps exactly its n_(m-1)
real items. Replacing each comparator of a sorting network by a merge-split of sorted blocks
sorts the blocks (Knuth, TAOCP vol. 3, 5.3.4 exercise 38), so the output is sorted, dense,
c items per machine.

Ties: keys compare equal only if bit-identical (ints, floats other than the two zeros), and
then no order among them is visible. Records, and float keys with both signed zeros, carry
each item's input position as a tiebreak, so the order is the stable order.

Rounds, deterministic: round 0 sorts locally and sends for stage 0; round r = 1..T merges
what arrived in stage r-1 and sends for stage r: T + 1 rounds (1 when m = 1), every machine
done in round T. So rounds = L(L+1)/2 + 1 with L = ceil(log2 ceil(n/c)): for s = n^delta,
about ((1 - delta) log2 n)^2 / 2, growing as s shrinks (n = 10^4, s = 100: 37 rounds).
Memory: its <= c items and the partner's <= c in the inbox, w' words each (w, plus 1 for the
position tiebreak when it is needed): <= 2cw' words held, <= cw' sent and received; so
c = floor((s - 2) / (2w')) and q*s ~ 2w'n.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from ..program import Machine
from .payload import packed

if TYPE_CHECKING:
    from .sort_plan import SortPlan

__all__ = ["masks", "stages", "step"]


@lru_cache(maxsize=256)
def masks(machines: int) -> tuple[int, ...]:
    """The XOR masks of the stages in order: the partner of i in stage t is i ^ masks[t]."""
    out: list[int] = []
    e = 1
    while 1 << (e - 1) < machines:  # merges of 2^e machines, e = 1..L
        out.append((1 << e) - 1)
        out.extend(1 << j for j in range(e - 2, -1, -1))
        e += 1
    return tuple(out)


def stages(machines: int) -> int:
    """T = L(L + 1)/2, L = ceil(log2 machines)."""
    return len(masks(machines))


def step(p: SortPlan, machine: Machine) -> bool:
    """One round of the network on `machine`; True (in round T) once it holds its sorted
    share in memory["mk"] (and ["mv"] for records)."""
    memory, t, me = machine.memory, machine.round_idx, machine.id
    if me >= p.machines:
        return True
    if t == 0:
        keys, values = memory.pop("k"), memory.pop("v", None)
        positions = (np.arange(me * p.slots, me * p.slots + keys.size, dtype=np.int64)
                     if p.tiebreak else None)
        items = _ordered(keys, values, positions)
    else:
        items = [memory.pop(name) for name in ("nk", "nv", "np") if name in memory]
        if machine.inbox:  # the last stage paired it with a machine < m
            ((partner, payload),) = machine.inbox
            items = _merge_split(p, items, payload, lower=me < partner)
    stage_masks = masks(p.machines)
    if t >= len(stage_masks):
        memory["mk"] = items[0]
        if p.item_words == 2:
            memory["mv"] = items[1]
        return True
    partner = me ^ stage_masks[t]
    if partner < p.machines:
        machine.send(partner, [packed(a) for a in items])
    memory["nk"] = items[0]
    if p.item_words == 2:
        memory["nv"] = items[1]
    if p.tiebreak:
        memory["np"] = items[-1]
    return False


def _merge_split(p: SortPlan, items: list[np.ndarray], payload: list[Any],
                 lower: bool) -> list[np.ndarray]:
    """Merge [keys, values?, positions?] with the partner's; keep as many items as before,
    the lowest on the lower machine of the pair, the highest on the other."""
    both = [np.concatenate([mine, np.asarray(theirs, dtype=mine.dtype)])
            for mine, theirs in zip(items, payload)]
    values = both[1] if p.item_words == 2 else None
    positions = both[-1] if p.tiebreak else None
    merged = _ordered(both[0], values, positions)
    own = items[0].size
    keep = slice(0, own) if lower else slice(merged[0].size - own, None)
    return [a[keep] for a in merged]


def _ordered(keys: np.ndarray, values: np.ndarray | None,
             positions: np.ndarray | None) -> list[np.ndarray]:
    """[keys, values?, positions?] sorted by (key, position)."""
    if positions is None:  # keys only, ties bit-identical: any sort will do
        return [np.sort(keys, kind="stable")]
    order = np.lexsort((positions, keys))
    return [a[order] for a in (keys, values, positions) if a is not None]

