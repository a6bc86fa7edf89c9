"""Rounds and wall-clock of hop_k as MPC jobs, k = 1, 2, 4, .., 64 at N = 1024: the constructed
transformer through the bridge (transformer_bridge.constructions.hopk) beside the MPC-native
pointer-doubling algorithm (mpcsim.algorithms.hopk), on the same sequence.

    python benchmarks/hopk_table.py [--n 1024] [--repeats 3] [--plot docs/hopk_rounds.png]
                                    [--json]

Transformer: hopk_transformer(k, N, 4) has ceil(log2 k) + 2 layers; every k is compiled under
one cap, `mpcsim hopk run`'s default for k = 64 (the smallest that fits a tile of N/4 tokens
at fan-in 1; the planner then takes the largest fan-in that fits), and run on the local
backend (one BLAS thread); rounds are
layers x rounds per layer + 1. Wall-clock is the whole job.run, median over --repeats.
Pointer doubling: the registered "hop-k" algorithm on the same letters, its own default sizing,
local backend, verified against the reference. Both grow like log k. Prints a markdown table
(the README's) and draws rounds vs k on a log2 axis.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from transformer_bridge import compile_transformer
from transformer_bridge.command import default_memory_words
from transformer_bridge.constructions.hopk import hopk_transformer, random_inputs, targets
from transformer_bridge.hopk_command import run_pointer_doubling

KS = (1, 2, 4, 8, 16, 32, 64)
ALPHABET = 4
DEFAULT_PLOT = Path(__file__).resolve().parents[1] / "docs" / "hopk_rounds.png"


def transformer_cap(n: int) -> int:
    """One cap for every k: the default cap of the widest model (k = max(KS): its pointer
    layers carry the most values), so only the depth changes along the table."""
    return default_memory_words(hopk_transformer(max(KS), n, ALPHABET), n)


def transformer_row(k: int, ids: np.ndarray, memory_words: int,
                    repeats: int) -> dict[str, Any]:
    n = ids.shape[1]
    model = hopk_transformer(k, n, ALPHABET)
    job = compile_transformer(model, n, memory_words)
    walls, rounds, correct = [], 0, True
    for _ in range(repeats):
        start = time.perf_counter()
        outputs, result = job.run(ids)
        walls.append(time.perf_counter() - start)
        rounds = result.rounds
        correct &= bool(np.array_equal(outputs.argmax(-1), targets(ids, k, ALPHABET)))
    return {"layers": model.num_layers, "rounds": rounds, "machines": job.plan.machines,
            "memory_words": job.plan.memory_words, "rounds_per_layer":
                job.plan.rounds_per_layer, "wall_s": statistics.median(walls),
            "exact": correct}


def doubling_row(k: int, ids: np.ndarray, repeats: int) -> dict[str, Any]:
    runs = [run_pointer_doubling(ids, k, ALPHABET) for _ in range(repeats)]
    return {**runs[0], "wall_s": statistics.median(r["wall_s"] for r in runs),
            "exact": all(r["accuracy"] == 1.0 for r in runs)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024, help="tokens (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="default: %(default)s")
    parser.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    parser.add_argument("--plot", default=str(DEFAULT_PLOT), help="PNG (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    ids = random_inputs(1, args.n, ALPHABET, np.random.default_rng(args.seed))
    cap = transformer_cap(args.n)
    rows = []
    with threadpool_limits(1, "blas"):
        for k in KS:
            rows.append({"k": k, "n": args.n,
                         "transformer": transformer_row(k, ids, cap, args.repeats),
                         "pointer_doubling": doubling_row(k, ids, args.repeats)})
    if args.json:
        print(json.dumps(rows))
    else:
        print_table(rows, sys.stdout)
    if args.plot:
        plot(rows, args.plot)
    return 0 if all(r[kind]["exact"] for r in rows
                    for kind in ("transformer", "pointer_doubling")) else 1


def print_table(rows: list[dict[str, Any]], out: Any) -> None:
    first, pd = rows[0]["transformer"], rows[0]["pointer_doubling"]
    print(f"N = {rows[0]['n']}; transformer: cap {first['memory_words']} words, "
          f"{first['machines']} machines, {first['rounds_per_layer']} rounds per layer; "
          f"pointer doubling: cap {pd['memory_words']} words, {pd['machines']} machines\n",
          file=out)
    print("| k | transformer layers | transformer rounds | transformer wall-clock | "
          "pointer-doubling rounds | pointer-doubling wall-clock |", file=out)
    print("|---|---|---|---|---|---|", file=out)
    for row in rows:
        t, p = row["transformer"], row["pointer_doubling"]
        print(f"| {row['k']} | {t['layers']} | {t['rounds']} | {1e3 * t['wall_s']:.0f} ms | "
              f"{p['rounds']} | {1e3 * p['wall_s']:.0f} ms |", file=out)


def plot(rows: list[dict[str, Any]], path: str) -> None:
    from matplotlib.figure import Figure

    ks = [row["k"] for row in rows]
    figure = Figure(figsize=(5.0, 3.2), dpi=100)
    axes = figure.add_subplot()
    axes.plot(ks, [r["transformer"]["rounds"] for r in rows], marker="o",
              label="transformer via the bridge: rounds")
    axes.plot(ks, [r["transformer"]["layers"] for r in rows], marker="s", linestyle="--",
              label="transformer: layers")
    axes.plot(ks, [r["pointer_doubling"]["rounds"] for r in rows], marker="^",
              label="MPC pointer doubling: rounds")
    axes.set_xscale("log", base=2)
    axes.set_xticks(ks, labels=[str(k) for k in ks])
    axes.set_xlabel("k (hops)")
    axes.set_ylabel("count")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    axes.set_title(f"hop_k as MPC jobs, N = {rows[0]['n']}")
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


if __name__ == "__main__":
    sys.exit(main())
