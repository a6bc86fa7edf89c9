"""Checkpoint directories: a run's checkpoints on disk, so that a new driver can resume it.

With `checkpoint_dir=DIR` the driver writes, at every checkpoint round k (mpcsim.recovery),
one file DIR/round-<k>.ckpt holding everything a new driver needs to run round k+1 as the
old one would have:

- every host's snapshot after round k (mpcsim.snapshot's frames) and round k's outbound
  frames per source host (the messages in flight into round k+1);
- the driver's state: k, the round records so far (per-round words included), violations,
  host spans, recovery records and the count of hosts lost;
- the run's identity: q, s, seed, enforce, vectorize, the hosts (num_workers), and fingerprints
  of the program (its type and attributes), of the partitioned input and of the plan.

`resume=DIR` reads the latest file, refuses it (ConfigError, every difference at once) when
the identity differs from the run being started, restores the hosts from the snapshots and
runs on from round k+1: the output, rounds and per-round words are those of an uninterrupted
run. The program is code, not data: the user passes it (and the inputs) again.

File layout (no pickle): the 8-byte magic, the msgpack metadata's length (8 bytes, little
endian) and the metadata, then the frames' array buffers back to back (the metadata holds
each buffer's offset and size), then a SHA-256 of everything before it. A file is written
under a temporary name, fsynced, renamed into place and the directory fsynced, so a file
named round-<k>.ckpt is complete unless the disk corrupted it (the checksum says so). The
latest KEEP files are kept.

The round loop's hooks are in mpcsim.driver; the snapshots themselves in mpcsim.snapshot.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from . import wire
from .errors import ConfigError
from .host import Violation
from .trace import HostSpan, RecoveryRecord, RoundRecord

__all__ = ["Checkpoint", "CheckpointDir", "identity", "fingerprint", "load", "check", "KEEP"]

MAGIC = b"MPCSIMCK"
FORMAT = 1  # bumped whenever the file's fields change
KEEP = 2  # checkpoint files kept per directory (the latest and the one before)
_NAME = re.compile(r"^round-(\d+)\.ckpt$")


@dataclass
class Checkpoint:
    """The driver's state after round `round_idx` of a run (one file's content)."""

    identity: dict[str, Any]  # see identity()
    round_idx: int  # the state is after this round; the next round to run is round_idx + 1
    records: list[RoundRecord]
    violations: list[Violation]
    spans: list[HostSpan]
    recoveries: list[RecoveryRecord]
    hosts_lost: int
    active: int  # machines that had not halted after round_idx (0 and no messages: run over)
    snapshots: list[wire.Frame]  # per host
    outbound: list[dict[int, wire.Frame]]  # per source host: dest host -> round_idx's frame


def identity(config: Any, num_hosts: int, program: Any, initial: Any, plan: Any
             ) -> dict[str, Any]:
    """What a resumed run must share with the run that wrote the checkpoint."""
    kind = type(program)
    return {
        "num_machines": config.num_machines, "memory_words": config.memory_words,
        "seed": config.seed, "enforce": config.enforce, "vectorize": config.vectorize,
        "num_workers": num_hosts, "program": f"{kind.__module__}.{kind.__qualname__}",
        "program_fingerprint": fingerprint(vars(program) if hasattr(program, "__dict__")
                                           else None),
        "input_fingerprint": fingerprint(initial), "plan_fingerprint": fingerprint(plan),
    }


# -- fingerprints: a stable digest of a value, the same in every process -------------------------

def fingerprint(value: Any) -> str:
    """A hex digest of `value` that does not depend on the process (set order, hash seeds,
    addresses): plain values and arrays by content, dicts and sets order-blind, functions and
    classes by name, other objects by their attributes (4 levels deep), then by type name."""
    return _digest(value, 0).hex()[:16]


def _digest(value: Any, depth: int) -> bytes:
    h = hashlib.sha256(type(value).__qualname__.encode())
    try:  # plain data (ints, floats, str, bytes, lists and dicts of them): msgpack's bytes
        h.update(msgpack.packb(value, use_bin_type=True, strict_types=True))
        return h.digest()
    except (TypeError, ValueError, OverflowError):
        pass
    if isinstance(value, np.ndarray):
        h.update(f"{value.dtype.str}{value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes() if value.dtype.kind in "biufc"
                 else repr(value.tolist()).encode())
    elif isinstance(value, np.generic):
        h.update(f"{value.dtype.str}{value.item()!r}".encode())
    elif isinstance(value, int):  # beyond 64 bits
        h.update(str(value).encode())
    elif isinstance(value, (list, tuple)):
        for item in value:
            h.update(_digest(item, depth))
    elif isinstance(value, (set, frozenset)):
        for item in sorted(_digest(item, depth) for item in value):
            h.update(item)
    elif isinstance(value, dict):
        for pair in sorted(_digest(k, depth) + _digest(v, depth) for k, v in value.items()):
            h.update(pair)
    elif isinstance(value, type) or callable(value) and hasattr(value, "__qualname__"):
        h.update(f"{getattr(value, '__module__', '')}.{value.__qualname__}".encode())
    elif depth < 4 and dataclasses.is_dataclass(value):
        h.update(_digest({f.name: getattr(value, f.name) for f in dataclasses.fields(value)},
                         depth + 1))
    elif depth < 4 and hasattr(value, "__dict__"):
        h.update(_digest(vars(value), depth + 1))
    return h.digest()


# -- writing --------------------------------------------------------------------------------------

class CheckpointDir:
    """Writes a run's checkpoints into `path` (created if missing)."""

    def __init__(self, path: str | os.PathLike[str], run_identity: dict[str, Any]) -> None:
        self.path = Path(path)
        self.identity = run_identity

    def claim(self) -> None:
        """Create the directory for a new run; ConfigError if it holds checkpoints (a new run
        must not mix its checkpoints with another run's)."""
        found = _checkpoint_files(self.path)
        if found:
            raise ConfigError(problems=[("checkpoint_dir", str(self.path), (
                f"already holds checkpoints of a run (latest after round {found[-1][0]}); "
                f"pass resume={str(self.path)!r} to continue that run, or give an empty or new "
                f"directory"))])
        self.path.mkdir(parents=True, exist_ok=True)

    def write(self, checkpoint: Checkpoint) -> Path:
        """Write `checkpoint` atomically as round-<k>.ckpt; keep the latest KEEP files."""
        self.path.mkdir(parents=True, exist_ok=True)
        final = self.path / f"round-{checkpoint.round_idx:09d}.ckpt"
        temporary = self.path / f".{final.name}.tmp-{os.getpid()}"
        buffers: list[np.ndarray] = []
        meta = msgpack.packb(_meta(checkpoint, buffers), use_bin_type=True)
        digest = hashlib.sha256()
        with open(temporary, "wb") as f:
            for chunk in (MAGIC, len(meta).to_bytes(8, "little"), meta, *buffers):
                data = memoryview(chunk).cast("B")
                digest.update(data)
                f.write(data)
            f.write(digest.digest())
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, final)
        _fsync_directory(self.path)
        for _, old in _checkpoint_files(self.path)[:-KEEP]:
            old.unlink(missing_ok=True)
        return final


def _meta(c: Checkpoint, buffers: list[np.ndarray]) -> dict[str, Any]:
    offset = [0]

    def frame(f: Any) -> list[Any]:
        f = wire.Frame(*f)
        placed = []
        for buffer in f.buffers:
            data = np.ascontiguousarray(buffer).reshape(-1).view(np.uint8)
            buffers.append(data)
            placed.append([offset[0], data.nbytes])
            offset[0] += data.nbytes
        return [f.header, placed]

    return {
        "format": FORMAT, "identity": c.identity, "round_idx": c.round_idx,
        "records": [dataclasses.asdict(r) for r in c.records],
        "violations": [dataclasses.asdict(v) for v in c.violations],
        "spans": [dataclasses.asdict(s) for s in c.spans],
        "recoveries": [dataclasses.asdict(r) for r in c.recoveries],
        "hosts_lost": c.hosts_lost, "active": c.active,
        "snapshots": [frame(f) for f in c.snapshots],
        "outbound": [[[dest, frame(f)] for dest, f in sorted(out.items())] for out in c.outbound],
    }


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- reading --------------------------------------------------------------------------------------

def _checkpoint_files(path: Path) -> list[tuple[int, Path]]:
    """(round, file) of the complete checkpoint files in `path`, oldest first."""
    if not path.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in path.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def load(path: str | os.PathLike[str]) -> Checkpoint:
    """The latest checkpoint in `path`; ConfigError when there is none or it is corrupt."""
    directory = Path(path)
    found = _checkpoint_files(directory)
    if not found:
        why = ("does not exist" if not directory.exists() else "is not a directory"
               if not directory.is_dir() else "holds no checkpoint (round-<k>.ckpt files)")
        raise ConfigError(problems=[("resume", str(directory), (
            f"{why}: pass the directory a run wrote with checkpoint_dir= (it writes one every "
            f"checkpoint_every rounds; a run that ended or died before its first checkpoint "
            f"left none), or run without resume"))])
    _, file = found[-1]
    return _read(file, found[-2][1] if len(found) > 1 else None)


def check(checkpoint: Checkpoint, run_identity: dict[str, Any],
          path: str | os.PathLike[str]) -> None:
    """ConfigError listing every way `checkpoint` belongs to another run than this one."""
    directory = Path(path)
    problems = [("resume", str(directory), f"was written by a run with {key}="
                 f"{checkpoint.identity.get(key)!r}, this run has {key}={value!r}")
                for key, value in run_identity.items() if checkpoint.identity.get(key) != value]
    if problems:
        problems.append(("resume", str(directory), "resume with the program, inputs and "
                         "settings of the run that wrote it, or start a new run without resume"))
        raise ConfigError(problems=problems)


def _read(file: Path, previous: Path | None) -> Checkpoint:
    def corrupt(why: str) -> ConfigError:
        fallback = (f"delete it to resume from {previous.name}" if previous is not None
                    else "start the run again without resume")
        return ConfigError(problems=[("resume", str(file), f"is not a readable mpcsim "
                                      f"checkpoint ({why}); {fallback}")])

    size = file.stat().st_size
    data = bytearray(size)
    with open(file, "rb") as f:
        f.readinto(data)
    view = memoryview(data)
    if size < len(MAGIC) + 8 + 32 or bytes(view[:len(MAGIC)]) != MAGIC:
        raise corrupt("no mpcsim checkpoint header")
    if hashlib.sha256(view[:-32]).digest() != bytes(view[-32:]):
        raise corrupt("checksum mismatch: the file was changed or damaged after it was written")
    start = len(MAGIC) + 8
    meta_len = int.from_bytes(view[len(MAGIC):start], "little")
    try:
        meta = msgpack.unpackb(view[start:start + meta_len], raw=False, strict_map_key=False)
        if meta.get("format") != FORMAT:
            raise corrupt(f"format {meta.get('format')!r}, this mpcsim reads {FORMAT}")
        data_start = start + meta_len
        whole = np.frombuffer(data, dtype=np.uint8)

        def frame(item: list[Any]) -> wire.Frame:
            header, placed = item
            return wire.Frame(header, tuple(whole[data_start + o:data_start + o + n]
                                            for o, n in placed))

        return Checkpoint(
            identity=meta["identity"], round_idx=meta["round_idx"],
            records=[RoundRecord(**r) for r in meta["records"]],
            violations=[Violation(**v) for v in meta["violations"]],
            spans=[HostSpan(**s) for s in meta["spans"]],
            recoveries=[RecoveryRecord(**r) for r in meta["recoveries"]],
            hosts_lost=meta["hosts_lost"], active=meta["active"],
            snapshots=[frame(f) for f in meta["snapshots"]],
            outbound=[{dest: frame(f) for dest, f in out} for out in meta["outbound"]])
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 (a file of another version: fields differ)
        raise corrupt(f"{type(exc).__name__}: {exc}") from None
