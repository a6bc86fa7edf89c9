"""The numpy baselines the library's ratio rows are measured against.

numpy_sort: numpy.sort of the same float64 keys, numpy's default kind: the fastest sort numpy
has (SIMD quicksort here, about 15x its stable sort on 10^6 float64), so the strictest reading
of "numpy.sort"; the library's sort is stable, which for keys alone shows only in the order of
-0.0 and 0.0. numpy_hopk: hop_k (mpcsim.algorithms.hopk's definition) fully vectorised:
find by a stable argsort of the symbols (each position's predecessor in sorted order, if it has
the same symbol, is its previous occurrence), then f^k by pointer doubling, ceil(log2 k)
squarings, each a gather over N positions. Both are single-threaded numpy, O(N log N).
"""

from __future__ import annotations

import numpy as np

__all__ = ["numpy_sort", "numpy_hopk", "HOPK_NONE"]

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
