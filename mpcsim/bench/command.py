"""`mpcsim bench`: run a suite, write results.json / results.csv / PNGs / RESULTS.md to --out,
print the ratio table (or, with --json, the results as JSON on stdout). Registered in
mpcsim.cli.COMMANDS; the suites are mpcsim.bench.suite, the run mpcsim.bench.runner."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from .suite import PUBLIC_SUITES, SUITES

__all__ = ["configure", "handle"]

BACKEND_CHOICES = ("local", "ray", "both")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suite", choices=tuple(SUITES), default="quick",
                        metavar="{" + ",".join(PUBLIC_SUITES) + "}",
                        help="quick (3 repeats, under 3 minutes on 2 cores) or full (7 "
                             "repeats, larger sweeps, under 30 minutes) (default: %(default)s)")
    parser.add_argument("--backend", choices=BACKEND_CHOICES, default="both",
                        help="backends to measure; rows of the other are listed as skipped "
                             "(default: %(default)s)")
    parser.add_argument("--out", default="bench-results", metavar="DIR",
                        help="folder for results.json, results.csv, RESULTS.md and the PNGs "
                             "(default: %(default)s)")
    parser.add_argument("--json", action="store_true",
                        help="print the results as JSON on stdout instead of the table")
    parser.add_argument("--replot", metavar="DIR",
                        help="measure nothing: redraw the PNGs and RESULTS.md in DIR from its "
                             "results.json (e.g. `--replot benchmarks`)")


def handle(args: argparse.Namespace) -> int:
    """Exit 0 when every measured ratio and connectivity row meets its target, 1 otherwise."""
    from .report import print_summary, write_results
    from .runner import run_suite

    if args.replot:
        return _replot(Path(args.replot))
    backends = ("local", "ray") if args.backend == "both" else (args.backend,)
    command = shlex.join(["mpcsim", "bench", "--suite", args.suite, "--backend", args.backend,
                          "--out", args.out])
    results = run_suite(SUITES[args.suite], backends, command)
    paths = write_results(results, Path(args.out))
    if args.json:
        print(json.dumps(results, default=str))
    else:
        print_summary(results, sys.stdout)
        print(f"\nwrote {', '.join(str(p) for p in paths)}")
    rows = results["ratios"] + results.get("connectivity", []) \
        + results.get("connectivity_cycles", [])
    return 0 if all(row["pass"] is not False for row in rows) else 1


def _replot(out_dir: Path) -> int:
    """Redraw a finished run's plots and RESULTS.md from its results.json."""
    from .report import results_markdown, write_plots

    results = json.loads((out_dir / "results.json").read_text())
    plots = write_plots(results, out_dir)
    (out_dir / "RESULTS.md").write_text(results_markdown(results, [p.name for p in plots]))
    print(f"wrote {', '.join(str(p) for p in plots)}, {out_dir / 'RESULTS.md'}")
    return 0
