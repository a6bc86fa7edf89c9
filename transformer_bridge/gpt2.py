"""GPT-2 as an instance of model.Transformer: its configuration, its per-token maps, a builder
from HuggingFace-named tensors, and seeded random weights for tests.

The maps are module-level classes holding numpy weights (picklable: they are shipped to Ray
actors), each with astype(dtype). They follow HuggingFace's GPT2Model exactly:

    embed:   x = wte[ids] + wpe[pos]                                      [T, m]
    qkv:     c_attn(ln_1(x)) split into q, k, v                           [T, H, dk] each
    post:    x = x + c_proj(a merged in head order); x = x + mlp(ln_2(x))  [T, m]
    readout: ln_f(x)                                                      [T, m]

Linear layers use HuggingFace's Conv1D layout: weight [in, out], y = x @ W + b.
Reading a checkpoint folder is transformer_bridge.checkpoint; the dense forward and the
attention arithmetic are transformer_bridge.model and transformer_bridge.attention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, Callable

import numpy as np

from .attention import AttentionSpec
from .model import Layer, Transformer

__all__ = ["GPT2Config", "ACTIVATIONS", "gpt2_shapes", "gpt2_from_tensors", "random_gpt2",
           "Embed", "QKV", "Post", "Readout", "LayerNorm"]


# --- activations ---------------------------------------------------------------------------

def gelu_new(x: np.ndarray) -> np.ndarray:
    """GELU, tanh approximation (HuggingFace "gelu_new", PyTorch gelu(approximate="tanh"))."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * (x * x * x))))


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU: 0.5 x (1 + erf(x / sqrt 2))."""
    # scipy.special costs ~0.2 s to import: only models using exact GELU pay it.
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x * (1.0 / math.sqrt(2.0))))


# HuggingFace's activation_function names (config.json) -> the function.
ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "gelu_new": gelu_new,
    "gelu_pytorch_tanh": gelu_new,
    "gelu": gelu,
}


# --- configuration -------------------------------------------------------------------------

@dataclass(frozen=True)
class GPT2Config:
    """The GPT2Config fields the forward pass depends on (HuggingFace's names and defaults)."""

    n_layer: int  # L: number of blocks
    n_head: int  # H: attention heads per block
    n_embd: int  # m: residual width; each head has dk = dv = m / H
    n_positions: int  # longest sequence (rows of wpe)
    vocab_size: int  # rows of wte
    n_inner: int | None = None  # MLP hidden width (None: 4 m)
    activation_function: str = "gelu_new"  # a key of ACTIVATIONS
    layer_norm_epsilon: float = 1e-5
    scale_attn_weights: bool = True  # scores scaled by 1/sqrt(dk) (False: unscaled)

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("invalid GPT2Config: " + "; ".join(problems))

    def problems(self) -> list[str]:
        found = []
        for name in ("n_layer", "n_head", "n_embd", "n_positions", "vocab_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                found.append(f"{name}={value!r}: must be an integer >= 1")
        if self.n_inner is not None and (not isinstance(self.n_inner, int) or self.n_inner < 1):
            found.append(f"n_inner={self.n_inner!r}: must be None (4 * n_embd) or an integer >= 1")
        if isinstance(self.n_embd, int) and isinstance(self.n_head, int) and self.n_head >= 1 \
                and self.n_embd % self.n_head:
            found.append(f"n_embd={self.n_embd}: must be a multiple of n_head={self.n_head}")
        if self.activation_function not in ACTIVATIONS:
            found.append(f"activation_function={self.activation_function!r}: must be one of "
                         f"{sorted(ACTIVATIONS)}")
        if not isinstance(self.layer_norm_epsilon, (int, float)) or self.layer_norm_epsilon <= 0:
            found.append(f"layer_norm_epsilon={self.layer_norm_epsilon!r}: must be a number > 0")
        return found

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def inner_dim(self) -> int:
        return self.n_inner if self.n_inner is not None else 4 * self.n_embd


def gpt2_shapes(config: GPT2Config) -> dict[str, tuple[int, ...]]:
    """Every tensor of a GPT2Model state dict (HuggingFace names, no prefix) and its shape."""
    m, inner = config.n_embd, config.inner_dim
    shapes: dict[str, tuple[int, ...]] = {
        "wte.weight": (config.vocab_size, m),
        "wpe.weight": (config.n_positions, m),
    }
    for i in range(config.n_layer):
        shapes.update({
            f"h.{i}.ln_1.weight": (m,), f"h.{i}.ln_1.bias": (m,),
            f"h.{i}.attn.c_attn.weight": (m, 3 * m), f"h.{i}.attn.c_attn.bias": (3 * m,),
            f"h.{i}.attn.c_proj.weight": (m, m), f"h.{i}.attn.c_proj.bias": (m,),
            f"h.{i}.ln_2.weight": (m,), f"h.{i}.ln_2.bias": (m,),
            f"h.{i}.mlp.c_fc.weight": (m, inner), f"h.{i}.mlp.c_fc.bias": (inner,),
            f"h.{i}.mlp.c_proj.weight": (inner, m), f"h.{i}.mlp.c_proj.bias": (m,),
        })
    shapes.update({"ln_f.weight": (m,), "ln_f.bias": (m,)})
    return shapes


# --- the per-token maps --------------------------------------------------------------------

class _Weights:
    """astype for a frozen dataclass of weights: casts array fields, recurses into maps."""

    def astype(self, dtype: Any) -> Any:
        dtype = np.dtype(dtype)
        changes = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                changes[f.name] = value.astype(dtype)
            elif isinstance(value, _Weights):
                changes[f.name] = value.astype(dtype)
        return replace(self, **changes)  # type: ignore[type-var]


@dataclass(frozen=True, eq=False)
class LayerNorm(_Weights):
    weight: np.ndarray  # [m]
    bias: np.ndarray  # [m]
    eps: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)  # [T, 1]
        centred = x - mean  # [T, m]
        var = (centred * centred).mean(axis=-1, keepdims=True)  # [T, 1], biased like torch
        return centred / np.sqrt(var + self.eps) * self.weight + self.bias


@dataclass(frozen=True, eq=False)
class Embed(_Weights):
    wte: np.ndarray  # [vocab, m]
    wpe: np.ndarray  # [n_positions, m]

    def __call__(self, ids: np.ndarray, pos: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids)
        vocab = len(self.wte)
        if ids.size and (ids.min() < 0 or ids.max() >= vocab):
            bad = ids[(ids < 0) | (ids >= vocab)]
            raise ValueError(f"token id {int(bad[0])} is outside the vocabulary 0..{vocab - 1}")
        return self.wte[ids] + self.wpe[pos]  # [T, m]


@dataclass(frozen=True, eq=False)
class QKV(_Weights):
    ln_1: LayerNorm
    c_attn_weight: np.ndarray  # [m, 3m], columns: q heads, then k heads, then v heads
    c_attn_bias: np.ndarray  # [3m]
    num_heads: int

    def __call__(self, x: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                 np.ndarray]:
        qkv = self.ln_1(x) @ self.c_attn_weight + self.c_attn_bias  # [T, 3m]
        # Column s*m + h*dk + d is (q, k or v)[s], head h, entry d: HuggingFace's split.
        q, k, v = qkv.reshape(len(x), 3, self.num_heads, -1).transpose(1, 0, 2, 3)
        return q, k, v  # [T, H, dk] each


@dataclass(frozen=True, eq=False)
class Post(_Weights):
    c_proj_weight: np.ndarray  # [m, m]: merged heads -> residual
    c_proj_bias: np.ndarray  # [m]
    ln_2: LayerNorm
    c_fc_weight: np.ndarray  # [m, inner]
    c_fc_bias: np.ndarray  # [inner]
    mlp_proj_weight: np.ndarray  # [inner, m]
    mlp_proj_bias: np.ndarray  # [m]
    activation: str  # a key of ACTIVATIONS

    def __call__(self, x: np.ndarray, a: np.ndarray, pos: np.ndarray) -> np.ndarray:
        merged = a.reshape(len(a), -1)  # [T, H*dv], head order
        x = x + (merged @ self.c_proj_weight + self.c_proj_bias)  # [T, m]
        hidden = ACTIVATIONS[self.activation](self.ln_2(x) @ self.c_fc_weight + self.c_fc_bias)
        return x + (hidden @ self.mlp_proj_weight + self.mlp_proj_bias)  # [T, m]


@dataclass(frozen=True, eq=False)
class Readout(_Weights):
    ln_f: LayerNorm

    def __call__(self, x: np.ndarray, pos: np.ndarray) -> np.ndarray:
        return self.ln_f(x)  # [T, m]


# --- building ------------------------------------------------------------------------------

def gpt2_from_tensors(config: GPT2Config, tensors: dict[str, np.ndarray], dtype: Any,
                      name: str = "gpt2") -> Transformer:
    """The Transformer of a GPT2Model state dict whose names and shapes match gpt2_shapes
    (checked by the caller: transformer_bridge.checkpoint validates and reports every
    problem at once). Weights are cast to dtype (float32 or float64)."""
    dtype = np.dtype(dtype)
    w = {key: np.asarray(tensors[key], dtype=dtype) for key in gpt2_shapes(config)}
    eps = float(config.layer_norm_epsilon)
    norm = lambda key: LayerNorm(w[f"{key}.weight"], w[f"{key}.bias"], eps)  # noqa: E731
    dk = config.head_dim
    spec = AttentionSpec(num_heads=config.n_head, key_dim=dk, value_dim=dk, kind="softmax",
                         scale=1.0 / math.sqrt(dk) if config.scale_attn_weights else 1.0,
                         mask="causal")
    layers = tuple(
        Layer(attention=spec,
              qkv=QKV(norm(f"h.{i}.ln_1"), w[f"h.{i}.attn.c_attn.weight"],
                      w[f"h.{i}.attn.c_attn.bias"], config.n_head),
              post=Post(w[f"h.{i}.attn.c_proj.weight"], w[f"h.{i}.attn.c_proj.bias"],
                        norm(f"h.{i}.ln_2"), w[f"h.{i}.mlp.c_fc.weight"],
                        w[f"h.{i}.mlp.c_fc.bias"], w[f"h.{i}.mlp.c_proj.weight"],
                        w[f"h.{i}.mlp.c_proj.bias"], config.activation_function))
        for i in range(config.n_layer))
    return Transformer(width=config.n_embd, embed=Embed(w["wte.weight"], w["wpe.weight"]),
                       layers=layers, readout=Readout(norm("ln_f")), out_width=config.n_embd,
                       max_positions=config.n_positions, vocab_size=config.vocab_size,
                       dtype=dtype, name=name)


def random_gpt2(n_layer: int, n_head: int, n_embd: int, n_positions: int, vocab_size: int,
                seed: int, dtype: Any = np.float64, *,
                activation_function: str = "gelu_new") -> Transformer:
    """A GPT-2 with weights drawn from np.random.default_rng(seed).

    Matrices and embeddings are normal with std 0.02 (HuggingFace's init); unlike that init,
    biases (std 0.1) and LayerNorm gains (1 + std 0.1) are random too, so tests exercise them.
    """
    config = GPT2Config(n_layer=n_layer, n_head=n_head, n_embd=n_embd, n_positions=n_positions,
                        vocab_size=vocab_size, activation_function=activation_function)
    rng = np.random.default_rng(seed)
    tensors = {}
    for key, shape in gpt2_shapes(config).items():
        if ".ln_" in key or key.startswith("ln_"):
            tensors[key] = (1.0 if key.endswith("weight") else 0.0) + 0.1 * rng.standard_normal(
                shape)
        elif key.endswith("bias"):
            tensors[key] = 0.1 * rng.standard_normal(shape)
        else:
            tensors[key] = 0.02 * rng.standard_normal(shape)
    name = f"random_gpt2(L={n_layer}, H={n_head}, m={n_embd}, seed={seed})"
    return gpt2_from_tensors(config, tensors, dtype, name=name)
