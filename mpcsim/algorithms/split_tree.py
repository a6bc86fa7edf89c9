"""The split tree: how one segment of a sample sort moves its splitters down and its bucket
counts up and back, over the G machines the segment spans.

A segment with B buckets needs every machine to learn all B-1 splitters, and every machine
to learn, for each bucket b, the number of bucket-b items on the machines before it (its
prefix) and in the whole segment (the total). Sending B-word vectors up one tree would cap
its fan-in at about s/B; instead each index b (a bucket, or a splitter j = 1..B-1) gets its own
tree, and the trees are spread over the machines, so a node only ever holds a few indices and
the fan-in can be g ~ s/8 whatever B is (a "transposed" tree).

Machines are local ids 0..G-1 (the segment's first machine is 0, the leader). Level l >= 1
blocks are the aligned ranges [k g^l, (k+1) g^l) (the last one shorter); the top level D is
the smallest with g^D >= G, a single block. The level-l host of index b in a block of z
machines starting at x0 is x0 + (b*D + l - 1) mod z, so different (index, level) pairs land on
different machines while z >= B*D: a machine then keeps at most one host table, of at most g
children. With `leader_top` the leader hosts every index at level D (which saves a hop when its
load fits). Level-0 "blocks" are the machines themselves.

Schedule (tau = rounds since the segment's level started; a = 1 with leader_top, else 2):
    tau 0           every machine sends its samples to the leader
    tau 1           the leader picks the splitters (and sends them to the top hosts)
    tau a+D-l       level-l hosts receive their splitters and forward them down
    tau a+D         machines receive every splitter, count items per bucket, send counts up
    tau a+D+l       level-l hosts receive their children's counts and send block totals up
    tau a+2D        top hosts know each bucket's total; prefixes start down
    tau a+3D-l      level-l hosts receive their block's prefix and pass each child its own
    tau a+3D        machines receive (prefix, total) for every bucket, and scatter
    tau a+3D+1      the scattered items arrive: the segment's level is over
so a level takes rounds(G) = a + 3D + 1 rounds (5 with one level and the leader on top).
For each (level, tau) a machine receives at most one kind of message, which is how the sort
tells them apart without a header.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["SplitTree"]


@dataclass(frozen=True)
class SplitTree:
    size: int  # G: machines the segment spans (local ids 0..G-1)
    fan: int  # g: a level-l block holds g^l machines
    width: int  # B: indices 0..B-1 (buckets; splitter j uses index j)
    depth: int  # D >= 1: levels of hosts, level D being one block
    leader_top: bool  # the leader hosts every index at level D

    @classmethod
    def build(cls, size: int, fan: int, width: int, leader_budget: int) -> SplitTree:
        """The tree for G = size machines: the least depth with fan^D >= G; the leader hosts
        the top level when its children's counts (children * width words) fit in
        leader_budget."""
        depth, reach = 1, fan
        while reach < size:
            reach *= fan
            depth += 1
        top_children = -(-size // fan ** (depth - 1))
        return cls(size, fan, width, depth, top_children * (width + 2) <= leader_budget)

    # -- schedule -------------------------------------------------------------------------------

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

    # -- blocks and hosts -----------------------------------------------------------------------

    def block(self, level: int, local: int) -> tuple[int, int]:
        """(first machine, machines) of the level-`level` block holding `local`."""
        if level == 0:
            return local, 1
        span = self.fan ** level
        start = local // span * span
        return start, min(span, self.size - start)

    def hosts(self, level: int, index: np.ndarray, start: int, size: int) -> np.ndarray:
        """The local ids hosting `index` (an int array) at `level` in the block (start, size)."""
        if level == 0:
            return np.full(index.shape, start, dtype=np.int64)
        if level == self.depth and self.leader_top:
            return np.zeros(index.shape, dtype=np.int64)
        return start + (index * self.depth + level - 1) % size

    def hosted(self, level: int, local: int) -> np.ndarray:
        """The indices (0..B-1) that machine `local` hosts at `level`, ascending."""
        return _hosted(self, level, local)

    def host_levels(self, local: int) -> list[int]:
        """The levels at which `local` hosts at least one index."""
        return [level for level in range(1, self.depth + 1) if self.hosted(level, local).size]

    def children(self, level: int, start: int, size: int) -> list[tuple[int, int]]:
        """The level-(level-1) blocks (start, size) inside the level-`level` block."""
        span = self.fan ** (level - 1)
        return [(s, min(span, start + size - s)) for s in range(start, start + size, span)]

    def child_of(self, level: int, start: int, local: int) -> int:
        """Which child block (0, 1, ...) of the level-`level` block at `start` holds `local`."""
        return (local - start) // self.fan ** (level - 1)

    def route(self, level: int, index: np.ndarray, local: int) -> tuple[np.ndarray, np.ndarray]:
        """Group `index` by its level-`level` host in `local`'s block: (hosts, order) with
        `order` sorting index by host, for sending one message per host."""
        start, size = self.block(level, local)
        hosts = self.hosts(level, index, start, size)
        order = np.argsort(hosts, kind="stable")
        return hosts[order], order

    def max_hosted(self) -> int:
        """An upper bound on the children's counts (words) a machine keeps over all the levels
        it hosts: one table of <= g children where blocks hold >= B*D machines; in a short last
        block of z machines, <= z*ceil(B*D/z) <= B*D + g; the leader's top table if it hosts
        the top."""
        top = -(-self.size // self.fan ** (self.depth - 1)) * self.width if self.leader_top else 0
        return max(top, self.width * self.depth + self.fan)


@lru_cache(maxsize=1 << 16)
def _hosted(tree: SplitTree, level: int, local: int) -> np.ndarray:
    start, size = tree.block(level, local)
    if level == tree.depth and tree.leader_top:
        return (np.arange(tree.width, dtype=np.int64) if local == 0
                else np.zeros(0, dtype=np.int64))
    index = np.arange(tree.width, dtype=np.int64)
    return index[(index * tree.depth + level - 1) % size == local - start]
