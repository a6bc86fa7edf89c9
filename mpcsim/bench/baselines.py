"""The numpy baselines the library's ratio rows are measured against.

numpy_sort: numpy.sort of the same float64 keys, numpy's default kind: the fastest sort numpy
has (SIMD quicksort here, about 15x its stable sort on 10^6 float64), so the strictest reading
of "numpy.sort"; the library's sort is stable, which for keys alone shows only in the order of
-0.0 and 0.0. numpy_hopk: hop_k (mpcsim.algorithms.hopk's definition) fully vectorised:
find by a stable argsort of the symbols (each position's predecessor in sorted order, if it has
the same symbol, is its previous occurrence), then f^k by pointer doubling, ceil(log2 k)
squarings, each a gather over N positions. numpy_list_ranking: pointer jumping over the
successor array with the list end as a sentinel slot, ceil(log2 n) steps of two gathers and an
add (no masking), so the fastest plain numpy version we know. All are single-threaded numpy.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["numpy_sort", "numpy_hopk", "numpy_list_ranking", "HOPK_NONE"]

HOPK_NONE = np.iinfo(np.int64).min  # hop_k's 'none', as mpcsim.algorithms.hopk.NONE


def numpy_sort(keys: np.ndarray) -> np.ndarray:
    return np.sort(keys)


def numpy_hopk(x: np.ndarray, k: int) -> np.ndarray:
    """hop_k of the int symbols x (0-indexed; f(p) = p' + 1 for the previous occurrence p' of
    x[p], none if there is none): the symbol k finds back, or HOPK_NONE."""
    n = x.size
    if n == 0:
        return x.astype(np.int64)
    order = np.argsort(x, kind="stable")  # positions grouped by symbol, ascending within
    same = np.empty(n, dtype=bool)
    same[0] = False
    same[1:] = x[order[1:]] == x[order[:-1]]
    # f with "none" as the extra index n, a fixed point, so gathers need no masking
    f = np.full(n + 1, n, dtype=np.int64)
    f[order[1:][same[1:]]] = order[:-1][same[1:]] + 1
    power = np.arange(n + 1, dtype=np.int64)
    steps = k if k <= n else 1 << max(0, int(np.ceil(np.log2(n))))  # f^k is fixed from k = n
    while steps:
        if steps & 1:
            power = f[power]
        f = f[f]
        steps >>= 1
    padded = np.append(x.astype(np.int64), HOPK_NONE)
    return padded[power[:n]]


def numpy_list_ranking(succ: np.ndarray) -> np.ndarray:
    """Each node's links to the end of its list (succ[i] = -1 ends a list), -1 on a cycle:
    mpcsim.algorithms.list_ranking's definition, by vectorised pointer jumping."""
    n = succ.size
    end = n  # a sentinel slot after the nodes: every list end points there, at distance 0
    nxt = np.append(np.where(succ < 0, end, succ), end)
    dist = np.append((succ >= 0).astype(np.int64), 0)
    for _ in range(math.ceil(math.log2(n)) if n > 1 else 0):
        dist += dist[nxt]  # the gather reads the old values: a synchronous step
        nxt = nxt[nxt]
    return np.where(nxt[:n] == end, dist[:n], -1)
