"""transformer_bridge.torch_checkpoint and `mpcsim checkpoint convert`: the authors' .pt files
become the published HuggingFace folders bit for bit, and a pickle naming anything but tensors,
storages and OrderedDict is refused before it can run."""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from mpcsim.cli import main
from transformer_bridge.checkpoint import load_gpt2
from transformer_bridge.torch_checkpoint import (ConversionError, ForbiddenGlobal,
                                                 read_state_dict, torch_to_folder)

CHECKPOINTS = Path(__file__).resolve().parents[2].parent / "shared" / "checkpoints"
SOURCE = CHECKPOINTS / "source"
needs_source = pytest.mark.skipif(not (SOURCE / "width4-depth2.pt").is_file(),
                                  reason=f"no authors' checkpoint at {SOURCE}")


# -- hand-built torch.save archives ------------------------------------------------------------

def _value(value: object) -> bytes:
    """The opcodes that push a plain value (protocol 2, without PROTO and STOP)."""
    return pickle.dumps(value, protocol=2)[2:-1]


def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def _tensor(key: str, numel: int, offset: int, size: tuple[int, ...],
            stride: tuple[int, ...]) -> bytes:
    """_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()), as torch writes it."""
    storage = (b"(" + _value("storage") + _global("torch", "FloatStorage") + _value(key)
               + _value("cpu") + _value(numel) + b"tQ")  # TUPLE, BINPERSID
    hooks = _global("collections", "OrderedDict") + b")R"
    return (_global("torch._utils", "_rebuild_tensor_v2") + b"(" + storage + _value(offset)
            + _value(size) + _value(stride) + b"\x89" + hooks + b"tR")


def _state_dict(entries: dict[str, bytes]) -> bytes:
    body = b"".join(_value(name) + opcodes for name, opcodes in entries.items())
    return b"\x80\x02" + _global("collections", "OrderedDict") + b")R(" + body + b"u."


def _archive(path: Path, data_pkl: bytes, storages: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/data.pkl", data_pkl)
        archive.writestr("model/version", "3\n")
        for key, raw in (storages or {}).items():
            archive.writestr(f"model/data/{key}", raw)
    return path


# -- the authors' checkpoint ------------------------------------------------------------------

@needs_source
def test_authors_width4_depth2_converts_to_the_published_folder(tmp_path: Path) -> None:
    out = torch_to_folder(SOURCE / "width4-depth2.pt", SOURCE / "width4-depth2.yaml",
                          tmp_path / "width4-depth2")
    published = CHECKPOINTS / "width4-depth2"
    ours, theirs = load_file(out / "model.safetensors"), load_file(published / "model.safetensors")
    assert sorted(ours) == sorted(theirs)
    for name, tensor in theirs.items():
        assert ours[name].dtype == tensor.dtype and ours[name].shape == tensor.shape, name
        assert ours[name].tobytes() == tensor.tobytes(), name  # bit-identical
    for file in ("config.json", "task.json"):
        assert json.loads((out / file).read_text()) == json.loads((published / file).read_text())
    assert load_gpt2(out).num_layers == 2


@needs_source
def test_checkpoint_convert_command_writes_a_loadable_folder(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    code = main(["checkpoint", "convert", str(SOURCE / "width4-depth2.pt"),
                 str(SOURCE / "width4-depth2.yaml"), str(tmp_path / "out"), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["files"] == ["config.json", "model.safetensors", "task.json"]
    assert (report["layers"], report["heads"], report["width"]) == (2, 4, 128)


@needs_source
def test_config_that_disagrees_with_the_tensors_is_reported_before_writing(tmp_path: Path) -> None:
    text = (SOURCE / "width4-depth2.yaml").read_text().replace("depth: 2", "depth: 3")
    (tmp_path / "config.yaml").write_text(text)
    with pytest.raises(ConversionError, match="missing tensor backbone.h.2.ln_1.weight"):
        torch_to_folder(SOURCE / "width4-depth2.pt", tmp_path / "config.yaml", tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- the allowlist ----------------------------------------------------------------------------

def test_strided_and_offset_tensors_are_rebuilt_as_torch_views_them(tmp_path: Path) -> None:
    storage = np.arange(8, dtype="<f4")
    pkl = _state_dict({"t": _tensor("0", 8, 2, (3, 2), (1, 3)),  # a transposed view at offset 2
                       "v": _tensor("0", 8, 0, (4,), (2,))})  # every other element
    state = read_state_dict(_archive(tmp_path / "m.pt", pkl, {"0": storage.tobytes()}))
    np.testing.assert_array_equal(state["t"], storage[2:8].reshape(2, 3).T)
    np.testing.assert_array_equal(state["v"], storage[::2])
    assert state["t"].flags.c_contiguous and state["t"].dtype == np.float32


def test_tensor_reaching_past_its_storage_is_refused(tmp_path: Path) -> None:
    pkl = _state_dict({"t": _tensor("0", 4, 1, (4,), (1,))})
    with pytest.raises(ConversionError, match="reaches element 4 of storage 0, which holds 4"):
        read_state_dict(_archive(tmp_path / "m.pt", pkl, {"0": bytes(16)}))


def _os_system_by_opcodes(command: str) -> bytes:
    return b"\x80\x02" + _global("os", "system") + _value((command,)) + b"R."


class _RunsCommand:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (self.command,)


@pytest.mark.parametrize("build", ["opcodes", "reduce", "inside a state dict"])
def test_pickle_naming_os_system_is_refused_without_running(tmp_path: Path, build: str) -> None:
    marker = tmp_path / "ran"
    command = f"touch {marker}"
    data = {"opcodes": lambda: _os_system_by_opcodes(command),
            "reduce": lambda: pickle.dumps(_RunsCommand(command), protocol=4),
            "inside a state dict": lambda: _state_dict(
                {"w": _os_system_by_opcodes(command)[2:-1]})}[build]()
    with pytest.raises(ForbiddenGlobal) as caught:
        read_state_dict(_archive(tmp_path / "evil.pt", data))
    assert caught.value.name == "system" and caught.value.module in ("os", "posix")
    assert f"{caught.value.module}.system" in str(caught.value)
    assert not marker.exists()  # nothing ran
    pickle.loads(data)  # the control: an ordinary unpickler does run it
    assert marker.exists()


def test_checkpoint_convert_refuses_a_forbidden_global_with_exit_code_2(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    marker = tmp_path / "ran"
    evil = _archive(tmp_path / "evil.pt", _os_system_by_opcodes(f"touch {marker}"))
    (tmp_path / "config.yaml").write_text(
        "model: {family: gpt2_model, depth: 1, headcount: 1, dim_embedding: 4, vocab_size: 3}\n"
        "training: {task_kwargs: {seq_len: 5}}\n")
    code = main(["checkpoint", "convert", str(evil), str(tmp_path / "config.yaml"),
                 str(tmp_path / "out")])
    assert code == 2
    assert "os.system" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_forbidden_global_survives_pickling() -> None:
    error = ForbiddenGlobal(path="m.pt", module="os", name="system")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is ForbiddenGlobal and (again.module, again.name) == ("os", "system")


def test_a_file_that_is_not_a_torch_archive_is_a_conversion_error(tmp_path: Path) -> None:
    (tmp_path / "legacy.pt").write_bytes(pickle.dumps({"w": 1}))
    with pytest.raises(ConversionError, match="not a zip archive"):
        read_state_dict(tmp_path / "legacy.pt")
    with pytest.raises(ConversionError, match="does not exist"):
        read_state_dict(tmp_path / "missing.pt")


def test_a_state_dict_holding_non_tensors_is_refused(tmp_path: Path) -> None:
    pkl = _state_dict({"step": _value(3)})
    with pytest.raises(ConversionError, match="entry 'step' holds int, not a tensor"):
        read_state_dict(_archive(tmp_path / "m.pt", pkl))
