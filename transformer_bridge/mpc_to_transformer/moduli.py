"""Residue codes: how attention finds a machine's senders, and how their data stays apart.

Both routing problems reduce to one combinatorial fact about token ids 0..N-1. Take
pairwise-coprime moduli m_1 < ... < m_K and let t be the largest number of them whose
product is at most N - 1 (the t smallest give the least product). A nonzero difference
|x - y| <= N - 1 is divisible by a set of these moduli only if their product divides it, so
by at most t of them. Hence:

    for any x and any Z ids y != x, at most Z t moduli have x = y (mod m_k) for some y;
    so if K > Z t, some modulus separates x from all Z of them.

- Membership (keys and queries). A query codes id j as the residues (j mod m_k)_k, one-hot
  per modulus; a key codes a set D as the union of the residues of its members. Their dot
  product counts the moduli at which j meets D: exactly K when j is in D, at most |D| t < K
  otherwise. With K > Z t for sets of up to Z ids, the score is an integer, K on the
  intended keys and <= K - 1 elsewhere: margin 1, and no round-off (sums of 0/1 products).
- Separation (values). Sender x writes its data into cell (k, x mod m_k) of every modulus.
  Among the <= Z + 1 senders a receiver averages over, each is alone in some cell when
  K > Z t, so the receiver reads every sender back exactly from a cell only it filled.

separating_moduli picks the cheapest such moduli (fewest cells, sum of m_k), or the single
modulus N (one cell per id) when that is cheaper, as it is for small N.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

__all__ = ["separating_moduli", "collisions_allowed", "residue_code", "set_code", "cells_of"]


def collisions_allowed(moduli: tuple[int, ...], num_ids: int) -> int:
    """t: the most moduli whose product is <= num_ids - 1 (how many can divide a nonzero
    difference of two ids below num_ids)."""
    product, t = 1, 0
    for m in sorted(moduli):
        product *= m
        if product > num_ids - 1:
            break
        t += 1
    return t


@lru_cache(maxsize=None)
def separating_moduli(num_ids: int, others: int) -> tuple[int, ...]:
    """The cheapest pairwise-coprime moduli with K > others * t (module docstring), for ids
    below num_ids; (num_ids,) itself, one cell per id, when no family is cheaper."""
    if num_ids <= 1:
        return (1,)
    best: tuple[int, ...] = (num_ids,)
    for start in range(2, num_ids):
        moduli: list[int] = []
        candidate = start
        while sum(moduli) < sum(best):
            while any(math.gcd(candidate, m) != 1 for m in moduli):
                candidate += 1
            moduli.append(candidate)
            candidate += 1
            if len(moduli) > others * collisions_allowed(tuple(moduli), num_ids):
                if sum(moduli) < sum(best):
                    best = tuple(moduli)
                break
        if start > sum(best):
            break
    return best


def offsets(moduli: tuple[int, ...]) -> np.ndarray:
    """First cell of each modulus in the concatenated code (int64[K])."""
    return np.concatenate([[0], np.cumsum(moduli)[:-1]]).astype(np.int64)


def cells_of(ids: np.ndarray, moduli: tuple[int, ...]) -> np.ndarray:
    """int64[len(ids), K]: the cell of each id under each modulus, in the concatenated
    layout (modulus k's cells start at sum(moduli[:k]))."""
    ids = np.asarray(ids, dtype=np.int64)
    return offsets(moduli)[None, :] + ids[:, None] % np.asarray(moduli, dtype=np.int64)[None, :]


def residue_code(ids: np.ndarray, moduli: tuple[int, ...]) -> np.ndarray:
    """float64[len(ids), sum(moduli)]: each id's residues, one-hot per modulus (a query)."""
    out = np.zeros((len(ids), sum(moduli)))
    if len(ids):
        np.put_along_axis(out, cells_of(ids, moduli), 1.0, axis=1)
    return out


def set_code(members: list[int], moduli: tuple[int, ...]) -> np.ndarray:
    """float64[sum(moduli)]: the union of the members' residues (a key)."""
    out = np.zeros(sum(moduli))
    if members:
        out[cells_of(np.asarray(members), moduli).reshape(-1)] = 1.0
    return out
