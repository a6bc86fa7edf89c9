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

Placement: host h runs on node h mod k of the cluster's k alive nodes that offer CPUs (every
alive node if none does), sorted by node id, so a run of W >= k hosts uses every node; each new
actor is pinned to its node (NodeAffinitySchedulingStrategy). Ray's "SPREAD" strategy is not
enough: with num_cpus=0 actors it may put two hosts of a 2-node cluster on one node. Traces
name a node as `node_names` does: its IP (or `--node-name`), plus the raylet's port where
several nodes share one machine.

Joining a cluster ("host:port") first checks that something answers and that it accepts this
process's Ray auth token (`_check_token`), so a missing or wrong token fails in about a second
with one message instead of Ray's ~20 s of retries.

Actors are pooled per node: a run takes idle actors from each node's pool (starting more where
needed) and returns them when it succeeds; after any error they are killed.

Recovery (mpcsim.recovery): every checkpoint_every rounds `checkpoint_step` replies with the
host's snapshot and keeps its frames inline, so the driver owns both (an object an actor
`ray.put` dies with it). When a step finds actors dead (RayActorError) or a frame lost with its
owner (ObjectLostError), `step` raises HostsLost with the other hosts' reports; `replace` starts
new actors on alive nodes (avoiding the nodes hosts were just lost on, when others remain) and
restores their snapshots. An injected Fault makes the actor SIGKILL its own process.
`shutdown()` kills the pool and stops the Ray instance mpcsim started, if any.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from typing import Any, Iterator

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from .. import wire
from ..config import RunConfig
from ..errors import BackendUnavailable, MPCError
from ..host import Host, HostSummary, Layout, StepReport
from ..program import Program
from ..recovery import HostsLost

__all__ = ["RayBackend", "connect", "shutdown", "idle_actors", "node_names", "INLINE_BYTES"]

INLINE_BYTES = 64 * 1024  # frames up to this size travel inline with the step reply
CONNECT_TIMEOUT_S = 10.0  # a "host:port" address that does not answer this fast is refused
AUTH_CHECK_TIMEOUT_S = 2.0  # the token check's GCS call (it answers in ~0.1 s)

_lock = threading.Lock()
_pool: dict[str, list[Any]] = {}  # idle HostActor handles of the current Ray session, by node id
_pool_session: str | None = None
_started_here = False
_joined: tuple[str, str] | None = None  # (address given, GCS address) of the cluster joined


@ray.remote(num_cpus=0, max_restarts=0)
class HostActor:
    """A thin shell holding one Host; every method delegates to it."""

    def __init__(self) -> None:
        self.host: Host | None = None
        self.round_idx = 0

    def start(self, program: Program, config: RunConfig, layout: Layout, host: int,
              initial: wire.Frame, faults: tuple[tuple[int, str], ...] = (),
              snapshot: wire.Frame | None = None, plan: Any = None) -> dict[str, str]:
        """Build the host from its input and the run's plan, or restore it from `snapshot`;
        `faults`: (round, phase) at which this actor kills its own process."""
        self.host = Host(program, config, layout, host, wire.decode(initial, writable=True),
                         plan)
        self.round_idx = 0 if snapshot is None else self.host.restore(_frame(snapshot)) + 1
        self.faults = set(faults)
        ctx = ray.get_runtime_context()
        return {"node": ctx.get_node_id(), "actor": ctx.get_actor_id() or "",
                "ip": ray.util.get_node_ip_address(), "pid": str(os.getpid())}

    def step(self, *inbound: Any) -> Any:
        """One round. `inbound`: frames for this host, inline or as object-store refs (which
        Ray fetches before the call). The actor counts rounds itself, so an empty round is a
        call with no arguments, as cheap as a bare Ray call."""
        report = self._step(inbound)
        t1 = time.perf_counter()
        report.outbound = {h: _publish(frame) for h, frame in report.outbound.items()}
        report.exchange_s += time.perf_counter() - t1
        return report.pack()

    def checkpoint_step(self, *inbound: Any) -> tuple[Any, wire.Frame]:
        """One round, then the host's snapshot; the frames stay inline in the reply, so the
        driver (the reply's owner) holds them and the snapshot (mpcsim.recovery)."""
        report = self._step(inbound)
        return report.pack(), self.host.snapshot(self.round_idx - 1)  # type: ignore[union-attr]

    def _step(self, inbound: tuple[Any, ...]) -> StepReport:
        assert self.host is not None, "step before start"
        if self.faults:
            self._fault("deliver")
        frames = [item if isinstance(item, wire.Frame) else wire.Frame(*item) for item in inbound]
        report = self.host.step(self.round_idx, frames)
        if self.faults:
            self._fault("compute")
        self.round_idx += 1
        return report

    def _fault(self, phase: str) -> None:
        if (self.round_idx, phase) in self.faults:  # an injected fault: a real kill
            os.kill(os.getpid(), signal.SIGKILL)

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

    def pid(self) -> int:
        """This actor's process id (fault-injection tests kill it)."""
        return os.getpid()

    def ping(self) -> None:
        """Do nothing: the unit of a bare Ray barrier, for benchmarks."""

    def call(self, fn: Any, *args: Any) -> Any:
        """Run fn(*args) in this actor's process (benchmarks and diagnostics)."""
        return fn(*args)


def _frame(item: Any) -> wire.Frame:
    return item if isinstance(item, wire.Frame) else wire.Frame(*item)


def _publish(frame: wire.Frame) -> Any:
    if frame.nbytes <= INLINE_BYTES:
        return frame
    return ray.put((frame.header, frame.buffers))


# -- the driver side ----------------------------------------------------------------------------


def connect(address: str | None = None) -> None:
    """Join the Ray cluster at `address`, or start a local Ray when None (reused if running)."""
    global _started_here, _joined
    if address not in (None, "auto", "local"):
        _probe(address)
    if ray.is_initialized():
        current = ray.get_runtime_context().gcs_address
        if (address in (None, "auto", "local") or address.split("://")[-1] == current
                or _joined == (address, current)):  # e.g. joined "127.0.0.1:P", GCS "10.0.0.5:P"
            return
        raise BackendUnavailable(
            backend="ray", address=address,
            reason=f"this process is already connected to the Ray cluster at {current}; call "
                   f"mpcsim.backends.ray_actors.shutdown() and ray.shutdown() first")
    if address not in (None, "auto", "local") and "://" not in address:
        _check_token(address)  # a GCS "host:port" (Ray Client checks auth itself)
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING,
                 configure_logging=True)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
        hint = ("" if address is None else
                "; if the cluster uses token authentication, set RAY_AUTH_MODE=token and "
                "RAY_AUTH_TOKEN_PATH (or RAY_AUTH_TOKEN) in this process's environment")
        raise BackendUnavailable(backend="ray", address=address,
                                 reason=f"{type(exc).__name__}: {exc}{hint}") from None
    if address is None:
        _started_here = True
        atexit.register(shutdown)
    else:
        _joined = (address, ray.get_runtime_context().gcs_address)


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


def _check_token(address: str) -> None:
    """Fail fast on a token mismatch. One GCS call with this process's auth settings (read by
    Ray at import) answers in well under a second; ray.init would retry for ~20 s, printing
    a warning a second. Ray's own one-line warning of the refused call is swallowed."""
    try:
        from ray._raylet import InnerGcsClient  # Ray's GCS client (what ray.init uses)
    except ImportError:  # another Ray version: ray.init's own (slow) failure remains
        return
    try:
        with _stderr_swallowed():
            InnerGcsClient.standalone(address, None, int(AUTH_CHECK_TIMEOUT_S * 1000))
    except ray.exceptions.AuthenticationError:
        raise BackendUnavailable(backend="ray", address=address,
                                 reason=_token_advice()) from None
    except Exception:  # anything else (a timeout, not a GCS): ray.init reports it
        pass


def _token_advice() -> str:
    mode = os.environ.get("RAY_AUTH_MODE")
    if mode != "token":
        sent = f"no token (RAY_AUTH_MODE is {'unset' if mode is None else repr(mode)})"
    elif os.environ.get("RAY_AUTH_TOKEN"):
        sent = "the token in RAY_AUTH_TOKEN, which is not the cluster's"
    else:
        path = os.environ.get("RAY_AUTH_TOKEN_PATH", "~/.ray/auth_token")
        sent = f"the token in {path}, which is not the cluster's"
    return (f"the cluster requires Ray token authentication and this process sent {sent}; set "
            f"RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH=<the cluster's token file> (or "
            f"RAY_AUTH_TOKEN) in this process's environment (`mpcsim cluster local` prints both)")


@contextlib.contextmanager
def _stderr_swallowed() -> Iterator[None]:
    """File descriptor 2 goes to a temporary file for the block (Ray's C++ logs there)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def shutdown() -> None:
    """Kill pooled actors, and stop Ray if mpcsim started it."""
    global _started_here, _pool_session
    with _lock:
        for actor in (a for actors in _pool.values() for a in actors):
            _kill(actor)
        _pool.clear()
        _pool_session = None
    if _started_here and ray.is_initialized():
        ray.shutdown()
    _started_here = False


def _take(count: int) -> list[Any]:
    """`count` actors, host h on node h mod k of the k nodes: pooled ones first."""
    global _pool_session
    session = ray.get_runtime_context().get_job_id()
    nodes = _spread_nodes()
    wanted = [nodes[h % len(nodes)] for h in range(count)]
    with _lock:
        if _pool_session != session:
            _pool.clear()
            _pool_session = session
        taken = [_pool[node].pop() if _pool.get(node) else None for node in wanted]
    return [actor if actor is not None else HostActor.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote()
            for actor, node in zip(taken, wanted)]


def _spread_nodes() -> list[str]:
    """Ids of the alive nodes that offer CPUs (all alive nodes if none does), sorted."""
    alive = [n for n in ray.nodes() if n.get("Alive")]
    with_cpus = [n for n in alive if n.get("Resources", {}).get("CPU", 0) > 0]
    return sorted(n["NodeID"] for n in with_cpus or alive)


def node_names(nodes: list[dict[str, Any]]) -> dict[str, str]:
    """Node id -> the name a user knows the node by (`ray.nodes()` entries in, alive or not):
    its NodeName (the node's IP unless `ray start --node-name` set one), with the raylet's
    port appended where nodes share a name (several Ray nodes on one machine)."""
    named = [(n["NodeID"], n.get("NodeName") or n.get("NodeManagerAddress") or n["NodeID"],
              n.get("NodeManagerPort")) for n in nodes]
    counts: dict[str, int] = {}
    for _, name, _ in named:
        counts[name] = counts.get(name, 0) + 1
    return {node: name if counts[name] == 1 or port is None else f"{name}:{port}"
            for node, name, port in named}


def idle_actors() -> list[Any]:
    """The pooled host actors not in use (benchmarks call `ping`/`call` on them)."""
    with _lock:
        return [actor for actors in _pool.values() for actor in actors]


def _give_back(actors: list[Any], nodes: list[str]) -> None:
    with _lock:
        for actor, node in zip(actors, nodes):
            _pool.setdefault(node, []).append(actor)


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
        self._start: tuple[Program, RunConfig, Layout, list[wire.Frame], Any] = None  # type: ignore
        self._dead: set[int] = set()  # hosts whose actors died, until replaced

    def available_workers(self) -> int:
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def start(self, program: Program, config: RunConfig, layout: Layout,
              initial: list[wire.Frame], plan: Any = None) -> None:
        self._start = (program, config, layout, initial, plan)
        self.actors = _take(layout.num_hosts)
        self.placement = self._get([
            actor.start.remote(program, config, layout, h, initial[h], self._faults(h, -1),
                               None, plan)
            for h, actor in enumerate(self.actors)
        ])
        names = node_names(ray.nodes())
        for where in self.placement:
            where["name"] = names.get(where["node"], where["node"])

    def step(self, round_idx: int, inbound: list[list[Any]], compute: bool = True,
             checkpoint: bool = False, hosts: list[int] | None = None) -> list[StepReport]:
        chosen = range(len(self.actors)) if hosts is None else hosts
        calls = [(self.actors[h].checkpoint_step if checkpoint else
                  self.actors[h].step if compute else self.actors[h].deliver).remote(*inbound[h])
                 for h in chosen]
        try:
            replies = ray.get(calls)
        except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError):
            raise self._lost(round_idx, list(chosen), calls, checkpoint) from None
        except ray.exceptions.RayTaskError as exc:
            raise _cause(exc) from None
        return [_report(reply, checkpoint) for reply in replies]

    def replace(self, snapshots: dict[int, wire.Frame | None], after_round: int
                ) -> dict[int, str]:
        """New actors for `snapshots`' hosts, on alive nodes other than those hosts were just
        lost on (when any remain), restored from the snapshots (None: the run's input)."""
        program, config, layout, initial, plan = self._start
        nodes = _spread_nodes()
        left = {self.placement[h]["node"] for h in self._dead} - {None}
        nodes = [n for n in nodes if n not in left] or nodes
        hosts = sorted(snapshots)
        for h in hosts:
            _kill(self.actors[h])
            self.actors[h] = HostActor.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
                nodes[h % len(nodes)], soft=True)).remote()
        calls = [self.actors[h].start.remote(program, config, layout, h, initial[h],
                                             self._faults(h, after_round), snapshots[h], plan)
                 for h in hosts]
        try:
            placed = ray.get(calls)
        except ray.exceptions.RayActorError:
            raise self._lost(after_round, hosts, calls, False) from None
        names = node_names(ray.nodes())
        for h, where in zip(hosts, placed):
            where["name"] = names.get(where["node"], where["node"])
            self.placement[h] = where
            self._dead.discard(h)
        return {h: self.placement[h]["name"] for h in hosts}

    def _faults(self, host: int, after_round: int) -> tuple[tuple[int, str], ...]:
        return tuple((f.round_idx, f.phase) for f in self._start[1].faults
                     if f.host == host and f.round_idx > after_round)

    def _lost(self, round_idx: int, chosen: list[int], calls: list[Any],
              checkpoint: bool) -> HostsLost:
        """Sort a failed step's hosts: done (their reports), dead actors, and live actors
        whose step did not run because an inbound frame died with its owner."""
        reports: dict[int, StepReport] = {}
        lost: dict[int, str] = {}
        stale: set[int] = set()
        names = [where["name"] for where in self.placement]
        for h, call in zip(chosen, calls):
            try:
                reports[h] = _report(ray.get(call), checkpoint)
            except ray.exceptions.RayActorError:
                lost[h] = names[h]
                self._dead.add(h)
                _kill(self.actors[h])
            except ray.exceptions.ObjectLostError:
                stale.add(h)
            except ray.exceptions.RayTaskError as exc:
                raise _cause(exc) from None
        return HostsLost(round_idx, lost, stale, reports, names)

    def finish(self) -> list[HostSummary]:
        summaries = self._get([actor.summary.remote() for actor in self.actors])
        for summary, where in zip(summaries, self.placement):
            summary.node, summary.actor = where["name"], where["actor"]
        self._ok = True
        return summaries

    def close(self) -> None:
        if self._ok:
            _give_back(self.actors, [where["node"] for where in self.placement])
        else:
            for actor in self.actors:
                _kill(actor)
        self.actors = []

    def _get(self, futures: list[Any]) -> list[Any]:
        try:
            return ray.get(futures)
        except ray.exceptions.RayTaskError as exc:
            raise _lowest_cause(futures, exc) from None
        except ray.exceptions.RayActorError as exc:
            raise BackendUnavailable(backend="ray", address=None,
                                     reason=f"a host actor died: {exc}") from None


def _lowest_cause(futures: list[Any], first: Any) -> BaseException:
    """Of every failed call in `futures`, the error of the lowest machine (ray.get raises
    whichever failure it meets first, which depends on timing); else `first`'s cause."""
    causes = []
    for future in futures:
        try:
            ray.get(future)
        except ray.exceptions.RayTaskError as exc:
            causes.append(_cause(exc))
        except Exception:  # noqa: BLE001 (a lost actor: the first failure stands)
            pass
    located = [c for c in causes if isinstance(getattr(c, "machine", None), int)]
    return min(located, key=lambda c: c.machine) if located else _cause(first)


def _cause(exc: Any) -> Exception:
    """A failed actor call's error: the MPCError it raised, else Ray's error."""
    return exc.cause if isinstance(exc.cause, MPCError) else exc


def _report(reply: Any, checkpoint: bool) -> StepReport:
    if not checkpoint:
        return StepReport.unpack(reply)
    packed, snapshot = reply
    report = StepReport.unpack(packed)
    report.snapshot = _frame(snapshot)
    return report
