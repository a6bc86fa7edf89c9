"""README.md's round counts are what the code computes now (benchmarks/readme_tables.py writes
them; this fails when an algorithm's rounds change and the README was not rewritten). Only the
deterministic columns are compared: rounds, bounds, machines, caps, memory, verdicts; never
wall-clock. The default run compares the algorithm rows at n = 10^3, the `slow` test every row
up to n = 10^4, and `python benchmarks/readme_tables.py --check` all of them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIX = "rewrite the README with `python benchmarks/readme_tables.py --write`"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme_tables",
                                                  ROOT / "benchmarks" / "readme_tables.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tables = _load()


@pytest.fixture(scope="module")
def readme() -> str:
    return (ROOT / "README.md").read_text()


def test_every_section_is_marked_in_the_readme(readme: str) -> None:
    for name in tables.SECTIONS:
        assert tables.read_section(name, readme).strip(), name


def test_demo_rounds_in_readme_are_the_codes(readme: str) -> None:
    found = tables.differences("demo", tables.read_section("demo", readme),
                               tables.demo_section())
    assert not found, f"README's `mpcsim demo` output is stale ({FIX}):\n" + "\n".join(found)


def test_hopk_rounds_table_in_readme_is_the_codes(readme: str) -> None:
    computed = tables.hopk_section(tables.hopk_rows(repeats=1))
    found = tables.differences("hopk-rounds", tables.read_section("hopk-rounds", readme),
                               computed)
    assert not found, f"README's hop-k rounds table is stale ({FIX}):\n" + "\n".join(found)


def test_algorithm_table_rounds_in_readme_are_the_codes(readme: str) -> None:
    configs = tables.algorithm_configs(max_n=1000)  # a few seconds
    computed = tables.algorithms_section([tables.algorithm_row(*c) for c in configs])
    readme_rows = tables.table_rows_by_key(tables.read_section("algorithms", readme))
    assert len(tables.table_rows_by_key(computed)) == len(configs)
    found = tables.differences("algorithms", tables.read_section("algorithms", readme), computed)
    assert not found, f"README's algorithm table is stale ({FIX}):\n" + "\n".join(found)
    assert len(readme_rows) == len(tables.algorithm_configs()), "rows missing from the README"


@pytest.mark.slow
def test_algorithm_table_rounds_up_to_ten_thousand_in_readme_are_the_codes(readme: str) -> None:
    configs = tables.algorithm_configs(max_n=10_000)  # ~20 s; n >= 10^5: readme_tables --check
    computed = tables.algorithms_section([tables.algorithm_row(*c) for c in configs])
    found = tables.differences("algorithms", tables.read_section("algorithms", readme), computed)
    assert not found, f"README's algorithm table is stale ({FIX}):\n" + "\n".join(found)


def test_the_view_ignores_wall_clock_but_not_rounds() -> None:
    header = "| algorithm | n | s | rounds | wall_s (median) | verified |\n|---|---|---|---|---|---|\n"
    readme = header + "| sort | 10^3 | n^1/2 | 29 | 0.011 | yes |"
    slower = header + "| sort | 10^3 | n^1/2 | 29 | 9.999 | yes |"
    more_rounds = header + "| sort | 10^3 | n^1/2 | 30 | 0.011 | yes |"
    assert tables.differences("algorithms", readme, slower) == []
    assert tables.differences("algorithms", readme, more_rounds)
    demo = "```\nMPC rounds   11   13\nwall-clock   9.1 ms   20.9 ms\n```"
    assert tables.differences("demo", demo, demo.replace("9.1 ms", "30 ms")) == []
    assert tables.differences("demo", demo, demo.replace("13", "21"))


def test_rewriting_keeps_rows_that_were_not_recomputed() -> None:
    header = "| algorithm | n | s | rounds |\n|---|---|---|---|\n"
    old = header + "| sort | 10^3 | n^1/2 | 29 |\n| sort | 10^6 | n^1/2 | 41 |"
    new = header + "| sort | 10^3 | n^1/2 | 28 |"
    merged = tables.merge_rows(old, new)
    assert "| sort | 10^3 | n^1/2 | 28 |" in merged and "| sort | 10^6 | n^1/2 | 41 |" in merged
    assert "29" not in merged
    section = "intro\n<!-- BEGIN x -->\nold\n<!-- END x -->\nafter"
    assert tables.replace_section("x", section, "new") == \
        "intro\n<!-- BEGIN x -->\nnew\n<!-- END x -->\nafter"


def test_write_merges_the_computed_rows_into_the_readme(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- BEGIN algorithms -->\n_Measured long ago._\n\n"
                      "| algorithm | n | s = n^delta | rounds |\n|---|---|---|---|\n"
                      "| prefix-sum | 10^3 | n^1/2 | 99 |\n| sort | 10^6 | n^1/2 | 41 |\n"
                      "<!-- END algorithms -->\nafter\n")
    monkeypatch.setattr(tables, "README", readme)
    assert tables.main(["--write", "--sections", "algorithms", "--max-n", "1000",
                        "--algorithms", "prefix-sum", "--repeats", "1"]) == 0
    section = tables.read_section("algorithms", readme.read_text())
    rows = tables.table_rows_by_key(section)
    assert rows[("prefix-sum", "10^3", "n^1/2")][5] == "5"  # recomputed: 5 rounds, not 99
    assert ("prefix-sum", "10^3", "n^2/3") in rows  # added
    assert rows[("sort", "10^6", "n^1/2")] == ("sort", "10^6", "n^1/2", "41")  # kept
    assert section.startswith("_Measured") and "long ago" not in section
    assert readme.read_text().endswith("<!-- END algorithms -->\nafter\n")
