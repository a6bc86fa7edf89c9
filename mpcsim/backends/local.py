"""The local backend: every host in this process, stepped one after another.

The reference executor. Machines run one after another, so each machine's numpy work runs on
one BLAS thread (as on Ray, whose workers run single-threaded BLAS): many small multithreaded
BLAS calls are slower, and far slower when the cores are busy. Frames are detached (their
array buffers copied) on the way to the receiver, exactly once, as the object store does for
Ray, so a sender mutating an array after send never changes what the receiver sees; a frame
of columns the host made for it (Frame.owned: reordered or copied while routing) is that copy
already. With
several hosts each runs its own copy of the program, as each Ray actor does. One host by default; num_workers > 1 runs the same
multi-host routing as Ray, in-process.

Faults (RunConfig.faults) are simulated here: the host's state is dropped and the driver
recovers it from its snapshot (mpcsim.recovery), as it does for a killed Ray actor.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from threadpoolctl import threadpool_limits

from .. import wire
from ..config import RunConfig
from ..host import Host, HostSummary, Layout, StepReport
from ..program import Program
from ..recovery import HostsLost

__all__ = ["LocalBackend"]


class LocalBackend:
    name = "local"
    in_process = True  # initial memories come as wire.InProcess copies, outputs as values

    def __init__(self) -> None:
        self.hosts: list[Host | None] = []
        self._blas_limits: threadpool_limits | None = None
        self._faults: set[tuple[int, int]] = set()  # (host, round) still to fire
        self._start: tuple[Program, RunConfig, Layout, list[wire.Frame | wire.InProcess],
                           Any] | None = None

    def available_workers(self) -> int:
        return 1

    def start(self, program: Program, config: RunConfig, layout: Layout,
              initial: list[wire.Frame | wire.InProcess], plan: Any = None) -> None:
        self._blas_limits = threadpool_limits(limits=1, user_api="blas")
        self._start = (program, config, layout, initial, plan)
        self._faults = {(f.host, f.round_idx) for f in config.faults}
        # without faults no host is ever rebuilt from its initial memories, so the first
        # hosts take the driver's private copies (wire.InProcess) as they are
        self.hosts = [self._host(h, first=not config.faults) for h in range(layout.num_hosts)]

    def _host(self, h: int, first: bool = False) -> Host:
        assert self._start is not None, "a host before start"
        program, config, layout, initial, plan = self._start
        if layout.num_hosts > 1:  # each host its own copies, as each Ray actor unpickles them
            program, plan = copy.deepcopy((program, plan))
        packed = initial[h]
        memories = packed.value if first and type(packed) is wire.InProcess else \
            wire.opened(packed)
        host = Host(program, config, layout, h, memories, plan)
        host.owned_frames = True  # column frames come owned: detached without a copy
        return host

    def step(self, round_idx: int, inbound: list[list[wire.Frame]], compute: bool = True,
             checkpoint: bool = False, hosts: list[int] | None = None) -> list[StepReport]:
        reports: dict[int, StepReport] = {}
        lost: dict[int, str] = {}
        for h in range(len(self.hosts)) if hosts is None else hosts:
            host = self.hosts[h]
            if host is None or (h, round_idx) in self._faults:
                self._faults.discard((h, round_idx))
                self.hosts[h] = None
                lost[h] = "local"
                continue
            report = host.step(round_idx, inbound[h], compute)
            t0 = time.perf_counter()
            report.outbound = {d: f.detached() for d, f in report.outbound.items()}
            if checkpoint and report.error is None:
                report.snapshot = host.snapshot(round_idx).detached()
            report.exchange_s += time.perf_counter() - t0
            reports[h] = report
        if lost:
            raise HostsLost(round_idx, lost, set(), reports, ["local"] * len(self.hosts))
        return list(reports.values())

    def replace(self, snapshots: dict[int, wire.Frame | None], after_round: int
                ) -> dict[int, str]:
        for h, snapshot in snapshots.items():
            self._faults = {(fh, r) for fh, r in self._faults if fh != h or r > after_round}
            host = self.hosts[h] = self._host(h)
            if snapshot is not None:
                host.restore(snapshot)
        return {h: "local" for h in snapshots}

    def finish(self) -> list[HostSummary]:
        return [host.summary(in_process=True) for host in self.hosts if host is not None]

    def close(self) -> None:
        self.hosts = []
        if self._blas_limits is not None:
            self._blas_limits.restore_original_limits()
            self._blas_limits = None
