"""The transformer the bridge accepts (the paper's Def. 2.1/2.2) and its dense reference forward.

A Transformer is per-token maps around attention. Every map is "per token": row t of its
output depends only on row t of its inputs and on position t, and maps take whole blocks of
rows at once (numpy, vectorised):

    x = embed(ids [T], pos [T])                          -> [T, m]
    for each layer:
        q, k, v = layer.qkv(x, pos)                      -> [T, H, dk], [T, H, dk], [T, H, dv]
        a = attention(q, k, v) over all positions        -> [T, H, dv]   (softmax or hardmax)
        x = layer.post(x, a, pos)                        -> [T, m]   (residual, MLP, ...)
    y = readout(x, pos)                                  -> [T, m_out]

Maps are arbitrary picklable callables (module-level classes holding numpy weights), which is
how the paper treats them: weights are code. GPT-2 is one instance (transformer_bridge.gpt2).
`forward` here is the dense numpy reference every compiled run is checked against; the
attention arithmetic shared with the compiled round programs is in transformer_bridge.attention.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Protocol

import numpy as np

from .attention import AttentionSpec, dense_attention

__all__ = ["Layer", "Transformer", "forward", "TokenMap"]


class TokenMap(Protocol):
    def __call__(self, *arrays: np.ndarray) -> Any: ...


@dataclass(frozen=True)
class Layer:
    attention: AttentionSpec
    qkv: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
    post: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # (x, a, pos) -> x'


@dataclass(frozen=True)
class Transformer:
    width: int  # m: the residual stream's width
    embed: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (ids [T], pos [T]) -> [T, m]
    layers: tuple[Layer, ...]
    readout: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None  # (x, pos) -> y
    out_width: int | None = None  # columns of y (default: width)
    max_positions: int | None = None  # longest sequence the maps accept (None: any)
    vocab_size: int | None = None  # token ids are 0..vocab_size-1 (None: not checked)
    dtype: np.dtype = field(default=np.dtype(np.float64))
    name: str = "transformer"

    def __post_init__(self) -> None:
        problems = []
        if self.width < 1:
            problems.append(f"width={self.width}: must be >= 1")
        if not self.layers:
            problems.append("layers: a transformer needs at least one layer")
        if np.dtype(self.dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
            problems.append(f"dtype={self.dtype}: must be float32 or float64")
        if problems:
            raise ValueError("invalid Transformer: " + "; ".join(problems))

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def result_width(self) -> int:
        return self.out_width if self.out_width is not None else self.width

    def astype(self, dtype: Any) -> Transformer:
        """The same model computing in `dtype`: maps with an astype(dtype) method convert
        their weights; others are wrapped to cast their outputs."""
        dtype = np.dtype(dtype)
        cast = lambda fn: fn if fn is None else _as_dtype(fn, dtype)  # noqa: E731
        layers = tuple(replace(layer, qkv=cast(layer.qkv), post=cast(layer.post))
                       for layer in self.layers)
        return replace(self, embed=cast(self.embed), layers=layers, readout=cast(self.readout),
                       dtype=dtype)

    def check_ids(self, ids: np.ndarray) -> None:
        """Raise ValueError unless ids are integers inside the vocabulary."""
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"token ids must be integers, got dtype {ids.dtype}")
        if self.vocab_size is not None and ids.size and (
                ids.min() < 0 or ids.max() >= self.vocab_size):
            bad = ids[(ids < 0) | (ids >= self.vocab_size)][0]
            raise ValueError(f"token id {bad} is outside the vocabulary "
                             f"0..{self.vocab_size - 1} of {self.name}")

    def check_length(self, seq_len: int) -> None:
        if seq_len < 1:
            raise ValueError(f"seq_len={seq_len}: must be >= 1")
        if self.max_positions is not None and seq_len > self.max_positions:
            raise ValueError(f"seq_len={seq_len} exceeds the model's {self.max_positions} "
                             f"positions ({self.name})")


class _Cast:
    """Wraps a map that has no astype: casts its array outputs to dtype."""

    def __init__(self, fn: Callable[..., Any], dtype: np.dtype) -> None:
        self.fn, self.dtype = fn, dtype

    def __call__(self, *args: np.ndarray) -> Any:
        out = self.fn(*args)
        if isinstance(out, tuple):
            return tuple(np.asarray(o, dtype=self.dtype) for o in out)
        return np.asarray(out, dtype=self.dtype)


def _as_dtype(fn: Callable[..., Any], dtype: np.dtype) -> Callable[..., Any]:
    astype = getattr(fn, "astype", None)
    return astype(dtype) if callable(astype) else _Cast(fn, dtype)


def forward(model: Transformer, input_ids: np.ndarray) -> np.ndarray:
    """Dense reference forward: token ids [batch, N] (or [N]) -> outputs [batch, N, m_out]."""
    ids = np.asarray(input_ids)
    single = ids.ndim == 1
    ids = np.atleast_2d(ids)
    model.check_ids(ids)
    model.check_length(ids.shape[1])
    out = np.stack([_forward_one(model, row) for row in ids])
    return out[0] if single else out


def _forward_one(model: Transformer, ids: np.ndarray) -> np.ndarray:
    n = len(ids)
    pos = np.arange(n)
    x = model.embed(ids, pos)  # [N, m]
    for layer in model.layers:
        q, k, v = layer.qkv(x, pos)  # [N, H, dk], [N, H, dk], [N, H, dv]
        a = dense_attention(q, k, v, layer.attention, n)  # [N, H, dv]
        x = layer.post(x, a, pos)  # [N, m]
    return model.readout(x, pos) if model.readout is not None else x
