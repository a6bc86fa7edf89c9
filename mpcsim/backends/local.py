"""The local backend: every host in this process, stepped one after another.

The reference executor. Machines run one after another, so each machine's numpy work runs on
one BLAS thread (as on Ray, whose workers run single-threaded BLAS): many small multithreaded
BLAS calls are slower, and far slower when the cores are busy. Frames are detached (their array buffers copied) on the way to the
receiver, exactly once, as the object store does for Ray, so a sender mutating an array after
send never changes what the receiver sees. One host by default; num_workers > 1 runs the same
multi-host routing as Ray, in-process.
"""

from __future__ import annotations

import time

from threadpoolctl import threadpool_limits

from .. import wire
from ..config import RunConfig
from ..host import Host, HostSummary, Layout, StepReport
from ..program import Program

__all__ = ["LocalBackend"]


class LocalBackend:
    name = "local"

    def __init__(self) -> None:
        self.hosts: list[Host] = []
        self._blas_limits: threadpool_limits | None = None

    def available_workers(self) -> int:
        return 1

    def start(self, program: Program, config: RunConfig, layout: Layout,
              initial: list[wire.Frame]) -> None:
        self._blas_limits = threadpool_limits(limits=1, user_api="blas")
        self.hosts = [Host(program, config, layout, h, wire.decode(initial[h], writable=True))
                      for h in range(layout.num_hosts)]

    def step(self, round_idx: int, inbound: list[list[wire.Frame]],
             compute: bool = True) -> list[StepReport]:
        reports = []
        for host, frames in zip(self.hosts, inbound):
            report = host.step(round_idx, frames, compute)
            t0 = time.perf_counter()
            report.outbound = {h: f.detached() for h, f in report.outbound.items()}
            report.exchange_s += time.perf_counter() - t0
            reports.append(report)
        return reports

    def finish(self) -> list[HostSummary]:
        return [host.summary(in_process=True) for host in self.hosts]

    def close(self) -> None:
        self.hosts = []
        if self._blas_limits is not None:
            self._blas_limits.restore_original_limits()
            self._blas_limits = None
