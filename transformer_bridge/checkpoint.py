"""Loading GPT-2 from a HuggingFace folder (config.json + model.safetensors) without torch.

Tensors are read with safetensors' numpy API; pickled weights (pytorch_model.bin, *.pt, *.pth)
are refused, never unpickled. Everything wrong with a folder (config fields, missing,
unexpected or mis-shaped tensors) is reported at once in one CheckpointError. The GPT-2 maps
and the builder are transformer_bridge.gpt2.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from mpcsim.errors import MPCError

from .gpt2 import GPT2Config, gpt2_from_tensors, gpt2_shapes
from .model import Transformer

__all__ = ["CheckpointError", "load_gpt2"]

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"  # a sharded checkpoint's name -> shard map
PICKLED_PATTERNS = ("pytorch_model*.bin", "*.pt", "*.pth")

# GPT2Config's defaults, used (as HuggingFace does) for fields a config.json leaves out.
CONFIG_DEFAULTS: dict[str, Any] = {
    "vocab_size": 50257, "n_positions": 1024, "n_embd": 768, "n_layer": 12, "n_head": 12,
    "n_inner": None, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
    "scale_attn_weights": True,
}
# Config switches that change the arithmetic in ways the GPT-2 maps do not implement.
REFUSED_SWITCHES = ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn")
PREFIX = "transformer."  # GPT2LMHeadModel (and other heads) nest the body under this name
# Causal-mask buffers older HuggingFace versions saved with the weights.
BUFFER = re.compile(r"h\.\d+\.attn\.(bias|masked_bias)")

CONVERT = ("convert it with transformers (once, anywhere torch is installed): python -c "
           "\"from transformers import GPT2Model; GPT2Model.from_pretrained('{dir}')"
           ".save_pretrained('{dir}', safe_serialization=True)\"")


class CheckpointError(MPCError, ValueError):
    """A checkpoint folder that load_gpt2 cannot read. `problems` lists everything found."""

    path: str
    problems: list[str]

    def _message(self) -> str:
        lines = "\n".join(f"  - {p}" for p in self.problems)
        return f"cannot load a GPT-2 checkpoint from {self.path}:\n{lines}"


def load_gpt2(path: str | Path, dtype: Any = np.float32) -> Transformer:
    """GPT-2 (HuggingFace GPT2Model or GPT2LMHeadModel, whose lm_head is ignored) from a folder
    holding config.json and model.safetensors, computing in dtype (float32: the checkpoint's
    own precision; float64 for a reference). Raises CheckpointError listing every problem."""
    folder = Path(path)
    if not folder.is_dir():
        what = "is a file" if folder.exists() else "does not exist"
        raise CheckpointError(path=str(folder), problems=[
            f"{folder} {what}: pass the folder that holds {CONFIG_FILE} and {WEIGHTS_FILE}"])
    config, problems = _read_config(folder)
    weight_files, found = _weight_files(folder)
    problems += found
    if problems or config is None:
        raise CheckpointError(path=str(folder), problems=problems)
    tensors = _body(_read_tensors(folder, weight_files))
    problems = _tensor_problems(config, tensors)
    if problems:
        raise CheckpointError(path=str(folder), problems=problems)
    return gpt2_from_tensors(config, tensors, dtype, name=f"gpt2:{folder.name}")


def _read_config(folder: Path) -> tuple[GPT2Config | None, list[str]]:
    file = folder / CONFIG_FILE
    if not file.is_file():
        return None, [f"{CONFIG_FILE} is missing: save the model with save_pretrained(), "
                      f"which writes it next to the weights"]
    try:
        raw = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, [f"{CONFIG_FILE} is not readable JSON ({exc})"]
    if not isinstance(raw, dict):
        return None, [f"{CONFIG_FILE} must hold a JSON object, not {type(raw).__name__}"]
    problems = []
    if raw.get("model_type") != "gpt2":
        problems.append(f"{CONFIG_FILE}: model_type={raw.get('model_type')!r}; load_gpt2 reads "
                        f"only 'gpt2' models")
    for switch in REFUSED_SWITCHES:
        if raw.get(switch):
            problems.append(f"{CONFIG_FILE}: {switch}=true is not supported (the GPT-2 maps "
                            f"implement standard GPT-2 attention); use a model trained "
                            f"without it")
    values = {key: raw.get(key, default) for key, default in CONFIG_DEFAULTS.items()}
    try:
        config = GPT2Config(**values)
    except ValueError as exc:
        return None, problems + [f"{CONFIG_FILE}: {exc}"]
    return (None if problems else config), problems


def _weight_files(folder: Path) -> tuple[list[Path], list[str]]:
    if (folder / WEIGHTS_FILE).is_file():
        return [folder / WEIGHTS_FILE], []
    if (folder / INDEX_FILE).is_file():
        try:
            weight_map = json.loads((folder / INDEX_FILE).read_text())["weight_map"]
            return [folder / name for name in sorted(set(weight_map.values()))], []
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            return [], [f"{INDEX_FILE} is not a valid shard index ({exc!r})"]
    pickled = sorted(p.name for pattern in PICKLED_PATTERNS for p in folder.glob(pattern))
    if pickled:
        return [], [f"{WEIGHTS_FILE} is missing and {', '.join(pickled)} holds pickled "
                    f"weights, which load_gpt2 refuses to unpickle (it can run arbitrary "
                    f"code); {CONVERT.format(dir=folder)}"]
    return [], [f"{WEIGHTS_FILE} is missing: save the model with "
                f"save_pretrained(dir, safe_serialization=True)"]


def _read_tensors(folder: Path, files: list[Path]) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    tensors: dict[str, np.ndarray] = {}
    for file in files:
        try:
            tensors.update(load_file(file))
        except Exception as exc:  # safetensors raises several types for bad or missing files
            hint = ("; numpy has no bfloat16: save the weights in float32"
                    if "bfloat16" in str(exc) else "")
            raise CheckpointError(path=str(folder), problems=[
                f"{file.name} is not a readable safetensors file ({type(exc).__name__}: "
                f"{exc}){hint}"]) from exc
    return tensors


def _body(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The GPT2Model tensors, names without the "transformer." prefix; heads dropped."""
    if any(name.startswith(PREFIX) for name in tensors):
        body = {name[len(PREFIX):]: t for name, t in tensors.items() if name.startswith(PREFIX)}
    else:
        body = {name: t for name, t in tensors.items() if not name.startswith("lm_head.")}
    return {name: t for name, t in body.items() if not BUFFER.fullmatch(name)}


def _tensor_problems(config: GPT2Config, tensors: dict[str, np.ndarray]) -> list[str]:
    expected = gpt2_shapes(config)
    problems = []
    blocks = {int(m.group(1)) for name in tensors if (m := re.match(r"h\.(\d+)\.", name))}
    if blocks and len(blocks) != config.n_layer:
        problems.append(f"the weights hold {len(blocks)} blocks but {CONFIG_FILE} says "
                        f"n_layer={config.n_layer}: the config does not belong to these weights")
    for name, shape in expected.items():
        if name not in tensors:
            problems.append(f"missing tensor {name} (expected shape {shape})")
            continue
        got = tensors[name]
        if got.shape != shape:
            hint = (" (it looks transposed: GPT-2's Conv1D stores weights as [in, out])"
                    if got.shape == shape[::-1] and len(shape) == 2 else "")
            problems.append(f"tensor {name} has shape {got.shape}, expected {shape}{hint}")
        if not np.issubdtype(got.dtype, np.floating):
            problems.append(f"tensor {name} has dtype {got.dtype}, expected a float type")
    for name in sorted(set(tensors) - set(expected)):
        problems.append(f"unexpected tensor {name}: not part of GPT2Model with this config")
    return problems
