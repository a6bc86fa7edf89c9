"""The sample sort's levels as a fleet round: every machine of a host in one numpy pass per
step, messages as columns. The algorithm is in mpcsim.algorithms.sort's docstring, the trees
in split_tree, the memory and round bounds in sort_plan; this module is the round itself (its
samples, arrivals, pairs and scatter; the traffic over the split trees is sort_tree_steps).

A machine's memory: "mk" (and "mv" for records): the items it holds, in slot order, each
segment's part sorted; "r": int64[8], (start, length, first round, kind) of the segment
crossing its left edge ("lo") and of the one starting in it and crossing its right edge
("hi"), start -1 for none; kind SPLIT (a level runs on it) or PAIR (it spans two machines and
is merged without a level); empty once the machine is done (0 words: kept with
fleet.scatter, one array per machine, so a round reads every machine's state without a pass
over the machines; see `_Round._read_roles`). Per side (prefix "l" or "h"): "?c" the cut positions between a
count and the scatter, "?t" the bucket totals and "?x"/"?y" the items a machine keeps for
itself between the scatter and the arrival, "?h<level>" a host's tables of counts.

Messages (one dtype, segments.carrier): samples, keys only (the leader recomputes their
slots from the hash draws, so they arrive in slot order); splitter groups [k, keys, slots];
counts [k, counts]; prefixes [k, prefixes, totals]; items, keys then values, no header. A
message's segment is known without a tag: a machine belongs to at most two segments, the lo
one holding every sender before it and the hi one every sender after it, and only inner
machines (one segment) receive from themselves; its kind is the one its segment expects in
this round (split_tree: one kind per segment and round). Items a machine scatters to itself
never travel: it keeps them.

The isolation a fleet round owes holds: every array below is per machine or per segment part,
and what a machine stores and sends depends on its own memory and inbox only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..fleet import Fleet, FleetMessages
from . import segments
from .segments import offsets_of, pack, sort_each, within
from .sort_tree_steps import ABSORB, FORWARD, PASS, SIDES, TreeSteps
from .split_tree import depth

if TYPE_CHECKING:
    from .sort_plan import SortPlan

__all__ = ["step_many", "begin", "SPLIT", "PAIR", "draws"]

SPLIT, PAIR = 0, 1
_NO_ROLES = np.full(8, -1, dtype=np.int64)
_NO_ROLES.flags.writeable = False
# what a segment does in a round (from its kind and tau)
ARRIVE, MERGE, BACK, SAMPLE, CHOOSE, COUNT, SCATTER = 0, 1, 2, 3, 4, 6, 9
assert (FORWARD, ABSORB, PASS) == (5, 7, 8)  # sort_tree_steps' host steps


def step_many(p: SortPlan, fleet: Fleet, inbox: FleetMessages | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """One round of the levels plan on every machine of `fleet`: (done, awake), bool per
    machine: done once it holds only sorted items (in "mk"/"mv", and an empty "r"), awake when it must run next
    round even if no message comes (its scattered items may all stay with it). inbox: the
    sort's messages (default: fleet.inbox, when the sort is all the fleet receives). The sort
    begins in round 0 (every machine with input "k" sorts it then)."""
    return _Round(p, fleet, inbox).run()


def begin(p: SortPlan, memory: dict[str, Any], machine_id: int, presorted: bool = False
          ) -> None:
    """Round 0: sort the input chunk ("k", "v") into "mk" ("mv") and join the one segment
    [0, n) (a pair when it spans two machines)."""
    keys, values = memory.pop("k"), memory.pop("v", None)
    if values is None:
        keys = keys if presorted else np.sort(keys, kind="stable" if p.stable_floats else None)
    else:
        if not presorted:
            order = np.argsort(keys, kind="stable")
            keys, values = keys[order], values[order]
        memory["mv"] = values
    memory["mk"] = keys
    if p.n <= p.slots:
        return
    roles = _NO_ROLES.copy()
    side = 1 if machine_id == 0 else 0
    roles[4 * side:4 * side + 4] = (0, p.n, 0, PAIR if p.machines == 2 else SPLIT)
    memory["r"] = roles


def draws(seed: int, start: int, length: int, samples: int) -> np.ndarray:
    """The segment's sampled slots, distinct and ascending: splitmix64 of (seed, start, k)
    modulo the length, k < samples (all slots when length <= samples)."""
    if length <= samples:
        return np.arange(start, start + length, dtype=np.int64)
    mix = np.uint64((seed * 0x9E3779B97F4A7C15 + start * 0xD1B54A32D192ED03 + length)
                    % (1 << 64))
    z = np.arange(samples, dtype=np.uint64) + mix
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return np.unique((z % np.uint64(length)).astype(np.int64)) + start


def all_draws(seed: int, starts: np.ndarray, lengths: np.ndarray, samples: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """`draws` of many disjoint segments, ascending by start: (slots, offsets per segment)."""
    whole = lengths <= samples
    big = np.flatnonzero(~whole)
    mix = np.array([(seed * 0x9E3779B97F4A7C15 + a * 0xD1B54A32D192ED03 + b) % (1 << 64)
                    for a, b in zip(starts[big].tolist(), lengths[big].tolist())],
                   dtype=np.uint64)
    count = samples[big]
    which = np.repeat(np.arange(big.size), count)
    z = within(count).astype(np.uint64) + mix[which]
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    hashed = (z % lengths[big][which].astype(np.uint64)).astype(np.int64) + starts[big][which]
    if hashed.size:  # distinct and ascending (segments are disjoint: in segment order)
        low = int(hashed.min())
        seen = np.zeros(int(hashed.max()) - low + 1, dtype=bool)
        seen[hashed - low] = True
        hashed = np.flatnonzero(seen) + low
    edges = np.searchsorted(hashed, starts[big])
    sizes = lengths.copy()
    sizes[big] = np.diff(np.append(edges, hashed.size))
    bounds = offsets_of(sizes)
    slots = np.empty(int(bounds[-1]), dtype=np.int64)
    small = np.flatnonzero(whole)
    slots[np.repeat(bounds[small], sizes[small]) + within(sizes[small])] = \
        np.repeat(starts[small], sizes[small]) + within(sizes[small])
    slots[np.repeat(bounds[big], sizes[big]) + within(sizes[big])] = hashed
    return slots, bounds


class _Roles:
    """The fleet's segments, one entry per (machine, side) with a segment."""

    def __init__(self, p: SortPlan, ids: np.ndarray, table: np.ndarray, now: int) -> None:
        c, n = p.slots, p.n
        self.machine, side = np.nonzero(table[:, [0, 4]] >= 0)
        self.side = side
        cols = 4 * side
        self.start = table[self.machine, cols]
        self.length = table[self.machine, cols + 1]
        self.tau = now - table[self.machine, cols + 2]
        self.kind = table[self.machine, cols + 3]
        self.id = ids[self.machine]
        self.slot_lo = self.id * c
        self.slot_hi = np.minimum(self.slot_lo + c, n)
        self.first = self.start // c
        self.size = (self.start + self.length - 1) // c - self.first + 1  # G
        self.local = self.id - self.first
        self.part_lo = np.maximum(self.start, self.slot_lo)
        self.part = np.minimum(self.start + self.length, self.slot_hi) - self.part_lo
        whole = (self.start == 0) & (self.length == n)
        self.whole = whole
        mixed = bool(whole.any()) and not bool(whole.all())
        only = p.first if whole.size and whole[0] else p.rest

        def of(attr: str) -> np.ndarray:
            if mixed:
                return np.where(whole, getattr(p.first, attr), getattr(p.rest, attr))
            return np.full(whole.shape, getattr(only, attr), dtype=np.int64)

        self.samples, self.buckets = of("samples"), of("buckets")
        self.fan, self.width = of("fan"), of("width")
        self.groups = -(-self.buckets // self.width)
        self.spl_groups = -(-(self.buckets - 1) // self.width)
        size3 = np.maximum(self.size, 3)
        self.depth = np.asarray(depth(size3, self.fan), dtype=np.int64)
        top = np.maximum(1, size3 // self.fan ** (self.depth - 1))
        budget = (np.where(whole, p.leader_budget(True), p.leader_budget(False)) if mixed
                  else p.leader_budget(only is p.first))
        self.top = top * (self.buckets + self.groups) <= budget  # leader_top
        self.a = np.where(self.top, 1, 2)
        self.event = self._events()
        self.lookup = np.full((table.shape[0], 2), -1, dtype=np.int64)
        self.lookup[self.machine, side] = np.arange(self.machine.size)

    def _events(self) -> np.ndarray:
        tau, a, d, split = self.tau, self.a, self.depth, self.kind == SPLIT
        ev = np.full(tau.shape, -1, dtype=np.int64)
        level = a + d - tau  # splitters arrive at level-`level` hosts
        ev[split & (level >= 1) & (level <= d) & ~((level == d) & self.top)] = FORWARD
        ev[split & (tau == a + d)] = COUNT
        ev[split & (tau > a + d) & (tau <= a + 2 * d)] = ABSORB
        ev[split & (tau > a + 2 * d) & (tau < a + 3 * d)] = PASS
        ev[split & (tau == a + 3 * d)] = SCATTER
        ev[split & (tau == a + 3 * d + 1)] = ARRIVE
        ev[split & (tau == 1) & (self.local == 1)] = CHOOSE
        ev[split & (tau == 0)] = SAMPLE
        pair = self.kind == PAIR
        ev[pair & (tau == 1) & (self.local == 1)] = MERGE
        ev[pair & (tau == 2) & (self.local == 0)] = BACK
        return ev

    def level(self, event: int, r: np.ndarray) -> np.ndarray:
        """The host level of roles r in `event` (FORWARD, ABSORB, PASS)."""
        a, d, tau = self.a[r], self.depth[r], self.tau[r]
        if event == FORWARD:
            return a + d - tau
        if event == ABSORB:
            return tau - a - d
        return a + 3 * d - tau


class _Memories:
    """The fleet's memory dicts by fleet index, each read through Machine.memory only when a
    step uses it: a machine whose memory is read that way is recounted after the round (one
    by one), so the steps that leave most machines alone (the split trees') stay cheap."""

    __slots__ = ("_machines",)

    def __init__(self, machines: Any) -> None:
        self._machines = machines

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self._machines[i].memory

    def __len__(self) -> int:
        return len(self._machines)


class _Round(TreeSteps):
    def __init__(self, p: SortPlan, fleet: Fleet, inbox: FleetMessages | None) -> None:
        self.p, self.fleet, self.inbox = p, fleet, inbox
        self.now = fleet.round_idx
        self.ids = fleet.ids
        self.mems = _Memories(fleet.machines)
        self.records = p.item_words == 2
        self.out: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.awake = np.zeros(len(fleet), dtype=bool)
        self.changed: set[int] = set()  # machines whose segment state changed
        self.dtype: np.dtype | None = None

    # -- the round ----------------------------------------------------------------------------

    def run(self) -> tuple[np.ndarray, np.ndarray]:
        p, mems, ids, fleet = self.p, self.mems, self.ids, self.fleet
        if self.now == 0:  # the sort starts in round 0 (step_many): every machine begins
            starting = [i for i in range(len(fleet)) if "k" in mems[i]]
            if starting:
                self._item_dtypes(mems[starting[0]], "k", "v")
                self._begin(starting)
        else:
            self._find_dtypes()
        self.table = self._read_roles()
        if self.dtype is not None and (self.table[:, [0, 4]] >= 0).any():
            self._route_inbox()
            roles = _Roles(p, ids, self.table, self.now)
            if self._steps(roles, (ARRIVE, MERGE, BACK)):
                roles = _Roles(p, ids, self.table, self.now)
            self._steps(roles, (SAMPLE, CHOOSE, FORWARD, COUNT, ABSORB, PASS, SCATTER))
            self._send()
        done = (self.table[:, [0, 4]] < 0).all(axis=1)
        if self.changed:  # every machine's "r" again, in one scatter: a done one's is empty
            fleet.scatter("r", self.table[~done].reshape(-1), offsets_of(np.where(done, 0, 8)))
        return done, self.awake

    def _read_roles(self) -> np.ndarray:
        """The segment states "r" as a table, one row of 8 per machine (all -1: none, for an
        empty or absent "r"). They are kept by fleet.scatter, so reading them marks no
        machine's memory as read (such a machine is recounted after the round, one by one)
        and, while no machine was, costs no pass over the machines."""
        stored, offsets = self.fleet.gather("r", _NO_ROLES)
        held = np.diff(offsets) == 8
        table = np.full((held.size, 8), -1, dtype=np.int64)
        table[held] = stored.reshape(-1, 8)
        return table

    def _item_dtypes(self, memory: dict[str, Any], keys: str, values: str) -> None:
        held = memory[keys]
        self.dtype = segments.carrier(held.dtype)
        self.key_dtype = held.dtype
        self.value_dtype = memory[values].dtype if self.records else None

    def _find_dtypes(self) -> None:
        """The items' dtypes, from the first machine holding items ("mk", "mv"), read with
        fleet.gather (no memory marked as read); dtype None if no machine holds any."""
        fleet = self.fleet
        for i in range(len(fleet)):
            one = np.zeros(len(fleet), dtype=bool)
            one[i] = True
            machine = fleet.select(one)
            try:
                keys, _ = machine.gather("mk")
                values = machine.gather("mv")[0] if self.records else None
            except KeyError:
                continue
            self.dtype = segments.carrier(keys.dtype)
            self.key_dtype = keys.dtype
            self.value_dtype = None if values is None else values.dtype
            return

    def _begin(self, starting: list[int]) -> None:
        """Round 0: every machine sorts its chunk (chunks of one length as one 2-D sort) and
        joins the segment [0, n) (see `begin`)."""
        p, mems = self.p, self.mems
        keys = [mems[i]["k"] for i in starting]
        values = [mems[i]["v"] for i in starting] if p.item_words == 2 else None
        offsets = offsets_of(np.array([k.size for k in keys], dtype=np.int64))
        flat_k, flat_v = sort_each(np.concatenate(keys),
                                   None if values is None else np.concatenate(values),
                                   offsets, p.stable_floats)
        bounds = offsets.tolist()
        for j, i in enumerate(starting):
            mem = mems[i]
            mem["k"] = flat_k[bounds[j]:bounds[j + 1]]
            if flat_v is not None:
                mem["v"] = flat_v[bounds[j]:bounds[j + 1]]
            begin(p, mem, int(self.ids[i]), presorted=True)
            self.changed.add(i)
            if p.machines == 2 and self.ids[i] == 0:  # one pair: its left part goes now
                self._pair_send([(i, 0, int(mem["mk"].size))])

    def _route_inbox(self) -> None:
        """Each message's machine and side: lo if from itself or a machine before it, else hi
        (a machine with one segment takes all its messages)."""
        got = self.fleet.inbox if self.inbox is None else self.inbox
        if got.values.dtype != self.dtype:  # no message at all (an empty int64 column)
            got = FleetMessages(got.dests, got.sources, got.offsets,
                                got.values.astype(self.dtype))
        self.got = got
        if len(got) == 0:
            self.msg_machine = self.msg_side = np.zeros(0, dtype=np.int64)
            self.msg_used = np.zeros(0, dtype=bool)
            return
        machine = self.fleet.index_of(got.dests)
        side = (got.sources > got.dests).astype(np.int64)
        has = self.table[machine][:, [0, 4]] >= 0
        side = np.where(has[np.arange(side.size), side], side, 1 - side)
        self.msg_machine, self.msg_side = machine, side
        self.msg_used = np.zeros(side.size, dtype=bool)

    def _messages(self, roles: _Roles, rids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(message indexes, their role) for the roles `rids`, in inbox order."""
        if self.msg_side.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        role = roles.lookup[self.msg_machine, self.msg_side]
        mine = np.zeros(roles.machine.size + 1, dtype=bool)
        mine[rids] = True
        picked = np.flatnonzero(mine[role] & ~self.msg_used)
        self.msg_used[picked] = True
        return picked, role[picked]

    def _steps(self, roles: _Roles, events: tuple[int, ...]) -> bool:
        """Run the roles' steps among `events`, in that order; whether any ran."""
        present = set(np.unique(roles.event).tolist())
        ran = False
        for event in events:
            if event not in present:
                continue
            rids = np.flatnonzero(roles.event == event)
            if event in (FORWARD, ABSORB, PASS):  # host steps: only roles with messages
                role = roles.lookup[self.msg_machine, self.msg_side] if self.msg_side.size \
                    else self.msg_side
                rids = rids[np.isin(rids, role[~self.msg_used])]
            if rids.size:
                getattr(self, f"_{_NAMES[event]}")(roles, rids)
                ran = True
        return ran

    def _send(self) -> None:
        if not self.out:
            return
        src = np.concatenate([o[0] for o in self.out])
        dst = np.concatenate([o[1] for o in self.out])
        values = np.concatenate([o[2] for o in self.out])
        lengths = np.concatenate([o[3] for o in self.out])
        self.fleet.send_many(src, dst, values, offsets_of(lengths))

    def _emit(self, src: np.ndarray, dst: np.ndarray, values: np.ndarray,
              lengths: np.ndarray) -> None:
        if src.size:
            self.out.append((src, dst, values, lengths))

    # -- memory helpers ---------------------------------------------------------------------

    def _parts(self, roles: _Roles, rids: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """The roles' parts of their machines' items: (keys, values, offsets)."""
        keys, values = [], []
        for r, i, side, n in zip(rids.tolist(), roles.machine[rids].tolist(),
                                 roles.side[rids].tolist(), roles.part[rids].tolist()):
            mem = self.mems[i]
            held = mem["mk"]
            cut = slice(0, n) if side == 0 else slice(held.size - n, held.size)
            keys.append(held[cut])
            if self.records:
                values.append(mem["mv"][cut])
        offsets = offsets_of(roles.part[rids])
        k = np.concatenate(keys) if keys else np.zeros(0, dtype=self.key_dtype)
        v = (np.concatenate(values) if values else np.zeros(0, dtype=self.value_dtype)) \
            if self.records else None
        return k, v, offsets

    def _put(self, i: int, side: int, keys: np.ndarray, values: np.ndarray | None,
             replace: int = 0) -> None:
        """Put items at the lo (side 0) or hi (1) end of machine i's items, in place of the
        `replace` items there."""
        mem = self.mems[i]
        held = mem["mk"]
        rest = held[replace:] if side == 0 else held[:held.size - replace]
        mem["mk"] = rest if not keys.size else keys if not rest.size else np.concatenate(
            [keys, rest] if side == 0 else [rest, keys])
        if self.records:
            old = mem["mv"]
            rest_v = old[replace:] if side == 0 else old[:old.size - replace]
            mem["mv"] = rest_v if not keys.size else values if not rest_v.size else \
                np.concatenate([values, rest_v] if side == 0 else [rest_v, values])

    def _set_roles(self, machines: np.ndarray, side: np.ndarray | int, start: Any,
                   length: Any, kind: Any) -> None:
        """Set (start >= 0) or clear the segment on `side` of many machines at once."""
        if machines.size == 0:
            return
        self.changed.update(machines.tolist())
        col = 4 * np.broadcast_to(np.asarray(side), machines.shape)
        start = np.broadcast_to(np.asarray(start), machines.shape)
        clear = start < 0
        for j, value in enumerate((start, length, self.now, kind)):
            value = np.broadcast_to(np.asarray(value), machines.shape)
            self.table[machines, col + j] = np.where(clear, -1, value)

    def _bodies(self, picked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(offsets into got.values, lengths) of the picked messages."""
        offsets = self.got.offsets
        return offsets[picked], offsets[picked + 1] - offsets[picked]

    def _items(self, picked: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        """The picked item messages' keys (and values), as arrays of the items' dtypes."""
        starts, lengths = self._bodies(picked)
        values = self.got.values
        keys, vals = [], []
        for a, n in zip(starts.tolist(), lengths.tolist()):
            if self.records:
                half = n // 2
                keys.append(values[a:a + half].astype(self.key_dtype))
                vals.append(values[a + half:a + n].astype(self.value_dtype))
            else:
                keys.append(values[a:a + n].astype(self.key_dtype))
                vals.append(None)
        return keys, vals

    def _send_items(self, src: np.ndarray, dst: np.ndarray, keys: np.ndarray,
                    values: np.ndarray | None, starts: np.ndarray, lengths: np.ndarray) -> None:
        """Item runs keys[starts[i]:starts[i] + lengths[i]] (then the values) to dst[i]."""
        parts = [(keys.astype(self.dtype), starts, lengths)]
        if values is not None:
            parts.append((values.astype(self.dtype), starts, lengths))
        packed, packed_lengths = pack(self.dtype, src.size, None, parts)
        self._emit(src, dst, packed, packed_lengths)

    # -- arrivals and pairs -----------------------------------------------------------------

    def _arrive(self, roles: _Roles, rids: np.ndarray) -> None:
        """The scattered items of each role's part arrived: sort them, then split the part
        into its buckets: inner buckets are done, edge buckets become new segments."""
        picked, owner = self._messages(roles, rids)
        kept_k, kept_v = [], []
        for i, side in zip(roles.machine[rids].tolist(), roles.side[rids].tolist()):
            mem = self.mems[i]
            kept_k.append(mem.pop(SIDES[side] + "x"))
            if self.records:
                kept_v.append(mem.pop(SIDES[side] + "y"))
        keys, values, offsets = self._gather_runs(roles, rids, picked, owner, kept_k, kept_v)
        assert np.array_equal(np.diff(offsets), roles.part[rids]), "a machine gets its slots"
        keys, values = sort_each(keys, values, offsets, self.p.stable_floats)
        bounds = offsets.tolist()
        for j, (i, side) in enumerate(zip(roles.machine[rids].tolist(),
                                          roles.side[rids].tolist())):
            a, b = bounds[j], bounds[j + 1]
            self._put(i, side, keys[a:b], None if values is None else values[a:b])
        self._new_segments(roles, rids)

    def _gather_runs(self, roles: _Roles, rids: np.ndarray, picked: np.ndarray,
                     owner: np.ndarray, kept_k: list[np.ndarray], kept_v: list[np.ndarray]
                     ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Each role's arrived item runs and the run it kept, in source order (the inbox's:
        its own run between the senders before it and those after it), concatenated:
        (keys, values, offsets per role)."""
        w = self.p.item_words
        starts, lengths = self._bodies(picked)
        items = lengths // w
        kept_n = np.array([k.size for k in kept_k], dtype=np.int64)
        flat = self.got.values
        kept_flat = np.concatenate(kept_k).astype(self.dtype) if kept_k else flat[:0]
        kept_at = flat.size + offsets_of(kept_n)[:-1]
        role = np.concatenate([np.searchsorted(rids, owner), np.arange(rids.size)])
        source = np.concatenate([self.got.sources[picked], roles.id[rids]])
        count = np.concatenate([items, kept_n])
        key_at = np.concatenate([starts, kept_at])
        order = np.argsort(role * (self.fleet.num_machines + 1) + source, kind="stable")
        count, key_at = count[order], key_at[order]
        inside = within(count)
        pool = np.concatenate([flat, kept_flat])
        keys = pool[np.repeat(key_at, count) + inside].astype(self.key_dtype)
        values = None
        if self.records:
            kept_vflat = np.concatenate(kept_v).astype(self.dtype)
            value_at = np.concatenate([starts + items, kept_at])[order]
            vpool = np.concatenate([flat, kept_vflat])
            values = vpool[np.repeat(value_at, count) + inside].astype(self.value_dtype)
        per_role = np.bincount(role, weights=np.concatenate([items, kept_n]),
                               minlength=rids.size).astype(np.int64)
        return keys, values, offsets_of(per_role)

    def _new_segments(self, roles: _Roles, rids: np.ndarray) -> None:
        """From each arrived part's bucket totals: the segments crossing its edges."""
        totals = [self.mems[i].pop(SIDES[s] + "t")
                  for i, s in zip(roles.machine[rids].tolist(), roles.side[rids].tolist())]
        counts = np.array([t.size for t in totals], dtype=np.int64)
        base = offsets_of(counts)[:-1]
        flat = np.concatenate(totals)
        run = np.cumsum(flat)
        before = np.where(base > 0, run[np.maximum(base - 1, 0)], 0)
        ends = np.repeat(roles.start[rids] - before, counts) + run  # bucket ends, in slots
        role_of = np.repeat(np.arange(rids.size), counts)
        part_lo = roles.part_lo[rids]
        part_hi = part_lo + roles.part[rids]
        first_bucket = np.bincount(role_of, weights=ends <= np.repeat(part_lo, counts),
                                   minlength=rids.size).astype(np.int64)
        last_bucket = np.bincount(role_of, weights=ends <= np.repeat(part_hi - 1, counts),
                                  minlength=rids.size).astype(np.int64)
        end0, end1 = ends[base + first_bucket], ends[base + last_bucket]
        start0, start1 = end0 - flat[base + first_bucket], end1 - flat[base + last_bucket]
        c = self.p.slots
        slot_lo, slot_hi = roles.slot_lo[rids], roles.slot_hi[rids]
        left, right = start0 < slot_lo, end1 > slot_hi
        spanning = left & right & (first_bucket == last_bucket)
        machine, side, me = roles.machine[rids], roles.side[rids], roles.id[rids]
        self._set_roles(machine, side, -1, 0, 0)  # the arrived segment's level is over
        length0, length1 = end0 - start0, end1 - start1
        lo = left  # a bucket crossing the left edge (or spanning the part)
        span0 = me - start0 // c + 1
        self._set_roles(machine[lo], 0, start0[lo], length0[lo],
                        np.where(spanning[lo] | (span0[lo] > 2), SPLIT, PAIR))
        hi = right & ~spanning
        split = hi & ((end1 - 1) // c - me + 1 > 2)
        self._set_roles(machine[split], 1, start1[split], length1[split], SPLIT)
        pair = hi & ~split
        back = pair & (length1 > c)  # the right machine sends this machine's share back
        self._set_roles(machine[back], 1, start1[back], length1[back], PAIR)
        if pair.any():
            self._pair_send(list(zip(machine[pair].tolist(), me[pair].tolist(),
                                     (slot_hi - start1)[pair].tolist())))

    def _pair_send(self, pairs: list[tuple[int, int, int]]) -> None:
        """Machines at the left of a two-machine segment send their part of it (the last
        items they hold) to the right machine, which merges it."""
        keys, values = [], []
        for i, _, n in pairs:
            mem = self.mems[i]
            held = mem["mk"]
            keys.append(held[held.size - n:])
            if self.records:
                values.append(mem["mv"][held.size - n:])
            self._put(i, 1, held[:0], mem["mv"][:0] if self.records else None, replace=n)
        lens = np.array([n for _, _, n in pairs], dtype=np.int64)
        src = np.array([me for _, me, _ in pairs], dtype=np.int64)
        self._send_items(src, src + 1, np.concatenate(keys),
                         np.concatenate(values) if self.records else None,
                         offsets_of(lens)[:-1], lens)

    def _merge(self, roles: _Roles, rids: np.ndarray) -> None:
        """The right machine of a pair: merge the left part with its own; keep the whole
        segment if it fits c, else send the left machine its share back."""
        picked, owner = self._messages(roles, rids)
        keys_in, vals_in = self._items(picked)
        assert sorted(owner.tolist()) == sorted(rids.tolist()), "one left part each"
        mine = roles.part[owner]
        keys_all, vals_all = [], []
        for j, r in enumerate(owner.tolist()):
            mem = self.mems[int(roles.machine[r])]
            keys_all += [keys_in[j], mem["mk"][:mine[j]]]
            if self.records:
                vals_all += [vals_in[j], mem["mv"][:mine[j]]]
        left = np.array([k.size for k in keys_in], dtype=np.int64)
        offsets = offsets_of(left + mine)
        keys, values = sort_each(np.concatenate(keys_all),
                                 np.concatenate(vals_all) if self.records else None,
                                 offsets, self.p.stable_floats)
        whole = roles.length[owner] <= self.p.slots  # kept whole, else the share goes back
        self._set_roles(roles.machine[owner], 0, -1, 0, 0)
        bounds = offsets.tolist()
        for j, r in enumerate(owner.tolist()):
            a, b = bounds[j], bounds[j + 1]
            keep = a if whole[j] else a + int(left[j])
            self._put(int(roles.machine[r]), 0, keys[keep:b],
                      None if values is None else values[keep:b], replace=int(mine[j]))
        back = np.flatnonzero(~whole)
        if back.size:
            src = roles.id[owner][back]
            self._send_items(src, src - 1, keys, values, offsets[back], left[back])

    def _back(self, roles: _Roles, rids: np.ndarray) -> None:
        """The left machine of a pair gets its share of the merged segment."""
        picked, owner = self._messages(roles, rids)
        keys_in, vals_in = self._items(picked)
        assert sorted(owner.tolist()) == sorted(rids.tolist()), "one share each"
        for j, r in enumerate(owner.tolist()):
            i = int(roles.machine[r])
            self._put(i, 1, keys_in[j], vals_in[j])
        self._set_roles(roles.machine[owner], 1, -1, 0, 0)

    # -- one level of a segment ---------------------------------------------------------------

    def _draws(self, roles: _Roles, rids: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The drawn slots of the roles' segments: (all slots, offsets per segment, each
        role's segment). Segments are disjoint slot ranges, so the draws of distinct
        segments, by start, are sorted."""
        starts, first, segment = np.unique(roles.start[rids], return_index=True,
                                           return_inverse=True)
        return (*all_draws(self.p.seed, starts, roles.length[rids][first],
                           roles.samples[rids][first]), segment.reshape(-1))

    def _sample(self, roles: _Roles, rids: np.ndarray) -> None:
        """tau 0: each machine sends the leader the keys at its drawn slots, in slot order."""
        keys, _, offsets = self._parts(roles, rids)
        slots, _, _ = self._draws(roles, rids)  # ascending over all the segments
        lo = roles.part_lo[rids]
        a = np.searchsorted(slots, lo)
        count = np.searchsorted(slots, lo + roles.part[rids]) - a
        positions = slots[np.repeat(a, count) + within(count)] - np.repeat(lo - offsets[:-1],
                                                                            count)
        flat = keys[positions].astype(self.dtype)
        send = count > 0
        values, lengths = pack(self.dtype, int(send.sum()), None,
                               [(flat, offsets_of(count)[:-1][send], count[send])])
        self._emit(roles.id[rids][send], roles.first[rids][send] + 1, values, lengths)

    def _scatter(self, roles: _Roles, rids: np.ndarray) -> None:
        """tau a+3D: every bucket's prefix and total known: each local piece goes to its new
        slots, one run per destination machine; runs to itself stay."""
        b = roles.buckets[rids]
        prefix, totals = self._groups_in(roles, rids, 2, b)
        prefix, totals = prefix.astype(np.int64), totals.astype(np.int64)
        keys, values, offsets = self._parts(roles, rids)
        cuts = np.concatenate([self.mems[i].pop(SIDES[s] + "c") for i, s in
                               zip(roles.machine[rids].tolist(), roles.side[rids].tolist())])
        cut_off = offsets_of(b + 1)
        b_off = offsets_of(b)
        which = np.repeat(np.arange(rids.size), b)
        piece_lo = np.delete(cuts, cut_off[1:] - 1)  # cuts[b] for b < B, per role
        piece_hi = np.delete(cuts, cut_off[:-1])  # cuts[b + 1]
        run = np.cumsum(totals)
        before = np.where(b_off[:-1] > 0, run[np.maximum(b_off[:-1] - 1, 0)], 0)
        excl = run - totals - np.repeat(before, b)
        base = np.repeat(roles.start[rids], b) + excl + prefix  # first new slot of each piece
        n = piece_hi - piece_lo
        keep = n > 0
        c = self.p.slots
        p_role, p_lo, p_n, p_base = which[keep], piece_lo[keep], n[keep], base[keep]
        first_dest, last_dest = p_base // c, (p_base + p_n - 1) // c
        pieces = last_dest - first_dest + 1  # sub-runs per piece, one per destination
        each = np.repeat(np.arange(p_role.size), pieces)
        step = within(pieces)
        dest = first_dest[each] + step
        sub_lo = np.maximum(p_base[each], dest * c)  # in new slots
        sub_hi = np.minimum(p_base[each] + p_n[each], (dest + 1) * c)
        local_lo = p_lo[each] + sub_lo - p_base[each]
        role = p_role[each]
        # merge consecutive sub-runs of one role to one destination (they are contiguous)
        new = np.r_[True, (role[1:] != role[:-1]) | (dest[1:] != dest[:-1])]
        heads = np.flatnonzero(new)
        run_len = np.add.reduceat(sub_hi - sub_lo, heads) if heads.size else heads
        run_role, run_dest, run_lo = role[heads], dest[heads], local_lo[heads]
        me = roles.id[rids][run_role]
        stay = run_dest == me
        go = ~stay
        src_start = offsets[run_role] + run_lo
        if values is None:  # the runs tile the parts in order: the sent ones, masked out
            sent = np.repeat(go, run_len)
            self._emit(me[go], run_dest[go], keys[sent].astype(self.dtype, copy=False),
                       run_len[go])
        else:
            self._send_items(me[go], run_dest[go], keys, values, src_start[go], run_len[go])
        kept_start, kept_len, kept_role = src_start[stay], run_len[stay], run_role[stay]
        kept_lo, kept_hi = np.zeros(rids.size, np.int64), np.zeros(rids.size, np.int64)
        kept_lo[kept_role], kept_hi[kept_role] = kept_start, kept_start + kept_len
        bounds = b_off.tolist()
        for j, (i, side, part, a, b) in enumerate(zip(
                roles.machine[rids].tolist(), roles.side[rids].tolist(),
                roles.part[rids].tolist(), kept_lo.tolist(), kept_hi.tolist())):
            mem, pre = self.mems[i], SIDES[side]
            mem[pre + "x"] = keys[a:b]  # the run it keeps (maybe empty): back at the arrival
            if self.records:
                mem[pre + "y"] = values[a:b]  # type: ignore[index]
            mem[pre + "t"] = totals[bounds[j]:bounds[j + 1]]
            held = mem["mk"]  # the part leaves: the rest is a view
            mem["mk"] = held[part:] if side == 0 else held[:held.size - part]
            if self.records:
                held = mem["mv"]
                mem["mv"] = held[part:] if side == 0 else held[:held.size - part]
        self.awake[roles.machine[rids]] = True


_NAMES = {ARRIVE: "arrive", MERGE: "merge", BACK: "back", SAMPLE: "sample",
          CHOOSE: "choose", FORWARD: "forward", COUNT: "count", ABSORB: "absorb",
          PASS: "pass_down", SCATTER: "scatter"}
