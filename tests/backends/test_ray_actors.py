"""The Ray backend's own behaviour: scale, fail-fast connection, cleanup after errors, the
actor pool, and frames through the object store. Cross-backend semantics are in
tests/test_conformance.py."""

from __future__ import annotations

import socket
import time
from typing import Any

import numpy as np
import pytest

import mpcsim
from mpcsim.backends import ray_actors

pytestmark = pytest.mark.ray


def pass_id_right(machine: mpcsim.Machine) -> None:
    if machine.round_idx == 0:
        machine.send((machine.id + 1) % machine.num_machines, machine.id)
    else:
        machine.output = machine.inbox[0][1]
        machine.halt()


def test_one_hundred_thousand_machines_run_on_two_actors(ray_session: Any) -> None:
    q = 100_000
    result = mpcsim.run(pass_id_right, num_machines=q, memory_words=2, backend="ray",
                        num_workers=2)
    assert result.output == [(i - 1) % q for i in range(q)]
    assert result.rounds == 2
    assert len(result.trace.hosts) == 2
    assert result.trace.rounds[0].messages == q


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_address_where_nothing_listens_fails_fast_with_backend_unavailable(
        ray_session: Any) -> None:
    address = f"127.0.0.1:{unused_port()}"
    started = time.perf_counter()
    with pytest.raises(mpcsim.BackendUnavailable) as info:
        mpcsim.run(pass_id_right, num_machines=2, memory_words=2, backend="ray",
                   address=address)
    assert time.perf_counter() - started < 5
    assert info.value.address == address
    assert address in str(info.value)


def test_a_malformed_address_is_refused(ray_session: Any) -> None:
    with pytest.raises(mpcsim.BackendUnavailable, match="host:port"):
        mpcsim.run(pass_id_right, num_machines=2, memory_words=2, backend="ray",
                   address="no-port-here")


def fail_on_machine_one(machine: mpcsim.Machine) -> None:
    if machine.id == 1:
        raise RuntimeError("boom")
    machine.halt()


def test_after_an_error_the_runs_actors_are_killed_and_not_pooled(
        ray_session: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    killed: list[Any] = []
    real_kill = ray_actors._kill
    monkeypatch.setattr(ray_actors, "_kill", lambda a: (killed.append(a), real_kill(a)))
    with pytest.raises(mpcsim.ProgramError):
        mpcsim.run(fail_on_machine_one, num_machines=4, memory_words=2, backend="ray",
                   num_workers=2)
    assert len(killed) == 2
    pooled = {a._actor_id for a in ray_actors.idle_actors()}
    assert not pooled & {a._actor_id for a in killed}
    for actor in killed:  # ray.kill is asynchronous: the actor dies soon after
        with pytest.raises(ray_session.exceptions.RayActorError):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                ray_session.get(actor.ping.remote(), timeout=30)
                time.sleep(0.1)


def test_a_successful_run_returns_its_actors_to_the_pool_for_the_next_run(
        ray_session: Any) -> None:
    mpcsim.run(pass_id_right, num_machines=4, memory_words=2, backend="ray", num_workers=2)
    pooled = {a._actor_id for a in ray_actors.idle_actors()}
    assert len(pooled) >= 2
    result = mpcsim.run(pass_id_right, num_machines=4, memory_words=2, backend="ray",
                        num_workers=2)
    used = {h["actor"] for h in result.trace.hosts}
    assert used <= {a.hex() for a in pooled}


BLOCK = 100_000  # float64 elements: 800 kB, well over the 64 KiB inline limit


def send_big_block(machine: mpcsim.Machine) -> None:
    if machine.round_idx == 0 and machine.id == 0:
        machine.send(1, np.arange(BLOCK, dtype=np.float64))
    if machine.inbox:
        block = machine.inbox[0][1]
        machine.output = [float(block.sum()), bool(block.flags.writeable)]
    machine.halt()


def test_a_large_frame_crosses_actors_through_the_object_store_read_only(
        ray_session: Any) -> None:
    result = mpcsim.run(send_big_block, num_machines=2, memory_words=BLOCK, backend="ray",
                        num_workers=2)
    assert result.output[1] == [float(np.arange(BLOCK).sum()), False]
    assert result.trace.rounds[0].words == BLOCK
