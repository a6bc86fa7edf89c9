"""The Transformer container, its dense forward, and the attention arithmetic: hardmax ties,
explicit masks, fully masked rows, tile merging in any grouping, astype, length checks, and
the package's public names."""

from __future__ import annotations

import numpy as np
import pytest

import transformer_bridge
from transformer_bridge import AttentionSpec, Layer, Transformer, forward, random_gpt2
from transformer_bridge.attention import dense_attention, finish, mask_tile, merge, partial

REQUIRED_API = {"AttentionSpec", "CheckpointError", "Layer", "Transformer", "forward",
                "load_gpt2", "random_gpt2"}


# --- a tiny hand-made transformer: maps are plain functions (no astype) ----------------------

def embed(ids: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return np.stack([ids, pos], axis=1).astype(np.float64)  # [T, 2]


def qkv(x: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return x[:, None, :], x[:, None, :], x[:, None, :]  # one head, dk = dv = 2


def post(x: np.ndarray, a: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return x + a[:, 0, :]


def tiny_model(**changes: object) -> Transformer:
    layer = Layer(attention=AttentionSpec(1, 2, 2, scale=0.5), qkv=qkv, post=post)
    fields = dict(width=2, embed=embed, layers=(layer,), max_positions=8)
    return Transformer(**{**fields, **changes})  # type: ignore[arg-type]


# --- attention ------------------------------------------------------------------------------

def test_hardmax_ties_average_the_maximisers() -> None:
    spec = AttentionSpec(num_heads=1, key_dim=1, value_dim=1, kind="hardmax", mask=None)
    q = np.ones((1, 1, 1))
    k = np.array([3.0, 1.0, 3.0, 2.0, 3.0]).reshape(5, 1, 1)  # keys 0, 2 and 4 tie at 3
    v = np.array([1.0, 100.0, 2.0, 100.0, 6.0]).reshape(5, 1, 1)
    out = finish(partial(q, k, v, spec, None))
    assert out.item() == pytest.approx(3.0)  # (1 + 2 + 6) / 3
    # Split over tiles, the tie still averages: counts add when the maxima agree.
    left = partial(q, k[:2], v[:2], spec, None)
    right = partial(q, k[2:], v[2:], spec, None)
    assert finish(merge(left, right, "hardmax")).item() == pytest.approx(3.0)


def test_explicit_bool_mask_hides_exactly_the_false_entries() -> None:
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 2, 3)), \
        rng.standard_normal((4, 2, 5))
    mask = np.array([[1, 0, 1, 0], [0, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 1]], dtype=bool)
    spec = AttentionSpec(num_heads=2, key_dim=3, value_dim=5, scale=0.7, mask=mask)
    got = dense_attention(q, k, v, spec, 4)  # [4, 2, 5]
    for h in range(2):
        scores = np.where(mask, 0.7 * q[:, h] @ k[:, h].T, -np.inf)
        probs = np.exp(scores - scores.max(axis=1, keepdims=True))
        want = probs / probs.sum(axis=1, keepdims=True) @ v[:, h]
        np.testing.assert_allclose(got[:, h], want, rtol=0, atol=1e-14)


@pytest.mark.parametrize("kind", ["softmax", "hardmax"])
def test_fully_masked_query_row_gives_zeros(kind: str) -> None:
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((3, 1, 2)) for _ in range(3))
    mask = np.array([[1, 0, 0], [0, 0, 0], [1, 1, 1]], dtype=bool)  # query 1 sees nothing
    spec = AttentionSpec(num_heads=1, key_dim=2, value_dim=2, kind=kind, mask=mask)
    with np.errstate(all="raise"):  # no nan/inf warnings on the way
        out = dense_attention(q, k, v, spec, 3)
    np.testing.assert_array_equal(out[1], np.zeros((1, 2)))
    assert np.all(np.isfinite(out)) and np.any(out[0] != 0)


def test_softmax_tiles_merge_to_the_dense_result_in_any_grouping() -> None:
    rng = np.random.default_rng(2)
    n = 9
    q, k, v = rng.standard_normal((n, 2, 4)), rng.standard_normal((n, 2, 4)), \
        rng.standard_normal((n, 2, 3))
    spec = AttentionSpec(num_heads=2, key_dim=4, value_dim=3)  # causal softmax
    pos = np.arange(n)
    tiles = [partial(q, k[s], v[s], spec, mask_tile(spec, pos, pos[s]))
             for s in (slice(0, 3), slice(3, 7), slice(7, 9))]
    left = merge(merge(tiles[0], tiles[1], "softmax"), tiles[2], "softmax")
    right = merge(tiles[2], merge(tiles[1], tiles[0], "softmax"), "softmax")
    dense = dense_attention(q, k, v, spec, n)
    assert np.abs(finish(left) - dense).max() <= 1e-14
    assert np.abs(finish(right) - dense).max() <= 1e-14


def test_attention_spec_reports_every_problem() -> None:
    with pytest.raises(ValueError) as info:
        AttentionSpec(num_heads=0, key_dim=1, value_dim=0, kind="linear", mask="future")
    for fragment in ("num_heads=0", "value_dim=0", "kind='linear'", "mask='future'"):
        assert fragment in str(info.value)


# --- the Transformer container and forward ---------------------------------------------------

def test_astype_round_trip_keeps_the_model_and_changes_the_dtype() -> None:
    model = random_gpt2(2, 2, 16, 32, 10, seed=4)
    ids = np.arange(20) % 10
    f32 = model.astype(np.float32)
    back = f32.astype(np.float64)
    assert (model.dtype, f32.dtype, back.dtype) == tuple(
        np.dtype(t) for t in (np.float64, np.float32, np.float64))
    assert forward(f32, ids).dtype == np.float32 and forward(back, ids).dtype == np.float64
    # Back in float64 the weights are the float32-rounded ones: equal to f32 to its round-off.
    assert np.abs(forward(back, ids) - forward(f32, ids)).max() <= 1e-5
    np.testing.assert_array_equal(forward(back.astype(np.float64), ids), forward(back, ids))
    assert model.astype(np.float64).layers[0].qkv is not model.layers[0].qkv  # a copy


def test_astype_wraps_maps_without_astype_to_cast_their_outputs() -> None:
    f32 = tiny_model().astype(np.float32)
    out = forward(f32, np.array([1, 2, 3]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, forward(tiny_model(), np.array([1, 2, 3])), rtol=1e-6)


def test_forward_accepts_one_sequence_or_a_batch() -> None:
    model = tiny_model()
    ids = np.array([[1, 0, 2], [2, 2, 0]])
    batch = forward(model, ids)
    assert batch.shape == (2, 3, 2)
    np.testing.assert_array_equal(forward(model, ids[1]), batch[1])


def test_check_length_rejects_empty_and_too_long_sequences() -> None:
    model = tiny_model(name="tiny")
    model.check_length(8)
    with pytest.raises(ValueError, match="seq_len=0: must be >= 1"):
        model.check_length(0)
    with pytest.raises(ValueError, match=r"seq_len=9 exceeds the model's 8 positions \(tiny\)"):
        forward(model, np.zeros(9, dtype=int))
    tiny_model(max_positions=None).check_length(10_000)


def test_transformer_reports_every_problem() -> None:
    with pytest.raises(ValueError) as info:
        tiny_model(width=0, layers=(), dtype=np.int32)
    for fragment in ("width=0", "at least one layer", "must be float32 or float64"):
        assert fragment in str(info.value)


def test_package_exports_the_public_api_once_each_and_importable() -> None:
    names = transformer_bridge.__all__
    assert REQUIRED_API <= set(names) and len(names) == len(set(names))
    assert all(getattr(transformer_bridge, name) is not None for name in names)
