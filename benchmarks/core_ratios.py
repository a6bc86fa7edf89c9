"""The core's three performance ratios, each measured side by side in one run.

    python benchmarks/core_ratios.py [--repeats 7] [--json]

1. barrier: an empty round of 8 machines on 8 Ray actors vs a bare Ray barrier (one method
   call on each of the same 8 actors, ray.get of all). Target: <= 1.5x.
2. shuffle: 8 machines each sending 2 MB to every other machine (7 x 8 x 2 MB = 112 MB per
   round). Ray: vs a bare object-store shuffle of the same bytes between the same actors (each
   actor, in one call per round, fetches last round's refs and ray.puts its 7 blocks). Local:
   vs a plain numpy copy of the same bytes. Target: throughput >= 0.5x both.
3. local overhead: one round of 100,000 machines doing a trivial step (the round's wall time
   in the trace: shuffled order, word counting, cap checks, halting) vs a bare Python loop
   calling the same step function on 100,000 pre-built machine objects. Target: <= 3x. The
   one-time set-up (building 100,000 machines) and output collection are printed beside it.

Medians of --repeats, with min and max, alternating ours and the baseline so noise hits both.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any, Callable

import numpy as np

import mpcsim
from mpcsim.program import Machine

BLOCK_BYTES = 2 * 1024 * 1024
SHUFFLE_MACHINES = 8
SHUFFLE_ROUNDS = 6
BARRIER_ROUNDS = 200
OVERHEAD_MACHINES = 100_000


# -- programs -----------------------------------------------------------------------------------


class EmptyRounds(mpcsim.Program):
    """Every machine does nothing for `rounds` rounds, then halts."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds

    def round(self, machine: Machine) -> None:
        if machine.round_idx == self.rounds - 1:
            machine.halt()


class AllToAll(mpcsim.Program):
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


def our_round_s(result: mpcsim.Result, skip_first: bool = True) -> float:
    walls = [r.wall_s for r in result.trace.rounds]
    return statistics.median(walls[1:-1] if skip_first else walls)


def measure_barrier(repeats: int) -> tuple[list[float], list[float]]:
    from mpcsim.backends import ray_actors

    ours, bare = [], []
    for _ in range(repeats):
        result = mpcsim.run(EmptyRounds(BARRIER_ROUNDS), num_machines=8, memory_words=1,
                            backend="ray", num_workers=8)
        ours.append(our_round_s(result))
        bare.append(bare_barrier_s(ray_actors.idle_actors()[:8]))
    return ours, bare


def measure_shuffle_ray(repeats: int) -> tuple[list[float], list[float]]:
    from mpcsim.backends import ray_actors

    ours, bare = [], []
    for _ in range(repeats):
        result = mpcsim.run(AllToAll(SHUFFLE_ROUNDS), num_machines=SHUFFLE_MACHINES,
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
        result = mpcsim.run(AllToAll(SHUFFLE_ROUNDS), num_machines=SHUFFLE_MACHINES,
                            memory_words=SHUFFLE_WORDS)
        ours.append(our_round_s(result))
        t0 = time.perf_counter()
        copies = [b.copy() for b in blocks for _ in range(SHUFFLE_MACHINES - 1)]
        bare.append(time.perf_counter() - t0)
        del copies
    return ours, bare


def measure_overhead(repeats: int) -> tuple[list[float], list[float]]:
    machines = [Machine(i, OVERHEAD_MACHINES, 8, 0) for i in range(OVERHEAD_MACHINES)]
    ours, bare, end_to_end = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = mpcsim.run(trivial_step, num_machines=OVERHEAD_MACHINES, memory_words=8)
        end_to_end.append(time.perf_counter() - t0)
        assert result.output[-1] == OVERHEAD_MACHINES - 1 and result.rounds == 1
        ours.append(result.trace.rounds[0].wall_s)
        t0 = time.perf_counter()
        for m in machines:
            trivial_step(m)
        bare.append(time.perf_counter() - t0)
    print(f"(local, 100k machines: run() end to end {statistics.median(end_to_end):.3f} s, "
          f"of which the round {statistics.median(ours):.4f} s)", file=sys.stderr)
    return ours, bare


def row(name: str, ratio_fn: Callable[[float, float], float], ours: list[float],
        bare: list[float], target: str, ok: Callable[[float], bool]) -> dict[str, Any]:
    ratios = sorted(ratio_fn(o, b) for o, b in zip(ours, bare))
    med = statistics.median(ratios)
    return {"name": name, "ratio": med, "min": ratios[0], "max": ratios[-1], "target": target,
            "pass": ok(med), "ours_s": statistics.median(ours),
            "baseline_s": statistics.median(bare)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args(argv)
    slower = lambda o, b: o / b  # noqa: E731  (cost ratio: ours over baseline)
    faster = lambda o, b: b / o  # noqa: E731  (throughput ratio: ours over baseline)
    rows = [
        row("local overhead: 100k trivial machines vs bare loop", slower,
            *measure_overhead(args.repeats), "<= 3x", lambda r: r <= 3.0),
        row("local shuffle throughput vs numpy copy", faster,
            *measure_shuffle_local(args.repeats), ">= 0.5x", lambda r: r >= 0.5),
    ]
    if not args.skip_ray:
        import ray

        from mpcsim.backends import ray_actors

        ray_actors.connect()
        try:
            rows.insert(0, row("ray barrier: empty round, 8 machines/8 actors vs bare", slower,
                               *measure_barrier(args.repeats), "<= 1.5x", lambda r: r <= 1.5))
            rows.insert(2, row("ray shuffle throughput vs bare object-store shuffle", faster,
                               *measure_shuffle_ray(args.repeats), ">= 0.5x",
                               lambda r: r >= 0.5))
        finally:
            ray_actors.shutdown()
            if ray.is_initialized():
                ray.shutdown()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'benchmark':58} {'ratio':>7} {'min':>7} {'max':>7} {'target':>8}  pass")
        for r in rows:
            print(f"{r['name']:58} {r['ratio']:7.2f} {r['min']:7.2f} {r['max']:7.2f} "
                  f"{r['target']:>8}  {'yes' if r['pass'] else 'NO'}")
    return 0 if all(r["pass"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
