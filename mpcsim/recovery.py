"""Round replay: the driver's side of surviving a lost host (Pregel-style checkpoints).

Every `checkpoint_every` rounds (K) the driver asks every host to snapshot itself after its
step (mpcsim.snapshot) and to return that step's outbound frames with its reply instead of
publishing them, so both are held by the driver, not by the actor that made them. The driver
also keeps the frames of every round since that checkpoint (the log). When a backend reports
hosts lost during round R's step (HostsLost), Recovery:

1. starts a replacement for each lost host and restores its last snapshot (taken after round
   k; before the first checkpoint, the run's input, k = -1);
2. replays rounds k+1..R-1 on the replacements only: their inbound frames come from the log
   for surviving senders and from the replay itself for lost ones (a lost actor's published
   frames died with it), so the surviving hosts' rounds are not recomputed;
3. re-runs round R on every host whose step R did not complete (the lost ones, and live ones
   whose inbound frame was owned by a lost actor), and returns the round's reports as if
   nothing had happened.

If a surviving sender's frame turns out to be lost as well, every host rolls back to the
snapshot and replays (a rollback). Each replayed step is checked against the original's
counters: a program whose rounds are not a function of (memory, inbox, seed) is reported, not
silently replayed into a different run. Replayed steps are not MPC rounds: the trace lists
them as RecoveryRecords. HostLost ends the run when recovery is off (K = 0), when more than
`max_recoveries` hosts have been lost, or when a replay diverged.

With checkpoint_dir the driver also writes each checkpoint (snapshots, that round's frames and
its own state) to disk, so that a new driver can resume the run: mpcsim.checkpoint_dir.

Why K rounds: a snapshot costs one encode of every machine's memory per host and one extra
trip of that round's frames through the driver; a loss costs up to K replayed steps, and the
log keeps up to K rounds of frames alive in the object store (README for the measurements).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import wire
from .config import RunConfig
from .errors import HostLost
from .host import Layout, StepReport
from .trace import RecoveryRecord

__all__ = ["HostsLost", "Recovery", "RecoverableBackend"]


class HostsLost(Exception):
    """Raised by a backend's step when hosts died (internal: the driver recovers them).

    lost: host -> node it was lost on. stale: live hosts whose step did not run because an
    inbound frame was lost with its owner. reports: the step's reports of the other hosts.
    nodes: every host's node before the step."""

    def __init__(self, round_idx: int, lost: dict[int, str], stale: set[int],
                 reports: dict[int, StepReport], nodes: list[str]) -> None:
        super().__init__(f"round {round_idx}: hosts {sorted(lost)} lost, "
                         f"{sorted(stale)} missing an inbound frame")
        self.round_idx = round_idx
        self.lost = lost
        self.stale = stale
        self.reports = reports
        self.nodes = nodes


class RecoverableBackend(Protocol):
    def step(self, round_idx: int, inbound: list[list[Any]], compute: bool = True,
             checkpoint: bool = False, hosts: list[int] | None = None) -> list[StepReport]:
        """Step `hosts` (default: all; inbound is indexed by host). `checkpoint`: each report
        carries the host's snapshot and its outbound frames held by the driver. Raises
        HostsLost when hosts die."""

    def replace(self, snapshots: dict[int, wire.Frame | None], after_round: int
                ) -> dict[int, str]:
        """A fresh host for each key, restored from its snapshot (None: the run's input);
        faults of rounds <= after_round are not re-armed. Returns host -> its new node."""


@dataclass
class Recovery:
    """Checkpoints, the frame log since the last one, and recoveries of one run."""

    config: RunConfig
    layout: Layout
    checkpoint_round: int = -1  # snapshots are of the state after this round (-1: the input)
    snapshots: list[wire.Frame | None] = field(default_factory=list)
    log: dict[int, list[dict[int, Any]]] = field(default_factory=dict)  # round -> outbound
    counters: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)
    records: list[RecoveryRecord] = field(default_factory=list)
    hosts_lost: int = 0
    lost_s: float = 0.0  # recovery time within the latest step

    def __post_init__(self) -> None:
        self.snapshots = [None] * self.layout.num_hosts

    def resume(self, round_idx: int, snapshots: list[wire.Frame],
               outbound: list[dict[int, Any]], records: list[RecoveryRecord],
               hosts_lost: int) -> None:
        """Continue from a checkpoint written after `round_idx` (mpcsim.checkpoint_dir)."""
        self.checkpoint_round = round_idx
        self.snapshots = list(snapshots)
        self.log = {round_idx: [dict(out) for out in outbound]}
        self.counters = {}
        self.records = list(records)
        self.hosts_lost = hosts_lost

    def due(self, round_idx: int) -> bool:
        every = self.config.snapshot_every
        return every > 0 and (round_idx + 1) % every == 0

    def step(self, backend: RecoverableBackend, round_idx: int, inbound: list[list[Any]]
             ) -> list[StepReport]:
        """Round `round_idx` on every host, recovering lost ones (HostLost if it cannot)."""
        self.lost_s = 0.0
        checkpoint = self.due(round_idx)
        try:
            reports = backend.step(round_idx, inbound, checkpoint=checkpoint)
        except HostsLost as lost:
            reports = self._recover(backend, round_idx, lost, checkpoint)
        if self.config.snapshot_every:
            self._remember(round_idx, reports, checkpoint)
        return reports

    def _remember(self, round_idx: int, reports: list[StepReport], checkpoint: bool) -> None:
        if checkpoint:
            self.checkpoint_round = round_idx
            self.snapshots = [r.snapshot for r in reports]
            self.log.clear()
            self.counters.clear()
            for r in reports:
                r.snapshot = None
        self.log[round_idx] = [dict(r.outbound) for r in reports]
        self.counters[round_idx] = [_counters(r) for r in reports]

    # -- recovery -----------------------------------------------------------------------------

    def _recover(self, backend: RecoverableBackend, round_idx: int, lost: HostsLost,
                 checkpoint: bool) -> list[StepReport]:
        started, t0 = time.time(), time.perf_counter()
        done = dict(lost.reports)
        dead: dict[int, str] = {}
        rollback = False
        failure: HostsLost | None = lost
        nodes = lost.nodes
        while failure is not None:
            new = {h: node for h, node in failure.lost.items() if h not in dead}
            self._count(new, round_idx)
            dead.update(new)
            for h in failure.lost:
                done.pop(h, None)
            if failure is not lost and failure.stale:  # a survivor's logged frame is gone
                rollback = True
            if rollback:
                dead.update({h: nodes[h] for h in range(self.layout.num_hosts) if h not in dead})
                done.clear()
            need = [h for h in range(self.layout.num_hosts) if h not in done]
            try:
                moved = backend.replace({h: self.snapshots[h] for h in dead}, round_idx)
                done.update(self._replay(backend, round_idx, sorted(dead), need, checkpoint))
                failure = None
            except HostsLost as again:
                failure = again
        self.lost_s = time.perf_counter() - t0
        replayed = round_idx - self.checkpoint_round
        for h, node in sorted(dead.items()):
            self.records.append(RecoveryRecord(
                round_idx=round_idx, host=h, node=node, new_node=moved[h],
                from_round=self.checkpoint_round, replayed_rounds=replayed, rollback=rollback,
                lost_s=self.lost_s, started_at=started))
        return [done[h] for h in range(self.layout.num_hosts)]

    def _count(self, new: dict[int, str], round_idx: int) -> None:
        for h, node in sorted(new.items()):
            self.hosts_lost += 1
            if not self.config.snapshot_every:
                self._fail(h, round_idx, node, "recovery is off (checkpoint_every=0); pass "
                           "checkpoint_every=K to snapshot hosts every K rounds and replay a "
                           "lost host's rounds on a new actor")
            if self.hosts_lost > self.config.max_recoveries:
                self._fail(h, round_idx, node, f"{self.hosts_lost} hosts lost in this run, over "
                           f"max_recoveries={self.config.max_recoveries}; raise max_recoveries, "
                           f"or find why actors die (out of memory? `ray logs`, `ray status`)")

    def _fail(self, host: int, round_idx: int, node: str, reason: str) -> None:
        lo, hi = self.layout.bounds(host)
        raise HostLost(host=host, machines=f"{lo}..{hi - 1}", round_idx=round_idx, node=node,
                       reason=reason)

    def _replay(self, backend: RecoverableBackend, round_idx: int, dead: list[int],
                need: list[int], checkpoint: bool) -> dict[int, StepReport]:
        """Rounds checkpoint+1..round_idx-1 on the restored `dead` hosts, then round_idx on
        `need`; the log's frames of the dead hosts are replaced by the regenerated ones."""
        for r in range(self.checkpoint_round + 1, round_idx):
            reports = backend.step(r, self.inbound(r), hosts=dead)
            for h, report in zip(dead, reports):
                if _counters(report) != self.counters[r][h]:
                    self._fail(h, r, "", f"its replay of round {r} came out different "
                               f"(messages, words sent, active machines: {_counters(report)} "
                               f"vs {self.counters[r][h]} the first time): recovery needs "
                               f"rounds that depend only on memory, inbox and machine.rng")
                self.log[r][h] = dict(report.outbound)
        reports = backend.step(round_idx, self.inbound(round_idx), checkpoint=checkpoint,
                               hosts=need)
        return dict(zip(need, reports))

    def inbound(self, round_idx: int) -> list[list[Any]]:
        """Every host's inbound frames for `round_idx`: round r-1's log, by source host."""
        inbound: list[list[Any]] = [[] for _ in range(self.layout.num_hosts)]
        for outbound in self.log.get(round_idx - 1, []):
            for dest, frame in outbound.items():
                inbound[dest].append(frame)
        return inbound


def _counters(report: StepReport) -> tuple[int, int, int]:
    return report.messages, report.words_sent, report.active
