"""mpcsim.bench: `mpcsim bench`, rounds against wall-clock with baselines in the same run.

ratios (Target, the paired-repeat runner, rows), core (the core's measurements: barrier,
shuffle, per-machine overhead), baselines (numpy sort and hop_k), library (the algorithm
registry's ratio rows and scaling sweeps), suite (quick / full), runner (the orchestrator),
progress, report (json, csv, PNGs, RESULTS.md; matplotlib imported only to draw) and command
(the CLI). Installed extensions (mpcsim.extensions) add their own steps, e.g. the bridge's
rows vs the dense forward; this package names no other package.
"""

from __future__ import annotations

from .ratios import Target, alternate, ratio_row, skipped_row
from .report import write_results
from .runner import run_suite
from .suite import SUITES, Suite

__all__ = ["Target", "alternate", "ratio_row", "skipped_row", "Suite", "SUITES",
           "run_suite", "write_results"]
