"""Attention arithmetic shared by the dense reference and the compiled round programs.

Scores of a tile of queries [Tq, H, dk] against keys [Tk, H, dk] are reduced to a *partial
state* that merges exactly (in real arithmetic) with other tiles' states over the same
queries, in any grouping, which is what lets a tree of machines compute attention:

- softmax: (mx, z, acc) with mx = max score, z = sum exp(s - mx), acc = sum exp(s - mx) v.
  merge: M = max(mx_a, mx_b); z = z_a e^(mx_a - M) + z_b e^(mx_b - M); acc likewise
  (the stable log-sum-exp merge FlashAttention and ring attention use; the paper's
  Z/S merge in normalised form). finish: acc / z.
- hardmax: (mx, count, acc) over the keys attaining the maximum; merge keeps the larger max
  and adds counts and sums on a tie. finish: acc / count, the mean of the maximisers' values.
  Hardmax scores use einsum, whose per-entry sum does not depend on the tile's shape, so a
  tie in the dense forward is a tie in every tile (BLAS matmul gives no such promise).

Masked entries (and queries with no visible key: output 0) never contribute. States are laid
out [H, Tq] (mx, z/count) and [H, Tq, dv] (acc).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["AttentionSpec", "PartialState", "partial", "merge", "finish", "dense_attention",
           "mask_tile", "tile_visible", "visible_blocks", "state_words"]

KINDS = ("softmax", "hardmax")


@dataclass(frozen=True)
class AttentionSpec:
    num_heads: int  # H
    key_dim: int  # dk, per head
    value_dim: int  # dv, per head
    kind: str = "softmax"  # "softmax" or "hardmax"
    scale: float = 1.0  # scores are scale * (q . k)
    mask: Any = field(default="causal", compare=False)  # "causal", None, or bool [N, N]

    def __post_init__(self) -> None:
        problems = []
        for name in ("num_heads", "key_dim", "value_dim"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name}={getattr(self, name)}: must be >= 1")
        if self.kind not in KINDS:
            problems.append(f"kind={self.kind!r}: must be one of {KINDS}")
        if not (self.mask is None or isinstance(self.mask, (str, np.ndarray))) or (
                isinstance(self.mask, str) and self.mask != "causal"):
            problems.append(f"mask={self.mask!r}: must be 'causal', None, or a bool [N, N] array")
        if problems:
            raise ValueError("invalid AttentionSpec: " + "; ".join(problems))


PartialState = tuple[np.ndarray, np.ndarray, np.ndarray]  # (mx [H,Tq], z or count [H,Tq], acc)


def mask_tile(spec: AttentionSpec, q_pos: np.ndarray, k_pos: np.ndarray) -> np.ndarray | None:
    """Visibility [Tq, Tk] (True: the query may attend the key), or None when all visible."""
    if spec.mask is None:
        return None
    if isinstance(spec.mask, str):  # causal
        if k_pos[-1] <= q_pos[0]:
            return None
        return k_pos[None, :] <= q_pos[:, None]
    return np.asarray(spec.mask, dtype=bool)[np.ix_(q_pos, k_pos)]


def tile_visible(spec: AttentionSpec, q_pos: np.ndarray, k_pos: np.ndarray) -> bool:
    """Whether any query of the tile may attend any key of it (else the tile is skipped)."""
    if spec.mask is None:
        return True
    if isinstance(spec.mask, str):
        return bool(k_pos[0] <= q_pos[-1])
    return bool(np.asarray(spec.mask, dtype=bool)[np.ix_(q_pos, k_pos)].any())


def visible_blocks(spec: AttentionSpec, n: int, tile: int) -> np.ndarray:
    """bool [T, T]: whether query block i may attend any key of key block j (T = ceil(n/B))."""
    blocks = -(-n // tile)
    if spec.mask is None:
        return np.ones((blocks, blocks), dtype=bool)
    if isinstance(spec.mask, str):  # causal: block j's first key <= block i's last query
        first_key = np.arange(blocks) * tile
        last_query = np.minimum(first_key + tile, n) - 1
        return first_key[None, :] <= last_query[:, None]
    mask = np.zeros((blocks * tile, blocks * tile), dtype=bool)
    mask[:n, :n] = np.asarray(spec.mask, dtype=bool)[:n, :n]
    return mask.reshape(blocks, tile, blocks, tile).any(axis=(1, 3))


def partial(q: np.ndarray, k: np.ndarray, v: np.ndarray, spec: AttentionSpec,
            visible: np.ndarray | None) -> PartialState:
    """The partial state of queries q [Tq,H,dk] over keys k [Tk,H,dk] with values v [Tk,H,dv]."""
    if spec.kind == "hardmax":
        s = np.einsum("qhd,khd->hqk", q, k) * spec.scale  # [H, Tq, Tk]
    else:
        s = np.matmul(q.transpose(1, 0, 2), k.transpose(1, 2, 0)) * spec.scale
    if visible is not None:
        s = np.where(visible[None, :, :], s, -np.inf)
    mx = s.max(axis=-1)  # [H, Tq]
    vh = v.transpose(1, 0, 2)  # [H, Tk, dv]
    if spec.kind == "hardmax":
        top = (s == mx[..., None]) & np.isfinite(s)
        weight = top.astype(v.dtype)
    else:
        safe = np.where(np.isfinite(mx), mx, 0.0)
        weight = np.exp(s - safe[..., None])  # exp(-inf) = 0 for masked keys
    return mx, weight.sum(axis=-1), np.matmul(weight, vh)


def merge(a: PartialState, b: PartialState, kind: str) -> PartialState:
    """Combine two partial states over the same queries (associative and commutative)."""
    mx_a, z_a, acc_a = a
    mx_b, z_b, acc_b = b
    mx = np.maximum(mx_a, mx_b)
    if kind == "hardmax":
        wa = (mx_a == mx).astype(acc_a.dtype)
        wb = (mx_b == mx).astype(acc_b.dtype)
    else:
        safe = np.where(np.isfinite(mx), mx, 0.0)
        with np.errstate(invalid="ignore"):
            wa = np.where(np.isfinite(mx_a), np.exp(mx_a - safe), 0.0).astype(acc_a.dtype)
            wb = np.where(np.isfinite(mx_b), np.exp(mx_b - safe), 0.0).astype(acc_b.dtype)
    return mx, z_a * wa + z_b * wb, acc_a * wa[..., None] + acc_b * wb[..., None]


def finish(state: PartialState) -> np.ndarray:
    """Attention output [Tq, H, dv] from a complete state (0 where no key was visible)."""
    _, z, acc = state
    out = np.divide(acc, z[..., None], out=np.zeros_like(acc), where=z[..., None] > 0)
    return out.transpose(1, 0, 2)


def dense_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, spec: AttentionSpec,
                    n: int) -> np.ndarray:
    """Attention of all n queries over all n keys: [n, H, dv]."""
    pos = np.arange(n)
    return finish(partial(q, k, v, spec, mask_tile(spec, pos, pos)))


def state_words(num_queries: int, spec: AttentionSpec) -> int:
    """Words of a partial state for num_queries queries: H (2 + dv) per query."""
    return num_queries * spec.num_heads * (2 + spec.value_dim)
