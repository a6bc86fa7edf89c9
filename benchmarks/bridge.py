"""The transformer bridge's performance: compiled MPC jobs vs the dense numpy forward, side by
side in one run, and rounds and wall-clock of the tree and ring strategies as N grows.

    python benchmarks/bridge.py [--repeats 7] [--quick] [--skip-ray] [--json]

1. random GPT-2 (4 layers, 4 heads, m = 128, vocab 64, float32: GPT-2's own precision, what
   load_gpt2 returns) at N = 1024, batch 1, under the cap of a 128-token tile at fan-in 1
   (the plan is printed: 8 token machines + 28 inner-product machines). The whole job.run
   (building the program, partitioning, every MPC round with caps enforced, collecting the
   outputs) vs transformer_bridge.forward on the same model and ids. Local backend: target
   <= 3x. Ray backend (Ray started once, 2 workers, one untimed warm-up run): <= 6x.
2. the width4-depth3 checkpoint on its 34 golden sequences (batch 34, N = 99) under the
   `mpcsim transformer` default cap (largest tile about N/4), local backend vs dense: <= 3x.
3. a table: tree vs ring at N = 128, 512, 2048 under one cap s (a 64-token tree tile at
   fan-in 1, so both strategies spread N = 2048 over many machines): plan, rounds, wall-clock.

The dense baseline is the faster, in each repeat, of the forward with the process's default
BLAS threads and with one BLAS thread (job.run's local backend uses one BLAS thread; on this
shared 2-core box multithreaded BLAS is often the slower). Ratios are medians over repeats of
(ours / dense) within each repeat, with min and max; ours and dense alternate, so noise hits
both. Exit code 0 when every ratio meets its target. The measurements live in
transformer_bridge.bench (shared with `mpcsim bench`); this script prints them.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from transformer_bridge.bench import (CHECKPOINT, LAYERS, TABLE_TILE, WIDTH, checkpoint_row,
                                     random_gpt2_rows, strategy_table)

# -- output -----------------------------------------------------------------------------------

def print_report(ratios: list[dict[str, Any]], s: int, table: list[dict[str, Any]]) -> None:
    print(f"{'benchmark':62} {'ratio':>6} {'min':>6} {'max':>6} {'ours s':>8} {'dense s':>8} "
          f"{'target':>7}  pass")
    for r in ratios:
        print(f"{r['name']:62} {r['ratio']:6.2f} {r['min']:6.2f} {r['max']:6.2f} "
              f"{r['ours_s']:8.3f} {r['dense_s']:8.3f} {r['target']:>7}  "
              f"{'yes' if r['pass'] else 'NO'}")
    print()
    for r in ratios:
        print(f"{r['name']}:\n  {r['plan']}\n  {r['rounds']} rounds on {r['workers']} "
              f"worker(s); max words held {r['max_memory_words']}; max |mpc - dense| "
              f"{r['max_abs_diff_vs_dense']:.2g}; dense {r['dense_default_blas_s']:.3f} s with "
              f"default BLAS threads, {r['dense_one_blas_thread_s']:.3f} s with one")
    print(f"\ntree vs ring, random GPT-2 L={LAYERS} m={WIDTH}, batch 1, memory_words={s} "
          f"(a {TABLE_TILE}-token tree tile at fan-in 1), local backend, medians:")
    print(f"{'N':>5} {'strategy':8} {'tile':>5} {'b':>3} {'machines':>8} {'rounds/layer':>12} "
          f"{'rounds':>6} {'wall s':>8} {'(min-max)':>15} {'dense s':>8}")
    for r in table:
        fan_in = "-" if r["fan_in"] is None else r["fan_in"]
        print(f"{r['n']:5} {r['strategy']:8} {r['tile']:5} {fan_in:>3} {r['machines']:8} "
              f"{r['rounds_per_layer']:12} {r['rounds']:6} {r['wall_s']:8.3f} "
              f"{r['wall_min_s']:7.3f}-{r['wall_max_s']:<7.3f} {r['dense_s']:8.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="ratio repeats (default 7)")
    parser.add_argument("--table-repeats", type=int, default=3,
                        help="repeats per table row (default 3)")
    parser.add_argument("--quick", action="store_true", help="3 ratio repeats, 1 per row")
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    repeats, table_repeats = (3, 1) if args.quick else (args.repeats, args.table_repeats)
    ratios = random_gpt2_rows(repeats, args.skip_ray)
    if CHECKPOINT.is_dir():
        ratios.append(checkpoint_row(repeats))
    else:
        print(f"(no checkpoint at {CHECKPOINT}: ratio 2 skipped; make it with `mpcsim "
              f"checkpoint convert` as the README shows, or set MPCSIM_CHECKPOINTS to the "
              f"folder that holds width4-depth3)", file=sys.stderr)
    s, table = strategy_table(table_repeats)
    if args.json:
        print(json.dumps({"ratios": ratios, "table_memory_words": s, "table": table},
                         indent=2))
    else:
        print_report(ratios, s, table)
    return 0 if all(r["pass"] for r in ratios) else 1


if __name__ == "__main__":
    sys.exit(main())
