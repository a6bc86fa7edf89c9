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
The measurements live in mpcsim.bench.core (shared with `mpcsim bench`); this script prints
these four rows alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mpcsim.bench import Target, ratio_row
from mpcsim.bench.core import (measure_barrier, measure_overhead, measure_shuffle_local,
                               measure_shuffle_ray)


def row(name: str, measured: tuple[list[float], list[float]], target: Target) -> dict[str, Any]:
    """The row in this script's JSON fields (those of mpcsim.bench.ratios, less the extras)."""
    full = ratio_row(name, *measured, target)
    return {key: full[key] for key in ("name", "ratio", "min", "max", "target", "pass",
                                       "ours_s", "baseline_s")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args(argv)
    rows = [
        row("local overhead: mpcsim.run of 100k trivial machines end to end vs bare loop",
            measure_overhead(args.repeats), Target("<=", 5.0)),
        row("local shuffle throughput vs numpy copy",
            measure_shuffle_local(args.repeats), Target(">=", 0.5)),
    ]
    if not args.skip_ray:
        import ray

        from mpcsim.backends import ray_actors

        ray_actors.connect()
        try:
            rows.insert(0, row("ray barrier: empty round, 8 machines/8 actors vs bare",
                               measure_barrier(args.repeats), Target("<=", 1.5)))
            rows.insert(2, row("ray shuffle throughput vs bare object-store shuffle",
                               measure_shuffle_ray(args.repeats), Target(">=", 0.5)))
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
