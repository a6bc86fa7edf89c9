"""The split tree: how one segment of a sample sort moves its splitters down and its bucket
counts up and back, over the G >= 3 machines the segment spans.

A segment with B buckets needs every machine to learn all B - 1 splitters, and every machine
to learn, for each bucket b, the number of bucket-b items on the machines before it (its
prefix) and in the whole segment (the total). The buckets are cut into B' = ceil(B / h)
*groups* of h consecutive buckets (the splitters into ceil((B - 1) / h) groups), and each group
gets its own tree, spread over the machines (a "transposed" tree): a node only ever handles a
few groups, so the fan-in g can be large whatever B is, and a message carries a whole group.

Machines are local ids 0..G-1 (local 0 is the segment's first machine). Blocks: at level
l >= 1 the machines are cut into K_l = max(1, G // g^l) blocks [k g^l, (k+1) g^l), the last
one absorbing the remainder (so every block holds >= g^l machines, < 2 g^l); level-l blocks
are unions of level-(l-1) blocks (level 0: the machines). The depth D is the least l with
K_l = 1, i.e. G < 2 g^D; level D is one block, the whole segment.

Hosts: the level-l host of group k in a block is one of the block's *inner* machines (local
1..G-2), e0 + (k D + l - 1) mod z with e0 the block's first inner machine and z its inner
machines: the two end machines of a segment, which may also belong to the neighbouring
segments, never host (see mpcsim.algorithms.sort_plan for why that bounds memory). Local 1 is
the segment's *leader*: it receives the samples and picks the splitters; with `leader_top` it
also hosts every group at level D (when the level-D inbox fits its budget), saving a round.

Schedule (tau = rounds since the segment's level started; a = 1 with leader_top, else 2):
    tau 0           every machine sends its samples to the leader
    tau 1           the leader picks the splitters (and sends them to the top hosts)
    tau a+D-l       level-l hosts receive their splitter groups and forward them down
    tau a+D         machines receive every splitter, count items per bucket, send counts up
    tau a+D+l       level-l hosts receive their children's counts and send block totals up
    tau a+2D        top hosts know each bucket's total; prefixes start down
    tau a+3D-l      level-l hosts receive their block's prefix and pass each child its own
    tau a+3D        machines receive (prefix, total) for every bucket, and scatter
    tau a+3D+1      the scattered items arrive: the segment's level is over
so a level takes rounds(G) = a + 3D + 1 rounds (5 with one level and the leader on top).
For each (level, tau) a machine receives at most one kind of message per segment.

The functions below take numpy arrays (one entry per segment, or per message), so a fleet
round computes hosts and blocks for many segments at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["SplitTree", "depth", "block", "child_count", "child_block", "child_index",
           "host", "host_bounds"]


def depth(size: np.ndarray | int, fan: np.ndarray | int) -> np.ndarray | int:
    """D: the least l >= 1 with size < 2 fan^l."""
    if type(size) is int and type(fan) is int:
        return _depth(size, fan)
    if np.ndim(size) == 0 and np.ndim(fan) == 0:
        d, reach = 1, int(fan)
        while int(size) >= 2 * reach:
            reach *= int(fan)
            d += 1
        return d
    size, fan = np.broadcast_arrays(np.asarray(size, dtype=np.int64),
                                    np.asarray(fan, dtype=np.int64))
    d = np.ones(size.shape, dtype=np.int64)
    reach = fan.copy()
    while True:
        deeper = size >= 2 * reach
        if not deeper.any():
            return d
        d += deeper
        reach = np.where(deeper, reach * fan, reach)


@lru_cache(maxsize=1 << 14)
def _depth(size: int, fan: int) -> int:
    d, reach = 1, fan
    while size >= 2 * reach:
        reach *= fan
        d += 1
    return d


def _blocks_at(size: np.ndarray, span: np.ndarray) -> np.ndarray:
    """K_l = max(1, size // g^l) (span = g^l; K_0 = size)."""
    return np.maximum(1, size // span)


def block(size: np.ndarray, fan: np.ndarray, level: np.ndarray, local: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """(start, machines) of the level-`level` block holding local id `local`."""
    span = fan ** level
    count = _blocks_at(size, span)
    k = np.minimum(local // span, count - 1)
    start = k * span
    return start, np.where(k < count - 1, span, size - start)


def child_count(size: np.ndarray, fan: np.ndarray, level: np.ndarray, start: np.ndarray,
                machines: np.ndarray) -> np.ndarray:
    """Children (level-(level-1) blocks, or machines at level 1) of a level-`level` block."""
    below = fan ** (level - 1)
    last = start + machines == size
    return np.where(last, _blocks_at(size, below) - start // below, machines // below)


def child_block(size: np.ndarray, fan: np.ndarray, level: np.ndarray, start: np.ndarray,
                child: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, machines) of child number `child` of the level-`level` block at `start`."""
    below = fan ** (level - 1)
    return block(size, fan, level - 1, start + child * below)


def child_index(size: np.ndarray, fan: np.ndarray, level: np.ndarray, start: np.ndarray,
                local: np.ndarray) -> np.ndarray:
    """Which child of the level-`level` block at `start` holds local id `local`."""
    below = fan ** (level - 1)
    k = np.minimum(local // below, _blocks_at(size, below) - 1)
    return k - start // below


def host(size: np.ndarray, fan: np.ndarray, levels: np.ndarray, leader_top: np.ndarray,
         level: np.ndarray, group: np.ndarray, start: np.ndarray, machines: np.ndarray
         ) -> np.ndarray:
    """The local id hosting `group` at `level` in the block (start, machines): an inner
    machine (local 1..size-2), or the leader (local 1) at the top level with leader_top."""
    first = np.maximum(start, 1)
    inner = np.minimum(start + machines, size - 1) - first
    at = first + (group * levels + level - 1) % np.maximum(inner, 1)
    return np.where(leader_top & (level == levels), 1, at)


@dataclass(frozen=True)
class SplitTree:
    size: int  # G >= 3: machines the segment spans (local ids 0..G-1)
    fan: int  # g: level-l blocks hold g^l .. 2 g^l - 1 machines
    groups: int  # B': groups 0..B'-1 of buckets (and of splitters)
    depth: int  # D >= 1: levels of hosts, level D being one block
    leader_top: bool  # the leader (local 1) hosts every group at level D

    @classmethod
    def build(cls, size: int, fan: int, groups: int, top_words: int, budget: int) -> SplitTree:
        """The tree for G = size machines; the leader hosts the top level when its inbox
        there (top_words per child) fits `budget` words."""
        d = int(depth(size, fan))
        children = max(1, size // fan ** (d - 1))
        return cls(size, fan, groups, d, children * top_words <= budget)

    @property
    def first(self) -> int:
        """a: the tau at which the top hosts act (1 if the leader is the top host)."""
        return 1 if self.leader_top else 2

    @property
    def rounds(self) -> int:
        """Rounds from the level's start to the arrival of the scattered items."""
        return self.first + 3 * self.depth + 1

    def splitters_tau(self, level: int) -> int:
        return self.first + self.depth - level

    def counts_tau(self, level: int) -> int:
        return self.first + self.depth + level

    def prefix_tau(self, level: int) -> int:
        return self.first + 3 * self.depth - level

    # -- scalar views of the vectorised functions (tests, bounds) ----------------------------

    def block(self, level: int, local: int) -> tuple[int, int]:
        start, machines = block(np.int64(self.size), np.int64(self.fan), np.int64(level),
                                np.int64(local))
        return int(start), int(machines)

    def children(self, level: int, local: int) -> list[tuple[int, int]]:
        start, machines = self.block(level, local)
        count = int(child_count(np.int64(self.size), np.int64(self.fan), np.int64(level),
                                np.int64(start), np.int64(machines)))
        return [tuple(int(v) for v in child_block(np.int64(self.size), np.int64(self.fan),
                                                  np.int64(level), np.int64(start),
                                                  np.int64(j)))  # type: ignore[misc]
                for j in range(count)]

    def host(self, level: int, group: int, local: int) -> int:
        """The host of `group` at `level` in the block holding `local`."""
        start, machines = self.block(level, local)
        return int(host(np.int64(self.size), np.int64(self.fan), np.int64(self.depth),
                        np.bool_(self.leader_top), np.int64(level), np.int64(group),
                        np.int64(start), np.int64(machines)))


@lru_cache(maxsize=4096)
def host_bounds(fan: int, groups: int, width: int, max_depth: int, top_budget: int,
                top_words: int) -> tuple[int, int, int]:
    """Upper bounds, over every tree of fan `fan` and depth <= max_depth, on what one inner
    machine handles as a host: (words of tables it keeps, words of the largest inbox of
    counts, words it sends in one round). A group carries <= width buckets; every message has
    one header word.

    A level-l block below the top holds z in [g^l, 2 g^l) machines and < 2g children, and
    >= z - 2 >= g - 2 inner machines, so a machine hosts <= ceil(B' D / (g - 2)) groups there
    (group k goes to inner machine (k D + l - 1) mod z'); the top block of a tree of depth
    D >= 2 has < 2g children and >= 2g - 2 inner machines; a tree of depth 1 is one block of
    G < 2g machines (G children, G - 2 inner machines), unless the leader hosts it (leader_top,
    when G * top_words <= top_budget)."""
    g, groups_d = fan, []
    for d in range(1, max_depth + 1):
        if d == 1:
            worst = 0
            hosted_worst = 0
            for size in range(3, 2 * g):
                if size * top_words <= top_budget:
                    continue  # the leader hosts it
                hosted = math.ceil(groups / (size - 2))
                if size * hosted > worst:
                    worst, hosted_worst = size * hosted, hosted
            groups_d.append((1, 0, worst, hosted_worst))
        else:
            hosted = math.ceil(groups * d / max(1, g - 2))
            groups_d.append((d, hosted, (2 * g - 1) * hosted, hosted))
    tables = inbox = sent = 0
    for d, hosted, entries, top_hosted in groups_d:
        kept = (d - 1) * (1 + hosted + (2 * g - 1) * hosted * width)  # levels below the top
        tables = max(tables, kept)
        inbox = max(inbox, entries * (width + 1))
        sent = max(sent, entries * (2 * width + 1), hosted * (width + 1))
    return tables, inbox, sent
