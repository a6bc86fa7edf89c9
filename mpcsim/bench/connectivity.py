"""Connectivity's targets (issue 12) as bench rows: rounds, words sent per edge and wall-clock on
real graphs, and the paper's one-vs-two-cycles workload (rounds against 8 log2 n), with its plot.

Unlike the ratio rows (mpcsim.bench.ratios) these are counts against an absolute bound, so they
have their own tables: results["connectivity"] (one row per target: karate club rounds,
powerlaw_cluster_graph(5000, 1, 0.1) rounds and words per edge, the registry's random graph of
10^5 words at s = 317 rounds and seconds) and results["connectivity_cycles"] (one row per
cycles run). Every run is the local backend, seed 0, caps enforced, through
mpcsim.algorithms.Connectivity with the plan `mpcsim run connectivity` picks for that s.
The real graphs come from networkx (a test extra): without it their rows are skipped, saying
so. benchmarks/connectivity.py prints the same rows as markdown (and the full cycles sweep).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["measure", "target_rows", "cycle_rows", "plot_cycle_rounds", "CYCLES_PER_LOG_N"]

CYCLES_PER_LOG_N = 8  # the target: rounds <= 8 log2 n on one vs two cycles


def measure(edges: np.ndarray, vertices: int, s: int, seed: int = 0) -> dict[str, Any]:
    """One run of Connectivity on `edges` at s words, q = what its plan needs: rounds, the
    plan's bound, words sent per edge, the seconds of the whole mpcsim.run, the largest of the
    memory, sent and received words on any machine and round, and whether the labels are
    union-find's."""
    from ..algorithms import Connectivity, connectivity
    from ..algorithms.connectivity_plan import plan_for
    from ..api import run

    plan = plan_for(len(edges), vertices, s, 1 << 40, seed)
    started = time.perf_counter()
    result = run(Connectivity(seed=seed, num_vertices=vertices), edges,
                 num_machines=plan.machines, memory_words=s, seed=seed)
    wall_s = time.perf_counter() - started
    trace = result.trace
    return {"vertices": vertices, "edges": len(edges), "memory_words": s,
            "machines": plan.machines, "depth": plan.exchange.depth, "rounds": result.rounds,
            "round_bound": plan.rounds(),
            "words_per_edge": trace.total_words_sent / max(1, len(edges)), "wall_s": wall_s,
            "max_words": max(trace.max_memory_words, trace.max_sent_words,
                             trace.max_received_words),
            "verified": bool(connectivity.verify(result.output, edges, vertices))}


def _row(name: str, value: float | None, op: str, bound: float, unit: str,
         run: dict[str, Any] | None, note: str = "") -> dict[str, Any]:
    """A target row: value `op` bound (in unit); pass None when not measured, False when the
    labels were wrong whatever the value."""
    measured = value is not None and run is not None
    met = measured and (value <= bound if op == "<=" else value >= bound)
    if run is not None and not note:
        note = (f"V={run['vertices']:,} E={run['edges']:,} s={run['memory_words']} "
                f"q={run['machines']:,} D={run['depth']}, {run['rounds']} rounds (bound "
                f"{run['round_bound']}), {run['words_per_edge']:.0f} words/edge, "
                f"{run['wall_s']:.2f} s, max {run['max_words']} words"
                + ("" if run["verified"] else "; LABELS WRONG"))
    return {"name": name, "value": value, "unit": unit, "target": f"{op} {bound:g} {unit}",
            "pass": (bool(met and run["verified"]) if measured else None), "note": note}


def target_rows(random_n: int = 100_000, random_words: int = 317) -> list[dict[str, Any]]:
    """The issue's targets: karate club <= 30 rounds and powerlaw_cluster_graph(5000, 1, 0.1,
    seed=0) <= 80 rounds and <= 200 words sent per edge, both at s = max(64,
    ceil((2E)^(1/2))); the registry's random graph of random_n words at s = random_words <= 150
    rounds and <= 30 s of mpcsim.run (one run, not warmed up: a user's)."""
    from ..algorithms import connectivity, graphs

    rows: list[dict[str, Any]] = []
    try:
        import networkx as nx
    except ImportError:
        reason = "skipped: networkx is not installed (pip install -e '.[test]')"
        rows += [_row(name, None, "<=", bound, unit, None, reason) for name, bound, unit in
                 (("karate club: rounds", 30, "rounds"),
                  ("powerlaw_cluster_graph(5000, 1, 0.1): rounds", 80, "rounds"),
                  ("powerlaw_cluster_graph(5000, 1, 0.1): words sent per edge", 200,
                   "words"))]
    else:
        edges, vertices = _networkx(nx.karate_club_graph())
        karate = measure(edges, vertices, _sqrt_words(len(edges)))
        rows.append(_row("karate club: rounds", karate["rounds"], "<=", 30, "rounds", karate))
        edges, vertices = _networkx(nx.powerlaw_cluster_graph(5000, 1, 0.1, seed=0))
        power = measure(edges, vertices, _sqrt_words(len(edges)))
        name = "powerlaw_cluster_graph(5000, 1, 0.1)"
        rows.append(_row(f"{name}: rounds", power["rounds"], "<=", 80, "rounds", power))
        rows.append(_row(f"{name}: words sent per edge", round(power["words_per_edge"], 1),
                         "<=", 200, "words", power))
    edges = connectivity.make_input(random_n, np.random.default_rng(0))
    graph = measure(edges, graphs.num_vertices(edges), random_words)
    name = f"random graph n={random_n:,} words, s={random_words}"
    rows.append(_row(f"{name}: rounds", graph["rounds"], "<=", 150, "rounds", graph))
    rows.append(_row(f"{name}: seconds of mpcsim.run", round(graph["wall_s"], 3), "<=", 30,
                     "s", graph))
    return rows


def cycle_rows(log_ns: tuple[int, ...], seed: int = 0) -> list[dict[str, Any]]:
    """One cycle of n/2 vertices vs two of n/4 (the paper's Conjecture 2.4 instance; n words =
    n/2 edges) at s = ceil(n^(1/2)) and ceil(n^(2/3)); target rounds <= 8 log2 n. Where no plan
    fits s = n^(1/2) (n = 2^10: the least is 38 words), the row runs at the least s that fits
    and says so in `memory_words` (s_rule keeps the regime's name)."""
    from ..algorithms import graphs
    from ..algorithms.connectivity_plan import least_memory_words

    rows = []
    for log_n in log_ns:
        n = 1 << log_n
        for exponent, rule in ((1 / 2, "n^(1/2)"), (2 / 3, "n^(2/3)")):
            asked = math.ceil(n ** exponent - 1e-9)
            s = max(asked, least_memory_words(n // 2, n // 2))
            for count in (1, 2):
                edges = graphs.cycles(n // 2, np.random.default_rng(seed + count), count=count)
                run = measure(edges, n // 2, s, seed)
                bound = CYCLES_PER_LOG_N * log_n
                rows.append({"cycles": count, "log2_n": log_n, "n": n, "s_rule": rule,
                             "s_rule_words": asked, **run, "target": bound,
                             "pass": run["rounds"] <= bound and run["verified"]})
    return rows


def plot_cycle_rounds(rows: list[dict[str, Any]], path: Path, dpi: int = 80) -> Path:
    """Rounds against log2 n, one line per (s regime, cycle count), with the 8 log2 n target
    dashed; written to `path` (matplotlib's Figure, no pyplot state)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.6, 3.4), dpi=dpi)
    axes = figure.add_subplot()
    series: dict[str, list[tuple[int, int]]] = {}
    for row in rows:
        label = f"{row['cycles']} cycle{'s' if row['cycles'] > 1 else ''}, s = {row['s_rule']}"
        series.setdefault(label, []).append((row["log2_n"], row["rounds"]))
    for label, points in sorted(series.items()):
        xs, ys = zip(*sorted(points))
        axes.plot(xs, ys, marker="o", label=label)
    xs = sorted({row["log2_n"] for row in rows})
    axes.plot(xs, [CYCLES_PER_LOG_N * x for x in xs], "k--",
              label=f"target {CYCLES_PER_LOG_N} log2 n")
    axes.set_xlabel("log2 n  (n words = n/2 edges)")
    axes.set_ylabel("MPC rounds")
    axes.set_title("connectivity: one cycle vs two cycles, local backend", fontsize=9)
    axes.legend(fontsize=7)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=dpi)
    return path


def _networkx(graph: Any) -> tuple[np.ndarray, int]:
    """A networkx graph as (edges, V), its nodes numbered 0..V-1 in networkx's order."""
    import networkx as nx

    graph = nx.convert_node_labels_to_integers(graph)
    return np.array(list(graph.edges()), dtype=np.int64).reshape(-1, 2), graph.number_of_nodes()


def _sqrt_words(edges: int) -> int:
    """The issue's s for the real graphs: max(64, ceil((2E)^(1/2)))."""
    return max(64, math.ceil(math.sqrt(2 * edges) - 1e-9))
