"""Host snapshots: a host's whole state between two rounds as one wire Frame, and back.

A snapshot is taken after a host's step r (deliver r-1, compute r, route): at that point no
machine holds an inbox or an outbox, so the state is every machine's memory, output, halted
flag and rng state, plus the host's order rng, its active count and its per-machine accounting
(held, sent_total, received_total, peak_memory, rounds_active). Restoring it into a Host built
for the same run and host index and stepping it again with the same inbound frames produces the
same frames and reports as the original (tests/test_snapshot.py).

The encoding is mpcsim.wire's (a msgpack header plus out-of-band uint8 buffers, no pickle), with
extension types so that memory comes back exactly as it was: tuples stay tuples, sets stay sets,
numpy scalars keep their dtype, ints beyond 64 bits survive. What it cannot encode (a custom
object in memory) raises UnsupportedValue naming the machine and where. Arrays come back as
writable copies; two memory entries that shared one array come back as two arrays; a bytearray
comes back as bytes (msgpack packs both as bin before any hook sees them).

The driver side of recovery (when to snapshot, replaying rounds) is mpcsim.recovery; Host.snapshot
and Host.restore (mpcsim.host) call the two functions here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgpack
import numpy as np

from . import wire
from .errors import UnsupportedValue

if TYPE_CHECKING:
    from .host import Host

__all__ = ["FORMAT", "ACCOUNTING", "encode_exact", "decode_exact", "host_to_frame", "frame_into_host"]

FORMAT = 1  # bumped whenever the snapshot's fields change

# The host's per-machine arrays (by position id - lo), saved when the host has them;
# tests/test_snapshot.py fails when Host grows a per-machine array this list misses.
ACCOUNTING = ("held", "sent_total", "received_total", "peak_memory", "rounds_active",
              "memory_held", "output_held", "touched_round")

_ARRAY, _TUPLE, _SET, _FROZENSET, _SCALAR, _BIGINT = range(1, 7)  # _ARRAY: wire.array_ext's
_NUMERIC_KINDS = frozenset("biufc")


class _Unencodable(TypeError):
    def __init__(self, type_name: str) -> None:
        super().__init__(type_name)
        self.type_name = type_name


def encode_exact(value: Any) -> wire.Frame:
    """Encode `value` as a wire Frame that decodes to the same types (see the module docstring).
    Arrays are referenced, not copied: detach the frame before they can change."""
    buffers: list[np.ndarray] = []

    def pack(item: Any) -> bytes:
        return msgpack.packb(item, default=default, use_bin_type=True, strict_types=True)

    def default(obj: Any) -> Any:
        t = type(obj)
        if t is np.ndarray:
            try:
                return wire.array_ext(obj, buffers)
            except TypeError:
                raise _Unencodable(f"numpy array of dtype {obj.dtype}") from None
        if t is tuple:
            return msgpack.ExtType(_TUPLE, pack(list(obj)))
        if t is set or t is frozenset:
            return msgpack.ExtType(_SET if t is set else _FROZENSET, pack(list(obj)))
        if t is int:  # only ints msgpack cannot hold reach here
            return msgpack.ExtType(_BIGINT, str(obj).encode())
        if isinstance(obj, np.generic) and obj.dtype.kind in _NUMERIC_KINDS:
            return msgpack.ExtType(_SCALAR, msgpack.packb([obj.dtype.str, obj.tobytes()]))
        raise _Unencodable(t.__name__)

    return wire.Frame(pack(value), tuple(buffers))


def decode_exact(frame: wire.Frame) -> Any:
    """Decode a Frame made by encode_exact; arrays are writable copies of its buffers."""
    buffers = frame.buffers

    def unpack(data: bytes) -> Any:
        return msgpack.unpackb(data, ext_hook=ext_hook, raw=False, strict_map_key=False,
                               use_list=True)

    def ext_hook(code: int, data: bytes) -> Any:
        if code == _ARRAY:
            return wire.array_of(data, buffers, "snapshot").copy()
        if code == _TUPLE:
            return tuple(unpack(data))
        if code == _SET:
            return set(unpack(data))
        if code == _FROZENSET:
            return frozenset(unpack(data))
        if code == _BIGINT:
            return int(data.decode())
        if code == _SCALAR:
            dtype_str, raw = msgpack.unpackb(data)
            dtype = np.dtype(dtype_str)
            if dtype.kind not in _NUMERIC_KINDS:
                raise ValueError(f"refusing non-numeric dtype {dtype_str!r} in a snapshot")
            return np.frombuffer(raw, dtype=dtype)[0]
        raise ValueError(f"unknown msgpack ext type {code} in an mpcsim snapshot")

    return unpack(frame.header)


def host_to_frame(host: Host, round_idx: int) -> wire.Frame:
    """Host `host`'s state after its step `round_idx`, encoded (arrays referenced)."""
    machines = host.machines
    host._run.settle()  # deferred fleet scatters into the memory dicts
    rngs = {j: m._rng.bit_generator.state for j, m in enumerate(machines)
            if hasattr(m, "_rng")}
    state = {
        "format": FORMAT, "host": host.host, "lo": host.lo, "hi": host.hi,
        "round_idx": round_idx, "active": host._active,
        "order_rng": host._order_rng.bit_generator.state,
        "accounting": {name: getattr(host, name) for name in ACCOUNTING if hasattr(host, name)},
        "halted": np.fromiter((getattr(m, "_halted", False) for m in machines), dtype=bool,
                              count=len(machines)),
        "memory": [m._memory for m in machines],
        "output": [m.output for m in machines],
        "rng": rngs,
    }
    try:
        return encode_exact(state)
    except (_Unencodable, ValueError, OverflowError):
        raise _unencodable_part(host, round_idx) from None


def _unencodable_part(host: Host, round_idx: int) -> UnsupportedValue:
    for m in host.machines:
        for where, value in (("machine.memory", m._memory), ("machine.output", m.output)):
            found = _find(value, where)
            if found:
                return UnsupportedValue(
                    machine=m.id, round_idx=round_idx, type_name=found[1],
                    where=f"{found[0]} (checkpoints encode every machine's memory and output; "
                          f"pass checkpoint_every=0 to run without checkpoints)")
    return UnsupportedValue(machine=host.lo, round_idx=round_idx, where="the host's state",
                            type_name="unknown")


def _find(value: Any, path: str) -> tuple[str, str] | None:
    """The (path, type name) of the first part of `value` encode_exact refuses, or None."""
    try:
        encode_exact(value)
        return None
    except (_Unencodable, ValueError, OverflowError):
        pass
    if type(value) is dict:
        for key, item in value.items():
            found = _find(key, f"{path} key {key!r:.40}") or _find(item, f"{path}[{key!r:.40}]")
            if found:
                return found
    elif type(value) in (list, tuple, set, frozenset):
        for i, item in enumerate(value):
            found = _find(item, f"{path}[{i}]")
            if found:
                return found
    return path, type(value).__name__


def frame_into_host(host: Host, frame: wire.Frame) -> int:
    """Overwrite `host`'s state with a snapshot of the same run and host; return its round.

    Drops whatever the host held between phases (inboxes, outboxes, delivered chunks) and the
    fleet rounds' scatter cache, whose views refer to the replaced memory."""
    state = decode_exact(frame)
    if state.get("format") != FORMAT:
        raise ValueError(f"snapshot format {state.get('format')!r}, expected {FORMAT}")
    if (state["host"], state["lo"], state["hi"]) != (host.host, host.lo, host.hi):
        raise ValueError(f"snapshot of host {state['host']} (machines {state['lo']}.."
                         f"{state['hi'] - 1}) given to host {host.host} (machines {host.lo}.."
                         f"{host.hi - 1}): restore a snapshot into the host it was taken from")
    for name, values in state["accounting"].items():
        setattr(host, name, values)
    host._active = state["active"]
    host._order_rng.bit_generator.state = state["order_rng"]
    rngs = state["rng"]
    halted = state["halted"].tolist()
    host._run.pending = []  # scatters into the memory being replaced
    for j, (m, memory, output) in enumerate(zip(host.machines, state["memory"],
                                                 state["output"])):
        m._memory, m.output, m._halted, m._touched = memory, output, halted[j], False
        m._in = m._out = None
        if j in rngs:
            m._rng = np.random.Generator(np.random.PCG64(0))
            m._rng.bit_generator.state = rngs[j]
        elif hasattr(m, "_rng"):
            del m._rng
    run = host._run
    run.round_idx = state["round_idx"]
    run.senders, run.batched, run.fleet_out, run.touched = [], set(), [], []
    host._receivers, host._delivered, host._singles = [], [], []
    host._gathered.clear()
    host.recount()
    return int(state["round_idx"])
