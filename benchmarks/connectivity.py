"""Connectivity's targets (issue 12), measured: rounds, words sent per edge and wall-clock on
real graphs, and the paper's one-vs-two-cycles workload (rounds against log2 n).

    python benchmarks/connectivity.py                   # the target rows and the cycles table
    python benchmarks/connectivity.py --max-log-n 16    # a shorter cycles table
    python benchmarks/connectivity.py --plot cycles.png # also draw rounds against log2 n

The bench (mpcsim.bench) can call `target_rows`, `cycle_rows` and `plot_cycle_rounds`. Every
run is the local backend, seed 0, caps enforced, through the registry's program (so the plan
is the one `mpcsim run connectivity` picks for that s). n is the input in words: 2 per edge.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

import mpcsim
from mpcsim.algorithms import Connectivity, connectivity, graphs
from mpcsim.algorithms.connectivity_plan import plan_for


@dataclass(frozen=True)
class Row:
    name: str  # the instance
    vertices: int
    edges: int
    memory_words: int  # s
    machines: int  # q
    depth: int  # D: the exchange's host levels (2D + 2 rounds per exchange)
    rounds: int
    round_bound: int
    words_per_edge: float  # every word sent, over E
    wall_s: float  # mpcsim.run end to end
    verified: bool
    max_words: int  # the largest of memory, sent and received words on any machine and round
    target: str  # the target for this row, "" if none
    met: bool


def measure(name: str, edges: np.ndarray, vertices: int, s: int, target: str = "",
            check: Callable[[Row], bool] = lambda row: True, seed: int = 0) -> Row:
    """One run of the registry's connectivity program on `edges` at s words."""
    plan = plan_for(len(edges), vertices, s, 1 << 40, seed)
    program = Connectivity(seed=seed, num_vertices=vertices)
    started = time.perf_counter()
    result = mpcsim.run(program, edges, num_machines=plan.machines, memory_words=s, seed=seed)
    wall = time.perf_counter() - started
    trace = result.trace
    row = Row(name, vertices, len(edges), s, plan.machines, plan.exchange.depth, result.rounds,
              plan.rounds(), trace.total_words_sent / max(1, len(edges)), wall,
              connectivity.verify(result.output, edges, vertices),
              max(trace.max_memory_words, trace.max_sent_words, trace.max_received_words),
              target, False)
    return Row(**{**row.__dict__, "met": row.verified and check(row)})


def _networkx(graph: Any) -> tuple[np.ndarray, int]:
    import networkx as nx

    graph = nx.convert_node_labels_to_integers(graph)
    return np.array(list(graph.edges()), dtype=np.int64).reshape(-1, 2), graph.number_of_nodes()


def target_rows() -> list[Row]:
    """The issue's three target rows: karate club (<= 30 rounds) and
    powerlaw_cluster_graph(5000, 1, 0.1, seed=0) (<= 80 rounds, <= 200 words per edge) at
    s = max(64, ceil((2E)^(1/2))), and the registry's random graph of 10^5 words at s = 317
    (<= 150 rounds, <= 30 s)."""
    import networkx as nx

    rows = []
    edges, vertices = _networkx(nx.karate_club_graph())
    rows.append(measure("karate club", edges, vertices, _sqrt_memory(edges),
                        "<= 30 rounds", lambda r: r.rounds <= 30))
    edges, vertices = _networkx(nx.powerlaw_cluster_graph(5000, 1, 0.1, seed=0))
    rows.append(measure("powerlaw_cluster_graph(5000, 1, 0.1)", edges, vertices,
                        _sqrt_memory(edges), "<= 80 rounds, <= 200 words/edge",
                        lambda r: r.rounds <= 80 and r.words_per_edge <= 200))
    edges = connectivity.make_input(100_000, np.random.default_rng(0))
    rows.append(measure("random graph, n = 10^5 words", edges, graphs.num_vertices(edges), 317,
                        "<= 150 rounds, <= 30 s",
                        lambda r: r.rounds <= 150 and r.wall_s <= 30))
    return rows


def _sqrt_memory(edges: np.ndarray) -> int:
    return max(64, math.ceil(math.sqrt(2 * len(edges)) - 1e-9))


def cycle_rows(log_ns: range = range(10, 21, 2), seed: int = 0) -> list[Row]:
    """One cycle of n/2 vertices and two cycles of n/4 (the paper's Conjecture 2.4 instance;
    n words = n/2 edges), at s = ceil(n^(1/2)) and ceil(n^(2/3)); target rounds <= 8 log2 n.
    Where the plan cannot fit s = n^(1/2) (small n), the row runs at the least s that fits."""
    from mpcsim.algorithms.connectivity_plan import least_memory_words

    rows = []
    for log_n in log_ns:
        n = 1 << log_n
        for exponent, label in ((1 / 2, "1/2"), (2 / 3, "2/3")):
            s = max(math.ceil(n ** exponent - 1e-9), least_memory_words(n // 2, n // 2))
            for count in (1, 2):
                edges = graphs.cycles(n // 2, np.random.default_rng(seed + count), count=count)
                rows.append(measure(f"{count} cycle{'s' if count > 1 else ''}, n = 2^{log_n}, "
                                    f"s = n^{label}", edges, n // 2, s,
                                    f"<= 8 log2 n = {8 * log_n}",
                                    lambda r, bound=8 * log_n: r.rounds <= bound, seed))
    return rows


def plot_cycle_rounds(rows: list[Row], path: str) -> None:
    """Rounds against log2 n for the cycles rows (one line per s regime and cycle count), with
    the 8 log2 n target, saved to `path` (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    series: dict[str, list[tuple[int, int]]] = {}
    for row in rows:
        log_n = int(math.log2(2 * row.edges))
        regime = row.name.split("s = ")[-1]
        cycles = row.name.split(",")[0]
        series.setdefault(f"{cycles}, s = {regime}", []).append((log_n, row.rounds))
    for label, points in sorted(series.items()):
        xs, ys = zip(*sorted(points))
        ax.plot(xs, ys, marker="o", label=label)
    xs = sorted({int(math.log2(2 * row.edges)) for row in rows})
    ax.plot(xs, [8 * x for x in xs], "k--", label="target 8 log2 n")
    ax.set_xlabel("log2 n  (n words = n/2 edges)")
    ax.set_ylabel("MPC rounds")
    ax.set_title("connectivity on one vs two cycles")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def format_rows(rows: list[Row]) -> str:
    """A markdown table of the rows."""
    lines = ["| instance | V | E | s | q | D | rounds (bound) | words/edge | wall s | max words |"
             " target | met |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.name} | {r.vertices:,} | {r.edges:,} | {r.memory_words} | "
                     f"{r.machines:,} | {r.depth} | {r.rounds} ({r.round_bound}) | "
                     f"{r.words_per_edge:.0f} | {r.wall_s:.2f} | {r.max_words} | {r.target} | "
                     f"{'yes' if r.met else 'NO'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-log-n", type=int, default=20, help="largest cycles n = 2^k")
    parser.add_argument("--plot", metavar="PNG", help="draw rounds against log2 n here")
    parser.add_argument("--no-targets", action="store_true", help="only the cycles table")
    args = parser.parse_args(argv)
    rows = [] if args.no_targets else target_rows()
    if rows:
        print(format_rows(rows), flush=True)
        print()
    cycles = cycle_rows(range(10, args.max_log_n + 1, 2))
    print(format_rows(cycles))
    if args.plot:
        plot_cycle_rounds(cycles, args.plot)
    return 0 if all(r.met for r in rows + cycles) else 1


if __name__ == "__main__":
    raise SystemExit(main())
