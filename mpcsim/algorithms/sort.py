"""Sample sort: a stable sort of n keys (ints or floats) or (key, value) records (at small s,
by a merge-split network instead: see "Network plans" below).

Layout: a dense array of n slots, c per machine (machine j holds slots [jc, (j+1)c)). The
items of a *segment* (a range of slots) are known to belong to exactly those slots in sorted
order, but are unsorted among themselves; at the start the whole input is one segment.
Each machine keeps its part of a segment sorted locally. A segment of more than c items
(spanning >= 2 machines) is refined by one *level*:
  1. sample: S draws of its slots (a seeded hash, so no machine needs to agree with another);
     the drawn items (key, rank among equal keys on their machine) go to the segment's first
     machine, the leader;
  2. the leader sorts the samples and takes every (S/B)-th as a splitter (key, machine, rank)
     (a total order on items consistent with stable order, so ties split at any item);
  3. splitters go down, bucket counts up and (prefix, total) per bucket back down the split
     tree (mpcsim.algorithms.split_tree), so every machine knows where its bucket-b items go:
     the slots start + (items of buckets < b) + (bucket-b items on earlier machines) + ...;
  4. scatter: each machine sends each destination machine one message (a contiguous run of its
     locally sorted items); the receiver sorts what arrives, which splits its slots into the
     sub-segments (the buckets) it holds. Buckets within one machine are done; a bucket of
     <= c items straddling two machines is sent to the right one, which merges it (one
     round); larger buckets are refined by the next level.
Buckets are contiguous in stable order and every machine receives exactly its slots, so no cap
depends on the luck of the sampling: only the number of levels does. Stability: within a
segment slot order is input order among equal keys (true at the start, kept by sending
buckets in machine order and sorting stably), and the splitters' (machine, rank) break ties
in that order.

Direct plans: when one bucket per machine fits (with high probability) in a machine, the
plan skips the counting: round 0 local sort and samples to machine 0, round 1 the splitters
to every machine, round 2 bucket j to machine j, round 3 sort what arrived: 4 rounds, and the
output is one bucket per machine rather than dense. This is the case for large s (e.g.
n = 10^6 with s >= ~2^17 words).

Network plans (small s, mpcsim.algorithms.sort_network): the same dense layout, sorted by a
bitonic merge-split network over the machines: deterministic, L(L+1)/2 + 1 rounds
(L = ceil(log2 m)), c = floor((s - 2) / (2w')) items per machine (w' = w, + 1 when items carry
their input position as the tiebreak: records, signed zeros).

Rounds: a level on a segment spanning G machines takes a + 3D + 1 rounds (D = ceil(log_g G)
tree levels, a = 1 or 2; 5 or 6 when G <= g); levels run until segments have <= c items, then
one round merges straddlers. mpcsim.algorithms.sort_plan derives the with-high-probability
bound (`round_bound`) and the memory per machine, and chooses the plan with the fewest
rounds: the levels' bound is O(1/delta) for s = n^delta (a constant for fixed delta), the
network's ~((1 - delta) log2 n)^2 / 2 grows with n but is lower at small s. E.g. at
s = ceil(n^(1/2)): n = 10^3 (s = 32) network 29 rounds, n = 10^4 (s = 100) network 37,
n = 10^5 (s = 317) network 56, n = 10^6 (s = 1000) levels 41 (bound 52); at
s = ceil(n^(2/3)): 16, 22, 21 (levels, bound 22), 14 (levels, bound 14). Any s >= 4 words
(keys; 8 for records) has a plan. With q*s = O(n): q = ceil(n/c) machines, c = s/(3w) ..
s/(12w) for levels, (s - 2)/(2w') for the network (see `sizing`).

Failure modes: ConfigError up front when no plan fits (s < 4 words for keys, < 8 for records,
or too few machines), naming the least memory_words or num_machines; NaN keys are rejected
(they have no order).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..program import Machine, Program
from . import sort_network
from .payload import packed
from .sort_plan import KINDS, SortPlan, plan
from .spec import AlgorithmSpec, double_until_accepted

__all__ = [
    "SampleSort", "reference", "verify", "round_bound", "make_input", "sizing", "SPEC",
    "as_items", "place", "step", "may_sleep", "sorted_part",
]

SIDES = ("lo", "hi")  # a machine's segment crossing its left edge, and its right edge
SPLIT, STRADDLE = 0, 1  # kinds of active segment


class SampleSort(Program):
    """Stable sample sort of keys or (key, value) records; see the module docstring.

    seed: seeds the sample draws. slots, samples, buckets, fan: override the plan's choice of
    c (items per machine), S, B and the split trees' fan-in (None: searched for the fewest
    rounds; see sort_plan.plan); kind: None (the best plan), or only "direct", "network" or
    "levels" plans (sort_plan.KINDS). Output: machine j's share of the sorted sequence (a 1-D
    array of keys, or an (k, 2) array of records), in machine order; None on machines that
    end empty.
    """

    def __init__(self, seed: int = 0, slots: int | None = None, samples: int | None = None,
                 buckets: int | None = None, fan: int | None = None,
                 kind: str | None = None) -> None:
        problems = [(name, value, "must be an int >= 2 or None")
                    for name, value in (("slots", slots), ("samples", samples),
                                        ("buckets", buckets), ("fan", fan))
                    if value is not None and (type(value) is not int or value < 2)]
        if type(seed) is not int or seed < 0:
            problems.append(("seed", seed, "must be an int >= 0"))
        if kind not in KINDS + (None,):
            problems.append(("kind", kind, f"must be one of {KINDS} or None"))
        if problems:
            raise ConfigError(problems=problems)
        self.seed = seed
        self.overrides = {"slots": slots, "samples": samples, "buckets": buckets, "fan": fan,
                          "kind": kind}
        self.plan: SortPlan | None = None  # set by partition, for this input and (q, s)

    def partition(self, inputs: Any, num_machines: int,
                  memory_words: int) -> dict[int, dict[str, Any]]:
        """Plan for (n, q, s); machine j < m starts with slots [jc, (j+1)c) of the input."""
        keys, values = as_items(inputs)
        self.plan = self.make_plan(keys, values, num_machines, memory_words)
        return place(self.plan, keys, values)

    def make_plan(self, keys: np.ndarray, values: np.ndarray | None, num_machines: int,
                  memory_words: int) -> SortPlan:
        return plan(keys.size, num_machines, memory_words, 1 if values is None else 2,
                    seed=self.seed, stable_floats=_signed_zeros(keys), **self.overrides)

    def round(self, machine: Machine) -> None:
        assert self.plan is not None, "SampleSort.partition sets the plan before round 0"
        if step(self.plan, machine):
            machine.output = sorted_part(machine.memory)
            machine.memory.clear()  # the output holds the items now: count them once
            machine.halt()
        elif may_sleep(self.plan, machine):
            machine.halt()  # woken by the next message for one of its segments

    def __repr__(self) -> str:
        return f"SampleSort(seed={self.seed})"


# -- the round, as functions of (plan, machine), so other programs can embed the sort -------

def place(p: SortPlan, keys: np.ndarray, values: np.ndarray | None) -> dict[int, dict[str, Any]]:
    """Initial memory: machine j < m holds {"k": its keys[, "v": its values]}."""
    c = p.slots
    out = {}
    for j in range(p.machines):
        memory: dict[str, Any] = {"k": keys[j * c:(j + 1) * c]}
        if values is not None:
            memory["v"] = values[j * c:(j + 1) * c]
        out[j] = memory
    return out


def step(p: SortPlan, machine: Machine) -> bool:
    """One round of the sort on `machine`; True once the machine holds only sorted items."""
    if p.direct:
        return _direct_step(p, machine)
    if p.network:
        return sort_network.step(p, machine)
    memory, now = machine.memory, machine.round_idx
    if "k" in memory:
        _begin(p, machine)
    inbox: dict[int, list[tuple[int, list[Any]]]] = {}
    for source, payload in machine.inbox:
        inbox.setdefault(int(payload[0]), []).append((source, payload[1:]))
    for side in SIDES:  # arrivals first: they create the segments that start this round
        role = memory.get(side)
        if role is None:
            continue
        start, length, t0, kind = (int(x) for x in role)
        tau = now - t0
        if kind == SPLIT and tau == p.tree(_span(p, start, length)).rounds:
            _arrive(p, machine, side, inbox.pop(start, []))
        elif kind == STRADDLE and tau == 1:
            _merge_straddler(p, machine, inbox.pop(start, []))
    for side in SIDES:
        role = memory.get(side)
        if role is not None and int(role[3]) == SPLIT:
            start, length, t0, _ = (int(x) for x in role)
            _split_step(p, machine, side, now - t0, inbox.get(start, []))
    return "lo" not in memory and "hi" not in memory


def _direct_step(p: SortPlan, machine: Machine) -> bool:
    """A direct plan (sort_plan.direct_plan): round 0 sort locally and send samples to machine
    0; round 1 machine 0 sends every machine the splitters (m - 1 of them, or fewer if it has
    fewer samples); round 2 cut and send bucket j to machine j; round 3 sort what arrived
    (stably: it arrives in machine order). Every machine but machine 0 and trailing ones ends
    with at least one item (its bucket's splitter)."""
    memory, t, me = machine.memory, machine.round_idx, machine.id
    if me >= p.machines:
        return True
    if t == 0:
        keys, values = _sorted(p, memory.pop("k"), memory.pop("v", None))
        memory["lok"] = keys
        if values is not None:
            memory["lov"] = values
        slot = _draws(p, 0, p.n)
        local = np.unique(slot[(slot >= me * p.slots) & (slot < me * p.slots + keys.size)]
                          - me * p.slots)
        sample, ranks = keys[local], local - np.searchsorted(keys, keys[local], side="left")
        if me == 0:
            memory["losk"], memory["losr"] = sample, ranks
        elif local.size:
            machine.send(0, [0, packed(sample), packed(ranks)])
        return False
    if t == 1:
        if me == 0:
            keys, ranks = [memory.pop("losk")], [memory.pop("losr")]
            owners = [np.zeros(keys[0].size, dtype=np.int64)]
            for source, (_, k, r) in machine.inbox:
                keys.append(np.asarray(k, dtype=keys[0].dtype))
                ranks.append(np.asarray(r, dtype=np.int64))
                owners.append(np.full(len(k), source, dtype=np.int64))
            k_all, r_all, m_all = (np.concatenate(a) for a in (keys, ranks, owners))
            order = np.lexsort((r_all, m_all, k_all))
            # buckets <= samples + 1, so the picks are distinct items: bucket j >= 1 holds
            # its splitter, and only machine 0 or the last machines can end empty
            buckets = min(p.machines, order.size + 1)
            pick = order[np.arange(1, buckets) * order.size // buckets]
            message = [0, k_all[pick], m_all[pick], r_all[pick]]
            for dest in range(p.machines):
                machine.send(dest, message)
        return False
    if t == 2:
        ((_, (_, spl_k, spl_m, spl_r)),) = machine.inbox
        keys = memory.pop("lok")
        values = memory.pop("lov", None)
        left = np.searchsorted(keys, spl_k, side="left")
        right = np.searchsorted(keys, spl_k, side="right")
        cut = np.where(me > spl_m, left, np.where(me < spl_m, right, left + spl_r))
        cuts = np.concatenate([[0], cut, [keys.size]]).tolist()
        for dest, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:])):
            if hi > lo:
                machine.send(dest, [0, keys[lo:hi]] if values is None
                             else [0, keys[lo:hi], values[lo:hi]])
        return False
    parts = [payload for _, payload in machine.inbox]
    if parts:
        keys = np.concatenate([part[1] for part in parts])
        values = np.concatenate([part[2] for part in parts]) if len(parts[0]) > 2 else None
        keys, values = _sorted(p, keys, values)
        _set_mid(memory, keys, values)
    return True


def may_sleep(p: SortPlan, machine: Machine) -> bool:
    """True unless the machine must run next round without a message: a leader whose segment
    started this round takes its samples next round, even if no other machine sent any. Every
    other step of a level is triggered by a message (splitters, counts, prefixes, items)."""
    if p.direct:
        return machine.round_idx >= 2  # every machine receives its splitters in round 2
    if p.network:
        return False  # a stage may pass it by without a message: it runs every round
    memory = machine.memory
    for side in SIDES:
        role = memory.get(side)
        if role is not None and int(role[3]) == SPLIT and int(role[2]) == machine.round_idx:
            if int(role[0]) // p.slots == machine.id:
                return False
    return True


def sorted_part(memory: dict[str, Any]) -> np.ndarray | None:
    """This machine's finished share: keys, or (k, 2) records; None if it holds nothing."""
    keys = memory.get("mk")
    if keys is None or keys.size == 0:
        return None
    values = memory.get("mv")
    return keys if values is None else np.column_stack([keys, values])


def _begin(p: SortPlan, machine: Machine) -> None:
    """Round 0: sort the input chunk; it is part of the one segment [0, n)."""
    memory = machine.memory
    keys, values = _sorted(p, memory.pop("k"), memory.pop("v", None))
    if p.n <= p.slots:
        _set_mid(memory, keys, values)
        return
    _set_mid(memory, keys[:0], None if values is None else values[:0])
    _add_role(p, machine, 0, p.n, SPLIT, keys, values)


def _slots(p: SortPlan, machine_id: int) -> tuple[int, int]:
    lo = machine_id * p.slots
    return lo, min(lo + p.slots, p.n)


def _span(p: SortPlan, start: int, length: int) -> int:
    """G: machines a segment spans."""
    return (start + length - 1) // p.slots - start // p.slots + 1


def _add_role(p: SortPlan, machine: Machine, start: int, length: int, kind: int,
              keys: np.ndarray, values: np.ndarray | None) -> None:
    lo, _ = _slots(p, machine.id)
    side = "lo" if start < lo else "hi"
    memory = machine.memory
    assert side not in memory, f"machine {machine.id} already has a {side} segment"
    memory[side] = np.array([start, length, machine.round_idx, kind], dtype=np.int64)
    memory[side + "k"] = keys
    if values is not None:
        memory[side + "v"] = values


def _sorted(p: SortPlan, keys: np.ndarray, values: np.ndarray | None
            ) -> tuple[np.ndarray, np.ndarray | None]:
    if values is None:
        return np.sort(keys, kind="stable" if p.stable_floats else None), None
    order = np.argsort(keys, kind="stable")
    return keys[order], values[order]


def _set_mid(memory: dict[str, Any], keys: np.ndarray, values: np.ndarray | None,
             left: bool | None = None) -> None:
    """Set (left None), prepend (left True) or append (False) finished items."""
    if left is None or "mk" not in memory or memory["mk"].size == 0:
        memory["mk"] = keys
        if values is not None:
            memory["mv"] = values
        return
    old_k = memory["mk"]
    memory["mk"] = np.concatenate([keys, old_k] if left else [old_k, keys])
    if values is not None:
        old_v = memory["mv"]
        memory["mv"] = np.concatenate([values, old_v] if left else [old_v, values])


# -- one level of one segment ---------------------------------------------------------------

def _split_step(p: SortPlan, machine: Machine, side: str, tau: int,
                messages: list[tuple[int, list[Any]]]) -> None:
    start, length = (int(x) for x in machine.memory[side][:2])
    first = start // p.slots
    tree = p.tree(_span(p, start, length))
    local = machine.id - first
    if tau == 0:
        _send_samples(p, machine, side, start, length, first)
    if tau == 1 and local == 0:
        _choose_splitters(p, machine, side, tree, start, first, messages)
    for level in tree.host_levels(local):
        if tau == tree.splitters_tau(level) and not (level == tree.depth and tree.leader_top):
            _forward_splitters(machine, tree, level, local, start, first,
                               *_gather(messages, 4))
        elif tau == tree.counts_tau(level):
            _absorb_counts(machine, side, tree, level, local, start, first, messages)
        elif level < tree.depth and tau == tree.prefix_tau(level):
            _pass_prefixes(machine, side, tree, level, local, start, first, messages)
    if tau == tree.first + tree.depth:
        _count(p, machine, side, tree, local, start, first, messages)
    elif tau == tree.first + 3 * tree.depth:
        _scatter(p, machine, side, start, messages)


def _draws(p: SortPlan, start: int, length: int) -> np.ndarray:
    """The segment's S sampled slot offsets in [0, length): splitmix64 of (seed, start, k)."""
    mix = np.uint64((p.seed * 0x9E3779B97F4A7C15 + start * 0xD1B54A32D192ED03
                     + length) % (1 << 64))
    z = np.arange(p.samples, dtype=np.uint64) + mix
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z % np.uint64(length)).astype(np.int64)


def _send_samples(p: SortPlan, machine: Machine, side: str, start: int, length: int,
                  first: int) -> None:
    memory = machine.memory
    keys = memory[side + "k"]
    lo, hi = _slots(p, machine.id)
    part_lo = max(start, lo)
    if length <= p.samples:
        local = np.arange(keys.size)
    else:
        slot = _draws(p, start, length) + start
        local = np.unique(slot[(slot >= part_lo) & (slot < part_lo + keys.size)] - part_lo)
    sample = keys[local]
    ranks = local - np.searchsorted(keys, sample, side="left")  # among equal keys here
    if machine.id == first:
        memory[side + "sk"], memory[side + "sr"] = sample, ranks
    elif local.size:
        machine.send(first, [start, packed(sample), packed(ranks)])


def _choose_splitters(p: SortPlan, machine: Machine, side: str, tree: Any, start: int,
                      first: int, messages: list[tuple[int, list[Any]]]) -> None:
    memory = machine.memory
    keys = [memory.pop(side + "sk")]
    ranks = [memory.pop(side + "sr")]
    owners = [np.full(keys[0].size, machine.id, dtype=np.int64)]
    for source, (k, r) in messages:
        keys.append(np.asarray(k, dtype=keys[0].dtype))
        ranks.append(np.asarray(r, dtype=np.int64))
        owners.append(np.full(len(k), source, dtype=np.int64))
    k_all, r_all, m_all = np.concatenate(keys), np.concatenate(ranks), np.concatenate(owners)
    order = np.lexsort((r_all, m_all, k_all))
    index = np.arange(1, p.buckets, dtype=np.int64)
    pick = order[index * order.size // p.buckets]
    splitters = (index, k_all[pick], m_all[pick], r_all[pick])
    if tree.leader_top:
        _forward_splitters(machine, tree, tree.depth, 0, start, first, *splitters)
    else:
        _send_grouped(machine, tree.hosts(tree.depth, index, 0, tree.size) + first, start,
                      *splitters)


def _gather(messages: list[tuple[int, list[Any]]], fields: int) -> list[np.ndarray]:
    """Concatenate each field of the messages' payloads."""
    if not messages:
        return [np.zeros(0, dtype=np.int64) for _ in range(fields)]
    return [np.concatenate([np.asarray(payload[i]) for _, payload in messages])
            for i in range(fields)]


def _send_grouped(machine: Machine, dests: np.ndarray, tag: int, *fields: np.ndarray) -> None:
    """One message per destination: [tag, field slices], fields grouped by `dests`."""
    if dests.size == 0:
        return
    order = np.argsort(dests, kind="stable")
    dests = dests[order]
    fields = tuple(f[order] for f in fields)
    cuts = (np.flatnonzero(dests[1:] != dests[:-1]) + 1).tolist()
    for lo, hi in zip([0] + cuts, cuts + [dests.size]):
        machine.send(int(dests[lo]), [tag, *(packed(f[lo:hi]) for f in fields)])


def _forward_splitters(machine: Machine, tree: Any, level: int, local: int, start: int,
                       first: int, index: np.ndarray, keys: np.ndarray, owners: np.ndarray,
                       ranks: np.ndarray) -> None:
    block_start, block_size = tree.block(level, local)
    if level == 1:  # every machine of the block needs every splitter
        message = [start, packed(index), packed(keys), packed(owners), packed(ranks)]
        for leaf in range(block_start, block_start + block_size):
            machine.send(first + leaf, message)
        return
    for child_start, child_size in tree.children(level, block_start, block_size):
        dests = tree.hosts(level - 1, index, child_start, child_size) + first
        _send_grouped(machine, dests, start, index, keys, owners, ranks)


def _count(p: SortPlan, machine: Machine, side: str, tree: Any, local: int, start: int,
           first: int, messages: list[tuple[int, list[Any]]]) -> None:
    """Receive every splitter, cut the local items into buckets, send counts up."""
    index, keys, owners, ranks = _gather(messages, 4)
    index, owners, ranks = (a.astype(np.int64) for a in (index, owners, ranks))
    b = p.buckets
    spl_k = np.zeros(b, dtype=keys.dtype if keys.size else np.float64)
    spl_m = np.zeros(b, dtype=np.int64)
    spl_r = np.zeros(b, dtype=np.int64)
    spl_k[index], spl_m[index], spl_r[index] = keys, owners, ranks
    spl_k, spl_m, spl_r = spl_k[1:], spl_m[1:], spl_r[1:]
    items = machine.memory[side + "k"]
    left = np.searchsorted(items, spl_k, side="left")
    right = np.searchsorted(items, spl_k, side="right")
    me = machine.id
    cut = np.where(me > spl_m, left, np.where(me < spl_m, right, left + spl_r))
    cuts = np.concatenate([[0], cut, [items.size]]).astype(np.int64)
    machine.memory[side + "cuts"] = cuts
    counts = np.diff(cuts)
    bucket = np.arange(b, dtype=np.int64)
    block_start, block_size = tree.block(1, local)
    _send_grouped(machine, tree.hosts(1, bucket, block_start, block_size) + first, start,
                  bucket, counts)


def _absorb_counts(machine: Machine, side: str, tree: Any, level: int, local: int,
                   start: int, first: int, messages: list[tuple[int, list[Any]]]) -> None:
    """A level-`level` host: children's counts for its buckets; totals up, or (top) prefixes
    down."""
    hosted = tree.hosted(level, local)
    block_start, block_size = tree.block(level, local)
    children = tree.children(level, block_start, block_size)
    table = np.zeros((len(children), hosted.size), dtype=np.int64)
    for source, (index, counts) in messages:
        child = tree.child_of(level, block_start, source - first)
        table[child, np.searchsorted(hosted, np.asarray(index, dtype=np.int64))] = counts
    if level < tree.depth:
        machine.memory[f"{side}h{level}"] = table
        upper_start, upper_size = tree.block(level + 1, local)
        _send_grouped(machine, tree.hosts(level + 1, hosted, upper_start, upper_size) + first,
                      start, hosted, table.sum(axis=0))
        return
    totals = table.sum(axis=0)
    _send_prefixes(machine, tree, level, start, first, children, hosted,
                   np.zeros(hosted.size, dtype=np.int64), totals, table)


def _pass_prefixes(machine: Machine, side: str, tree: Any, level: int, local: int,
                   start: int, first: int, messages: list[tuple[int, list[Any]]]) -> None:
    hosted = tree.hosted(level, local)
    table = machine.memory.pop(f"{side}h{level}")
    before = np.zeros(hosted.size, dtype=np.int64)
    totals = np.zeros(hosted.size, dtype=np.int64)
    for _, (index, prefix, total) in messages:
        cols = np.searchsorted(hosted, np.asarray(index, dtype=np.int64))
        before[cols], totals[cols] = prefix, total
    block_start, block_size = tree.block(level, local)
    _send_prefixes(machine, tree, level, start, first,
                   tree.children(level, block_start, block_size), hosted, before, totals, table)


def _send_prefixes(machine: Machine, tree: Any, level: int, start: int, first: int,
                   children: list[tuple[int, int]], hosted: np.ndarray, before: np.ndarray,
                   totals: np.ndarray, table: np.ndarray) -> None:
    """Tell each child block the bucket-b items before it (and each bucket's total)."""
    running = before + np.cumsum(table, axis=0) - table  # exclusive, per child row
    for (child_start, child_size), prefix in zip(children, running):
        dests = tree.hosts(level - 1, hosted, child_start, child_size) + first
        _send_grouped(machine, dests, start, hosted, prefix, totals)


def _scatter(p: SortPlan, machine: Machine, side: str, start: int,
             messages: list[tuple[int, list[Any]]]) -> None:
    """Every bucket's (prefix, total) known: send each destination its run of items."""
    memory = machine.memory
    index, prefix, totals_part = _gather(messages, 3)
    index = index.astype(np.int64)
    prefixes = np.zeros(p.buckets, dtype=np.int64)
    totals = np.zeros(p.buckets, dtype=np.int64)
    prefixes[index], totals[index] = prefix, totals_part
    cuts = memory.pop(side + "cuts")
    keys = memory.pop(side + "k")
    values = memory.pop(side + "v", None)
    base = start + np.cumsum(totals) - totals + prefixes  # first new slot of each local piece
    for dest, lo, hi in _destinations(cuts, base, p.slots):
        machine.send(dest, [start, keys[lo:hi]] if values is None
                     else [start, keys[lo:hi], values[lo:hi]])
    memory[side + "t"] = totals


def _destinations(cuts: np.ndarray, base: np.ndarray, c: int) -> list[tuple[int, int, int]]:
    """(destination machine, lo, hi) runs of local items: piece b (items cuts[b]..cuts[b+1])
    goes to slots base[b]..; new slots increase along the local items, so each destination
    gets one contiguous run."""
    counts = np.diff(cuts)
    keep = counts > 0
    if not keep.any():
        return []
    lo, k, b0 = cuts[:-1][keep], counts[keep], base[keep]
    first, last = b0 // c, (b0 + k - 1) // c
    inner = last - first  # destination changes inside each piece
    piece = np.repeat(np.arange(k.size), inner)
    step = np.arange(inner.sum()) - np.repeat(np.cumsum(inner) - inner, inner) + 1
    inside = lo[piece] + (first[piece] + step) * c - b0[piece]
    between = lo[1:][first[1:] != last[:-1]]
    bounds = np.union1d(inside, between)
    starts = np.concatenate([[lo[0]], bounds]).astype(np.int64)
    ends = np.concatenate([bounds, [lo[-1] + k[-1]]]).astype(np.int64)
    owner = np.searchsorted(lo, starts, side="right") - 1
    dests = (b0[owner] + starts - lo[owner]) // c
    return list(zip(dests.tolist(), starts.tolist(), ends.tolist()))


def _arrive(p: SortPlan, machine: Machine, side: str,
            messages: list[tuple[int, list[Any]]]) -> None:
    """The segment's items for this machine's slots arrived: split into its buckets."""
    memory = machine.memory
    start, length = (int(x) for x in memory.pop(side)[:2])
    totals = memory.pop(side + "t")
    keys = np.concatenate([payload[0] for _, payload in messages])
    values = (np.concatenate([payload[1] for _, payload in messages])
              if len(messages[0][1]) > 1 else None)
    keys, values = _sorted(p, keys, values)
    lo, hi = _slots(p, machine.id)
    part_lo = max(start, lo)
    assert keys.size == min(start + length, hi) - part_lo, "a machine receives its slots"
    bucket_lo = start + np.cumsum(totals) - totals
    done = None  # the finished buckets: one contiguous run [done[0], done[1]) of `keys`
    for b_lo, b_len in zip(bucket_lo.tolist(), totals.tolist()):
        b_hi = b_lo + b_len
        if b_len == 0 or b_hi <= part_lo or b_lo >= part_lo + keys.size:
            continue
        a, e = max(b_lo, part_lo) - part_lo, min(b_hi, hi) - part_lo
        if b_lo >= lo and b_hi <= hi:
            done = (a, e) if done is None else (done[0], e)
            continue
        piece_k = keys[a:e]
        piece_v = None if values is None else values[a:e]
        if b_len <= p.slots and b_hi > hi:  # small, straddles to the right: hand it over
            machine.send(machine.id + 1, [b_lo, piece_k] if piece_v is None
                         else [b_lo, piece_k, piece_v])
        else:
            _add_role(p, machine, b_lo, b_len, STRADDLE if b_len <= p.slots else SPLIT,
                      piece_k, piece_v)
    if done is not None:
        a, e = done
        _set_mid(memory, keys[a:e], None if values is None else values[a:e],
                 left=side == "lo")


def _merge_straddler(p: SortPlan, machine: Machine,
                     messages: list[tuple[int, list[Any]]]) -> None:
    """The left neighbour's part of the straddling segment arrived: merge and finish it."""
    memory = machine.memory
    memory.pop("lo")
    ((_, payload),) = messages
    keys = np.concatenate([payload[0], memory.pop("lok")])
    values = (np.concatenate([payload[1], memory.pop("lov")]) if len(payload) > 1 else None)
    keys, values = _sorted(p, keys, values)
    _set_mid(memory, keys, values, left=True)


# -- inputs, reference, registry --------------------------------------------------------------

def as_items(inputs: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """(keys, values or None) from a 1-D array of keys or an (n, 2) array / sequence of
    (key, value) records; ConfigError for anything else or for NaN keys."""
    arr = np.asarray([] if inputs is None else inputs)
    if arr.size == 0:
        return np.zeros(0, dtype=arr.dtype if arr.dtype.kind in "iuf" else np.float64), None
    problems = []
    if arr.dtype.kind not in "biuf" or not (arr.ndim == 1 or (arr.ndim == 2
                                                               and arr.shape[1] == 2)):
        problems.append(("inputs", f"array of shape {arr.shape}, dtype {arr.dtype}",
                         "sort needs a 1-D array of numbers or an (n, 2) array of (key, "
                         "value) records"))
    elif arr.dtype.kind == "f" and np.isnan(arr if arr.ndim == 1 else arr[:, 0]).any():
        problems.append(("inputs", "NaN keys", "NaN has no place in a sort order; drop or "
                         "replace NaN keys"))
    if problems:
        raise ConfigError(problems=problems)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    return (arr, None) if arr.ndim == 1 else (arr[:, 0], arr[:, 1])


def _signed_zeros(keys: np.ndarray) -> bool:
    """Float keys holding -0.0: equal to 0.0 but distinguishable, so only a stable sort
    reproduces the stable order."""
    return keys.dtype.kind == "f" and bool(np.signbit(keys[keys == 0]).any())


def reference(inputs: Any) -> np.ndarray:
    """numpy's stable sort (of the records by key)."""
    keys, values = as_items(inputs)
    if values is None:
        return np.sort(keys, kind="stable")
    order = np.argsort(keys, kind="stable")
    return np.column_stack([keys[order], values[order]])


def verify(output: list[Any], inputs: Any) -> bool:
    """True when the outputs, concatenated in machine order, equal `reference` bit for bit
    (so -0.0 and 0.0, and records with equal keys, must keep their input order)."""
    want = reference(inputs)
    parts = [np.asarray(o) for o in output if o is not None]
    got = np.concatenate(parts) if parts else want[:0]
    return got.shape == want.shape and got.dtype == want.dtype and got.tobytes() == want.tobytes()


def round_bound(n: int, q: int, s: int, item_words: int = 1) -> int:
    """The with-high-probability bound of sort_plan for n items on (q, s)."""
    return plan(n, q, s, item_words).round_bound()


def make_input(n: int, rng: np.random.Generator) -> np.ndarray:
    """n standard normal float64 keys."""
    return rng.standard_normal(n)


def sizing(n: int, q: int | None = None, s: int | None = None) -> tuple[int, int]:
    """Default (q, s): s = max(256, 8*ceil(n^(2/3))) (for a given q, at least 8*ceil(n/q)),
    doubled until a plan fits. q = the plan's machines, ceil(n/c) for c keys per machine:
    c = floor((s - 2)/2) for a network plan (q*s ~ 2n, the small-s case: e.g. s = n^(1/2)
    up to n = 10^5), c = s/3 .. s/12 for a levels plan (q*s ~ 3n .. 12n), s/2 for a direct
    plan; any s >= 4 is accepted."""
    if s is None:
        s = max(256, 8 * int(np.ceil(max(n, 1) ** (2 / 3))))
        if q is not None:
            s = max(s, 8 * -(-n // q))
        s = double_until_accepted(s, lambda s: plan(n, q if q is not None else 1 << 40, s))
    if q is None:
        q = max(1, plan(n, 1 << 40, s).machines)
    return q, s


SPEC = AlgorithmSpec(
    name="sort",
    summary="stable sample sort of n keys or (key, value) records (refines a dense layout)",
    program=SampleSort,
    make_input=make_input,
    reference=reference,
    verify=verify,
    round_bound=round_bound,
    sizing=sizing,
)
