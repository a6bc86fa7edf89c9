"""The core's performance measurements: our rounds vs bare baselines on the same resources.

Each measure_* function runs ours and its baseline alternately `repeats` times (so noise hits
both) and returns (ours seconds, baseline seconds), one pair per repeat; mpcsim.bench.ratios
turns them into rows with targets. The Ray ones need Ray started
(mpcsim.backends.ray_actors.connect()) and reuse its pooled actors. benchmarks/core_ratios.py
for the command that prints these four rows alone, and mpcsim.bench.ratios for the targets.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

import numpy as np

from ..api import run
from ..program import Machine, Program
from ..trace import Trace

__all__ = ["BLOCK_BYTES", "SHUFFLE_MACHINES", "SHUFFLE_ROUNDS", "BARRIER_ROUNDS",
           "OVERHEAD_MACHINES", "EmptyRounds", "AllToAll", "trivial_step",
           "measure_barrier", "measure_shuffle_ray", "measure_shuffle_local",
           "measure_overhead", "our_round_s", "round_breakdown"]

BLOCK_BYTES = 2 * 1024 * 1024
SHUFFLE_MACHINES = 8
SHUFFLE_ROUNDS = 6
BARRIER_ROUNDS = 200
OVERHEAD_MACHINES = 100_000


# -- programs -----------------------------------------------------------------------------------


class EmptyRounds(Program):
    """Every machine does nothing for `rounds` rounds, then halts."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds

    def round(self, machine: Machine) -> None:
        if machine.round_idx == self.rounds - 1:
            machine.halt()


class AllToAll(Program):
    """Each machine sends its 2 MB block to every other machine, for `rounds` rounds."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds

    def round(self, machine: Machine) -> None:
        if "block" not in machine.memory:
            machine.memory["block"] = np.full(BLOCK_BYTES // 8, machine.id, dtype=np.float64)
        if machine.round_idx < self.rounds:
            for dest in range(machine.num_machines):
                if dest != machine.id:
                    machine.send(dest, machine.memory["block"])
        else:
            machine.halt()


def trivial_step(machine: Machine) -> None:
    machine.output = machine.id
    machine.halt()


SHUFFLE_WORDS = SHUFFLE_MACHINES * BLOCK_BYTES // 8  # own block + 7 received blocks


# -- bare baselines that run inside the same actors ----------------------------------------------

_blocks: dict[str, np.ndarray] = {}


def _bare_shuffle_step(inbound: list[Any], count: int) -> list[Any]:
    import ray

    if inbound:
        got = ray.get(inbound)
        assert sum(a.nbytes for a in got) == len(inbound) * BLOCK_BYTES
    block = _blocks.setdefault("block", np.ones(BLOCK_BYTES // 8))
    return [ray.put(block) for _ in range(count)]


def bare_shuffle_round_s(actors: list[Any], rounds: int) -> float:
    import ray

    n = len(actors)
    inbound: list[list[Any]] = [[] for _ in actors]
    times = []
    for _ in range(rounds + 1):
        t0 = time.perf_counter()
        outs = ray.get([a.call.remote(_bare_shuffle_step, inbound[i], n - 1)
                        for i, a in enumerate(actors)])
        times.append(time.perf_counter() - t0)
        inbound = [[] for _ in actors]
        for src, refs in enumerate(outs):
            dests = [d for d in range(n) if d != src]
            for d, ref in zip(dests, refs):
                inbound[d].append(ref)
    return statistics.median(times[1:])  # round 0 only puts: skip it, as for ours


def bare_barrier_s(actors: list[Any]) -> float:
    import ray

    times = []
    for _ in range(BARRIER_ROUNDS):
        t0 = time.perf_counter()
        ray.get([a.ping.remote() for a in actors])
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# -- measurements ---------------------------------------------------------------------------------


def our_round_s(result: Any, skip_first: bool = True) -> float:
    """Median wall seconds of a run's rounds, without the first (set-up) and last (halt)."""
    walls = [r.wall_s for r in result.trace.rounds]
    return statistics.median(walls[1:-1] if skip_first else walls)


def measure_barrier(repeats: int) -> tuple[list[float], list[float]]:
    from ..backends import ray_actors

    ours, bare = [], []
    for _ in range(repeats):
        result = run(EmptyRounds(BARRIER_ROUNDS), num_machines=8, memory_words=1,
                            backend="ray", num_workers=8)
        ours.append(our_round_s(result))
        bare.append(bare_barrier_s(ray_actors.idle_actors()[:8]))
    return ours, bare


def measure_shuffle_ray(repeats: int) -> tuple[list[float], list[float]]:
    from ..backends import ray_actors

    ours, bare = [], []
    for _ in range(repeats):
        result = run(AllToAll(SHUFFLE_ROUNDS), num_machines=SHUFFLE_MACHINES,
                            memory_words=SHUFFLE_WORDS, backend="ray",
                            num_workers=SHUFFLE_MACHINES)
        ours.append(our_round_s(result))
        bare.append(bare_shuffle_round_s(ray_actors.idle_actors()[:SHUFFLE_MACHINES],
                                         SHUFFLE_ROUNDS))
    return ours, bare


def measure_shuffle_local(repeats: int) -> tuple[list[float], list[float]]:
    blocks = [np.full(BLOCK_BYTES // 8, i, dtype=np.float64) for i in range(SHUFFLE_MACHINES)]
    ours, bare = [], []
    for _ in range(repeats):
        result = run(AllToAll(SHUFFLE_ROUNDS), num_machines=SHUFFLE_MACHINES,
                            memory_words=SHUFFLE_WORDS)
        ours.append(our_round_s(result))
        t0 = time.perf_counter()
        copies = [b.copy() for b in blocks for _ in range(SHUFFLE_MACHINES - 1)]
        bare.append(time.perf_counter() - t0)
        del copies
    return ours, bare


def measure_overhead(repeats: int, quiet: bool = False, num_machines: int = OVERHEAD_MACHINES
                     ) -> tuple[list[float], list[float]]:
    """mpcsim.run of one round of `num_machines` machines doing trivial_step, end to end
    (machines built, the round run with every cap checked, outputs collected), vs a bare loop
    calling trivial_step on as many prebuilt Machine objects."""
    machines = [Machine(i, num_machines, 8, 0) for i in range(num_machines)]
    ours, bare, end_to_end, rounds = [], [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = run(trivial_step, num_machines=num_machines, memory_words=8)
        end_to_end.append(time.perf_counter() - t0)
        assert result.output[-1] == num_machines - 1 and result.rounds == 1
        rounds.append(result.trace.rounds[0].wall_s)
        ours.append(end_to_end[-1])
        t0 = time.perf_counter()
        for m in machines:
            trivial_step(m)
        bare.append(time.perf_counter() - t0)
    if not quiet:
        print(f"(local, {num_machines:,} machines: run() end to end "
              f"{statistics.median(end_to_end):.3f} s, of which the round "
              f"{statistics.median(rounds):.4f} s)", file=sys.stderr)
    return ours, bare


def round_breakdown(trace: Trace) -> dict[str, float]:
    """Median compute / exchange / barrier seconds per round of a run (all rounds if fewer
    than three, else without the first and last)."""
    rounds = trace.rounds if len(trace.rounds) < 3 else trace.rounds[1:-1]
    return {part: statistics.median(getattr(r, f"{part}_s") for r in rounds)
            for part in ("compute", "exchange", "barrier")}
