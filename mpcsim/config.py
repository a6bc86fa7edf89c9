"""RunConfig: the validated settings of one MPC run (frozen; every problem reported at once)."""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

__all__ = ["RunConfig", "Fault", "BACKENDS", "FAULT_PHASES", "CHECKPOINT_EVERY"]

BACKENDS = ("local", "ray")  # the built-in backends; mpcsim.backends.backend_names() lists all
FAULT_PHASES = ("deliver", "compute")
# Rounds between host snapshots, chosen by measurement (README, "Surviving a lost machine"):
# the quick bench's Ray rows cost <= 10% more at this interval.
CHECKPOINT_EVERY = 20


@dataclass(frozen=True)
class Fault:
    """Kill host `host` in round `round_idx` (fault injection, for tests and demos).

    phase "deliver": once the round's inbound frames have arrived, before they are delivered;
    "compute": after the round's compute, before the host replies. On Ray the actor's process
    SIGKILLs itself; on the local backend the host's state is dropped. Each fault fires once:
    a replacement host does not repeat it while rounds are replayed."""

    host: int
    round_idx: int
    phase: str = "compute"


@dataclass(frozen=True)
class RunConfig:
    num_machines: int  # q: logical machines, ids 0..q-1
    memory_words: int  # s: the cap on words held, sent and received per machine per round
    backend: str = "local"  # one of BACKENDS; "local" is the in-process reference
    address: str | None = None  # Ray address ("host:port", "auto", "ray://..."); None: local Ray
    num_workers: int | None = None  # hosts (Ray actors) the machines are spread over
    seed: int = 0  # seeds the machine order and every machine.rng
    max_rounds: int = 10_000  # a run still active after this many rounds raises
    enforce: bool = True  # True: a cap violation raises; False: the trace records it
    vectorize: bool = True  # False: run a Program's round_many on fleets of one machine
    # rounds between host snapshots; 0: no recovery; None: CHECKPOINT_EVERY on Ray, and on the
    # local backend only when faults are injected or checkpoints go to a directory (nothing
    # else loses a local host)
    checkpoint_every: int | None = None
    max_recoveries: int = 3  # hosts that may be lost and replaced in one run
    faults: tuple[Fault, ...] = ()  # injected host deaths (Fault), for tests and demos
    # a directory to write every checkpoint to, for resume (mpcsim.checkpoint_dir)
    checkpoint_dir: str | os.PathLike[str] | None = None
    # a checkpoint_dir to continue a run from (its latest checkpoint); checkpoints of the
    # resumed run go there too unless checkpoint_dir names another directory
    resume: str | os.PathLike[str] | None = None

    def __post_init__(self) -> None:
        problems: list[tuple[str, Any, str]] = []

        def need_int(name: str, value: Any, minimum: int) -> None:
            if not _is_int(value) or value < minimum:
                problems.append((name, value, f"must be an int >= {minimum}"))

        need_int("num_machines", self.num_machines, 1)
        need_int("memory_words", self.memory_words, 1)
        need_int("max_rounds", self.max_rounds, 1)
        need_int("seed", self.seed, 0)
        from .backends import backend_names  # the registry (its package imports this one)

        if self.backend not in backend_names():
            problems.append(("backend", self.backend,
                             f"must be one of {', '.join(backend_names())}"))
        if self.num_workers is not None:
            need_int("num_workers", self.num_workers, 1)
        if self.address is not None and not isinstance(self.address, str):
            problems.append(("address", self.address, "must be a str or None"))
        if self.address is not None and self.backend != "ray":
            problems.append(("address", self.address, "is only used by backend='ray'"))
        if self.checkpoint_every is not None:
            need_int("checkpoint_every", self.checkpoint_every, 0)
        need_int("max_recoveries", self.max_recoveries, 0)
        problems.extend(_fault_problems(self.faults))
        for name in ("checkpoint_dir", "resume"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, (str, os.PathLike)):
                problems.append((name, value, "must be a directory path (str or Path) or None"))
            elif value is not None and self.checkpoint_every == 0:
                problems.append((name, value, "needs checkpoints: checkpoint_every must be "
                                 ">= 1 or None (the default, 20), not 0"))
        for name in ("enforce", "vectorize"):
            if not isinstance(getattr(self, name), bool):
                problems.append((name, getattr(self, name), "must be True or False"))
        if problems:
            raise ConfigError(problems=problems)

    @property
    def snapshot_every(self) -> int:
        """checkpoint_every as the run uses it (see the field)."""
        if self.checkpoint_every is not None:
            return self.checkpoint_every
        wanted = self.backend != "local" or self.faults or self.checkpoint_dir or self.resume
        return CHECKPOINT_EVERY if wanted else 0

    @property
    def writes_to(self) -> str | os.PathLike[str] | None:
        """The directory checkpoints are written to: checkpoint_dir, else resume's."""
        return self.checkpoint_dir if self.checkpoint_dir is not None else self.resume

    def workers_for(self, available: int) -> int:
        """Hosts to use: num_workers if given, else one per available CPU; never more than q."""
        wanted = self.num_workers if self.num_workers is not None else max(1, available)
        return min(wanted, self.num_machines)


def _fault_problems(faults: Any) -> list[tuple[str, Any, str]]:
    if not isinstance(faults, tuple) or not all(isinstance(f, Fault) for f in faults):
        return [("faults", faults, "must be a tuple of mpcsim.Fault")]
    return [("faults", f, rule) for f in faults for rule in (
        *(["host must be an int >= 0"] if not _is_int(f.host) or f.host < 0 else []),
        *(["round_idx must be an int >= 0"] if not _is_int(f.round_idx) or f.round_idx < 0
          else []),
        *([f"phase must be one of {', '.join(FAULT_PHASES)}"] if f.phase not in FAULT_PHASES
          else []))]


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
