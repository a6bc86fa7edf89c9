"""A level's traffic over its split trees, as fleet steps: the leader's splitters, their way
down, the counts' way up, the prefixes' way down (mpcsim.algorithms.split_tree has the trees
and the schedule, sort_levels the round that calls these, sort_plan the memory bounds).

Every message is one group of h buckets (or splitters) with its group number k in front:
splitters [k, keys, slots], counts [k, counts], prefixes [k, prefixes, totals]. A host learns
which groups it hosts from the messages it receives, so nothing is computed per group that
no message carries. Below the top a host keeps its children's counts (a table per group,
children x width) until its block's prefix comes down.

`TreeSteps` is a mixin of sort_levels' round: it uses the round's inbox (`got`,
`_messages`, `_bodies`), its outgoing messages (`_emit`), the machines' memories (`mems`) and
their parts (`_parts`). What a machine stores and sends depends on its own segment state,
items and inbox only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .segments import lower_bound, offsets_of, pack, within
from .split_tree import block, child_block, child_count, child_index, host

if TYPE_CHECKING:
    from .sort_levels import _Roles

__all__ = ["TreeSteps", "SIDES", "FORWARD", "ABSORB", "PASS"]

SIDES = ("l", "h")  # memory key prefixes of a machine's lo and hi segment
FORWARD, ABSORB, PASS = 5, 7, 8  # the host steps (sort_levels numbers every step)


class TreeSteps:
    """The split tree's steps of sort_levels._Round (module docstring)."""

    mems: list[dict[str, Any]]
    got: Any
    dtype: np.dtype
    key_dtype: np.dtype

    def _choose(self, roles: _Roles, rids: np.ndarray) -> None:
        """tau 1, the leader: the samples (in slot order) give the splitters (key, slot) at
        every (samples / B)-th place of the (key, slot) order."""
        picked, owner = self._messages(roles, rids)
        order = np.argsort(owner, kind="stable")
        starts, lengths = self._bodies(picked[order])
        keys = self.got.values[np.repeat(starts, lengths) + within(lengths)]
        all_slots, slot_off, segment = self._draws(roles, rids)  # one leader per segment
        per_role = np.diff(slot_off)[segment]
        slots = all_slots[np.repeat(slot_off[:-1][segment], per_role) + within(per_role)]
        got = np.bincount(np.searchsorted(rids, owner), weights=lengths,
                          minlength=rids.size).astype(np.int64)
        assert np.array_equal(got, per_role), "the samples match the draws"
        role_of = np.repeat(np.arange(rids.size), per_role)
        order = np.lexsort((slots, keys, role_of))
        keys, slots = keys[order], slots[order]
        b = roles.buckets[rids]
        which = np.repeat(np.arange(rids.size), b - 1)
        index = within(b - 1) + 1
        pick = offsets_of(per_role)[:-1][which] + index * per_role[which] // b[which]
        # group k holds splitters k*h .. k*h + h - 1 (of the B - 1)
        h, groups = roles.width[rids], roles.spl_groups[rids]
        per = np.repeat(np.arange(rids.size), groups)
        k = within(groups)
        spl_base = offsets_of(b - 1)[:-1]
        first = spl_base[per] + k * h[per]
        width = np.minimum(h[per], b[per] - 1 - k * h[per])
        spl_keys, spl_slots = keys[pick].astype(self.dtype), slots[pick].astype(self.dtype)
        values, lengths = pack(self.dtype, k.size, k.astype(self.dtype),
                               [(spl_keys, first, width), (spl_slots, first, width)])
        r = rids[per]
        top = roles.top[r]
        if (~top).any():  # the top hosts are other machines: one message per group
            j = np.flatnonzero(~top)
            rj = r[j]
            to = host(roles.size[rj], roles.fan[rj], roles.depth[rj], top[j], roles.depth[rj],
                      k[j], np.zeros(j.size, dtype=np.int64), roles.size[rj])
            self._emit_subset(roles.id[rj], roles.first[rj] + to, values, lengths, j)
        if top.any():  # the leader hosts the top: down to its children at once
            j = np.flatnonzero(top)
            self._replicate_down(roles, r[j], roles.depth[r[j]], k[j], values, lengths, j)

    def _emit_subset(self, src: np.ndarray, dst: np.ndarray, values: np.ndarray,
                     lengths: np.ndarray, pick: np.ndarray) -> None:
        """Messages number `pick` of (values, lengths), from src to dst."""
        out, out_lengths = pack(self.dtype, pick.size, None,
                                [(values, offsets_of(lengths)[:-1][pick], lengths[pick])])
        self._emit(src, dst, out, out_lengths)

    def _children(self, roles: _Roles, r: np.ndarray, level: np.ndarray, k: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For hosts (roles r) of group k at `level`: (which entry of r, child number,
        machine id) for every child of their block: the machine itself at level 1, else the
        level-(level-1) host of group k in the child block."""
        size, fan = roles.size[r], roles.fan[r]
        start, machines = block(size, fan, level, roles.local[r])
        count = child_count(size, fan, level, start, machines)
        each = np.repeat(np.arange(r.size), count)
        child = within(count)
        re, le = r[each], level[each]
        cs, cm = child_block(size[each], fan[each], le, start[each], child)
        to = np.where(le == 1, cs, host(size[each], fan[each], roles.depth[re], roles.top[re],
                                        np.maximum(le - 1, 1), k[each], cs, cm))
        return each, child, roles.first[re] + to

    def _replicate_down(self, roles: _Roles, r: np.ndarray, level: np.ndarray, k: np.ndarray,
                        values: np.ndarray, lengths: np.ndarray, pick: np.ndarray) -> None:
        """Message pick[j] (held by host r[j] of group k[j] at `level`) to all its children."""
        each, _, to = self._children(roles, r, level, k)
        self._emit_subset(roles.id[r][each], to, values, lengths, pick[each])

    def _forward(self, roles: _Roles, rids: np.ndarray) -> None:
        """Hosts pass the splitter groups they received down one level."""
        picked, owner = self._messages(roles, rids)
        starts, lengths = self._bodies(picked)
        k = self.got.values[starts].astype(np.int64)
        level = roles.level(FORWARD, owner)
        self._replicate_from_inbox(roles, owner, level, k, starts, lengths)

    def _replicate_from_inbox(self, roles: _Roles, owner: np.ndarray, level: np.ndarray,
                              k: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> None:
        each, _, to = self._children(roles, owner, level, k)
        out, out_lengths = pack(self.dtype, each.size, None,
                                [(self.got.values, starts[each], lengths[each])])
        self._emit(roles.id[owner][each], to, out, out_lengths)

    def _groups_in(self, roles: _Roles, rids: np.ndarray, fields: int, total: np.ndarray
                   ) -> list[np.ndarray]:
        """The group messages [k, field 1 (width), ..., field f (width)] to roles rids, laid
        out per role by index (k * h + j): `fields` flat arrays of total[j] entries per role."""
        picked, owner = self._messages(roles, rids)
        starts, lengths = self._bodies(picked)
        values = self.got.values
        k = values[starts].astype(np.int64)
        at = np.searchsorted(rids, owner)
        width = (lengths - 1) // fields
        base = offsets_of(total)[:-1]
        inside = within(width)
        into = np.repeat(base[at] + k * roles.width[owner], width) + inside
        out = []
        for f in range(fields):
            field = np.zeros(int(total.sum()), dtype=self.dtype)
            field[into] = values[np.repeat(starts + 1 + f * width, width) + inside]
            out.append(field)
        got = np.bincount(at, weights=width, minlength=rids.size).astype(np.int64)
        assert np.array_equal(got, total), "every group arrived"
        return out

    def _count(self, roles: _Roles, rids: np.ndarray) -> None:
        """tau a+D, every machine: the splitters give the cuts; counts go to level-1 hosts."""
        b = roles.buckets[rids]
        spl_keys, spl_slots = self._groups_in(roles, rids, 2, b - 1)
        keys, _, offsets = self._parts(roles, rids)
        which = np.repeat(np.arange(rids.size), b - 1)
        cut = lower_bound(keys, offsets[which], offsets[which + 1],
                          spl_keys.astype(self.key_dtype), spl_slots.astype(np.int64),
                          slot0=roles.part_lo[rids][which])
        cut -= offsets[which]
        cut_offsets = offsets_of(b + 1)
        cuts = np.zeros(int(cut_offsets[-1]), dtype=np.int64)
        cuts[np.repeat(cut_offsets[:-1], b - 1) + within(b - 1) + 1] = cut
        cuts[cut_offsets[1:] - 1] = roles.part[rids]
        for j, (i, s) in enumerate(zip(roles.machine[rids].tolist(),
                                       roles.side[rids].tolist())):
            self.mems[i][SIDES[s] + "c"] = cuts[cut_offsets[j]:cut_offsets[j + 1]]
        counts = np.delete(cuts[1:] - cuts[:-1], cut_offsets[1:-1] - 1)
        groups = roles.groups[rids]
        per = np.repeat(np.arange(rids.size), groups)
        k = within(groups)
        h = roles.width[rids][per]
        first = offsets_of(b)[:-1][per] + k * h
        width = np.minimum(h, b[per] - k * h)
        self._to_hosts(roles, rids[per], np.ones(k.size, dtype=np.int64), k,
                       [(counts, first, width)])

    def _to_hosts(self, roles: _Roles, r: np.ndarray, level: np.ndarray, k: np.ndarray,
                  parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        """Messages [k, parts...] from roles r to the level-`level` host of group k in their
        block (the leader at the top with leader_top)."""
        values, lengths = pack(self.dtype, k.size, k.astype(self.dtype),
                               [(flat.astype(self.dtype), s, n) for flat, s, n in parts])
        size, fan = roles.size[r], roles.fan[r]
        start, machines = block(size, fan, level, roles.local[r])
        to = host(size, fan, roles.depth[r], roles.top[r], level, k, start, machines)
        self._emit(roles.id[r], roles.first[r] + to, values, lengths)

    def _tables_in(self, roles: _Roles, rids: np.ndarray, event: int):
        """The group messages [k, w values] from children to hosts rids, as tables: one per
        (role, k), children x w counts, child-major. Returns (table role, k, level, children,
        width, offsets of each table in data, data)."""
        picked, owner = self._messages(roles, rids)
        starts, lengths = self._bodies(picked)
        values = self.got.values
        k = values[starts].astype(np.int64)
        level = roles.level(event, owner)
        size, fan = roles.size[owner], roles.fan[owner]
        bstart, bsize = block(size, fan, level, roles.local[owner])
        source = self.got.sources[picked] - roles.first[owner]
        child = np.where(level == 1, source - bstart,
                         child_index(size, fan, level, bstart, source))
        order = np.lexsort((child, k, owner))
        owner, k, child, starts, lengths, level, bstart, bsize = (
            a[order] for a in (owner, k, child, starts, lengths, level, bstart, bsize))
        width = lengths - 1
        heads = np.flatnonzero(np.r_[True, (owner[1:] != owner[:-1]) | (k[1:] != k[:-1])])
        children = child_count(size[order][heads], fan[order][heads], level[heads],
                               bstart[heads], bsize[heads])
        assert np.array_equal(np.diff(np.r_[heads, owner.size]), children), \
            "every child reports"
        data = values[np.repeat(starts + 1, width) + within(width)].astype(np.int64)
        t_width = width[heads]
        return (owner[heads], k[heads], level[heads], children, t_width,
                offsets_of(children * t_width), data)

    def _absorb(self, roles: _Roles, rids: np.ndarray) -> None:
        """tau a+D+l, level-l hosts: their children's counts per group; below the top, keep
        the tables and send the block's totals up; at the top, send each child its prefix."""
        t_role, t_k, t_level, children, width, t_off, data = self._tables_in(roles, rids,
                                                                             ABSORB)
        totals, totals_off = _column_sums(data, t_off, children, width)
        top = t_level == roles.depth[t_role]
        below = np.flatnonzero(~top)
        if below.size:
            self._keep_tables(roles, t_role[below], t_k[below], t_level[below],
                              [data[t_off[t]:t_off[t + 1]] for t in below.tolist()])
            self._to_hosts(roles, t_role[below], t_level[below] + 1, t_k[below],
                           [(totals, totals_off[below], width[below])])
        tops = np.flatnonzero(top)
        if tops.size:
            zero = np.zeros(int(width[tops].sum()), dtype=np.int64)
            self._prefixes_down(roles, t_role[tops], t_k[tops], t_level[tops],
                                children[tops], width[tops],
                                [data[t_off[t]:t_off[t + 1]] for t in tops.tolist()],
                                zero, offsets_of(width[tops])[:-1],
                                totals, totals_off[tops])

    def _keep_tables(self, roles: _Roles, t_role: np.ndarray, t_k: np.ndarray,
                     t_level: np.ndarray, tables: list[np.ndarray]) -> None:
        """A host keeps its level-l tables until the prefixes come down: one int64 array per
        (machine, level): [number of tables, their groups, their counts]."""
        by: dict[tuple[int, int], list[int]] = {}
        for t, (r, lv) in enumerate(zip(t_role.tolist(), t_level.tolist())):
            by.setdefault((r, lv), []).append(t)
        for (r, lv), ts in by.items():
            i, side = int(roles.machine[r]), int(roles.side[r])
            self.mems[i][f"{SIDES[side]}h{lv}"] = np.concatenate(
                [[len(ts)], t_k[ts]] + [tables[t] for t in ts]).astype(np.int64)

    def _pass_down(self, roles: _Roles, rids: np.ndarray) -> None:
        """tau a+3D-l, level-l hosts below the top: their block's prefix and the totals
        arrive per group; each child gets the block's prefix plus the counts before it."""
        picked, owner = self._messages(roles, rids)
        starts, lengths = self._bodies(picked)
        values = self.got.values
        k = values[starts].astype(np.int64)
        level = roles.level(PASS, owner)
        width = (lengths - 1) // 2
        tables, children = [], []
        loaded: dict[int, dict[int, np.ndarray]] = {}
        for r, kk, lv in zip(owner.tolist(), k.tolist(), level.tolist()):
            if r not in loaded:
                i, side = int(roles.machine[r]), int(roles.side[r])
                stored = self.mems[i].pop(f"{SIDES[side]}h{lv}")
                n = int(stored[0])
                groups = stored[1:1 + n].tolist()
                rest = stored[1 + n:]
                sizes = self._table_sizes(roles, r, lv, groups)
                bounds = np.cumsum([0] + sizes).tolist()
                loaded[r] = {g: rest[a:b] for g, a, b in zip(groups, bounds[:-1], bounds[1:])}
            table = loaded[r][kk]
            tables.append(table)
        children = np.array([t.size for t in tables], dtype=np.int64) // np.maximum(width, 1)
        inside = within(width)
        prefix = values[np.repeat(starts + 1, width) + inside].astype(np.int64)
        totals = values[np.repeat(starts + 1 + width, width) + inside].astype(np.int64)
        w_off = offsets_of(width)[:-1]
        self._prefixes_down(roles, owner, k, level, children, width, tables, prefix, w_off,
                            totals, w_off)

    def _table_sizes(self, roles: _Roles, r: int, level: int, groups: list[int]) -> list[int]:
        size, fan = roles.size[r:r + 1], roles.fan[r:r + 1]
        lv = np.array([level])
        start, machines = block(size, fan, lv, roles.local[r:r + 1])
        children = int(child_count(size, fan, lv, start, machines)[0])
        b, h = int(roles.buckets[r]), int(roles.width[r])
        return [children * min(h, b - g * h) for g in groups]

    def _prefixes_down(self, roles: _Roles, t_role: np.ndarray, t_k: np.ndarray,
                       t_level: np.ndarray, children: np.ndarray, width: np.ndarray,
                       tables: list[np.ndarray], prefix: np.ndarray, prefix_off: np.ndarray,
                       totals: np.ndarray, totals_off: np.ndarray) -> None:
        """Each table's children get [k, block prefix + counts of the children before it,
        totals]: leaves at level 1, else the child block's host of group k."""
        data = np.concatenate(tables) if tables else np.zeros(0, dtype=np.int64)
        t_off = offsets_of(children * width)
        before = _exclusive_over_children(data, t_off, children, width)
        each, child, to = self._children(roles, t_role, t_level, t_k)
        w = width[each]
        at = t_off[each] + child * w  # this child's row in its table
        # child prefix = block prefix (per column) + counts of earlier children
        rows = np.repeat(at, w) + within(w)
        cols = np.repeat(prefix_off[each], w) + within(w)
        child_prefix = before[rows] + prefix[cols]
        child_totals = totals[np.repeat(totals_off[each], w) + within(w)]
        starts = offsets_of(w)[:-1]
        values, lengths = pack(self.dtype, each.size, t_k[each].astype(self.dtype),
                               [(child_prefix.astype(self.dtype), starts, w),
                                (child_totals.astype(self.dtype), starts, w)])
        self._emit(roles.id[t_role][each], to, values, lengths)


def _column_sums(data: np.ndarray, t_off: np.ndarray, children: np.ndarray,
                 width: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per table (children x width, child-major at t_off): the sum over children of each
    column, laid out per table at the returned offsets."""
    col = _column_index(t_off, children, width)
    w_off = offsets_of(width)
    sums = np.bincount(col, weights=data, minlength=int(w_off[-1])).astype(np.int64)
    return sums, w_off[:-1]


def _column_index(t_off: np.ndarray, children: np.ndarray, width: np.ndarray) -> np.ndarray:
    """For each entry of the child-major tables: its (table, column) number."""
    sizes = children * width
    table = np.repeat(np.arange(sizes.size), sizes)
    inside = within(sizes)
    return offsets_of(width)[:-1][table] + inside % np.maximum(width[table], 1)


def _exclusive_over_children(data: np.ndarray, t_off: np.ndarray, children: np.ndarray,
                             width: np.ndarray) -> np.ndarray:
    """Per table entry (child, column): the sum of that column over the earlier children."""
    if data.size == 0:
        return data
    col = _column_index(t_off, children, width)
    order = np.argsort(col, kind="stable")  # by column, children in order within
    running = np.cumsum(data[order])
    starts = np.r_[True, col[order][1:] != col[order][:-1]]
    group_start = np.maximum.accumulate(np.where(starts, np.arange(order.size), 0))
    excl = running - data[order] - (running[group_start] - data[order][group_start])
    out = np.empty_like(data)
    out[order] = excl
    return out

