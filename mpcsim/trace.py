"""The trace of a run: one record per round, per-machine totals, placement, violations.

Round timing, measured by the driver around each round's barrier:
- compute_s: the slowest host's time running its machines' `round` calls, including counting
  each machine's memory words and checking its caps;
- exchange_s: the slowest host's time delivering (decoding) the previous round's messages and
  routing and encoding its outgoing ones (on Ray, also publishing large frames to the object
  store);
- barrier_s: the rest of the round's wall time: dispatching the round, waiting for the
  slowest host, collecting the reports; on Ray this includes the object-store transfer of
  large frames, which Ray performs before the receiving actor's step starts.
Word fields are maxima over machines of that round (memory after delivery, sent, received).

Export with `to_json(path)` / `to_dict()`, and `to_chrome_trace(path)` for chrome://tracing or
https://ui.perfetto.dev: a "driver" process with a driver track (each round from dispatch to the
last reply, and the driver's own work between rounds: checks and routing) and a barrier track
(each round's barrier_s, drawn at the round's end), and one process per node with one track per
host ("host 3 on 10.0.0.5"), a slice per host and round. Hosts stamp their slices with their own
clock (time.time()), so on several machines the tracks are only as aligned as the clocks are.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .host import Violation

__all__ = ["RoundRecord", "HostSpan", "RecoveryRecord", "Trace"]


@dataclass
class RoundRecord:
    round_idx: int
    wall_s: float
    compute_s: float
    exchange_s: float
    barrier_s: float
    machines_run: int
    messages: int
    words: int  # total words sent in the round
    max_memory_words: int
    max_sent_words: int
    max_received_words: int
    violations: int = 0
    started_at: float = 0.0  # time.time() when the driver dispatched the round, for timelines


@dataclass(frozen=True)
class HostSpan:
    """One host's compute and exchange in one round, for timelines."""

    round_idx: int
    host: int
    started_at: float
    compute_s: float
    exchange_s: float


@dataclass(frozen=True)
class RecoveryRecord:
    """One lost host brought back (mpcsim.recovery): restored from the last snapshot on a new
    actor and its rounds since then replayed. Replayed steps are not MPC rounds: they appear
    here, not in Trace.rounds."""

    round_idx: int  # the round whose step lost the host
    host: int
    node: str  # where the host was lost
    new_node: str  # where its replacement runs
    from_round: int  # the snapshot it restarted from: state after this round (-1: the input)
    replayed_rounds: int  # steps re-run for it, the lost round included
    rollback: bool  # every host rolled back (a surviving host's frames were lost too)
    lost_s: float  # wall seconds of the recovery: replacement, restore, replay
    started_at: float  # time.time() when the recovery started, for timelines


@dataclass
class Trace:
    rounds: list[RoundRecord]
    backend: str
    num_machines: int
    memory_words: int
    # per machine, indexed by machine id
    sent_words: np.ndarray
    received_words: np.ndarray
    peak_memory_words: np.ndarray
    rounds_active: np.ndarray
    machine_host: np.ndarray  # host (worker) index of each machine
    hosts: list[dict[str, str]]  # per host: {"node": ..., "actor": ...}
    violations: list[Violation] = field(default_factory=list)
    spans: list[HostSpan] = field(default_factory=list)
    recoveries: list[RecoveryRecord] = field(default_factory=list)

    # -- aggregates ---------------------------------------------------------------------------

    @property
    def max_memory_words(self) -> int:
        return max((r.max_memory_words for r in self.rounds), default=0)

    @property
    def max_sent_words(self) -> int:
        return max((r.max_sent_words for r in self.rounds), default=0)

    @property
    def max_received_words(self) -> int:
        return max((r.max_received_words for r in self.rounds), default=0)

    @property
    def total_words_sent(self) -> int:
        return sum(r.words for r in self.rounds)

    @property
    def total_messages(self) -> int:
        return sum(r.messages for r in self.rounds)

    @property
    def nodes(self) -> list[str]:
        return sorted({h["node"] for h in self.hosts})

    def machine_node(self, machine: int) -> str:
        """The node that hosted `machine`: "local", or on Ray the node's IP (with the raylet's
        port where nodes share an IP; see mpcsim.backends.ray_actors.node_names)."""
        return self.hosts[int(self.machine_host[machine])]["node"]

    # -- export -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "num_machines": self.num_machines,
            "memory_words": self.memory_words,
            "rounds": [asdict(r) for r in self.rounds],
            "totals": {
                "rounds": len(self.rounds),
                "messages": self.total_messages,
                "words_sent": self.total_words_sent,
                "max_memory_words": self.max_memory_words,
                "max_sent_words": self.max_sent_words,
                "max_received_words": self.max_received_words,
                "nodes": len(self.nodes),
            },
            "machines": {
                "sent_words": self.sent_words.tolist(),
                "received_words": self.received_words.tolist(),
                "peak_memory_words": self.peak_memory_words.tolist(),
                "rounds_active": self.rounds_active.tolist(),
                "host": self.machine_host.tolist(),
            },
            "hosts": self.hosts,
            "violations": [v.to_dict() for v in self.violations],
            "recoveries": [asdict(r) for r in self.recoveries],
        }

    def to_json(self, path: str | None = None) -> str:
        text = json.dumps(self.to_dict())
        if path is not None:
            with open(path, "w") as f:
                f.write(text)
        return text

    def to_chrome_trace(self, path: str | None = None) -> dict[str, Any]:
        """Chrome/Perfetto trace-event JSON (times in microseconds since the epoch): driver and
        barrier tracks, and a track per host grouped by node; see the module docstring."""
        events = [_name("process_name", 0, 0, "driver"), _name("thread_name", 0, 0, "driver"),
                  _name("thread_name", 0, 1, "barrier")]
        nodes = list(dict.fromkeys(h["node"] for h in self.hosts))  # in order of first host
        for n, node in enumerate(nodes):
            events.append(_name("process_name", 1 + n, 0, f"node {node}"))
        for h, info in enumerate(self.hosts):
            events.append(_name("thread_name", 1 + nodes.index(info["node"]), h,
                                f"host {h} on {info['node']}"))
        for r, record in enumerate(self.rounds):
            t0, t1 = record.started_at * 1e6, (record.started_at + record.wall_s) * 1e6
            events.append(_slice(f"round {record.round_idx}", "driver", 0, 0, t0, t1, {
                "round": record.round_idx, "wall_s": record.wall_s,
                "messages": record.messages, "words": record.words}))
            events.append(_slice(f"barrier {record.round_idx}", "barrier", 0, 1,
                                 t1 - record.barrier_s * 1e6, t1, {
                                     "round": record.round_idx, "barrier_s": record.barrier_s}))
            if r + 1 < len(self.rounds):  # checks and routing, until the next dispatch
                events.append(_slice(f"driver {record.round_idx}", "driver", 0, 0, t1,
                                     self.rounds[r + 1].started_at * 1e6,
                                     {"round": record.round_idx}))
        for span in self.spans:
            node = self.hosts[span.host]["node"]
            t0 = span.started_at * 1e6
            events.append(_slice(f"host {span.host} round {span.round_idx}", "host",
                                 1 + nodes.index(node), span.host, t0,
                                 t0 + (span.compute_s + span.exchange_s) * 1e6, {
                                     "round": span.round_idx, "host": span.host, "node": node,
                                     "compute_s": span.compute_s,
                                     "exchange_s": span.exchange_s}))
        for rec in self.recoveries:  # on the driver's track and on the host's
            t0 = rec.started_at * 1e6
            for pid, tid in ((0, 0), (1 + nodes.index(self.hosts[rec.host]["node"]), rec.host)):
                events.append(_slice(f"recovery of host {rec.host} (round {rec.round_idx})",
                                     "recovery", pid, tid, t0, t0 + rec.lost_s * 1e6,
                                     asdict(rec)))
        doc = {"traceEvents": events, "displayTimeUnit": "ms",
               "otherData": {"backend": self.backend, "num_machines": self.num_machines,
                             "memory_words": self.memory_words}}
        if path is not None:
            with open(path, "w") as f:
                json.dump(doc, f)
        return doc

    # -- reading ------------------------------------------------------------------------------

    def summary(self, max_rows: int = 40, file: Any = None) -> str:
        """Print (to `file`, default stdout) and return a per-round table with totals."""
        head = ("round", "wall ms", "compute", "exchange", "barrier", "ran", "msgs", "words",
                "max mem", "max sent", "max recv")
        rows = [head]
        shown = self.rounds if len(self.rounds) <= max_rows else (
            self.rounds[: max_rows // 2] + self.rounds[-max_rows // 2:])
        for r in shown:
            rows.append((str(r.round_idx), f"{r.wall_s * 1e3:.2f}", f"{r.compute_s * 1e3:.2f}",
                         f"{r.exchange_s * 1e3:.2f}", f"{r.barrier_s * 1e3:.2f}",
                         str(r.machines_run), str(r.messages), str(r.words),
                         str(r.max_memory_words), str(r.max_sent_words),
                         str(r.max_received_words)))
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows]
        if len(self.rounds) > max_rows:
            lines.insert(1 + max_rows // 2, f"... {len(self.rounds) - max_rows} rounds omitted")
        wall = sum(r.wall_s for r in self.rounds)
        lines.append(
            f"{len(self.rounds)} rounds, {wall:.3f} s, {self.total_messages} messages, "
            f"{self.total_words_sent} words; max memory {self.max_memory_words} / sent "
            f"{self.max_sent_words} / received {self.max_received_words} of "
            f"memory_words={self.memory_words}; backend {self.backend}, {len(self.hosts)} "
            f"hosts on {len(self.nodes)} node(s); {len(self.violations)} violations")
        for rec in self.recoveries:
            lines.append(
                f"recovery: host {rec.host} lost on {rec.node} in round {rec.round_idx}, "
                f"restarted on {rec.new_node} from round {rec.from_round}'s snapshot, "
                f"{rec.replayed_rounds} steps replayed"
                f"{' (every host rolled back)' if rec.rollback else ''}, {rec.lost_s:.3f} s lost")
        text = "\n".join(lines)
        print(text, file=file)
        return text


def _name(kind: str, pid: int, tid: int, name: str) -> dict[str, Any]:
    """A metadata event naming a process (pid) or a thread (track)."""
    return {"ph": "M", "name": kind, "pid": pid, "tid": tid, "args": {"name": name}}


def _slice(name: str, category: str, pid: int, tid: int, start_us: float, end_us: float,
           args: dict[str, Any]) -> dict[str, Any]:
    """A complete event ("X") from start_us to end_us (never negative)."""
    return {"ph": "X", "name": name, "cat": category, "pid": pid, "tid": tid, "ts": start_us,
            "dur": max(0.0, end_us - start_us), "args": args}
