"""Tree arithmetic over machine ids: the two b-ary trees the algorithms route along.

- The heap tree (parent, children, depth): machine i's children are b*i+1 .. b*i+b, as in a
  binary heap. Every machine is one node; a node has at most b children, so it receives at
  most b messages a round going up and sends at most b going down. Its height is
  depth(q, b) <= ceil(log_b q) for b >= 2. Used by broadcast and all-reduce, where the order
  of machines does not matter.
- The aligned tree (aligned_*): the level-l node on machine i covers the aligned block of ids
  [i, i + b^l); its children are the level-(l-1) blocks i + k*b^(l-1), k = 0..b-1, and child
  k = 0 is machine i itself, so a node sends to or receives from at most b-1 machines per
  level. Subtrees are contiguous id ranges, which prefix sums need. Its height is exactly
  aligned_depth(m, b) = ceil(log_b m).

All functions are pure integer arithmetic (no floating-point logarithms).
"""

from __future__ import annotations

__all__ = [
    "parent", "children", "depth",
    "aligned_depth", "aligned_level", "aligned_parent", "aligned_children", "ceil_log",
]


# -- the heap tree ------------------------------------------------------------------------------

def parent(i: int, b: int) -> int:
    """The heap-tree parent of machine i >= 1 with fan-in b (machine 0 is the root)."""
    if i <= 0:
        raise ValueError(f"machine {i} has no parent: machine 0 is the root")
    return (i - 1) // b


def children(i: int, b: int, q: int) -> range:
    """The heap-tree children of machine i among machines 0..q-1: b*i+1 .. b*i+b, clipped."""
    first = b * i + 1
    return range(min(first, q), min(first + b, q))


def depth(q: int, b: int) -> int:
    """Height of the heap tree on q >= 1 machines with fan-in b >= 1 (0 for one machine).

    The smallest D with 1 + b + ... + b^D >= q. Since that sum is >= b^D, D <= ceil(log_b q)
    for b >= 2; for b = 1 the tree is a chain and D = q - 1.
    """
    if q < 1 or b < 1:
        raise ValueError(f"depth needs q >= 1 and b >= 1, got q={q}, b={b}")
    if b == 1:
        return q - 1
    height, reach, width = 0, 1, 1
    while reach < q:
        width *= b
        reach += width
        height += 1
    return height


def ceil_log(q: int, b: int) -> int:
    """ceil(log_b q) for q >= 1 and b >= 2, exactly: the smallest D with b^D >= q."""
    if q < 1 or b < 2:
        raise ValueError(f"ceil_log needs q >= 1 and b >= 2, got q={q}, b={b}")
    d, reach = 0, 1
    while reach < q:
        reach *= b
        d += 1
    return d


# -- the aligned tree ---------------------------------------------------------------------------

def aligned_depth(m: int, b: int) -> int:
    """Height of the aligned tree over machines 0..m-1: ceil(log_b m) (0 when m <= 1)."""
    return ceil_log(max(m, 1), b)


def aligned_level(i: int, b: int, height: int) -> int:
    """The top level machine i hosts: height for machine 0, else the largest l with b^l | i.

    Machine i hosts the nodes of levels 0..aligned_level(i); for 0 < i < b^height that level
    is below `height`, so only machine 0 hosts the root.
    """
    if i == 0:
        return height
    level = 0
    while i % b == 0:
        i //= b
        level += 1
    return min(level, height)


def aligned_parent(i: int, b: int, level: int) -> int:
    """The machine hosting the parent of the level-`level` node on machine i."""
    return i - i % b ** (level + 1)


def aligned_children(i: int, b: int, level: int, m: int) -> range:
    """Machines other than i hosting the level-(level-1) children of i's level-`level` node.

    These are i + k*b^(level-1) for k = 1..b-1 that are below m, in increasing order.
    """
    step = b ** (level - 1)
    return range(i + step, min(i + b * step, m), step)
