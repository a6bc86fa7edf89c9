"""GPT-2 in transformer_bridge: the authors' checkpoints reproduce HuggingFace's golden outputs,
random GPT-2s equal an independent loop-over-heads implementation, and bad checkpoint folders
fail with a CheckpointError that names every problem."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from transformer_bridge import CheckpointError, Transformer, forward, load_gpt2, random_gpt2

CHECKPOINTS = Path(__file__).resolve().parents[2].parent / "shared" / "checkpoints"
needs_checkpoints = pytest.mark.skipif(not CHECKPOINTS.is_dir(),
                                       reason=f"no trained checkpoints at {CHECKPOINTS}")
TRAINED = ["width4-depth2", "width4-depth3"]


# --- an independent GPT-2: HuggingFace-named weights, plain loops, explicit softmax ---------

def state_dict(model: Transformer) -> dict[str, np.ndarray]:
    """The HuggingFace GPT2Model state dict of a GPT-2 built by transformer_bridge."""
    norm = lambda key, ln: {f"{key}.weight": ln.weight, f"{key}.bias": ln.bias}  # noqa: E731
    w = {"wte.weight": model.embed.wte, "wpe.weight": model.embed.wpe,
         **norm("ln_f", model.readout.ln_f)}
    for i, layer in enumerate(model.layers):
        qkv, post = layer.qkv, layer.post
        w.update({**norm(f"h.{i}.ln_1", qkv.ln_1), **norm(f"h.{i}.ln_2", post.ln_2),
                  f"h.{i}.attn.c_attn.weight": qkv.c_attn_weight,
                  f"h.{i}.attn.c_attn.bias": qkv.c_attn_bias,
                  f"h.{i}.attn.c_proj.weight": post.c_proj_weight,
                  f"h.{i}.attn.c_proj.bias": post.c_proj_bias,
                  f"h.{i}.mlp.c_fc.weight": post.c_fc_weight,
                  f"h.{i}.mlp.c_fc.bias": post.c_fc_bias,
                  f"h.{i}.mlp.c_proj.weight": post.mlp_proj_weight,
                  f"h.{i}.mlp.c_proj.bias": post.mlp_proj_bias})
    return {name: np.ascontiguousarray(t) for name, t in w.items()}


def reference_gpt2(w: dict[str, np.ndarray], n_layer: int, n_head: int, ids: np.ndarray,
                   activation: str = "gelu_new", eps: float = 1e-5) -> np.ndarray:
    n, m = len(ids), w["wte.weight"].shape[1]
    dk = m // n_head

    def layer_norm(x: np.ndarray, key: str) -> np.ndarray:
        mu = x.mean(axis=1, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * w[key + ".weight"] + w[key + ".bias"]

    def act(x: np.ndarray) -> np.ndarray:
        if activation == "gelu":
            return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))

    x = w["wte.weight"][ids] + w["wpe.weight"][np.arange(n)]
    for i in range(n_layer):
        p = f"h.{i}."
        qkv = layer_norm(x, p + "ln_1") @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        heads = []
        for h in range(n_head):
            cols = slice(h * dk, (h + 1) * dk)
            q, k, v = qkv[:, :m][:, cols], qkv[:, m:2 * m][:, cols], qkv[:, 2 * m:][:, cols]
            scores = q @ k.T / math.sqrt(dk)
            scores[np.triu_indices(n, 1)] = -np.inf  # causal: query i sees keys j <= i
            probs = np.exp(scores - scores.max(axis=1, keepdims=True))
            heads.append(probs / probs.sum(axis=1, keepdims=True) @ v)
        x = x + np.concatenate(heads, axis=1) @ w[p + "attn.c_proj.weight"] \
            + w[p + "attn.c_proj.bias"]
        hidden = act(layer_norm(x, p + "ln_2") @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        x = x + hidden @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    return layer_norm(x, "ln_f")


# --- the trained checkpoints ---------------------------------------------------------------

@needs_checkpoints
@pytest.mark.parametrize("name", TRAINED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_trained_checkpoint_reproduces_huggingface_golden_hidden(name: str, dtype: type) -> None:
    golden = np.load(CHECKPOINTS / name / "golden.npz")
    model = load_gpt2(CHECKPOINTS / name).astype(dtype)
    hidden = forward(model, golden["inputs"])  # [34, 99, 128]
    assert hidden.dtype == dtype and hidden.shape == golden["hidden"].shape
    assert np.abs(hidden - golden["hidden"]).max() <= 2e-4
    np.testing.assert_array_equal(hidden.argmax(-1), golden["hidden"].argmax(-1))


@needs_checkpoints
def test_loaded_checkpoint_is_float32_with_the_configs_shape() -> None:
    model = load_gpt2(CHECKPOINTS / "width4-depth3")
    assert (model.dtype, model.width, model.num_layers, model.max_positions) == (
        np.dtype(np.float32), 128, 3, 100)
    spec = model.layers[0].attention
    assert (spec.num_heads, spec.key_dim, spec.value_dim, spec.kind, spec.mask) == (
        4, 32, 32, "softmax", "causal")
    assert spec.scale == 1 / math.sqrt(32)


# --- random GPT-2 --------------------------------------------------------------------------

@pytest.mark.parametrize("activation", ["gelu_new", "gelu"])
def test_random_gpt2_float64_equals_loop_reference(activation: str) -> None:
    model = random_gpt2(3, 4, 32, 64, 50, seed=7, activation_function=activation)
    ids = np.random.default_rng(1).integers(0, 50, size=(2, 40))
    got = forward(model, ids)
    want = np.stack([reference_gpt2(state_dict(model), 3, 4, row, activation) for row in ids])
    assert got.dtype == np.float64
    assert np.abs(got - want).max() <= 1e-12


def test_random_gpt2_float32_within_2e4_of_float64() -> None:
    model = random_gpt2(2, 4, 64, 128, 30, seed=3)
    ids = np.random.default_rng(2).integers(0, 30, size=(2, 128))
    f32 = forward(model.astype(np.float32), ids)
    assert f32.dtype == np.float32
    assert np.abs(f32 - forward(model, ids)).max() <= 2e-4


def test_random_gpt2_is_a_function_of_its_seed() -> None:
    a, b, c = (random_gpt2(1, 2, 8, 16, 10, seed=s) for s in (5, 5, 6))
    wa, wb, wc = state_dict(a), state_dict(b), state_dict(c)
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert not np.array_equal(wa["wte.weight"], wc["wte.weight"])
    # LayerNorm gains and biases are random, not (1, 0), so tests exercise them.
    assert not np.allclose(wa["h.0.ln_1.weight"], 1) and not np.allclose(wa["ln_f.bias"], 0)


def test_gpt2_survives_pickling_and_casts_every_weight() -> None:
    model = random_gpt2(2, 2, 16, 32, 10, seed=0)
    ids = np.arange(10)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(forward(clone, ids), forward(model, ids))
    f32 = model.astype(np.float32)
    assert {t.dtype for t in state_dict(f32).values()} == {np.dtype(np.float32)}
    assert {t.dtype for t in state_dict(model).values()} == {np.dtype(np.float64)}


def test_token_id_outside_the_vocabulary_raises() -> None:
    model = random_gpt2(1, 2, 8, 16, 10, seed=0)
    with pytest.raises(ValueError, match="token id -1 is outside the vocabulary 0..9"):
        forward(model, np.array([1, -1, 2]))
    with pytest.raises(ValueError, match="token id 10"):
        forward(model, np.array([10]))


# --- checkpoint folders --------------------------------------------------------------------

CONFIG = {"model_type": "gpt2", "n_layer": 2, "n_head": 2, "n_embd": 8, "n_positions": 16,
          "vocab_size": 10, "n_inner": None, "activation_function": "gelu_new",
          "layer_norm_epsilon": 1e-5}


def write_folder(folder: Path, tensors: dict[str, np.ndarray] | None = None,
                 config: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    if tensors is not None:
        save_file(tensors, str(folder / "model.safetensors"))
    return folder


@pytest.fixture
def tiny() -> Transformer:
    return random_gpt2(2, 2, 8, 16, 10, seed=11)


def test_saved_folder_loads_to_the_same_model(tmp_path: Path, tiny: Transformer) -> None:
    folder = write_folder(tmp_path / "m", state_dict(tiny), CONFIG)
    ids = np.arange(16) % 10
    np.testing.assert_array_equal(forward(load_gpt2(folder, np.float64), ids), forward(tiny, ids))
    assert load_gpt2(folder).dtype == np.float32


def test_lm_head_checkpoint_with_transformer_prefix_loads(tmp_path: Path,
                                                          tiny: Transformer) -> None:
    tensors = {"transformer." + k: v for k, v in state_dict(tiny).items()}
    tensors["lm_head.weight"] = np.zeros((10, 8))
    tensors["transformer.h.0.attn.bias"] = np.ones((1, 1, 16, 16))  # old mask buffer
    folder = write_folder(tmp_path / "lm", tensors, CONFIG)
    ids = np.arange(12) % 10
    np.testing.assert_array_equal(forward(load_gpt2(folder, np.float64), ids), forward(tiny, ids))


def test_sharded_checkpoint_loads_from_its_index(tmp_path: Path, tiny: Transformer) -> None:
    tensors = state_dict(tiny)
    folder = write_folder(tmp_path / "sharded", None, CONFIG)
    shards: dict[str, dict[str, np.ndarray]] = {"model-00001-of-00002.safetensors": {},
                                                "model-00002-of-00002.safetensors": {}}
    for i, (name, tensor) in enumerate(tensors.items()):
        shards[sorted(shards)[i % 2]][name] = tensor
    for shard, part in shards.items():
        save_file(part, str(folder / shard))
    weight_map = {name: shard for shard, part in shards.items() for name in part}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    ids = np.arange(10)
    np.testing.assert_array_equal(forward(load_gpt2(folder, np.float64), ids), forward(tiny, ids))


def test_unreadable_weights_file_is_a_checkpoint_error(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "m", None, CONFIG)
    (folder / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="model.safetensors is not a readable safetensors"):
        load_gpt2(folder)


def test_missing_tensor_is_named_with_its_shape(tmp_path: Path, tiny: Transformer) -> None:
    tensors = state_dict(tiny)
    del tensors["h.1.mlp.c_fc.bias"]
    with pytest.raises(CheckpointError) as info:
        load_gpt2(write_folder(tmp_path / "m", tensors, CONFIG))
    assert info.value.problems == ["missing tensor h.1.mlp.c_fc.bias (expected shape (32,))"]
    assert str(tmp_path / "m") in str(info.value)


def test_every_misshaped_tensor_is_listed_at_once(tmp_path: Path, tiny: Transformer) -> None:
    tensors = state_dict(tiny)
    tensors["h.0.attn.c_attn.weight"] = np.ascontiguousarray(tensors["h.0.attn.c_attn.weight"].T)
    tensors["wpe.weight"] = np.zeros((15, 8))
    tensors["extra.weight"] = np.zeros(3)
    with pytest.raises(CheckpointError) as info:
        load_gpt2(write_folder(tmp_path / "m", tensors, CONFIG))
    problems = info.value.problems
    assert len(problems) == 3
    assert "wpe.weight has shape (15, 8), expected (16, 8)" in problems[0]
    assert "h.0.attn.c_attn.weight has shape (24, 8), expected (8, 24)" in problems[1]
    assert "transposed" in problems[1] and "[in, out]" in problems[1]
    assert "unexpected tensor extra.weight" in problems[2]


def test_pickled_weights_are_refused_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"

    class Boom:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (Path.touch, (marker,))

    folder = write_folder(tmp_path / "m", None, CONFIG)
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(CheckpointError) as info:
        load_gpt2(folder)
    assert not marker.exists()
    message = str(info.value)
    assert "pytorch_model.bin holds pickled weights" in message
    assert "save_pretrained" in message and "safe_serialization=True" in message
    assert str(folder) in message


@pytest.mark.parametrize("change, fragment", [
    ({"activation_function": "relu"}, "activation_function='relu': must be one of"),
    ({"model_type": "llama"}, "model_type='llama'; load_gpt2 reads only 'gpt2'"),
    ({"scale_attn_by_inverse_layer_idx": True}, "scale_attn_by_inverse_layer_idx=true is not"),
    ({"reorder_and_upcast_attn": True}, "reorder_and_upcast_attn=true is not supported"),
    ({"n_embd": 9}, "n_embd=9: must be a multiple of n_head=2"),
])
def test_unsupported_config_is_refused(tmp_path: Path, tiny: Transformer, change: dict,
                                       fragment: str) -> None:
    folder = write_folder(tmp_path / "m", state_dict(tiny), {**CONFIG, **change})
    with pytest.raises(CheckpointError, match="config.json") as info:
        load_gpt2(folder)
    assert fragment in str(info.value)


def test_missing_config_and_weights_are_reported_together(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as info:
        load_gpt2(write_folder(tmp_path / "empty"))
    assert len(info.value.problems) == 2
    assert "config.json is missing" in info.value.problems[0]
    assert "model.safetensors is missing" in info.value.problems[1]


def test_missing_folder_is_a_value_error_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist: pass the folder"):
        load_gpt2(tmp_path / "nowhere")


def test_config_that_does_not_match_the_weights_says_so(tmp_path: Path,
                                                        tiny: Transformer) -> None:
    folder = write_folder(tmp_path / "m", state_dict(tiny), {**CONFIG, "n_layer": 3})
    with pytest.raises(CheckpointError, match="hold 2 blocks but config.json says n_layer=3"):
        load_gpt2(folder)


def test_checkpoint_error_survives_pickling_with_its_fields(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as info:
        load_gpt2(write_folder(tmp_path / "empty"))
    clone = pickle.loads(pickle.dumps(info.value))
    assert type(clone) is CheckpointError
    assert (clone.path, clone.problems, str(clone)) == (
        info.value.path, info.value.problems, str(info.value))
