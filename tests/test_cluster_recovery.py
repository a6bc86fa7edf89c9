"""A node lost mid-run on a real 2-node cluster (`mpcsim cluster local`): the raylet of the
node the driver is not attached to is SIGKILLed, its actors die with it, and the run moves
their hosts to the other node and finishes as the failure-free run did. The job runs in a
subprocess (this process may already drive the session's Ray; tests/test_cluster_multinode.py
for why)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mpcsim import cluster

pytestmark = [pytest.mark.ray, pytest.mark.cluster, pytest.mark.slow]

JOB_TIMEOUT_S = 240

JOB = """
import json, os, signal, sys, time
import numpy as np
import ray
import mpcsim

class Relay(mpcsim.Program):
    def round(self, machine):
        total = machine.memory.get("total", 0)
        for _, payload in machine.inbox:
            total += int(payload[0])
        machine.memory["total"] = total
        if machine.round_idx < 80:
            machine.send(int(machine.rng.integers(machine.num_machines)),
                         np.full(4, machine.id + machine.round_idx))
        else:
            machine.output = total
            machine.halt()

def raylet_of(node_id):
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != "raylet":
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f"--node-id={node_id}".encode() in f.read():
                    return int(pid)
        except OSError:
            continue
    raise SystemExit(f"no raylet for node {node_id}")

kw = dict(num_machines=16, memory_words=128, backend="ray", address=sys.argv[1],
          num_workers=4, seed=3, checkpoint_every=10)
reference = mpcsim.run(Relay(), **kw)
mine = ray.get_runtime_context().get_node_id()
other = next(n["NodeID"] for n in ray.nodes() if n["Alive"] and n["NodeID"] != mine)
victim = raylet_of(other)

def stop_node(record, elapsed_s):
    if record.round_idx == 35:
        os.kill(victim, signal.SIGKILL)
        # the run must see the loss, however fast its remaining rounds are: wait until Ray
        # has declared the node dead (~10 s: its health checks) before round 36
        deadline = time.time() + 120
        while any(n["NodeID"] == other and n["Alive"] for n in ray.nodes()):
            if time.time() > deadline:
                raise SystemExit("the killed node was never declared dead")
            time.sleep(0.5)

result = mpcsim.run(Relay(), progress=stop_node, **kw)
print("RESULT", json.dumps({
    "same": result.output == reference.output and result.rounds == reference.rounds
            and [r.words for r in result.trace.rounds] == [r.words for r in reference.trace.rounds],
    "reference_nodes": sorted({h["node"] for h in reference.trace.hosts}),
    "nodes": sorted({h["node"] for h in result.trace.hosts}),
    "recoveries": [[r.host, r.round_idx, r.node, r.new_node, r.lost_s]
                   for r in result.trace.recoveries]}))
"""


def test_a_node_whose_raylet_dies_mid_run_loses_its_hosts_to_the_other_node(
        tmp_path: Path) -> None:
    started = subprocess.run(
        [sys.executable, "-m", "mpcsim.cli", "cluster", "local", "--nodes", "2",
         "--object-store-mb", "100", "--state-dir", str(tmp_path), "--json"],
        capture_output=True, text=True, timeout=JOB_TIMEOUT_S)
    assert started.returncode == 0, started.stderr[-3000:]
    info = json.loads(started.stdout)
    try:
        done = subprocess.run([sys.executable, "-c", JOB, info["address"]], capture_output=True,
                              text=True, env=cluster.driver_environ(info["env"]),
                              timeout=JOB_TIMEOUT_S)
        assert done.returncode == 0, done.stderr[-3000:]
        (line,) = [l for l in done.stdout.splitlines() if l.startswith("RESULT ")]
        report = json.loads(line[len("RESULT "):])
    finally:
        cluster.stop(tmp_path)
    assert report["same"] is True
    assert len(report["reference_nodes"]) == 2 and len(report["nodes"]) == 1
    lost = report["recoveries"]
    assert len(lost) == 2 and {r[2] for r in lost} != {r[3] for r in lost}  # moved off it
    print(f"\nnode lost in round {lost[0][1]}: hosts {[r[0] for r in lost]} moved, "
          f"{lost[0][4]:.2f} s lost")
