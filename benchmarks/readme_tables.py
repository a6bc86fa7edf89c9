"""The README's measured tables, computed from the code, so their round counts cannot go stale.

    python benchmarks/readme_tables.py                      # print every section
    python benchmarks/readme_tables.py --write              # rewrite them in README.md
    python benchmarks/readme_tables.py --check [--max-n N]  # exit 1 if README's counts differ
    python benchmarks/readme_tables.py --sections demo,hopk-rounds --write

Each section sits in README.md between `<!-- BEGIN name -->` and `<!-- END name -->`:
- demo: the output of `mpcsim demo` (k = 8, n = 256, seed 0, local backend);
- hopk-rounds: hop_k at N = 1024 for k = 1..64, the constructed transformer beside MPC pointer
  doubling (benchmarks/hopk_table.py's rows; --write also redraws docs/hopk_rounds.png);
- algorithms: the algorithm library at n = 10^3..10^6 and s = n^(1/2), n^(2/3) words, seed 0
  (every repeat runs the same seed, so rounds, bound, q and memory are one run's and the
  wall-clock is the median over --repeats).

Rounds, bounds, machines, caps, memory peaks and verdicts are deterministic for a seed; the
wall-clock is not. deterministic_view() keeps the former and drops the latter (table columns
whose header names wall-clock, the demo's wall-clock lines), and --check (and
tests/test_readme_tables.py) compares exactly that view of what the code computes now with
README.md's. The algorithms section takes ~30 minutes in full (connectivity at s = n^(1/2));
--max-n bounds it, and then only rows up to that n are computed, written and compared.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib.util
import io
import math
import re
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import numpy as np

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"
SECTIONS = ("demo", "hopk-rounds", "algorithms")

ALGORITHMS = ("prefix-sum", "segmented-prefix-sum", "sort", "list-ranking", "hop-k",
              "connectivity")
SIZES = (10**3, 10**4, 10**5, 10**6)
DELTAS = ((1 / 2, "1/2"), (2 / 3, "2/3"))
SLOW_RUN_S = 20.0  # a row whose first run takes longer is not repeated
WALL_LINES = ("wall-clock", "per round")  # the demo's timing lines


def _sibling(name: str) -> ModuleType:
    """A script of this folder (e.g. hopk_table.py) as a module."""
    spec = importlib.util.spec_from_file_location(f"_readme_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the sections -------------------------------------------------------------------------------

def demo_section() -> str:
    """`mpcsim demo`'s output, as printed, in a code block."""
    from mpcsim.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["demo"])
    if code != 0:
        raise RuntimeError(f"mpcsim demo exited with {code}:\n{out.getvalue()}")
    return f"```\n{out.getvalue().rstrip()}\n```"


def hopk_rows(repeats: int = 1, n: int = 1024, seed: int = 0) -> list[dict[str, Any]]:
    """benchmarks/hopk_table.py's rows (k = 1, 2, .., 64 at N = n), one BLAS thread."""
    from threadpoolctl import threadpool_limits

    from transformer_bridge.constructions.hopk import random_inputs

    table = _sibling("hopk_table")
    ids = random_inputs(1, n, table.ALPHABET, np.random.default_rng(seed))
    cap = table.transformer_cap(n)
    with threadpool_limits(1, "blas"):
        return [{"k": k, "n": n, "transformer": table.transformer_row(k, ids, cap, repeats),
                 "pointer_doubling": table.doubling_row(k, ids, repeats)} for k in table.KS]


def hopk_section(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    _sibling("hopk_table").print_table(rows, out)
    return out.getvalue().rstrip()


def algorithm_row(name: str, n: int, delta: float, label: str,
                  repeats: int = 1) -> dict[str, Any]:
    """One row of the algorithm table: seed 0 at s = n^delta words (rounded up), q from the
    algorithm's sizing; every repeat is the same run, so only the wall-clock varies."""
    import mpcsim
    from mpcsim.algorithms import ALGORITHMS as REGISTRY

    spec = REGISTRY[name]
    s = math.ceil(n ** delta - 1e-9)
    try:
        q, _ = spec.sizing(n, None, s)
    except mpcsim.ConfigError as exc:  # s too small for this algorithm at this n: say so
        return {"algorithm": name, "n": n, "delta": label, "memory_words": s,
                "refused": " ".join(str(exc).split(":", 1)[-1].split())}
    inputs = spec.make_input(n, np.random.default_rng(n))
    walls, result = [], None
    for _ in range(repeats):
        result = mpcsim.run(spec.program(), inputs, num_machines=q, memory_words=s, seed=0)
        walls.append(result.wall_s)
        if result.wall_s > SLOW_RUN_S:
            break
    assert result is not None
    return {"algorithm": name, "n": n, "delta": label, "memory_words": s, "machines": q,
            "rounds": result.rounds, "round_bound": spec.round_bound(n, q, s),
            "wall_s": statistics.median(walls), "wall_min": min(walls), "wall_max": max(walls),
            "repeats": len(walls), "max_memory_words": result.trace.max_memory_words,
            "verified": bool(spec.verify(result.output, inputs))}


def algorithm_configs(max_n: int = SIZES[-1],
                      names: tuple[str, ...] = ALGORITHMS) -> list[tuple[str, int, float, str]]:
    return [(name, n, delta, label) for name in names for n in SIZES if n <= max_n
            for delta, label in DELTAS]


def algorithms_section(rows: list[dict[str, Any]]) -> str:
    lines = ["| algorithm | n | s = n^delta | s used | q | rounds | bound | "
             "wall_s (median [min-max]) | max memory words | verified |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "refused" in r:
            lines.append(f"| {r['algorithm']} | 10^{round(math.log10(r['n']))} | n^{r['delta']} | "
                         f"{r['memory_words']} | - | - | - | - | - | no: {r['refused']} |")
            continue
        wall = (f"{r['wall_s']:.3f} [{r['wall_min']:.3f}-{r['wall_max']:.3f}]"
                if r["repeats"] > 1 else f"{r['wall_s']:.3f} (1 run)")
        lines.append(f"| {r['algorithm']} | 10^{round(math.log10(r['n']))} | n^{r['delta']} | "
                     f"{r['memory_words']} | {r['machines']} | {r['rounds']} | "
                     f"{r['round_bound']} | {wall} | {r['max_memory_words']} | "
                     f"{'yes' if r['verified'] else 'NO'} |")
    return "\n".join(lines)


# -- README.md's marked sections ----------------------------------------------------------------

def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- BEGIN {re.escape(name)} -->\n)(.*?)(\n<!-- END {re.escape(name)} -->)",
                      re.S)


def read_section(name: str, readme: str) -> str:
    """The text between the section's markers (without them). KeyError if they are missing."""
    found = _pattern(name).search(readme)
    if found is None:
        raise KeyError(f"README.md has no <!-- BEGIN {name} --> ... <!-- END {name} --> section")
    return found.group(2)


def replace_section(name: str, readme: str, text: str) -> str:
    read_section(name, readme)  # raises if the markers are missing
    return _pattern(name).sub(lambda m: m.group(1) + text + m.group(3), readme, count=1)


def merge_rows(old: str, new: str) -> str:
    """`new` table rows replace `old`'s rows with the same key (the cells before the first
    number column: algorithm, n, s = n^delta); old rows that were not recomputed stay."""
    fresh = {_row_key(line): line for line in new.splitlines() if _is_row(line)}
    header = [line for line in new.splitlines() if not _is_row(line)]  # the new columns
    kept = [fresh.pop(_row_key(line), line) for line in old.splitlines() if _is_row(line)]
    return "\n".join(header + kept + list(fresh.values()))


def _is_row(line: str) -> bool:
    return line.startswith("| ") and not line.startswith("| algorithm ") and "---" not in line


def _row_key(line: str) -> tuple[str, ...]:
    return tuple(_cells(line)[:3])


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def deterministic_view(text: str) -> list[tuple[str, ...]]:
    """What must not drift: every line of a section, table rows as cell tuples without the
    columns whose header mentions wall-clock, and no line of the demo that reports time."""
    view: list[tuple[str, ...]] = []
    keep: list[int] | None = None  # the current table's columns to compare
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|"):
            cells = _cells(stripped)
            if keep is None:  # a header
                keep = [i for i, cell in enumerate(cells) if "wall" not in cell.lower()]
            if not set("".join(cells)) <= set("-: "):
                view.append(tuple(cells[i] for i in keep if i < len(cells)))
            continue
        keep = None
        if not stripped or stripped.startswith(WALL_LINES) or stripped.startswith("_Measured"):
            continue
        view.append((stripped,))
    return view


def table_rows_by_key(text: str) -> dict[tuple[str, ...], tuple[str, ...]]:
    """A table section's deterministic rows (not its header) keyed by their first three cells."""
    return {row[:3]: row for row in deterministic_view(text)
            if len(row) > 3 and row[0] != "algorithm"}


# -- the command ------------------------------------------------------------------------------

def compute(name: str, repeats: int, max_n: int, log: Callable[[str], None],
            algorithms: tuple[str, ...] = ALGORITHMS,
            on_row: Callable[[str], None] | None = None) -> tuple[str, list[dict[str, Any]]]:
    """(the section's markdown, its rows) computed now; for the algorithms section, on_row gets
    the table so far after every row (so a long run's finished rows are kept)."""
    if name == "demo":
        return demo_section(), []
    if name == "hopk-rounds":
        rows = hopk_rows(repeats)
        return hopk_section(rows), rows
    rows = []
    for config in algorithm_configs(max_n, algorithms):
        start = time.perf_counter()
        rows.append(algorithm_row(*config, repeats=repeats))
        outcome = rows[-1].get("rounds", f"refused ({rows[-1].get('refused')})")
        log(f"  {config[0]} n={config[1]} s=n^{config[3]}: {outcome} rounds "
            f"({time.perf_counter() - start:.1f} s)")
        if on_row is not None:
            on_row(algorithms_section(rows))
    return algorithms_section(rows), rows


def differences(name: str, readme_text: str, computed: str) -> list[str]:
    """Where README's deterministic view differs from the computed one (rows the computation
    did not cover, e.g. beyond --max-n, are not compared)."""
    if name == "algorithms":
        ours, theirs = table_rows_by_key(computed), table_rows_by_key(readme_text)
        return [f"{' '.join(key)}: README {theirs.get(key)} != code {row}"
                for key, row in ours.items() if theirs.get(key) != row]
    ours, theirs = deterministic_view(computed), deterministic_view(readme_text)
    if ours == theirs:
        return []
    as_lines = lambda view: [" | ".join(row) for row in view]  # noqa: E731
    return [line for line in difflib.unified_diff(as_lines(theirs), as_lines(ours), "README",
                                                   "code", n=0, lineterm="")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help="comma-separated, of: " + ", ".join(SECTIONS))
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite README.md's sections")
    mode.add_argument("--check", action="store_true",
                      help="compare README.md's round counts with the code's; exit 1 if any differ")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs per row (median; default: %(default)s)")
    parser.add_argument("--max-n", type=int, default=SIZES[-1],
                        help="largest n of the algorithms section (default: %(default)s)")
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS),
                        help="the algorithms section's rows to compute (default: all)")
    args = parser.parse_args(argv)
    algorithms = tuple(args.algorithms.split(","))
    if set(algorithms) - set(ALGORITHMS):
        parser.error(f"--algorithms: choose from {', '.join(ALGORITHMS)}")
    names = args.sections.split(",")
    unknown = sorted(set(names) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    failed = False
    partial = args.max_n < SIZES[-1] or algorithms != ALGORITHMS
    for name in names:
        log(f"{name}:")
        stamp = (f"_Measured {time.strftime('%Y-%m-%d')}"
                 f"{' (some rows; the others earlier)' if partial and name == 'algorithms' else ''}"
                 f" with `python benchmarks/readme_tables.py --write`; "
                 f"tests/test_readme_tables.py checks the round counts._")
        on_row = None
        if args.write and name == "algorithms":
            on_row = lambda table: _write(name, table, stamp)  # noqa: E731
        text, rows = compute(name, 1 if args.check else args.repeats, args.max_n, log,
                             algorithms, on_row)
        if args.check:
            found = differences(name, read_section(name, README.read_text()), text)
            failed |= bool(found)
            log("\n".join(f"  DIFFERS: {d}" for d in found) or "  README agrees with the code")
            continue
        if not args.write:
            print(f"<!-- BEGIN {name} -->\n{stamp}\n\n{text}\n<!-- END {name} -->\n")
            continue
        if name == "hopk-rounds":
            _sibling("hopk_table").plot(rows, str(HERE.parent / "docs" / "hopk_rounds.png"))
        _write(name, text, stamp)
        log(f"  wrote the section to {README}")
    return 1 if failed else 0


def _write(name: str, text: str, stamp: str) -> None:
    """Replace README.md's section `name` (an algorithms table is merged: rows not computed keep
    their values). README is read right before writing: others may have edited it meanwhile."""
    readme = README.read_text()
    if name == "algorithms":
        text = merge_rows(read_section(name, readme).split("\n\n", 1)[-1], text)
    README.write_text(replace_section(name, readme, f"{stamp}\n\n{text}"))


if __name__ == "__main__":
    sys.exit(main())
