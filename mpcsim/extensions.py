"""Extension points: CLI commands and bench steps that other installed packages add to mpcsim.

A package extends mpcsim by naming a function in the "mpcsim.extensions" entry-point group of
its pyproject.toml (transformer_bridge does, in this repository's):

    [project.entry-points."mpcsim.extensions"]
    transformer_bridge = "transformer_bridge.extension:register"

The first call of `commands()` or `bench_steps()` loads every such entry point and calls its
function, which calls `add_command` and `add_bench_steps` here. mpcsim names no other package:
an extension that is not installed, or fails to import, is left out (and listed in
`failures()`), and mpcsim works with its own commands. Registering must be cheap: a command's
configure and handle import their module when called, so `mpcsim --help` imports no more than
the registering modules. Backends have their own registry (mpcsim.backends.register_backend).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable

__all__ = ["GROUP", "Command", "BenchSteps", "add_command", "add_bench_steps", "commands",
           "bench_steps", "failures"]

GROUP = "mpcsim.extensions"


@dataclass(frozen=True)
class Command:
    """One `mpcsim NAME ...` subcommand."""

    name: str  # the subcommand, e.g. "run"
    help: str  # one line for `mpcsim --help`
    configure: Callable[[argparse.ArgumentParser], None]  # adds the subcommand's arguments
    handle: Callable[[argparse.Namespace], int]  # runs it; returns the exit code


# A bench contribution: fn(suite, backends, results) -> [(label, step)], run in order by
# `mpcsim bench` (mpcsim.bench.runner). A label starts "local:" or "ray:" (the backend it
# needs first); a step appends its rows to results["ratios"] or other lists of `results`.
BenchSteps = Callable[[Any, tuple[str, ...], dict[str, Any]], list[tuple[str, Callable[[], None]]]]
PHASES = ("ratios", "sweeps")  # ratio rows (after mpcsim's core rows); sweeps (at the end)

_commands: list[Command] = []
_bench: dict[str, list[BenchSteps]] = {phase: [] for phase in PHASES}
_failures: list[str] = []
_loaded = False


def add_command(command: Command) -> None:
    """Add a subcommand (listed after mpcsim's own, in registration order)."""
    if any(c.name == command.name for c in _commands):
        raise ValueError(f"an extension already added the command {command.name!r}")
    _commands.append(command)


def add_bench_steps(make: BenchSteps, phase: str = "ratios") -> None:
    """Add steps to every `mpcsim bench` suite, in `phase` ("ratios" or "sweeps")."""
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
    _bench[phase].append(make)


def commands() -> tuple[Command, ...]:
    """The commands the installed extensions added."""
    _load()
    return tuple(_commands)


def bench_steps(phase: str) -> tuple[BenchSteps, ...]:
    """The bench contributions of the installed extensions in `phase`."""
    _load()
    return tuple(_bench[phase])


def failures() -> tuple[str, ...]:
    """Extensions that could not be loaded: "name: why" (e.g. `mpcsim info` shows them)."""
    _load()
    return tuple(_failures)


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for point in entry_points(group=GROUP):
        try:
            point.load()()
        except Exception as exc:  # noqa: BLE001 (a broken extension must not break mpcsim)
            _failures.append(f"{point.name}: {type(exc).__name__}: {exc}")
