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
then no order among them is visible (the lower machine's copies count as first). Records, and
float keys with both signed zeros, carry each item's input position as a tiebreak, so the
order is the stable order.

Rounds, deterministic: round 0 sorts locally and sends for stage 0; round r = 1..T merges
what arrived in stage r-1 and sends for stage r: T + 1 rounds (1 when m = 1), every machine
done in round T. So rounds = L(L+1)/2 + 1 with L = ceil(log2 ceil(n/c)): for s = n^delta,
about ((1 - delta) log2 n)^2 / 2, growing as s shrinks (n = 10^4, s = 100: 37 rounds).
Memory: its <= c items and the partner's <= c in the inbox, w' words each (w, plus 1 for the
position tiebreak when it is needed): <= 2cw' words held, <= cw' sent and received; so
c = floor((s - 2) / (2w')) and q*s ~ 2w'n.

The round is a fleet round (mpcsim.fleet): every machine's merge-split at once, by ranking
each item in its partner's run (segments.lower_bound), no sort; a message is one machine's
keys, then values, then positions, in one dtype (segments.carrier).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from ..fleet import Fleet, FleetMessages
from ..program import Machine
from . import segments
from .segments import lower_bound, offsets_of, pack, within

if TYPE_CHECKING:
    from .sort_plan import SortPlan

__all__ = ["masks", "stages", "step", "step_many"]



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
    """One round of the network on one machine (what step_many does for each): True (in
    round T, or at once past the input) once it holds its sorted share in memory["mk"]
    (and ["mv"] for records)."""
    t, me, memory = machine.round_idx, machine.id, machine.memory
    if me >= p.machines:
        return True
    fields = _fields(p)
    if t == 0:
        _begin(p, memory, me)
    else:
        for source, payload in machine.inbox:  # the partner of the last stage, if any
            _merge_one(memory, fields, np.asarray(payload), lower=me < source)
    stage_masks = masks(p.machines)
    if t >= len(stage_masks):
        memory.pop("mp", None)
        return True
    partner = me ^ stage_masks[t]
    if partner < p.machines:
        dtype = segments.carrier(memory["mk"].dtype)
        machine.send(partner, np.concatenate([memory[f].astype(dtype) for f in fields]))
    return False


def _fields(p: SortPlan) -> list[str]:
    return ["mk"] + (["mv"] if p.item_words == 2 else []) + (["mp"] if p.tiebreak else [])


def step_many(p: SortPlan, fleet: Fleet, inbox: FleetMessages | None = None) -> np.ndarray:
    """One round of the network on every machine of `fleet`; True (in round T, or at once
    for machines past the input) once a machine holds its sorted share in memory["mk"]
    (and ["mv"] for records). inbox: the sort's messages (default: fleet.inbox)."""
    got = fleet.inbox if inbox is None else inbox
    if len(fleet) == 1 and inbox is None:  # a fleet of one (vectorize=False): the per-machine round
        return np.array([step(p, fleet.machines[0])])
    t, ids = fleet.round_idx, fleet.ids
    mems = [m.memory for m in fleet.machines]
    stage_masks = masks(p.machines)
    if t == 0:
        for i, mem in enumerate(mems):
            if "k" in mem:
                _begin(p, mem, int(ids[i]))
    fields = _fields(p)
    if t > 0 and len(got):
        _merge_split(p, fleet, got, mems, fields)
    if t >= len(stage_masks):
        for mem in mems:
            mem.pop("mp", None)
        return np.ones(len(mems), dtype=bool)
    partner = ids ^ stage_masks[t]
    send = np.flatnonzero((partner < p.machines) & (ids < p.machines))
    if send.size:
        arrays = [[mems[i][f] for i in send.tolist()] for f in fields]
        sizes = np.array([a.size for a in arrays[0]], dtype=np.int64)
        dtype = segments.carrier(arrays[0][0].dtype)
        starts = offsets_of(sizes)[:-1]
        parts = [(np.concatenate(a).astype(dtype), starts, sizes) for a in arrays]
        values, lengths = pack(dtype, send.size, None, parts)
        fleet.send_many(ids[send], partner[send], values, offsets_of(lengths))
    return ids >= p.machines


def _begin(p: SortPlan, memory: dict[str, Any], machine_id: int) -> None:
    """Round 0: sort the chunk by (key, input position)."""
    keys, values = memory.pop("k"), memory.pop("v", None)
    if not p.tiebreak:
        memory["mk"] = np.sort(keys, kind="stable")
        return
    positions = np.arange(machine_id * p.slots, machine_id * p.slots + keys.size,
                          dtype=np.int64)
    order = np.argsort(keys, kind="stable")  # input order among equal keys
    memory["mk"], memory["mp"] = keys[order], positions[order]
    if values is not None:
        memory["mv"] = values[order]


def _merge_one(memory: dict[str, Any], fields: list[str], payload: np.ndarray,
               lower: bool) -> None:
    """_merge_split for one machine: the same result by a sort of both runs."""
    own = [memory[f] for f in fields]
    n = payload.size // len(fields)
    theirs = [payload[f * n:(f + 1) * n].astype(own[f].dtype) for f in range(len(fields))]
    both = [np.concatenate([a, b] if lower else [b, a]) for a, b in zip(own, theirs)]
    # lower machine's copies first among equal keys (or by position, when carried)
    order = (np.lexsort((both[-1], both[0])) if fields[-1] == "mp"
             else np.argsort(both[0], kind="stable"))
    keep = order[:own[0].size] if lower else order[order.size - own[0].size:]
    for f, name in enumerate(fields):
        memory[name] = both[f][keep]


def _merge_split(p: SortPlan, fleet: Fleet, got: FleetMessages, mems: list[dict[str, Any]],
                 fields: list[str]) -> None:
    """Merge each receiving machine's run with its partner's; the lower of the pair keeps
    the lowest items, the upper the highest, as many as it held. Every item's place in the
    merged run is its index plus the count of the other run's items before it."""
    at = fleet.index_of(got.dests)
    lower = got.dests < got.sources
    own = [[mems[i][f] for i in at.tolist()] for f in fields]
    n_a = np.array([a.size for a in own[0]], dtype=np.int64)
    n_b = got.lengths // len(fields)
    a_off, b_off = offsets_of(n_a), offsets_of(n_b)
    dtypes = [own[f][0].dtype for f in range(len(fields))]
    a = [np.concatenate(arrays) for arrays in own]
    inside_b = within(n_b)
    b = [got.values[np.repeat(got.offsets[:-1] + f * n_b, n_b) + inside_b].astype(dtypes[f])
         for f in range(len(fields))]
    ties = len(fields) > 1 and fields[-1] == "mp"
    which_a, which_b = np.repeat(np.arange(at.size), n_a), np.repeat(np.arange(at.size), n_b)
    # own item before an equal partner item: by position, else if this machine is the lower
    before_b = lower_bound(b[0], b_off[which_a], b_off[which_a + 1], a[0],
                           a[-1] if ties else None, b[-1] if ties else None,
                           inclusive=~lower[which_a]) - b_off[which_a]
    before_a = lower_bound(a[0], a_off[which_b], a_off[which_b + 1], b[0],
                           b[-1] if ties else None, a[-1] if ties else None,
                           inclusive=lower[which_b]) - a_off[which_b]
    place_a = within(n_a) + before_b
    place_b = inside_b + before_a
    # keep places [0, n_a) on the lower machine, [n_b, n_a + n_b) on the upper one
    shift_a = np.where(lower[which_a], 0, n_b[which_a])
    shift_b = np.where(lower[which_b], 0, n_b[which_b])
    keep_a = (place_a >= shift_a) & (place_a < shift_a + n_a[which_a])
    keep_b = (place_b >= shift_b) & (place_b < shift_b + n_a[which_b])
    out_a = a_off[which_a] + place_a - shift_a
    out_b = a_off[which_b] + place_b - shift_b
    bounds = a_off.tolist()
    for f, name in enumerate(fields):
        merged = np.empty_like(a[f])
        merged[out_a[keep_a]] = a[f][keep_a]
        merged[out_b[keep_b]] = b[f][keep_b]
        for j, i in enumerate(at.tolist()):
            mems[i][name] = merged[bounds[j]:bounds[j + 1]]
