"""mpcsim.bench: `mpcsim bench`, rounds against wall-clock with baselines in the same run.

ratios (Target, the paired-repeat runner, rows), core (the core's measurements: barrier,
shuffle, per-machine overhead), baselines (numpy sort and hop_k), library (the algorithm
registry's ratio rows and scaling sweeps), suite (quick / full), runner (the orchestrator),
progress, report (json, csv, PNGs, RESULTS.md; matplotlib imported only to draw) and command
(the CLI). The bridge's measurements are transformer_bridge.bench, imported only when a
bridge step runs, so importing this package never imports the bridge.
"""

from __future__ import annotations

from .ratios import Target, alternate, ratio_row, skipped_row
from .report import write_results
from .runner import run_suite
from .suite import SUITES, Suite

__all__ = ["Target", "alternate", "ratio_row", "skipped_row", "Suite", "SUITES",
           "run_suite", "write_results"]
