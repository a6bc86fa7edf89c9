"""A real multi-node run: `mpcsim cluster local` starts a head and one more node on this machine
(separate `ray start` processes with their own ports), jobs join it with --address, and
`mpcsim cluster stop` ends it. Every job runs in a subprocess: this pytest process may already
be a driver of the session's Ray (tests/conftest.py), and a driver joins one cluster only.
Marked slow (~45 s of process starts and stops): the default run skips it, CI runs it."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from mpcsim import cluster

pytestmark = [pytest.mark.ray, pytest.mark.cluster, pytest.mark.slow]

JOB_TIMEOUT_S = 120


def mpcsim_cli(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "mpcsim.cli", *args], capture_output=True,
                          text=True, env=env, timeout=JOB_TIMEOUT_S)
    assert done.returncode == 0, f"mpcsim {' '.join(args)}: {done.stderr[-3000:]}"
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A 2-node cluster, as `mpcsim cluster local` starts it; stopped even if a test fails."""
    state_dir = tmp_path_factory.mktemp("cluster")
    try:
        yield mpcsim_cli("cluster", "local", "--nodes", "2", "--object-store-mb", "100",
                         "--state-dir", str(state_dir), "--json")
    finally:
        cluster.stop(state_dir)


def driver_env(info: dict[str, Any]) -> dict[str, str]:
    return cluster.driver_environ(info["env"])


def test_a_job_given_the_address_is_verified_and_its_machines_ran_on_both_nodes_named_by_ip(
        two_nodes: dict[str, Any], tmp_path: Path) -> None:
    assert two_nodes["nodes"] == 2 and two_nodes["env"]["RAY_AUTH_MODE"] == "token"
    trace_path, chrome_path = tmp_path / "trace.json", tmp_path / "chrome.json"
    report = mpcsim_cli("run", "all-reduce", "--n", "10000", "--backend", "ray", "--address",
                        two_nodes["address"], "--json", "--trace-out", str(trace_path),
                        "--chrome-trace", str(chrome_path), env=driver_env(two_nodes))
    assert report["verified"] is True
    assert report["nodes"] == 2 and report["workers"] == 2
    assert len(report["machines_per_node"]) == 2
    assert sum(report["machines_per_node"].values()) == report["machines"]
    names = set(report["machines_per_node"])
    assert len(names) == 2
    for name in names:  # both nodes share this machine's IP: "IP:raylet port", not a hex id
        ip, port = name.rsplit(":", 1)
        ipaddress.ip_address(ip)
        assert port.isdigit()
    hosts = json.loads(trace_path.read_text())["hosts"]
    assert {host["node"] for host in hosts} == names
    labels = [e["args"]["name"] for e in json.loads(chrome_path.read_text())["traceEvents"]
              if e["ph"] == "M"]
    for name in names:
        assert any(name in label for label in labels), (name, labels)


AUTH_MISMATCH = """
import sys, time
import mpcsim

def halt(machine):
    machine.halt()

started = time.monotonic()
try:
    mpcsim.run(halt, num_machines=2, memory_words=1, backend="ray", address=sys.argv[1])
except mpcsim.BackendUnavailable as exc:
    print(time.monotonic() - started)
    print(exc)
"""


@pytest.mark.parametrize("token", ["none", "wrong"])
def test_a_driver_without_the_clusters_token_fails_within_3_s_with_one_message(
        two_nodes: dict[str, Any], tmp_path: Path, token: str) -> None:
    env = driver_env(two_nodes)
    if token == "none":
        del env["RAY_AUTH_MODE"], env["RAY_AUTH_TOKEN_PATH"]
    else:
        (tmp_path / "token").write_text("0" * 64)
        env["RAY_AUTH_TOKEN_PATH"] = str(tmp_path / "token")
    done = subprocess.run([sys.executable, "-c", AUTH_MISMATCH, two_nodes["address"]],
                          capture_output=True, text=True, env=env, timeout=JOB_TIMEOUT_S)
    assert done.stdout, f"no BackendUnavailable: {done.stderr[-2000:]}"
    seconds, message = done.stdout.split("\n", 1)
    assert float(seconds) < 3.0
    assert "token" in message and "RAY_AUTH_TOKEN_PATH" in message
    assert done.stderr == "", "Ray's retry warnings are not shown"

    cli = subprocess.run([sys.executable, "-m", "mpcsim.cli", "run", "all-reduce", "--n", "100",
                          "--backend", "ray", "--address", two_nodes["address"]],
                         capture_output=True, text=True, env=env, timeout=JOB_TIMEOUT_S)
    assert cli.returncode != 0 and cli.stdout == ""
    assert len(cli.stderr.strip().splitlines()) == 1 and "token" in cli.stderr


def test_a_ray_client_address_reaches_the_same_two_nodes(two_nodes: dict[str, Any]) -> None:
    if two_nodes["client_address"] is None:
        pytest.skip("Ray Client needs ray[client] (grpcio) installed")
    report = mpcsim_cli("run", "all-reduce", "--n", "10000", "--backend", "ray", "--address",
                        two_nodes["client_address"], "--json", env=driver_env(two_nodes))
    assert report["verified"] is True and report["nodes"] == 2


REPEATED_RUNS = """
import json, sys
import mpcsim
from mpcsim.backends import ray_actors

def pass_id_right(machine):
    if machine.round_idx == 0:
        machine.send((machine.id + 1) % machine.num_machines, machine.id)
    else:
        machine.output = machine.inbox[0][1]
        machine.halt()

runs = []
for workers in (1, 4, 4):
    result = mpcsim.run(pass_id_right, num_machines=8, memory_words=2, backend="ray",
                        address=sys.argv[1], num_workers=workers)
    assert result.output == [(i - 1) % 8 for i in range(8)]
    runs.append({"nodes": [h["node"] for h in result.trace.hosts],
                 "actors": [h["actor"] for h in result.trace.hosts],
                 "machine_nodes": [result.trace.machine_node(i) for i in range(8)]})
print(json.dumps(runs))
"""


def test_repeated_runs_in_one_driver_reuse_pooled_actors_and_still_use_every_node(
        two_nodes: dict[str, Any]) -> None:
    done = subprocess.run([sys.executable, "-c", REPEATED_RUNS, two_nodes["address"]],
                          capture_output=True, text=True, env=driver_env(two_nodes),
                          timeout=JOB_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    one, four, again = json.loads(done.stdout)
    a, b = four["nodes"][:2]
    assert a != b and four["nodes"] == [a, b, a, b]  # round-robin over the two nodes
    assert set(four["machine_nodes"]) == {a, b}
    assert again["nodes"] == four["nodes"]
    assert set(again["actors"]) == set(four["actors"])  # all four came back from the pool
    assert one["actors"][0] in four["actors"]  # the first run's actor was reused on its node


def test_cluster_stop_ends_every_process_the_cluster_started(tmp_path: Path) -> None:
    info = mpcsim_cli("cluster", "local", "--nodes", "2", "--object-store-mb", "100",
                      "--state-dir", str(tmp_path), "--json")
    try:
        started = cluster._descendants({p["pid"] for p in info["processes"]})
        assert len(started) >= 2 * 3  # per node at least `ray start`, a raylet and an agent
        stopped = mpcsim_cli("cluster", "stop", "--state-dir", str(tmp_path), "--json")
        assert sorted(stopped["stopped_pids"]) == sorted(p["pid"] for p in info["processes"])
        left = [pid for pid, ticks in started.items() if cluster._start_ticks(pid) == ticks]
        assert left == []
        assert not os.path.exists(info["temp_dir"]) and cluster.status(tmp_path) is None
    finally:
        cluster.stop(tmp_path)
