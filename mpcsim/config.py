"""RunConfig: the validated settings of one MPC run (frozen; every problem reported at once)."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

__all__ = ["RunConfig", "BACKENDS"]

BACKENDS = ("local", "ray")


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

    def __post_init__(self) -> None:
        problems: list[tuple[str, Any, str]] = []

        def need_int(name: str, value: Any, minimum: int) -> None:
            if not _is_int(value) or value < minimum:
                problems.append((name, value, f"must be an int >= {minimum}"))

        need_int("num_machines", self.num_machines, 1)
        need_int("memory_words", self.memory_words, 1)
        need_int("max_rounds", self.max_rounds, 1)
        need_int("seed", self.seed, 0)
        if self.backend not in BACKENDS:
            problems.append(("backend", self.backend, f"must be one of {', '.join(BACKENDS)}"))
        if self.num_workers is not None:
            need_int("num_workers", self.num_workers, 1)
        if self.address is not None and not isinstance(self.address, str):
            problems.append(("address", self.address, "must be a str or None"))
        if self.address is not None and self.backend != "ray":
            problems.append(("address", self.address, "is only used by backend='ray'"))
        for name in ("enforce", "vectorize"):
            if not isinstance(getattr(self, name), bool):
                problems.append((name, getattr(self, name), "must be True or False"))
        if problems:
            raise ConfigError(problems=problems)

    def workers_for(self, available: int) -> int:
        """Hosts to use: num_workers if given, else one per available CPU; never more than q."""
        wanted = self.num_workers if self.num_workers is not None else max(1, available)
        return min(wanted, self.num_machines)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
