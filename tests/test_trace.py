"""The trace (mpcsim.trace): the summary table, JSON and Chrome-trace exports, and the per-round
timing split (compute + exchange + barrier = wall)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

import mpcsim
from cases import CASES, ScriptedTraffic, run_case

RING = next(case for case in CASES if case.name == "ring_sum_makes_own_data")  # 5 rounds, q=5


def ring(num_workers: int = 1, backend: str = "local") -> mpcsim.Result:
    return run_case(RING, num_workers=num_workers, backend=backend)


def test_summary_is_a_table_with_one_row_per_round_and_a_totals_line() -> None:
    result = ring()
    out = io.StringIO()

    text = result.trace.summary(file=out)

    assert out.getvalue() == text + "\n"
    lines = text.splitlines()
    assert lines[0].split()[0] == "round"
    assert len(lines) == 1 + result.rounds + 1
    assert [line.split()[0] for line in lines[1:-1]] == [str(r) for r in range(result.rounds)]
    totals = lines[-1]
    assert totals.startswith(f"{result.rounds} rounds")
    assert f"{result.trace.total_messages} messages" in totals
    assert "memory_words=3" in totals and "0 violations" in totals


def test_summary_elides_the_middle_of_a_long_run() -> None:
    text = ring().trace.summary(max_rows=2, file=io.StringIO())  # 5 rounds, 2 shown
    assert "3 rounds omitted" in text
    assert len(text.splitlines()) == 1 + 2 + 1 + 1  # header, 2 rows, the gap, totals


def test_to_json_round_trips_with_rounds_totals_machines_hosts_violations(tmp_path: Path) -> None:
    result = run_case(RING, num_workers=2)
    path = tmp_path / "trace.json"

    text = result.trace.to_json(str(path))

    doc = json.loads(path.read_text())
    assert doc == json.loads(text)
    assert {"rounds", "totals", "machines", "hosts", "violations"} <= set(doc)
    assert len(doc["rounds"]) == result.rounds
    assert doc["totals"]["rounds"] == result.rounds
    assert doc["totals"]["words_sent"] == result.trace.total_words_sent
    assert doc["machines"]["sent_words"] == result.trace.sent_words.tolist()
    assert doc["machines"]["host"] == [0, 0, 1, 1, 1]  # balanced blocks: 2 + 3
    assert len(doc["hosts"]) == 2
    assert doc["violations"] == []


def test_to_json_lists_violations_when_not_enforcing() -> None:
    over = ScriptedTraffic(sends=(((0, 1, 5),),), keeps=((0, 0),))
    result = mpcsim.run(over, num_machines=2, memory_words=4, enforce=False)

    doc = json.loads(result.trace.to_json())

    assert {"round_idx": 0, "machine": 0, "limit": "sent", "words": 5, "cap": 4} in (
        doc["violations"])
    assert doc["rounds"][0]["violations"] == len(doc["violations"])


@pytest.mark.parametrize("num_workers", [1, 3])
def test_chrome_trace_has_one_complete_event_per_host_per_round(tmp_path: Path,
                                                                num_workers: int) -> None:
    result = ring(num_workers)
    path = tmp_path / "chrome.json"

    doc = result.trace.to_chrome_trace(str(path))

    assert json.loads(path.read_text()) == doc
    slices = [e for e in doc["traceEvents"] if e["ph"] == "X" and e["cat"] == "host"]
    hosts = len(result.trace.hosts)
    assert hosts == num_workers
    assert sorted((e["args"]["round"], e["tid"]) for e in slices) == [
        (r, h) for r in range(result.rounds) for h in range(hosts)]
    for event in slices:
        assert event["ts"] > 0 and event["dur"] >= 0


def _chrome(doc: dict[str, Any]) -> tuple[dict[tuple[int, int], str], dict[int, str],
                                          dict[str, list[dict[str, Any]]]]:
    """(pid, tid) -> track name, pid -> process name, category -> slices."""
    tracks = {(e["pid"], e["tid"]): e["args"]["name"] for e in doc["traceEvents"]
              if e["name"] == "thread_name"}
    processes = {e["pid"]: e["args"]["name"] for e in doc["traceEvents"]
                 if e["name"] == "process_name"}
    slices: dict[str, list[dict[str, Any]]] = {}
    for e in doc["traceEvents"]:
        if e["ph"] == "X":
            slices.setdefault(e["cat"], []).append(e)
    return tracks, processes, slices


def test_chrome_trace_has_driver_barrier_and_host_tracks_with_a_slice_per_round() -> None:
    result = ring(3)
    tracks, processes, slices = _chrome(result.trace.to_chrome_trace())
    assert processes == {0: "driver", 1: "node local"}
    assert tracks == {(0, 0): "driver", (0, 1): "barrier", (1, 0): "host 0 on local",
                      (1, 1): "host 1 on local", (1, 2): "host 2 on local"}
    rounds = [e for e in slices["driver"] if e["name"].startswith("round ")]
    between = [e for e in slices["driver"] if e["name"].startswith("driver ")]
    assert [e["args"]["round"] for e in rounds] == list(range(result.rounds))
    assert len(between) == result.rounds - 1
    assert [e["args"]["round"] for e in slices["barrier"]] == list(range(result.rounds))
    slack_us = 1e3  # the hosts' clock is time.time(), the driver's perf_counter's offset
    for record, span, barrier in zip(result.trace.rounds, rounds, slices["barrier"]):
        assert span["dur"] == pytest.approx(record.wall_s * 1e6, abs=1)  # us, at epoch scale
        assert barrier["dur"] == pytest.approx(record.barrier_s * 1e6, abs=1)
        end = span["ts"] + span["dur"]
        assert barrier["ts"] + barrier["dur"] == pytest.approx(end, abs=1)
        for host in (e for e in slices["host"] if e["args"]["round"] == record.round_idx):
            assert span["ts"] - slack_us <= host["ts"] <= host["ts"] + host["dur"] <= (
                end + slack_us)
    for before, after in zip(rounds, rounds[1:]):
        assert before["ts"] + before["dur"] <= after["ts"]


def test_chrome_trace_groups_host_tracks_by_node_and_names_both() -> None:
    trace = ring(3).trace
    trace.hosts = [{"node": "10.0.0.1", "actor": "a"}, {"node": "10.0.0.2", "actor": "b"},
                   {"node": "10.0.0.1", "actor": "c"}]
    tracks, processes, slices = _chrome(trace.to_chrome_trace())
    assert processes == {0: "driver", 1: "node 10.0.0.1", 2: "node 10.0.0.2"}
    assert {k: v for k, v in tracks.items() if k[0] > 0} == {
        (1, 0): "host 0 on 10.0.0.1", (2, 1): "host 1 on 10.0.0.2", (1, 2): "host 2 on 10.0.0.1"}
    for event in slices["host"]:
        assert event["args"]["node"] == trace.hosts[event["tid"]]["node"]
        assert event["pid"] == {"10.0.0.1": 1, "10.0.0.2": 2}[event["args"]["node"]]


def _timing(record: mpcsim.RoundRecord) -> dict[str, float]:
    return {"wall": record.wall_s, "compute": record.compute_s,
            "exchange": record.exchange_s, "barrier": record.barrier_s}


def test_round_timings_are_non_negative_and_add_up_to_wall(backend: str) -> None:
    result = ring(num_workers=1, backend=backend)

    for record in result.trace.rounds:
        t = _timing(record)
        assert min(t.values()) >= 0.0, t
        # one host: barrier is exactly the remainder of the wall time
        assert t["compute"] + t["exchange"] + t["barrier"] == pytest.approx(t["wall"], abs=1e-9)
    assert result.wall_s == pytest.approx(sum(r.wall_s for r in result.trace.rounds))


def test_round_timings_with_several_hosts_are_bounded_by_wall(backend: str) -> None:
    result = ring(num_workers=3, backend=backend)

    for record in result.trace.rounds:
        t = _timing(record)
        assert min(t.values()) >= 0.0, t
        # the slowest host's compute and exchange may come from different hosts, so the sum
        # can pass the wall time, but each phase on its own cannot
        assert t["compute"] <= t["wall"] and t["exchange"] <= t["wall"]
        assert t["barrier"] <= t["wall"]
        assert t["compute"] + t["exchange"] + t["barrier"] >= t["wall"] - 1e-9


def test_progress_is_called_once_per_round_with_its_record() -> None:
    seen: list[tuple[int, float]] = []

    def progress(record: mpcsim.RoundRecord, elapsed_s: float) -> None:
        seen.append((record.round_idx, elapsed_s))

    result = mpcsim.run(RING.program(), num_machines=5, memory_words=3, progress=progress)

    assert [r for r, _ in seen] == list(range(result.rounds))
    assert all(b >= a >= 0 for (_, a), (_, b) in zip(seen, seen[1:]))


def test_machine_placement_names_each_machines_host() -> None:
    result = ring(num_workers=2)
    trace = result.trace
    assert trace.machine_host.tolist() == [0, 0, 1, 1, 1]  # balanced blocks: 2 + 3
    assert trace.nodes == ["local"]
    assert all(trace.machine_node(m) == "local" for m in range(5))
    assert result.workers == 2
