"""Converting the paper authors' PyTorch checkpoints into the HuggingFace folder that
load_gpt2 reads (config.json + model.safetensors + task.json), without torch and without
running any code from the pickle.

    torch_to_folder("model_100000.pt", "config.yaml", "checkpoints/width4-depth2")
    mpcsim checkpoint convert model_100000.pt config.yaml checkpoints/width4-depth2

The authors publish each trained model as a folder of github.com/chsanford/hop-induction-heads
(models/induction_hops_full_seq/<run>/): model_100000.pt, the state dict of their GPT2Encoder
(a HuggingFace GPT2Model under the name `backbone`) saved by torch.save, and config.yaml, the
run's resolved configuration.

A torch.save file is a zip archive: `<name>/data.pkl` pickles the state dict, and each tensor's
raw bytes are a member `<name>/data/<key>` that the pickle refers to by a persistent id. A
pickle can call any importable function, so this module unpickles with an allowlist, as
torch.load(weights_only=True) does, only smaller: the tensor rebuild functions
(torch._utils._rebuild_tensor_v2, _rebuild_parameter), the typed storage classes
(torch.FloatStorage, ...), collections.OrderedDict, and the containers pickle builds without
naming a global (dict, list, tuple, str, numbers). Any other global raises ForbiddenGlobal
before anything is called. Tensors come back as numpy arrays copied out of the storages,
bounds-checked; nothing from torch is imported or imitated beyond those names.

Reading the files and writing the folder are separate steps (read_state_dict, read_run_config,
torch_to_folder); checkpoint.py is the loader of the result, tasks.hopk the task it was trained
on.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mpcsim.errors import MPCError

from .gpt2 import GPT2Config, gpt2_shapes

__all__ = ["ConversionError", "ForbiddenGlobal", "RunConfig", "read_state_dict",
           "read_run_config", "torch_to_folder"]

# The prefix of GPT2Model's tensors in the authors' state dicts (GPT2Encoder.backbone).
BACKBONE = "backbone."
# GPT2Config's values the authors' models take by default (they set only the sizes).
ACTIVATION, LAYER_NORM_EPSILON = "gelu_new", 1e-5
# The task whose runs carry a task.json (hopk_command checks it before evaluating).
HOPK_TASK = "InductionHopsFullSequenceTask"


class ConversionError(MPCError, ValueError):
    """A checkpoint that cannot be converted. `problems` lists everything found at once."""

    path: str
    problems: list[str]

    def _message(self) -> str:
        lines = "\n".join(f"  - {p}" for p in self.problems)
        return f"cannot convert {self.path}:\n{lines}"


class ForbiddenGlobal(ConversionError):
    """The pickle names a global outside the allowlist (e.g. os.system); nothing was called."""

    path: str
    module: str
    name: str

    def _message(self) -> str:
        return (f"refusing to unpickle {self.path}: it names the global "
                f"{self.module}.{self.name}, which is not a tensor rebuild function, a storage "
                f"class or collections.OrderedDict. A plain state dict needs nothing else, so "
                f"this file is either not a state dict saved by torch.save(model.state_dict()) "
                f"or crafted to run code when loaded; it was not loaded and nothing in it ran.")


# -- storages and tensors -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _StorageType:
    """What the pickle's torch.<X>Storage global stands for: the element type (not callable)."""

    name: str
    dtype: np.dtype | None  # None: a type numpy cannot hold (bfloat16, complex32, ...)


STORAGE_TYPES = {name: _StorageType(name, None if dtype is None else np.dtype(dtype)) for
                 name, dtype in {
                     "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2",
                     "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2",
                     "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
                     "BFloat16Storage": None}.items()}


@dataclass(frozen=True, slots=True)
class _Storage:
    """One storage: a flat array of its elements (the members' bytes, never modified)."""

    key: str
    values: np.ndarray  # [numel], read-only


@dataclass(frozen=True, slots=True)
class _Tensor:
    """A rebuilt tensor. Frozen and slotted, so a pickle's BUILD opcode cannot alter it."""

    array: np.ndarray


def _ints(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not all(type(v) is int and v >= 0 for v in value):
        raise ValueError(f"{what} must be a tuple of integers >= 0, got {value!r}")
    return value


def _rebuild_tensor_v2(storage: Any, storage_offset: Any, size: Any, stride: Any,
                       requires_grad: Any, backward_hooks: Any, metadata: Any = None) -> _Tensor:
    """torch._utils._rebuild_tensor_v2 in numpy: the strided view of the storage, copied."""
    if not isinstance(storage, _Storage):
        raise ValueError(f"a tensor's storage must be a persistent storage reference, got "
                         f"{type(storage).__name__}")
    if type(storage_offset) is not int or storage_offset < 0:
        raise ValueError(f"storage offset must be an integer >= 0, got {storage_offset!r}")
    size, stride = _ints(size, "size"), _ints(stride, "stride")
    if len(size) != len(stride):
        raise ValueError(f"size {size} and stride {stride} have different lengths")
    if backward_hooks:
        raise ValueError("the tensor has backward hooks, which a state dict never holds")
    values = storage.values
    count = int(np.prod(size, dtype=np.int64))
    if count:
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= len(values):
            raise ValueError(f"tensor of size {size}, stride {stride}, offset {storage_offset} "
                             f"reaches element {last} of storage {storage.key}, which holds "
                             f"{len(values)}")
    view = np.lib.stride_tricks.as_strided(
        values[storage_offset:] if count else values[:0], shape=size,
        strides=tuple(s * values.itemsize for s in stride), writeable=False)
    return _Tensor(np.array(view, dtype=values.dtype.newbyteorder("="), order="C"))


def _rebuild_parameter(data: Any, requires_grad: Any, backward_hooks: Any) -> _Tensor:
    """torch._utils._rebuild_parameter: an nn.Parameter is its tensor here."""
    if not isinstance(data, _Tensor):
        raise ValueError(f"a parameter must wrap a tensor, got {type(data).__name__}")
    if backward_hooks:
        raise ValueError("the parameter has backward hooks, which a state dict never holds")
    return data


ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): storage_type for name, storage_type in STORAGE_TYPES.items()},
}


class _AllowlistUnpickler(pickle.Unpickler):
    """Resolves only ALLOWED globals; storages come from the archive by persistent id."""

    def __init__(self, data: bytes, path: str, storage: Callable[[str, int, np.dtype], _Storage]):
        super().__init__(io.BytesIO(data))
        self.path = path
        self.storage = storage

    def find_class(self, module: str, name: str) -> Any:  # every GLOBAL, STACK_GLOBAL, INST, EXT
        try:
            return ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise ForbiddenGlobal(path=self.path, module=str(module), name=str(name)) from None

    def persistent_load(self, pid: Any) -> _Storage:
        # torch.save writes ('storage', storage_type, key, location, numel)
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
                and type(pid[4]) is int and pid[4] >= 0):
            raise ValueError(f"unexpected persistent id {pid!r}: expected ('storage', "
                             f"torch.<Type>Storage, key, location, numel)")
        storage_type, key, numel = pid[1], pid[2], pid[4]
        if storage_type.dtype is None:
            raise ValueError(f"storage {key} holds {storage_type.name[:-7].lower()}, which numpy "
                             f"cannot represent; save the model in float32")
        return self.storage(key, numel, storage_type.dtype)


# -- reading a torch.save archive -----------------------------------------------------------------

def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a state dict saved by torch.save (zip format, torch >= 1.6), as numpy
    arrays by name, in the file's order. Raises ForbiddenGlobal if the pickle names anything
    outside the allowlist (module docstring), ConversionError for anything else unreadable."""
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ConversionError(path=str(path), problems=[f"{path} does not exist"]) from None
    except (zipfile.BadZipFile, IsADirectoryError, PermissionError) as exc:
        raise ConversionError(path=str(path), problems=[
            f"not a zip archive ({exc}): this reads torch.save files of torch >= 1.6; re-save "
            f"an older checkpoint with a current torch"]) from None
    with archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ConversionError(path=str(path), problems=[
                f"expected one <name>/data.pkl member (a torch.save archive), found "
                f"{pickles or 'none'}"])
        prefix = pickles[0][: -len("data.pkl")]
        order = _byteorder(archive, prefix, path)
        storages: dict[str, _Storage] = {}

        def storage(key: str, numel: int, dtype: np.dtype) -> _Storage:
            if key not in storages:
                storages[key] = _read_storage(archive, prefix, key, numel, dtype.newbyteorder(order),
                                              path)
            return storages[key]

        unpickler = _AllowlistUnpickler(archive.read(pickles[0]), str(path), storage)
        try:
            state = unpickler.load()
        except ConversionError:
            raise
        except Exception as exc:  # malformed pickles raise many types; all mean "unreadable"
            raise ConversionError(path=str(path), problems=[
                f"{pickles[0]} is not a readable state dict ({type(exc).__name__}: {exc})"]) \
                from None
    return _tensors(state, path)


def _byteorder(archive: zipfile.ZipFile, prefix: str, path: Path) -> str:
    """'<' or '>': torch >= 2.1 records the storages' byte order; older files are little-endian."""
    try:
        recorded = archive.read(prefix + "byteorder").decode().strip()
    except KeyError:
        return "<"
    if recorded not in ("little", "big"):
        raise ConversionError(path=str(path), problems=[f"unknown byteorder {recorded!r}"])
    return "<" if recorded == "little" else ">"


def _read_storage(archive: zipfile.ZipFile, prefix: str, key: str, numel: int, dtype: np.dtype,
                  path: Path) -> _Storage:
    member = f"{prefix}data/{key}"
    try:
        raw = archive.read(member)
    except KeyError:
        raise ConversionError(path=str(path), problems=[
            f"the pickle refers to storage {key!r}, but {member} is missing"]) from None
    if len(raw) < numel * dtype.itemsize:
        raise ConversionError(path=str(path), problems=[
            f"{member} holds {len(raw)} bytes, fewer than {numel} x {dtype.itemsize}"])
    values = np.frombuffer(raw, dtype=dtype, count=numel)
    return _Storage(key, values)


def _tensors(state: Any, path: Path) -> dict[str, np.ndarray]:
    """The state dict's {name: array}; anything that is not a flat dict of tensors is refused."""
    if not isinstance(state, dict):
        raise ConversionError(path=str(path), problems=[
            f"the pickle holds a {type(state).__name__}, not a state dict (a dict of tensors); "
            f"save model.state_dict(), not the model or a training state"])
    problems = [f"entry {name!r} holds {type(value).__name__}, not a tensor"
                for name, value in state.items()
                if not (isinstance(name, str) and isinstance(value, _Tensor))]
    if problems:
        raise ConversionError(path=str(path), problems=problems)
    return {name: value.array for name, value in state.items()}


# -- the run's configuration ----------------------------------------------------------------------

@dataclass(frozen=True)
class RunConfig:
    """The parts of an authors' config.yaml that define the model and its task."""

    gpt2: GPT2Config  # the model (GPT2Encoder's GPT2Config: sizes, defaults otherwise)
    task: dict[str, Any] | None  # task.json's fields, or None for a task other than hop_k


def read_run_config(path: str | Path) -> RunConfig:
    """The model and task of an authors' config.yaml (keys model.*, training.*). Raises
    ConversionError listing every missing or unsupported field."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConversionError(path=str(path), problems=[f"not a readable YAML file ({exc})"]) \
            from None
    model = raw.get("model") if isinstance(raw, dict) else None
    training = raw.get("training") if isinstance(raw, dict) else None
    if not isinstance(model, dict) or not isinstance(training, dict):
        raise ConversionError(path=str(path), problems=[
            "expected the authors' run configuration: mappings `model` and `training`"])
    task_kwargs = training.get("task_kwargs") or {}
    problems = []
    if model.get("family") != "gpt2_model":
        problems.append(f"model.family={model.get('family')!r}: only 'gpt2_model' (GPT2Encoder) "
                        f"is supported")
    if model.get("dim_feedforward") not in (0, None):
        problems.append(f"model.dim_feedforward={model.get('dim_feedforward')!r}: GPT2Encoder "
                        f"ignores it, so a value other than 0 is not one of the authors' runs")
    sizes = {"n_layer": ("model.depth", model.get("depth")),
             "n_head": ("model.headcount", model.get("headcount")),
             "n_embd": ("model.dim_embedding", model.get("dim_embedding")),
             "vocab_size": ("model.vocab_size", model.get("vocab_size")),
             "n_positions": ("training.task_kwargs.seq_len", task_kwargs.get("seq_len"))}
    for key, value in sizes.values():
        if type(value) is not int or value < 1:
            problems.append(f"{key}={value!r}: must be an integer >= 1")
    if problems:
        raise ConversionError(path=str(path), problems=problems)
    try:
        gpt2 = GPT2Config(**{name: value for name, (_, value) in sizes.items()},
                          activation_function=ACTIVATION, layer_norm_epsilon=LAYER_NORM_EPSILON)
    except ValueError as exc:
        raise ConversionError(path=str(path), problems=[str(exc)]) from None
    task = None
    if training.get("task") == HOPK_TASK:
        task = {"task": "hop_k", **{key: task_kwargs.get(key) for key in
                                    ("char_tokens", "max_hops", "min_hops", "seq_len")},
                "train_samples": training.get("samples"), "train_steps": training.get("train_steps")}
    return RunConfig(gpt2, task)


# -- the folder -----------------------------------------------------------------------------------

def torch_to_folder(model_path: str | Path, config_path: str | Path,
                    out_dir: str | Path) -> Path:
    """Convert an authors' model_*.pt and its config.yaml into out_dir (created if needed):
    config.json and model.safetensors as HuggingFace's GPT2Model.save_pretrained writes them
    (float32 tensors, HuggingFace names, Conv1D [in, out] layout kept), and task.json for a
    hop_k run. Checks every tensor against the configuration first; raises ForbiddenGlobal or
    ConversionError (listing every problem) and then writes nothing. Returns out_dir."""
    from safetensors.numpy import save_file

    run = read_run_config(config_path)
    tensors = _gpt2_tensors(read_state_dict(model_path), run.gpt2, Path(model_path))
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConversionError(path=str(model_path), problems=[f"{out} exists and is not a folder"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(_config_json(run.gpt2), indent=2))
    save_file(tensors, str(out / "model.safetensors"))
    if run.task is not None:
        (out / "task.json").write_text(json.dumps(run.task, indent=2))
    return out


def _gpt2_tensors(state: dict[str, np.ndarray], config: GPT2Config,
                  path: Path) -> dict[str, np.ndarray]:
    """GPT2Model's tensors (the `backbone.` prefix dropped), checked against the config."""
    body = {name[len(BACKBONE):]: t for name, t in state.items() if name.startswith(BACKBONE)}
    if not body:
        body = dict(state)  # a bare GPT2Model state dict
    body = {name: t for name, t in body.items()
            if not (name.endswith(".attn.bias") and t.ndim == 4)  # causal-mask buffers
            and not name.endswith(".attn.masked_bias")}
    expected = gpt2_shapes(config)
    problems = [f"missing tensor {BACKBONE}{name} (expected shape {shape})"
                for name, shape in expected.items() if name not in body]
    problems += [f"tensor {BACKBONE}{name} has shape {body[name].shape}, the config.yaml "
                 f"implies {shape}" for name, shape in expected.items()
                 if name in body and body[name].shape != shape]
    problems += [f"tensor {BACKBONE}{name} has dtype {body[name].dtype}, expected float32"
                 for name in expected if name in body and body[name].dtype != np.float32]
    problems += [f"unexpected tensor {name}: not part of GPT2Model with this config"
                 for name in body if name not in expected]
    if problems:
        raise ConversionError(path=str(path), problems=problems)
    return {name: body[name] for name in sorted(expected)}


def _config_json(config: GPT2Config) -> dict[str, Any]:
    """config.json for GPT2Model, with the fields load_gpt2 and HuggingFace read."""
    return {"model_type": "gpt2", "architectures": ["GPT2Model"],
            "vocab_size": config.vocab_size, "n_embd": config.n_embd,
            "n_layer": config.n_layer, "n_head": config.n_head,
            "n_positions": config.n_positions, "n_inner": config.n_inner,
            "activation_function": config.activation_function,
            "layer_norm_epsilon": config.layer_norm_epsilon}
