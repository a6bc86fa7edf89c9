"""mpcsim.cluster without Ray: the launch plan, the config's checks, the driver environment, and
that `stop` ends what the state records (descendants included) and nothing else. The real
multi-node run is in tests/test_cluster_multinode.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from mpcsim import ConfigError
from mpcsim import cluster
from mpcsim.cli import main


def plan(nodes: int = 3) -> tuple[cluster.NodeLaunch, ...]:
    config = cluster.LocalClusterConfig(nodes=nodes, cpus_per_node=1, object_store_mb=100)
    return cluster.plan_local(config, 6390, [7001, 7002, 7003][:nodes], "/tmp/mpcsim-ray-x")


def test_the_plan_starts_one_blocking_head_and_joins_every_other_node_to_its_address() -> None:
    head, *others = plan(3)
    assert [launch.role for launch in plan(3)] == ["head", "node-1", "node-2"]
    assert head.argv[2:5] == ("ray.scripts.scripts", "start", "--block")
    assert "--head" in head.argv and "--port=6390" in head.argv
    assert "--temp-dir=/tmp/mpcsim-ray-x" in head.argv
    for launch in others:
        assert "--block" in launch.argv and "--address=127.0.0.1:6390" in launch.argv
        assert "--head" not in launch.argv and not any(
            a.startswith(("--port=", "--temp-dir=", "--include-dashboard")) for a in launch.argv)


def test_nodes_on_one_machine_get_their_own_agent_ports_and_os_chosen_worker_ports() -> None:
    launches = plan(3)
    agent_ports = [a for launch in launches for a in launch.argv
                   if a.startswith("--dashboard-agent-listen-port=")]
    assert agent_ports == [f"--dashboard-agent-listen-port={p}" for p in (7001, 7002, 7003)]
    for launch in launches:
        assert {"--min-worker-port=0", "--max-worker-port=0", "--num-cpus=1",
                "--object-store-memory=100000000"} <= set(launch.argv)


def test_an_invalid_config_names_every_bad_field_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        cluster.LocalClusterConfig(nodes=0, object_store_mb=10, port=80, auth_mode="open")
    fields = [problem[0] for problem in info.value.problems]
    assert fields == ["nodes", "object_store_mb", "port", "auth_mode"]


def test_the_driver_environment_replaces_ray_address_and_auth_variables() -> None:
    base = {"PATH": "/bin", "RAY_ADDRESS": "10.0.0.1:6379", "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": "stale"}
    env = cluster.driver_environ({"RAY_AUTH_MODE": "disabled"}, base)
    assert env == {"PATH": "/bin", "RAY_AUTH_MODE": "disabled"}


def test_status_and_stop_of_an_empty_state_dir_do_nothing(tmp_path: Path) -> None:
    assert cluster.status(tmp_path) is None
    assert cluster.stop(tmp_path) == []
    assert main(["cluster", "status", "--state-dir", str(tmp_path)]) == 1
    assert main(["cluster", "stop", "--state-dir", str(tmp_path)]) == 0


# -- stop ends exactly what was recorded --------------------------------------------------------

# A stand-in for `ray start --block`: exits on SIGTERM, leaving a child in a session of its
# own (as Ray's workers are), which only `stop`'s descendant sweep can end.
LEADER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                         start_new_session=True)
print(child.pid, flush=True)
time.sleep(60)
"""


def spawn(code: str, new_session: bool = True) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            start_new_session=new_session)


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[str]]:
    """A process `stop` must never touch."""
    process = spawn("import time; time.sleep(60)")
    yield process
    process.kill()
    process.wait()


def record(tmp_path: Path, pid: int, start_ticks: int | None) -> None:
    info = cluster.ClusterInfo(
        address="127.0.0.1:1", env={}, temp_dir=str(tmp_path / "not-ours"),
        state_dir=str(tmp_path),
        processes=(cluster.ProcessRecord("head", pid, start_ticks, str(tmp_path / "h.log")),))
    (tmp_path / "state.json").write_text(json.dumps(info.to_dict()))


def alive(pid: int) -> bool:
    return cluster._start_ticks(pid) is not None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_stop_ends_the_recorded_group_and_its_descendants_and_nothing_else(
        tmp_path: Path, bystander: subprocess.Popen[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster, "STOP_GRACE_S", 1.0)
    leader = spawn(LEADER)
    assert leader.stdout is not None
    child = int(leader.stdout.readline())
    (tmp_path / "not-ours").mkdir()
    record(tmp_path, leader.pid, cluster._start_ticks(leader.pid))
    assert cluster.stop(tmp_path) == [leader.pid]
    assert leader.wait(timeout=5) is not None
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)
    assert bystander.poll() is None and alive(bystander.pid)
    assert (tmp_path / "not-ours").is_dir(), "stop removes only temp dirs it created"
    assert cluster.status(tmp_path) is None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_stop_leaves_a_recorded_pid_alone_once_another_process_has_it(
        tmp_path: Path, bystander: subprocess.Popen[str]) -> None:
    ticks = cluster._start_ticks(bystander.pid)
    assert ticks is not None
    record(tmp_path, bystander.pid, ticks - 1)  # the pid now belongs to a later process
    assert cluster.stop(tmp_path) == []
    time.sleep(0.2)
    assert bystander.poll() is None


def test_a_state_dir_with_a_running_cluster_is_refused(
        tmp_path: Path, bystander: subprocess.Popen[str]) -> None:
    record(tmp_path, bystander.pid, cluster._start_ticks(bystander.pid))
    with pytest.raises(ConfigError, match="running cluster"):
        cluster.start_local(cluster.LocalClusterConfig(state_dir=tmp_path))
    assert os.path.exists(tmp_path / "state.json")


def test_status_text_says_alive_or_dead_for_each_node(
        tmp_path: Path, bystander: subprocess.Popen[str],
        capsys: pytest.CaptureFixture[str]) -> None:
    gone = spawn("pass")
    gone.wait()
    info = cluster.ClusterInfo(
        address="127.0.0.1:1", env={}, temp_dir=str(tmp_path / "not-ours"),
        state_dir=str(tmp_path), processes=(
            cluster.ProcessRecord("head", bystander.pid, cluster._start_ticks(bystander.pid),
                                  str(tmp_path / "head.log")),
            cluster.ProcessRecord("node-1", gone.pid, None, str(tmp_path / "node-1.log"))))
    (tmp_path / "state.json").write_text(json.dumps(info.to_dict()))

    assert main(["cluster", "status", "--state-dir", str(tmp_path)]) == 1

    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()
            if line.strip()}
    assert rows["nodes"][:4] == ["1", "of", "2", "alive"]
    assert rows["head"][0] == "alive" and rows["node-1"][0] == "dead"
    assert "some" in rows, "a cluster with a dead node says so instead of how to use it"


def test_nodes_are_named_by_ip_with_the_raylet_port_only_where_nodes_share_an_ip() -> None:
    pytest.importorskip("ray")
    from mpcsim.backends.ray_actors import node_names

    def node(node_id: str, ip: str, port: int, name: str = "") -> dict[str, object]:
        return {"NodeID": node_id, "NodeName": name or ip, "NodeManagerAddress": ip,
                "NodeManagerPort": port, "Alive": True}

    assert node_names([node("a" * 56, "10.0.0.1", 7001), node("b" * 56, "10.0.0.2", 7001),
                       node("c" * 56, "10.0.0.2", 7002), node("d" * 56, "10.0.0.3", 7001,
                                                                 "worker-3")]) == {
        "a" * 56: "10.0.0.1", "b" * 56: "10.0.0.2:7001", "c" * 56: "10.0.0.2:7002",
        "d" * 56: "worker-3"}
