"""The Ray backend: each host (a block of logical machines) lives in one Ray actor.

A round: the driver calls `step` on every actor (the barrier is `ray.get` of all replies).
An actor (Ray having fetched the object-store frames passed to it) delivers the frames, runs its machines (mpcsim.host.Host does all the
work), and publishes one frame per destination actor: frames larger than INLINE_BYTES are
`ray.put` into the object store by the sending actor and only their ObjectRefs travel, through
the driver, to the receiving actor, fetched by Ray straight from the sender's node; the receiver's arrays are
zero-copy views of the object store's shared memory. Small frames ride inline with the reply,
as Ray itself inlines small task results. The driver handles references and control data only.

Frame contents are msgpack plus raw uint8 buffers (mpcsim.wire); Ray's own serialization only
ever sees bytes and uint8 arrays on the data path, never user objects.

Actors are pooled: a run takes idle actors from the pool (starting more if needed, spread over
the cluster's nodes) and returns them when it succeeds; after any error they are killed.
`shutdown()` kills the pool and stops the Ray instance mpcsim started, if any.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
import time
from typing import Any

import ray

from .. import wire
from ..config import RunConfig
from ..errors import BackendUnavailable, MPCError
from ..host import Host, HostSummary, Layout, StepReport
from ..program import Program

__all__ = ["RayBackend", "connect", "shutdown", "idle_actors", "INLINE_BYTES"]

INLINE_BYTES = 64 * 1024  # frames up to this size travel inline with the step reply
CONNECT_TIMEOUT_S = 10.0  # a "host:port" address that does not answer this fast is refused

_lock = threading.Lock()
_pool: list[Any] = []  # idle HostActor handles of the current Ray session
_pool_session: str | None = None
_started_here = False


@ray.remote(num_cpus=0, max_restarts=0)
class HostActor:
    """A thin shell holding one Host; every method delegates to it."""

    def __init__(self) -> None:
        self.host: Host | None = None
        self.round_idx = 0

    def start(self, program: Program, config: RunConfig, layout: Layout, host: int,
              initial: wire.Frame) -> dict[str, str]:
        self.host = Host(program, config, layout, host, wire.decode(initial, writable=True))
        self.round_idx = 0
        ctx = ray.get_runtime_context()
        return {"node": ctx.get_node_id(), "actor": ctx.get_actor_id() or "",
                "ip": ray.util.get_node_ip_address(), "pid": str(os.getpid())}

    def step(self, *inbound: Any) -> Any:
        """One round. `inbound`: frames for this host, inline or as object-store refs (which
        Ray fetches before the call). The actor counts rounds itself, so an empty round is a
        call with no arguments, as cheap as a bare Ray call."""
        assert self.host is not None, "step before start"
        frames = [item if isinstance(item, wire.Frame) else wire.Frame(*item) for item in inbound]
        report = self.host.step(self.round_idx, frames)
        self.round_idx += 1
        t1 = time.perf_counter()
        report.outbound = {h: _publish(frame) for h, frame in report.outbound.items()}
        report.exchange_s += time.perf_counter() - t1
        return report.pack()

    def deliver(self, *inbound: Any) -> Any:
        """Deliver without computing: lets the driver see a failed round's receive checks."""
        assert self.host is not None, "deliver before start"
        frames = [item if isinstance(item, wire.Frame) else wire.Frame(*item) for item in inbound]
        return self.host.step(self.round_idx, frames, compute=False).pack()

    def summary(self) -> HostSummary:
        assert self.host is not None, "summary before start"
        summary = self.host.summary()
        self.host = None
        return summary

    def ping(self) -> None:
        """Do nothing: the unit of a bare Ray barrier, for benchmarks."""

    def call(self, fn: Any, *args: Any) -> Any:
        """Run fn(*args) in this actor's process (benchmarks and diagnostics)."""
        return fn(*args)


def _publish(frame: wire.Frame) -> Any:
    if frame.nbytes <= INLINE_BYTES:
        return frame
    return ray.put((frame.header, frame.buffers))


# -- the driver side ----------------------------------------------------------------------------


def connect(address: str | None = None) -> None:
    """Join the Ray cluster at `address`, or start a local Ray when None (reused if running)."""
    global _started_here
    if address not in (None, "auto", "local"):
        _probe(address)
    if ray.is_initialized():
        current = ray.get_runtime_context().gcs_address
        if address in (None, "auto", "local") or address.split("://")[-1] == current:
            return
        raise BackendUnavailable(
            backend="ray", address=address,
            reason=f"this process is already connected to the Ray cluster at {current}; call "
                   f"mpcsim.backends.ray_actors.shutdown() and ray.shutdown() first")
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING,
                 configure_logging=True)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
        raise BackendUnavailable(backend="ray", address=address,
                                 reason=f"{type(exc).__name__}: {exc}") from None
    if address is None:
        _started_here = True
        atexit.register(shutdown)


def _probe(address: str) -> None:
    """Fail fast (instead of Ray's long retries) when nothing listens at host:port."""
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise BackendUnavailable(backend="ray", address=address,
                                 reason="expected 'host:port', 'auto' or 'ray://host:port'")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise BackendUnavailable(backend="ray", address=address,
                                 reason=f"nothing answers at {host}:{port} ({exc})") from None


def shutdown() -> None:
    """Kill pooled actors, and stop Ray if mpcsim started it."""
    global _started_here, _pool_session
    with _lock:
        for actor in _pool:
            _kill(actor)
        _pool.clear()
        _pool_session = None
    if _started_here and ray.is_initialized():
        ray.shutdown()
    _started_here = False


def _take(count: int) -> list[Any]:
    global _pool_session
    session = ray.get_runtime_context().get_job_id()
    with _lock:
        if _pool_session != session:
            _pool.clear()
            _pool_session = session
        taken = [_pool.pop() for _ in range(min(count, len(_pool)))]
    strategy = "SPREAD"
    taken += [HostActor.options(scheduling_strategy=strategy).remote()
              for _ in range(count - len(taken))]
    return taken


def idle_actors() -> list[Any]:
    """The pooled host actors not in use (benchmarks call `ping`/`call` on them)."""
    with _lock:
        return list(_pool)


def _give_back(actors: list[Any]) -> None:
    with _lock:
        _pool.extend(actors)


def _kill(actor: Any) -> None:
    try:
        ray.kill(actor, no_restart=True)
    except Exception:  # already dead, or Ray is gone: nothing left to clean
        pass


class RayBackend:
    name = "ray"

    def __init__(self, address: str | None = None) -> None:
        connect(address)
        self.actors: list[Any] = []
        self.placement: list[dict[str, str]] = []
        self._ok = False

    def available_workers(self) -> int:
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def start(self, program: Program, config: RunConfig, layout: Layout,
              initial: list[wire.Frame]) -> None:
        self.actors = _take(layout.num_hosts)
        self.placement = self._get([
            actor.start.remote(program, config, layout, h, initial[h])
            for h, actor in enumerate(self.actors)
        ])

    def step(self, round_idx: int, inbound: list[list[Any]],
             compute: bool = True) -> list[StepReport]:
        calls = [(actor.step if compute else actor.deliver).remote(*frames)
                 for actor, frames in zip(self.actors, inbound)]
        return [StepReport.unpack(packed) for packed in self._get(calls)]

    def finish(self) -> list[HostSummary]:
        summaries = self._get([actor.summary.remote() for actor in self.actors])
        for summary, where in zip(summaries, self.placement):
            summary.node, summary.actor = where["node"], where["actor"]
        self._ok = True
        return summaries

    def close(self) -> None:
        if self._ok:
            _give_back(self.actors)
        else:
            for actor in self.actors:
                _kill(actor)
        self.actors = []

    def _get(self, futures: list[Any]) -> list[Any]:
        try:
            return ray.get(futures)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, MPCError):
                raise cause from None
            raise
        except ray.exceptions.RayActorError as exc:
            raise BackendUnavailable(backend="ray", address=None,
                                     reason=f"a host actor died: {exc}") from None
