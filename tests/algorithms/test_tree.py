"""The tree arithmetic (mpcsim.algorithms.tree) against brute force."""

from __future__ import annotations

import math

import pytest

from mpcsim.algorithms.tree import (
    aligned_children, aligned_depth, aligned_level, aligned_parent, ceil_log, children, depth,
    parent,
)

QS = [1, 2, 3, 4, 7, 8, 9, 10, 63, 64, 65, 100, 1000]
BS = [1, 2, 3, 4, 8, 10, 64]


def brute_heap_depth(q: int, b: int) -> int:
    height = [0] * q
    for i in range(1, q):
        height[i] = height[parent(i, b)] + 1
    return max(height)


@pytest.mark.parametrize("b", BS)
@pytest.mark.parametrize("q", QS)
def test_heap_children_and_parent_are_inverse_and_cover_every_machine(q: int, b: int) -> None:
    seen = [0]
    for i in range(q):
        kids = list(children(i, b, q))
        assert len(kids) <= b
        assert all(parent(k, b) == i for k in kids)
        seen += kids
    assert sorted(seen) == list(range(q))


@pytest.mark.parametrize("b", BS)
@pytest.mark.parametrize("q", QS)
def test_heap_depth_is_the_height_and_at_most_ceil_log(q: int, b: int) -> None:
    assert depth(q, b) == brute_heap_depth(q, b)
    if b >= 2:
        assert depth(q, b) <= ceil_log(q, b)


def test_parent_of_the_root_raises() -> None:
    with pytest.raises(ValueError, match="root"):
        parent(0, 2)


@pytest.mark.parametrize("b", [2, 3, 10])
@pytest.mark.parametrize("q", QS)
def test_ceil_log_is_exact(q: int, b: int) -> None:
    d = ceil_log(q, b)
    assert b ** d >= q and (d == 0 or b ** (d - 1) < q)
    assert d == math.ceil(round(math.log(q, b), 9))


@pytest.mark.parametrize("b", [2, 3, 4, 10])
@pytest.mark.parametrize("m", [1, 2, 3, 5, 9, 10, 27, 28, 100, 101])
def test_aligned_tree_blocks_are_contiguous_and_partition_the_ids(m: int, b: int) -> None:
    d = aligned_depth(m, b)
    assert d == ceil_log(m, b)
    # every machine but the root has exactly one parent, at its top level
    for i in range(1, m):
        level = aligned_level(i, b, d)
        assert level < d
        p = aligned_parent(i, b, level)
        assert p < i and aligned_level(p, b, d) > level
        assert i in aligned_children(p, b, level + 1, m)
    # a node's children blocks tile its own block [i, i + b^l) (clipped to m)
    for i in range(m):
        for level in range(1, aligned_level(i, b, d) + 1):
            step = b ** (level - 1)
            starts = [i, *aligned_children(i, b, level, m)]
            covered = [x for s in starts for x in range(s, min(s + step, m))]
            assert covered == list(range(i, min(i + b ** level, m)))
