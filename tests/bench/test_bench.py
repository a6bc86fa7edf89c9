"""mpcsim bench: the ratio arithmetic, the numpy baselines, the report writer on synthetic rows,
and `mpcsim bench --suite smoke` end to end (local backend, a few seconds)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mpcsim.algorithms import hopk
from mpcsim.bench import Target, ratio_row, skipped_row, write_results
from mpcsim.bench.baselines import numpy_hopk
from mpcsim.bench.library import algorithm_vs_baseline
from mpcsim.bench.ratios import ROW_FIELDS
from mpcsim.cli import main
from mpcsim.errors import ConfigError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def synthetic_results() -> dict:
    return {
        "suite": "quick", "backends": ["local", "ray"], "command": "mpcsim bench --suite quick",
        "date": "2026-11-24 00:00 UTC", "wall_s": 12.0,
        "machine": {"cores": 2, "memory_gib": 23.5, "python": "3.11", "platform": "linux"},
        "ratios": [ratio_row("cost row", [2.0, 2.2, 1.8], [1.0, 1.0, 1.0], Target("<=", 3.0)),
                   ratio_row("throughput row", [4.0, 4.0], [1.0, 1.0], Target(">=", 0.5)),
                   skipped_row("absent row", Target("<=", 5.0), "not available: reasons")],
        "breakdown": [{"backend": b, "workload": "w", "rounds": 3, "compute_s": 0.001,
                       "exchange_s": 0.002, "barrier_s": 0.0005} for b in ("local", "ray")],
        "scaling": [{"algorithm": "a", "n": n, "s_rule": rule, "machines": 2,
                     "memory_words": 64, "rounds": 3, "wall_s": 0.001 * n, "verified": True}
                    for n in (10, 100) for rule in ("n^(1/2)", "n^(2/3)")]
                   + [{"algorithm": "b", "n": 10, "s_rule": "n^(1/2)", "error": "too small"}],
        "wall_vs_rounds": [{"family": "random GPT-2", "label": "L=1", "n": 8, "depth": 1,
                            "rounds": 3, "wall_s": 0.01}],
        "strategies": [{"n": n, "strategy": st, "rounds": 5, "wall_s": 0.1, "dense_s": 0.05}
                       for n in (8, 16) for st in ("tree", "ring")],
        "connectivity": [{"name": "karate club: rounds", "value": 22, "unit": "rounds",
                          "target": "<= 30 rounds", "pass": True, "note": "s=64"}],
        "connectivity_cycles": [{"cycles": c, "log2_n": k, "n": 2**k, "s_rule": "n^(1/2)",
                                 "s_rule_words": 32, "memory_words": 44, "machines": 9,
                                 "depth": 1, "rounds": 7 * k, "round_bound": 99,
                                 "words_per_edge": 30.0, "wall_s": 0.1, "max_words": 30,
                                 "verified": True, "target": 8 * k, "pass": True}
                                for c in (1, 2) for k in (10, 12)],
        "notes": [],
    }


def test_target_ratio_is_time_over_baseline_for_at_most_and_throughput_for_at_least() -> None:
    assert Target("<=", 3.0).ratio(2.0, 1.0) == 2.0
    assert Target(">=", 0.5).ratio(2.0, 1.0) == 0.5
    assert Target("<=", 3.0).met(3.0) and not Target("<=", 3.0).met(3.1)
    assert Target(">=", 0.5).met(0.5) and not Target(">=", 0.5).met(0.4)
    assert str(Target("<=", 1.5)) == "<= 1.5x"


def test_target_rejects_unknown_direction_naming_the_field() -> None:
    with pytest.raises(ConfigError, match="op"):
        Target("<", 1.0)


def test_ratio_row_is_median_of_paired_ratios_with_min_and_max() -> None:
    row = ratio_row("r", [2.0, 3.0, 9.0], [1.0, 1.0, 3.0], Target("<=", 3.0))
    assert (row["ratio"], row["min"], row["max"], row["pass"]) == (3.0, 2.0, 3.0, True)
    assert set(ROW_FIELDS) <= set(row)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 200])
@pytest.mark.parametrize("k", [0, 1, 3, 64, 1000])
def test_numpy_hopk_baseline_agrees_with_the_library_reference(n: int, k: int) -> None:
    x = hopk.make_input(n, np.random.default_rng(n * 31 + k))
    assert np.array_equal(numpy_hopk(x, k), hopk.reference(x, k))


def test_unregistered_algorithm_gives_a_not_available_row() -> None:
    row = algorithm_vs_baseline("x", "no-such-algorithm", 10, {}, np.sort,
                                Target("<=", 5.0), 1)
    assert row["pass"] is None and "not available" in row["note"]


def test_report_writes_json_csv_pngs_and_markdown_from_synthetic_rows(tmp_path: Path) -> None:
    paths = write_results(synthetic_results(), tmp_path)
    names = {p.name for p in paths}
    assert {"results.json", "results.csv", "RESULTS.md", "breakdown_local.png",
            "breakdown_ray.png", "scaling_rounds.png", "scaling_wall.png",
            "wall_vs_rounds.png", "tree_vs_ring.png", "connectivity_cycles.png"} == names
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:8] == PNG_MAGIC
    markdown = (tmp_path / "RESULTS.md").read_text()
    assert "| cost row | 2.00 | 1.80 | 2.20 | <= 3x | pass |" in markdown
    assert "absent row" in markdown and "skipped" in markdown
    assert "mpcsim bench --suite quick" in markdown
    assert "![tree_vs_ring.png](tree_vs_ring.png)" in markdown
    assert "| karate club: rounds | 22 | <= 30 rounds | pass | s=64 |" in markdown
    assert "| 2 | 2^12 | n^(1/2) = 32 | 44 | 9 | 1 | 84 | 96 |" in markdown
    with (tmp_path / "results.csv").open() as handle:
        tables = [row["table"] for row in csv.DictReader(handle)]
    assert tables.count("ratios") == 3 and "strategies" in tables


@pytest.mark.slow
def test_bench_smoke_suite_writes_valid_files(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "--suite", "smoke", "--backend", "local", "--out", str(tmp_path),
                 "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert code in (0, 1)  # smoke sizes are below the targets' sizes: pass or fail both fine
    results = json.loads((tmp_path / "results.json").read_text())
    assert printed["ratios"] == results["ratios"]
    kinds = {row["name"].split(",")[0].split(":")[0] for row in results["ratios"]}
    assert {"ray barrier", "local overhead", "local shuffle throughput vs numpy copy"} <= kinds
    for row in results["ratios"]:
        assert set(ROW_FIELDS) <= set(row)
        if row["name"].startswith("ray"):
            assert row["pass"] is None and "--backend" in row["note"]
    assert results["breakdown"] and results["scaling"] and results["strategies"]
    assert results["wall_vs_rounds"]
    targets = {row["name"].split(":")[0]: row for row in results["connectivity"]}
    assert {"karate club", "random graph n=2,000 words, s=317"} <= set(targets)
    assert all(row["pass"] is not None for row in results["connectivity"])
    assert {(c["cycles"], c["s_rule"]) for c in results["connectivity_cycles"]} == \
        {(1, "n^(1/2)"), (2, "n^(1/2)"), (1, "n^(2/3)"), (2, "n^(2/3)")}
    assert all(c["verified"] for c in results["connectivity_cycles"])
    assert (tmp_path / "connectivity_cycles.png").read_bytes()[:8] == PNG_MAGIC
    for name in ("results.csv", "RESULTS.md", "breakdown_local.png", "tree_vs_ring.png",
                 "wall_vs_rounds.png", "scaling_wall.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "tree_vs_ring.png").read_bytes()[:8] == PNG_MAGIC


def test_importing_mpcsim_bench_does_not_import_the_bridge_or_matplotlib() -> None:
    code = ("import sys, mpcsim, mpcsim.cli, mpcsim.bench; "
            "print(any(m.split('.')[0] in ('transformer_bridge', 'matplotlib') "
            "for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
