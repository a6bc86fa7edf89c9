"""Writing a bench run's results: results.json (everything), results.csv (every table's rows,
a `table` column naming which), PNG plots (matplotlib, dpi 100, log axes where values span
decades, 9-10 pt text), RESULTS.md (the ratio table, connectivity's target and cycles tables,
the plots, the command, date and machine) and the summary table on a terminal.
The results dict comes from mpcsim.bench.runner.run_suite. `mpcsim bench --replot DIR` redraws
the plots and RESULTS.md from DIR/results.json without measuring."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, TextIO

from .library import SLOW_POINT_S

__all__ = ["write_results", "write_plots", "results_markdown", "print_summary", "TABLES"]

TABLES = ("ratios", "breakdown", "scaling", "wall_vs_rounds", "strategies", "connectivity",
          "connectivity_cycles")
DPI = 100
FONT_PT = 10  # labels and titles; ticks and legends 1 pt smaller


def write_results(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write results.json, results.csv, the PNGs and RESULTS.md into out_dir; return them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = out_dir / "results.json", out_dir / "results.csv"
    json_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    _write_csv(results, csv_path)
    plots = write_plots(results, out_dir)
    md_path = out_dir / "RESULTS.md"
    md_path.write_text(results_markdown(results, [p.name for p in plots]))
    return [json_path, csv_path, md_path, *plots]


def _write_csv(results: dict[str, Any], path: Path) -> None:
    fields: list[str] = ["table"]
    for table in TABLES:
        for row in results.get(table, []):
            fields += [key for key in row if key not in fields]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for table in TABLES:
            for row in results.get(table, []):
                writer.writerow({"table": table, **row})


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _verdict(row: dict[str, Any]) -> str:
    return {True: "pass", False: "FAIL", None: "skipped"}[row["pass"]]


def results_markdown(results: dict[str, Any], plots: list[str]) -> str:
    machine = results["machine"]
    lines = [
        "# mpcsim bench results", "",
        f"Suite `{results['suite']}`, backends {', '.join(results['backends'])}, run on "
        f"{results['date']} on a {machine['cores']}-core, {machine['memory_gib']} GiB machine "
        f"(Python {machine['python']}, {machine['platform']}); the whole run took "
        f"{results.get('wall_s', 0):.0f} s. Reproduce with:", "",
        f"    {results['command']}", "",
        "Each ratio is the median over repeats of ours vs the baseline measured side by side "
        "(alternately, in the same run), with min and max to show the noise. Time ratios "
        "(`<=`) are ours over the baseline; throughput ratios (`>=`) the baseline's time over "
        "ours.", "",
        "| benchmark | ratio | min | max | target | result | ours s | baseline s | note |",
        "|---|---|---|---|---|---|---|---|---|"]
    for row in results["ratios"]:
        seconds = [_fmt(row[key]) if row[key] is None else f"{row[key]:.4f}"
                   for key in ("ours_s", "baseline_s")]
        lines.append(f"| {row['name']} | {_fmt(row['ratio'])} | {_fmt(row['min'])} | "
                     f"{_fmt(row['max'])} | {row['target']} | {_verdict(row)} | {seconds[0]} "
                     f"| {seconds[1]} | {row.get('note', '')} |")
    lines += _connectivity_markdown(results)
    lines += _scaling_markdown(results["scaling"])
    lines += ["", "## Plots", ""] + [f"![{name}]({name})" for name in plots]
    return "\n".join(lines) + "\n"


def _connectivity_markdown(results: dict[str, Any]) -> list[str]:
    """Connectivity's target rows and its one-vs-two-cycles rows (mpcsim.bench.connectivity)."""
    rows, cycles = results.get("connectivity", []), results.get("connectivity_cycles", [])
    if not rows and not cycles:
        return []
    lines = ["", "## Connectivity (issue 12, local backend, seed 0, caps enforced)", "",
             "| target | measured | bound | result | run |", "|---|---|---|---|---|"]
    lines += [f"| {r['name']} | {'-' if r['value'] is None else r['value']} | {r['target']} | "
              f"{_verdict(r)} | {r['note']} |" for r in rows]
    if cycles:
        lines += ["", "One cycle of n/2 vertices vs two of n/4 (n words = n/2 edges); target "
                  "rounds <= 8 log2 n. `s used` is above n^delta where no plan fits n^delta.",
                  "", "| cycles | n | s = n^delta | s used | q | D | rounds | 8 log2 n | "
                  "words/edge | max words | result |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {c['cycles']} | 2^{c['log2_n']} | {c['s_rule']} = {c['s_rule_words']} | "
                  f"{c['memory_words']} | {c['machines']:,} | {c['depth']} | {c['rounds']} | "
                  f"{c['target']} | {c['words_per_edge']:.0f} | {c['max_words']} | "
                  f"{_verdict(c)} |" for c in cycles]
    return lines


def _scaling_markdown(points: list[dict[str, Any]]) -> list[str]:
    """The scaling points as a table; a point that could not run says why."""
    if not points:
        return []
    lines = ["", "## Rounds and wall-clock vs n (local backend)", "",
             "s = n^delta words exactly (rounded up), q = what the algorithm's sizing needs "
             "for that s; wall-clock is the whole `mpcsim.run`: the median of the runs made (the "
             f"suite's sweep repeats, fewer once a point's runs took {SLOW_POINT_S:g} s).", "",
             "| algorithm | s | n | q | rounds | wall s | runs | verified |",
             "|---|---|---|---|---|---|---|---|"]
    for p in points:
        head = f"| {p['algorithm']} | {p['s_rule']} = {p.get('memory_words', '-')} | {p['n']:,} |"
        if "error" in p:
            lines.append(f"{head} - | - | - | - | not run: {p['error']} |")
        else:
            lines.append(f"{head} {p['machines']:,} | {p['rounds']} | {p['wall_s']:.3f} | "
                         f"{p.get('repeats', 1)} | {'yes' if p['verified'] else 'NO'} |")
    return lines


def print_summary(results: dict[str, Any], out: TextIO) -> None:
    """The ratio table: rich on a terminal, aligned text otherwise."""
    rows = [(r["name"], _fmt(r["ratio"]), _fmt(r["min"]), _fmt(r["max"]), r["target"],
             _verdict(r)) for r in results["ratios"]]
    header = ("benchmark", "ratio", "min", "max", "target", "result")
    if out.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"mpcsim bench --suite {results['suite']} "
                            f"({results.get('wall_s', 0):.0f} s)", title_justify="left")
        for i, name in enumerate(header):
            table.add_column(name, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*row)
        Console(file=out).print(table)
    else:
        width = max(len(r[0]) for r in rows)
        print(f"{header[0]:{width}} {'ratio':>6} {'min':>6} {'max':>6} {'target':>8}  result",
              file=out)
        for row in rows:
            print(f"{row[0]:{width}} {row[1]:>6} {row[2]:>6} {row[3]:>6} {row[4]:>8}  {row[5]}",
                  file=out)
    for row in results["ratios"]:
        if row["pass"] is None:
            print(f"  {row['name']}: {row['note']}", file=out)
    for row in results.get("connectivity", []):
        print(f"connectivity: {row['name']} = {row['value']} ({row['target']}): "
              f"{_verdict(row)}", file=out)
    cycles = results.get("connectivity_cycles", [])
    if cycles:
        worst = max(cycles, key=lambda c: c["rounds"] / c["target"])
        print(f"connectivity: one vs two cycles, {sum(c['pass'] for c in cycles)} of "
              f"{len(cycles)} runs within 8 log2 n (worst: {worst['rounds']} rounds at "
              f"n = 2^{worst['log2_n']}, s = {worst['memory_words']})", file=out)


# -- plots ------------------------------------------------------------------------------------

def write_plots(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """The PNGs, each skipped when its table is empty; returns the paths written."""
    paths = []
    for backend in results["backends"]:
        rows = [r for r in results["breakdown"] if r["backend"] == backend]
        if rows:
            paths.append(_breakdown_plot(rows, out_dir / f"breakdown_{backend}.png"))
    scaling = [p for p in results["scaling"] if "wall_s" in p]
    if scaling:
        for key, label in (("rounds", "rounds"), ("wall_s", "wall-clock, s")):
            paths.append(_scaling_plot(scaling, key, label,
                                       out_dir / f"scaling_{key.split('_')[0]}.png"))
    if results["wall_vs_rounds"] or scaling:
        paths.append(_wall_vs_rounds_plot(results, out_dir / "wall_vs_rounds.png"))
    if results["strategies"]:
        paths.append(_strategies_plot(results["strategies"], out_dir / "tree_vs_ring.png"))
    if results.get("connectivity_cycles"):
        from .connectivity import plot_cycle_rounds

        paths.append(plot_cycle_rounds(results["connectivity_cycles"],
                                       out_dir / "connectivity_cycles.png", DPI))
    return paths


def _figure(width: float = 6.4, height: float = 3.6) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI)


def _save(figure: Any, path: Path) -> Path:
    """Legible at a glance: every figure's text at the same readable sizes, then saved."""
    for axes in figure.axes:
        axes.tick_params(labelsize=FONT_PT - 1)
        axes.xaxis.label.set_fontsize(FONT_PT)
        axes.yaxis.label.set_fontsize(FONT_PT)
        axes.title.set_fontsize(FONT_PT)
    for legend in figure.legends + [a.get_legend() for a in figure.axes if a.get_legend()]:
        for text in legend.get_texts():
            text.set_fontsize(FONT_PT - 1)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def _breakdown_plot(rows: list[dict[str, Any]], path: Path) -> Path:
    """Grouped bars on a log axis: the parts span 0.01 ms (an empty round) to 200 ms (2 MB
    blocks), so stacked linear bars hid every small part."""
    figure = _figure(6.4, 0.6 + 0.9 * len(rows))
    axes = figure.add_subplot()
    parts = ("compute", "exchange", "barrier")
    height = 0.8 / len(parts)
    for j, part in enumerate(parts):
        values = [max(1e3 * r[f"{part}_s"], 1e-4) for r in rows]  # log axis: no zeros
        axes.barh([i + (j - 1) * height for i in range(len(rows))], values, height=height,
                  label=part, color=f"C{j}")
    axes.set_yticks(range(len(rows)), [r["workload"] for r in rows])
    axes.set_xscale("log")
    axes.set_xlabel("median ms per round (log scale)")
    axes.set_title(f"per-round cost by part, {rows[0]['backend']} backend")
    axes.grid(axis="x", alpha=0.3, which="both")
    axes.set_axisbelow(True)
    axes.invert_yaxis()  # the first workload (and in each, compute) on top
    axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _save(figure, path)


MARKERS = "osD^vP*Xh<>p"  # one per algorithm, the same in every panel and in the legend


def _scaling_plot(points: list[dict[str, Any]], key: str, label: str, path: Path) -> Path:
    """One panel per s rule, log-log (rounds run from 3 to 2,000: a linear axis flattened all
    but connectivity at 0); one colour and marker per algorithm, one legend for both panels;
    markers shrink in legend order, so algorithms with equal values (all-reduce and the
    prefix sums) show nested rather than hidden."""
    figure = _figure(7.6, 3.8)
    rules = sorted({p["s_rule"] for p in points})
    algorithms = list(dict.fromkeys(p["algorithm"] for p in points))
    panels = [figure.add_subplot(1, len(rules), 1)]
    panels += [figure.add_subplot(1, len(rules), i + 1, sharey=panels[0])
               for i in range(1, len(rules))]
    for axes, rule in zip(panels, rules):
        for i, algorithm in enumerate(algorithms):
            mine = [p for p in points if p["algorithm"] == algorithm and p["s_rule"] == rule]
            axes.plot([p["n"] for p in mine], [p[key] for p in mine], color=f"C{i % 10}",
                      marker=MARKERS[i % len(MARKERS)], label=algorithm,
                      markersize=max(4.0, 10.0 - 0.9 * i))  # equal values stay visible
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("n (words, log scale)")
        axes.set_title(f"s = {rule}")
        axes.grid(alpha=0.3, which="both")
    panels[0].set_ylabel(f"{label} (log scale)")
    handles, labels = panels[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _save(figure, path)


def _wall_vs_rounds_plot(results: dict[str, Any], path: Path) -> Path:
    """Log-log (rounds 3 to 2,000, seconds 0.004 to 200). Colour: the algorithm or transformer
    family; shape: the s rule (or transformers); one legend for each, so a point's colour and
    shape are both read off a legend entry drawn the same way."""
    from matplotlib.lines import Line2D

    figure = _figure(7.6, 4.2)
    axes = figure.add_subplot()
    shapes = {"s = n^(1/2)": "o", "s = n^(2/3)": "^", "transformer (one per depth or k)": "s"}
    groups: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for p in results["scaling"]:
        if "wall_s" in p:
            marker = "o" if p["s_rule"] == "n^(1/2)" else "^"
            groups.setdefault(p["algorithm"], {}).setdefault(marker, []).append(
                (p["rounds"], p["wall_s"]))
    for p in results["wall_vs_rounds"]:
        groups.setdefault(f"{p['family']} N={p['n']}", {}).setdefault("s", []).append(
            (p["rounds"], p["wall_s"]))
    for i, by_marker in enumerate(groups.values()):
        for marker, xy in by_marker.items():
            axes.scatter([x for x, _ in xy], [y for _, y in xy], s=30, marker=marker,
                         color=f"C{i % 10}", alpha=0.85)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("rounds (log scale)")
    axes.set_ylabel("wall-clock, s (log scale)")
    axes.set_title("wall-clock vs rounds, local backend")
    axes.grid(alpha=0.3, which="both")
    colours = [Line2D([], [], color=f"C{i % 10}", linewidth=6, label=name)
               for i, name in enumerate(groups)]
    markers = [Line2D([], [], color="0.35", marker=m, linestyle="", markersize=7, label=name)
               for name, m in shapes.items()]
    axes.add_artist(axes.legend(handles=colours, title="colour", loc="upper left",
                                bbox_to_anchor=(1.02, 1.0)))
    axes.legend(handles=markers, title="shape", loc="lower left", bbox_to_anchor=(1.02, 0.0))
    return _save(figure, path)


def _strategies_plot(rows: list[dict[str, Any]], path: Path) -> Path:
    figure = _figure(7.6, 3.6)
    rounds, wall = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    for i, strategy in enumerate(("tree", "ring")):
        mine = [r for r in rows if r["strategy"] == strategy]
        ns = [r["n"] for r in mine]
        style = {"marker": MARKERS[i], "color": f"C{i}", "label": strategy}
        rounds.plot(ns, [r["rounds"] for r in mine], **style)
        wall.plot(ns, [r["wall_s"] for r in mine], **style)
    dense = {r["n"]: r["dense_s"] for r in rows}
    wall.plot(list(dense), list(dense.values()), marker="s", color="C2", linestyle="--",
              label="dense")
    for axes, label in ((rounds, "rounds"), (wall, "wall-clock, s")):
        axes.set_xscale("log", base=2)
        axes.set_yscale("log")
        axes.set_xlabel("N (tokens)")
        axes.set_ylabel(f"{label} (log scale)")
        axes.grid(alpha=0.3, which="both")
        axes.legend()
    figure.suptitle("bridge: tree vs ring (random GPT-2 L=4)", fontsize=FONT_PT)
    return _save(figure, path)
