"""Segmented numpy operations for the sort's fleet rounds: many machines' arrays, concatenated
with offsets, worked on at once without a Python step per machine (see mpcsim.fleet).

Every function keeps the machines apart: what it returns for one segment depends only on that
segment's inputs, which is the isolation a fleet round owes (tested with vectorize=False).

- `carrier`: the one dtype every sort message travels in (keys, slots, counts together);
- `pack`: messages built from header words and slices of flat arrays, as (values, lengths);
- `lower_bound`: per query, the number of items of its sorted segment before it, in the
  (key, slot) order the sort uses to break ties (binary search, all queries at once);
- `sort_each`: each segment sorted (stably where it matters), values following their keys.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["carrier", "pack", "lower_bound", "sort_each", "offsets_of", "within"]


def carrier(dtype: np.dtype) -> np.dtype:
    """The message dtype for keys of `dtype`: float64 for floats (slots, counts and positions
    are exact below 2^53), uint64 for unsigned keys (everything sent is >= 0), else int64."""
    kind = np.dtype(dtype).kind
    return np.dtype(np.float64 if kind == "f" else np.uint64 if kind == "u" else np.int64)


def offsets_of(lengths: np.ndarray) -> np.ndarray:
    """int64[k + 1]: 0, then the running sum of the lengths."""
    out = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def within(lengths: np.ndarray) -> np.ndarray:
    """For segments of these lengths laid end to end: each element's index in its segment."""
    total = int(lengths.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(offsets_of(lengths)[:-1], lengths)


def pack(dtype: np.dtype, count: int, header: np.ndarray | None,
         parts: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]
         ) -> tuple[np.ndarray, np.ndarray]:
    """`count` messages: message i is [header[i]] (if header is given) followed, for each
    (flat, starts, lengths) in parts, by flat[starts[i]:starts[i] + lengths[i]]. Returns
    (values, lengths) in `dtype`."""
    lengths = np.zeros(count, dtype=np.int64) + (0 if header is None else 1)
    for _, _, part_lengths in parts:
        lengths = lengths + part_lengths
    offsets = offsets_of(lengths)
    out = np.empty(int(offsets[-1]), dtype=dtype)
    at = offsets[:-1].copy()
    if header is not None:
        out[at] = header
        at += 1
    for flat, starts, part_lengths in parts:
        if part_lengths.size and part_lengths.sum():
            inside = within(part_lengths)
            out[np.repeat(at, part_lengths) + inside] = flat[np.repeat(starts, part_lengths)
                                                             + inside]
        at = at + part_lengths
    return out, lengths


def lower_bound(keys: np.ndarray, lo: np.ndarray, hi: np.ndarray, query_keys: np.ndarray,
                query_ties: np.ndarray | None = None, item_ties: np.ndarray | None = None,
                slot0: np.ndarray | None = None, inclusive: np.ndarray | bool = False
                ) -> np.ndarray:
    """For each query i: the index (into `keys`) of the first item of keys[lo_i:hi_i] (sorted)
    that is not before the query; hi_i if there is none. An item is before the query when its
    key is smaller, or equal and: its tie is smaller than query_ties[i] (ties from item_ties,
    or for item j the slot slot0_i + j - lo_i), or, without ties, `inclusive` is set for i."""
    base = lo.astype(np.int64)
    lo, hi = base.copy(), hi.astype(np.int64).copy()
    if lo.size == 0 or keys.size == 0:
        return lo
    inclusive = np.broadcast_to(np.asarray(inclusive, dtype=bool), lo.shape)
    for _ in range(int((hi - lo).max(initial=0)).bit_length() + 1):
        active = lo < hi
        if not active.any():
            break
        mid = (lo + hi) >> 1
        at = np.where(active, mid, 0)
        probe = keys[at]
        equal = probe == query_keys
        if query_ties is not None:
            tie = item_ties[at] if item_ties is not None else slot0 + (mid - base)
            equal &= tie < query_ties
        else:
            equal &= inclusive
        before = (probe < query_keys) | equal
        lo = np.where(active & before, mid + 1, lo)
        hi = np.where(active & ~before, mid, hi)
    return lo


def sort_each(keys: np.ndarray, values: np.ndarray | None, offsets: np.ndarray,
              stable: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """keys[offsets[i]:offsets[i + 1]] sorted for each i (values following their keys).
    Stable (ties in the given order) when `stable` or when values are given; otherwise ties
    are bit-identical keys, whose order no one can see. Segments of one length are sorted
    together, as the rows of one 2-D array."""
    kind = "stable" if stable or values is not None else None
    if offsets.size <= 2:  # one segment
        if values is None:
            return np.sort(keys, kind=kind), None
        order = np.argsort(keys, kind="stable")
        return keys[order], values[order]
    out_k = np.empty_like(keys)
    out_v = None if values is None else np.empty_like(values)
    lengths = np.diff(offsets)
    sizes, counts = np.unique(lengths, return_counts=True)
    for size, count in zip(sizes.tolist(), counts.tolist()):
        rows = np.flatnonzero(lengths == size)
        if size < 2:
            at = offsets[rows]
            out_k[at] = keys[at]
            if values is not None:
                out_v[at] = values[at]  # type: ignore[index]
            continue
        index = offsets[rows][:, None] + np.arange(size)
        if values is None:
            out_k[index] = np.sort(keys[index], axis=1, kind=kind)
        else:
            order = np.argsort(keys[index], axis=1, kind="stable")
            taken = np.take_along_axis(index, order, axis=1)
            out_k[index] = keys[taken]
            out_v[index] = values[taken]  # type: ignore[index]
        del count
    return out_k, out_v
