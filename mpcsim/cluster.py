"""A multi-node Ray cluster on this machine: separate raylets started with `ray start`.

    info = start_local(LocalClusterConfig(nodes=2))   # head + 1 node; info.address, info.env
    mpcsim.run(..., backend="ray", address=info.address)  # from a process with info.env set
    stop()                                             # ends exactly what start_local started

`start_local` runs `ray start --head --block` and nodes - 1 `ray start --address=127.0.0.1:PORT
--block`, each in its own process group with its own ports, waits until a driver can join and
sees every node, and records the processes (pid and start time) in a state directory (default
~/.mpcsim/cluster). `stop` signals only those processes and their descendants: it never runs
`ray stop`, which ends every Ray on the machine, including other users'. The CLI is
`mpcsim cluster local|status|stop`; for clusters of real machines see clusters/ and
docker-compose.yml.

Authentication. Every Ray process and every driver must agree on RAY_AUTH_MODE: Ray 2.60's `ray
start --head` turns token auth on by itself when ~/.ray/auth_token exists (left by any earlier
local `ray.init()`), while joining nodes and drivers given an explicit address do not. So the
launcher sets the mode explicitly for every process: "token" (the default) with a fresh token
in <state_dir>/auth_token (mode 0600) named by RAY_AUTH_TOKEN_PATH, or "disabled".
`ClusterInfo.env` is what a driver needs in its environment. Token auth is on by default even
here because Ray advertises the machine's routable IP when given 127.0.0.1 and listens on every
interface.

The launch plan (`plan_local`) is pure: it returns the argv of every process; `start_local` is
the thin shell that runs it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from .errors import BackendUnavailable, ConfigError

__all__ = ["LocalClusterConfig", "NodeLaunch", "ProcessRecord", "ClusterInfo", "plan_local",
           "start_local", "stop", "status", "driver_environ", "DEFAULT_STATE_DIR", "AUTH_MODES"]

DEFAULT_STATE_DIR = Path.home() / ".mpcsim" / "cluster"
AUTH_MODES = ("token", "disabled")
LOOPBACK = "127.0.0.1"
STATE_FILE = "state.json"
TOKEN_FILE = "auth_token"
TEMP_PREFIX = "mpcsim-ray-"  # Ray's temp dir, under the system's temp dir
AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")
STOP_GRACE_S = 30.0  # a node drains, then ends its processes; after this it is killed


@dataclass(frozen=True)
class LocalClusterConfig:
    nodes: int = 2  # Ray nodes (raylets): the head plus nodes - 1 joining it
    cpus_per_node: int = 1  # CPUs each node offers; mpcsim's default workers = their total
    object_store_mb: int = 500  # each node's object store, in MB (Ray's minimum is 75)
    port: int | None = None  # the head's GCS port; None: a free one
    auth_mode: str = "token"  # RAY_AUTH_MODE of every process: "token" or "disabled"
    state_dir: Path = DEFAULT_STATE_DIR  # pids, start times, logs and the token live here
    timeout_s: float = 60.0  # how long the cluster may take to come up

    def __post_init__(self) -> None:
        problems: list[tuple[str, Any, str]] = []
        for name, minimum in (("nodes", 1), ("cpus_per_node", 0), ("object_store_mb", 75)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                problems.append((name, value, f"must be an int >= {minimum}"))
        if self.port is not None and not (isinstance(self.port, int) and 1024 <= self.port
                                          <= 65535):
            problems.append(("port", self.port, "must be None or an int in 1024..65535"))
        if self.auth_mode not in AUTH_MODES:
            problems.append(("auth_mode", self.auth_mode, f"must be one of {AUTH_MODES}"))
        if not self.timeout_s > 0:
            problems.append(("timeout_s", self.timeout_s, "must be > 0"))
        if problems:
            raise ConfigError(problems=problems)


@dataclass(frozen=True)
class NodeLaunch:
    role: str  # "head", "node-1", "node-2", ...
    argv: tuple[str, ...]  # the `ray start ... --block` command line


@dataclass(frozen=True)
class ProcessRecord:
    role: str
    pid: int  # also the process group id: each node runs in its own session
    start_ticks: int | None  # start time (Linux /proc), so a reused pid is never signalled
    log: str  # stdout and stderr of `ray start`


@dataclass(frozen=True)
class ClusterInfo:
    address: str  # "127.0.0.1:PORT": for `mpcsim run --address` and `ray.init(address=)`
    env: dict[str, str]  # what a driver needs in its environment (RAY_AUTH_MODE, ...)
    processes: tuple[ProcessRecord, ...]  # the head first
    temp_dir: str  # Ray's session files (removed by stop)
    state_dir: str
    client_address: str | None = None  # "ray://127.0.0.1:PORT" if Ray Client is installed
    alive: tuple[bool, ...] = field(default=())  # per process, filled in by status()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClusterInfo:
        processes = tuple(ProcessRecord(**p) for p in data.pop("processes"))
        return cls(processes=processes, **{k: v for k, v in data.items() if k != "alive"})


# -- the plan (pure) ----------------------------------------------------------------------------

def plan_local(config: LocalClusterConfig, gcs_port: int, agent_ports: list[int],
               temp_dir: str, client_port: int | None = None) -> tuple[NodeLaunch, ...]:
    """The `ray start` command of every node. Nodes share the machine, so each gets its own
    dashboard-agent port and OS-chosen ports for everything else (worker ports included); the
    temp dir is set on the head only (joining nodes use the head's)."""
    ray = (sys.executable, "-m", "ray.scripts.scripts", "start", "--block")
    common = (f"--node-ip-address={LOOPBACK}", f"--num-cpus={config.cpus_per_node}",
              f"--object-store-memory={config.object_store_mb * 1_000_000}",
              "--min-worker-port=0", "--max-worker-port=0", "--disable-usage-stats")
    head: tuple[str, ...] = ray + (
        "--head", f"--port={gcs_port}", "--include-dashboard=false", f"--temp-dir={temp_dir}",
        f"--dashboard-agent-listen-port={agent_ports[0]}")
    if client_port is not None:
        head += (f"--ray-client-server-port={client_port}",)
    launches = [NodeLaunch("head", head + common)]
    for i in range(1, config.nodes):
        argv = ray + (f"--address={LOOPBACK}:{gcs_port}",
                      f"--dashboard-agent-listen-port={agent_ports[i]}") + common
        launches.append(NodeLaunch(f"node-{i}", argv))
    return tuple(launches)


def driver_environ(env: Mapping[str, str], base: Mapping[str, str] | None = None
                   ) -> dict[str, str]:
    """`base` (default os.environ) with Ray's address and auth variables replaced by `env`,
    for the cluster's processes and for drivers joining it."""
    merged = {k: v for k, v in (os.environ if base is None else base).items()
              if k not in AUTH_VARS}
    merged.update(env)
    return merged


# -- the shell: start, status, stop -------------------------------------------------------------

def start_local(config: LocalClusterConfig) -> ClusterInfo:
    """Start the cluster and return its address and driver environment. Raises ConfigError if
    the state dir records a running cluster, BackendUnavailable (with the failing node's log) if
    a node exits or the cluster is not up within timeout_s; everything started is stopped."""
    state_dir = Path(config.state_dir).expanduser().resolve()
    running = _read(state_dir)
    problems: list[tuple[str, Any, str]] = []
    if running is not None and any(_ours(p) for p in running.processes):
        problems.append(("state_dir", str(state_dir), "holds a running cluster; stop it with "
                                                      "`mpcsim cluster stop` or use another"))
    if config.port is not None and not _port_free(config.port):
        problems.append(("port", config.port, "is in use on this machine; pick another, or "
                                              "omit it for a free one"))
    if problems:
        raise ConfigError(problems=problems)
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = {"RAY_AUTH_MODE": config.auth_mode}
    if config.auth_mode == "token":
        env["RAY_AUTH_TOKEN_PATH"] = _write_token(state_dir / TOKEN_FILE)
    # a short path: Ray's unix sockets live under it and are limited to ~107 characters
    temp_dir = tempfile.mkdtemp(prefix=TEMP_PREFIX)
    gcs_port, client_port, *agent_ports = _free_ports(config.nodes + 2)
    if config.port is not None:
        gcs_port = config.port
    has_client = importlib.util.find_spec("grpc") is not None  # Ray Client's dependency
    launches = plan_local(config, gcs_port, agent_ports, temp_dir,
                          client_port if has_client else None)
    info = ClusterInfo(address=f"{LOOPBACK}:{gcs_port}", env=env, processes=(),
                       temp_dir=temp_dir, state_dir=str(state_dir),
                       client_address=f"ray://{LOOPBACK}:{client_port}" if has_client else None)
    deadline = time.monotonic() + config.timeout_s
    try:
        for i, launch in enumerate(launches):
            record = _spawn(launch, driver_environ(env), state_dir)
            info = replace(info, processes=info.processes + (record,))
            _write(state_dir, info)  # recorded before waiting: `stop` can always clean up
            if i == 0:
                _wait_for_port(gcs_port, record, deadline)
        _wait_for_nodes(info, config.nodes, deadline)
    except BaseException:
        stop(state_dir)
        raise
    return info


def status(state_dir: Path | str = DEFAULT_STATE_DIR) -> ClusterInfo | None:
    """The recorded cluster with `alive` per process, or None if the state dir records none."""
    info = _read(Path(state_dir).expanduser().resolve())
    if info is None:
        return None
    return replace(info, alive=tuple(_ours(p) for p in info.processes))


def stop(state_dir: Path | str = DEFAULT_STATE_DIR) -> list[int]:
    """End the recorded cluster: SIGTERM to each node's `ray start` (each drains and ends its
    own processes), then SIGKILL to whatever of it is still alive after STOP_GRACE_S: its
    process group and the processes descended from it (Ray's workers start sessions of their
    own). Returns the pids signalled. Nothing else is touched: not other process groups, and
    not a recorded pid now used by another process."""
    state_dir = Path(state_dir).expanduser().resolve()
    info = _read(state_dir)
    if info is None:
        return []
    mine = [p for p in info.processes if _ours(p)]
    family = _descendants({p.pid for p in mine})
    for record in mine:
        _signal(record.pid, signal.SIGTERM, group=False)
    _wait_gone(mine, family, time.monotonic() + STOP_GRACE_S)
    for record in mine:
        if _group_alive(record.pid):
            _signal(record.pid, signal.SIGKILL, group=True)
    for pid, ticks in family.items():
        if _start_ticks(pid) == ticks:
            _signal(pid, signal.SIGKILL, group=False)
    if Path(info.temp_dir).name.startswith(TEMP_PREFIX):  # never remove what we did not create
        shutil.rmtree(info.temp_dir, ignore_errors=True)
    for name in (STATE_FILE, TOKEN_FILE):
        (state_dir / name).unlink(missing_ok=True)
    return [p.pid for p in mine]


# -- processes ----------------------------------------------------------------------------------

def _spawn(launch: NodeLaunch, env: dict[str, str], state_dir: Path) -> ProcessRecord:
    log = state_dir / f"{launch.role}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(launch.argv, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return ProcessRecord(launch.role, process.pid, _start_ticks(process.pid), str(log))


def _wait_for_port(port: int, head: ProcessRecord, deadline: float) -> None:
    while True:
        try:
            socket.create_connection((LOOPBACK, port), timeout=1.0).close()
            return
        except OSError:
            _check_running([head], deadline, f"the head's GCS port {port} to open")
            time.sleep(0.1)


_NODES_SCRIPT = """
import sys, time, ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
wanted, deadline = int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
alive = lambda: sum(1 for n in ray.nodes() if n["Alive"])
while alive() < wanted and time.monotonic() < deadline:
    time.sleep(0.1)
print(alive())
"""


def _wait_for_nodes(info: ClusterInfo, wanted: int, deadline: float) -> None:
    """Join as a driver would (same environment, so auth is checked too) and wait until every
    node is alive."""
    remaining = max(1.0, deadline - time.monotonic())
    argv = [sys.executable, "-c", _NODES_SCRIPT, info.address, str(wanted), str(remaining)]
    try:
        done = subprocess.run(argv, env=driver_environ(info.env), capture_output=True,
                              text=True, timeout=remaining + 10)
    except subprocess.TimeoutExpired:
        done = None
    alive = int(done.stdout.split()[-1]) if done and done.returncode == 0 and done.stdout else 0
    if alive < wanted:
        _check_running(info.processes, 0.0, f"{wanted} nodes", detail=(
            f"a driver saw {alive} alive node(s); its stderr ends: "
            + _tail_text(done.stderr if done else "(timed out)")))


def _check_running(records: list[ProcessRecord] | tuple[ProcessRecord, ...], deadline: float,
                   waiting_for: str, detail: str = "") -> None:
    """Raise BackendUnavailable, with the log's tail, if a node exited or time is up."""
    for record in records:
        if not _group_alive(record.pid):
            raise BackendUnavailable(backend="ray", address=None, reason=(
                f"the local cluster's {record.role} exited while waiting for {waiting_for}; "
                f"its log {record.log} ends: {_tail_text(Path(record.log).read_text())}"))
    if time.monotonic() >= deadline:
        raise BackendUnavailable(backend="ray", address=None, reason=(
            f"the local cluster was not up in time waiting for {waiting_for} (raise "
            f"--timeout-s, or see the logs next to {records[0].log}); {detail}".rstrip("; ")))


def _wait_gone(records: list[ProcessRecord], family: dict[int, int | None],
               deadline: float) -> None:
    while time.monotonic() < deadline:
        for record in records:  # reap it if we started it (a zombie stays in its group)
            try:
                os.waitpid(record.pid, os.WNOHANG)
            except ChildProcessError:
                pass
        if (not any(_group_alive(r.pid) for r in records)
                and not any(_start_ticks(pid) == ticks for pid, ticks in family.items())):
            return
        time.sleep(0.1)


def _ours(record: ProcessRecord) -> bool:
    """Whether the record's process group still has members and its pid is not reused.
    (Linux never gives a new process the id of a live process group.)"""
    ticks = _start_ticks(record.pid)
    if ticks is not None and record.start_ticks is not None and ticks != record.start_ticks:
        return False
    return _group_alive(record.pid)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # the group exists but is not ours
        return False
    return True


def _signal(pid: int, signum: int, group: bool) -> None:
    try:
        (os.killpg if group else os.kill)(pid, signum)
    except ProcessLookupError:
        pass


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if it is gone, a zombie,
    or unknown (no /proc: not Linux)."""
    stat = _proc_stat(pid)
    return stat[3] if stat is not None else None


def _descendants(pgids: set[int]) -> dict[int, int | None]:
    """pid -> start ticks of every live process in the groups `pgids` or descended from one."""
    table = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        stat = _proc_stat(int(entry)) if entry.isdigit() else None
        if stat is not None:
            table[int(entry)] = stat
    family = {pid for pid, (_, _, pgid, _) in table.items() if pgid in pgids}
    grown = True
    while grown:
        children = {pid for pid, (_, ppid, _, _) in table.items() if ppid in family}
        grown = not children <= family
        family |= children
    return {pid: table[pid][3] for pid in family}


def _proc_stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, ppid, pgid, start ticks) from /proc/PID/stat; None if gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    if fields[0] in "ZX":
        return None
    return fields[0], int(fields[1]), int(fields[2]), int(fields[19])  # stat fields 3-5, 22


# -- files and ports ----------------------------------------------------------------------------

def _write_token(path: Path) -> str:
    path.unlink(missing_ok=True)  # created afresh, so readable by this user only
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))  # 256 bits, as `ray get-auth-token --generate`
    return str(path)


def _write(state_dir: Path, info: ClusterInfo) -> None:
    tmp = state_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(info.to_dict(), indent=1))
    tmp.replace(state_dir / STATE_FILE)


def _read(state_dir: Path) -> ClusterInfo | None:
    try:
        return ClusterInfo.from_dict(json.loads((state_dir / STATE_FILE).read_text()))
    except FileNotFoundError:
        return None


def _free_ports(count: int) -> list[int]:
    """`count` distinct ports free right now (held open together so none repeats)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind((LOOPBACK, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("", port))
        except OSError:
            return False
    return True


def _tail_text(text: str, lines: int = 15) -> str:
    return "\n" + "\n".join(text.strip().splitlines()[-lines:])
