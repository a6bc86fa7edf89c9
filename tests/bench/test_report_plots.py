"""The bench plots (mpcsim.bench.report) read at a glance: log axes where values span decades,
text of at least 9 pt, legends drawn with the markers and colours of what they name, and
`mpcsim bench --replot DIR` redraws a run's PNGs and RESULTS.md from its results.json."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")

from mpcsim.bench import report  # noqa: E402
from mpcsim.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ALGORITHMS = {"all-reduce": (3, 3, 3), "sort": (16, 16, 22), "connectivity": (807, 822, 170)}


def results() -> dict[str, Any]:
    scaling = [{"algorithm": name, "s_rule": rule, "n": n, "rounds": rounds,
                "wall_s": 0.004 * rounds ** 1.5}
               for name, per_n in ALGORITHMS.items() for rule in ("n^(1/2)", "n^(2/3)")
               for n, rounds in zip((1000, 4000, 16000), per_n)]
    return {
        "backends": ["local"],
        "breakdown": [{"backend": "local", "workload": "empty rounds", "compute_s": 5e-5,
                       "exchange_s": 2e-5, "barrier_s": 6e-6},
                      {"backend": "local", "workload": "2 MB blocks", "compute_s": 3e-4,
                       "exchange_s": 0.19, "barrier_s": 4e-5}],
        "scaling": scaling,
        "wall_vs_rounds": [{"family": "random GPT-2", "n": 512, "rounds": r, "wall_s": 0.01 * r}
                           for r in (3, 5, 7)],
        "strategies": [{"n": n, "strategy": s, "rounds": r, "wall_s": 0.01 * r, "dense_s": 0.02}
                       for n in (128, 512) for s, r in (("tree", 9), ("ring", 37))],
    }


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """name -> the matplotlib Figure write_plots made (after _save's styling); drawn once."""
    drawn: dict[str, Any] = {}
    save = report._save

    def keep(figure: Any, path: Path) -> Path:
        drawn[path.name] = figure
        return save(figure, path)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report, "_save", keep)
        report.write_plots(results(), tmp_path_factory.mktemp("plots"))
    return drawn


def test_every_plot_is_written(figures: dict[str, Any]) -> None:
    assert set(figures) == {"breakdown_local.png", "scaling_rounds.png", "scaling_wall.png",
                            "wall_vs_rounds.png", "tree_vs_ring.png"}


def test_values_spanning_decades_are_on_log_axes(figures: dict[str, Any]) -> None:
    for name in ("scaling_rounds.png", "scaling_wall.png"):
        for axes in figures[name].axes:
            assert (axes.get_xscale(), axes.get_yscale()) == ("log", "log"), name
    (wall,) = figures["wall_vs_rounds.png"].axes
    assert (wall.get_xscale(), wall.get_yscale()) == ("log", "log")
    (breakdown,) = figures["breakdown_local.png"].axes
    assert breakdown.get_xscale() == "log"
    for axes in figures["tree_vs_ring.png"].axes:
        assert axes.get_yscale() == "log"


def test_all_text_is_at_least_9_pt(figures: dict[str, Any]) -> None:
    for name, figure in figures.items():
        figure.canvas.draw()  # tick labels exist once drawn
        for axes in figure.axes:
            texts = [axes.xaxis.label, axes.yaxis.label, axes.title,
                     *axes.get_xticklabels(), *axes.get_yticklabels()]
            for text in texts:
                if text.get_text():
                    assert text.get_fontsize() >= 9, (name, text.get_text())
        legends = figure.legends + [a.get_legend() for a in figure.axes if a.get_legend()]
        for legend in legends:
            assert all(t.get_fontsize() >= 9 for t in legend.get_texts()), name


def test_scaling_legend_entries_have_their_lines_marker_and_colour(
        figures: dict[str, Any]) -> None:
    figure = figures["scaling_rounds.png"]
    (legend,) = figure.legends  # one legend for both panels
    entries = {text.get_text(): handle
               for text, handle in zip(legend.get_texts(), legend.legend_handles)}
    assert list(entries) == list(ALGORITHMS)
    for axes in figure.axes:
        for line in axes.get_lines():
            handle = entries[line.get_label()]
            assert handle.get_marker() == line.get_marker()
            assert handle.get_color() == line.get_color()
    markers = {handle.get_marker() for handle in entries.values()}
    assert len(markers) == len(ALGORITHMS), "each algorithm its own marker"


def test_wall_vs_rounds_has_a_colour_legend_and_a_shape_legend(
        figures: dict[str, Any]) -> None:
    (axes,) = figures["wall_vs_rounds.png"].axes
    legends = [child for child in axes.get_children()
               if type(child).__name__ == "Legend"]
    titles = sorted(legend.get_title().get_text() for legend in legends)
    assert titles == ["colour", "shape"]
    shape = next(leg for leg in legends if leg.get_title().get_text() == "shape")
    assert [h.get_marker() for h in shape.legend_handles] == ["o", "^", "s"]


@pytest.mark.slow
def test_replot_redraws_the_pngs_and_results_md_from_results_json(tmp_path: Path) -> None:
    shutil.copy(ROOT / "benchmarks" / "results.json", tmp_path / "results.json")

    assert main(["bench", "--replot", str(tmp_path)]) == 0

    assert (tmp_path / "RESULTS.md").read_text() == (
        ROOT / "benchmarks" / "RESULTS.md").read_text()
    for name in ("breakdown_local.png", "breakdown_ray.png", "scaling_rounds.png",
                 "scaling_wall.png", "wall_vs_rounds.png", "tree_vs_ring.png"):
        assert (tmp_path / name).stat().st_size > 10_000, name
