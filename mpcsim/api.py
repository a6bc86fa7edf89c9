"""mpcsim.run: submit a round program with one call (the public entry point)."""

from __future__ import annotations

import os
from typing import Any, Callable

from .backends import make_backend
from .config import Fault, RunConfig
from .driver import ProgressFn, Result, execute
from .errors import ConfigError
from .program import FunctionProgram, Machine, Program

__all__ = ["run"]


def run(program: Program | Callable[[Machine], None], inputs: Any = None, *,
        num_machines: int, memory_words: int, backend: str = "local",
        address: str | None = None, num_workers: int | None = None, seed: int = 0,
        max_rounds: int = 10_000, enforce: bool = True, vectorize: bool = True,
        checkpoint_every: int | None = None, max_recoveries: int = 3,
        faults: tuple[Fault, ...] = (), checkpoint_dir: str | os.PathLike[str] | None = None,
        resume: str | os.PathLike[str] | None = None,
        progress: ProgressFn | None = None) -> Result:
    """Run `program` as an MPC job and return its Result (output, rounds, trace).

    program: a Program, or a plain function fn(machine) run as each machine's round.
    inputs: None, a numpy array or a sequence; split over the first ceil(n/memory_words)
        machines as machine.memory["input"] unless program.partition says otherwise.
    num_machines (q) and memory_words (s): the model's parameters; s caps, per machine and
        round, the words held after delivery, sent, and received (see mpcsim.words).
    backend: "local" (in-process, the reference) or "ray". address: a Ray address to join
        ("host:port", "auto", "ray://..."); None starts (or reuses) a local Ray.
    num_workers: hosts the machines are spread over (Ray actors; default one per CPU of the
        cluster for Ray, 1 for local), never more than num_machines.
    seed: seeds the machines' run order and every machine.rng.
    max_rounds: raise MaxRoundsExceeded if the run has not ended after this many rounds.
    enforce: True raises MemoryLimitExceeded at the first violated cap; False records every
        violation in result.trace.violations and runs on.
    vectorize: for a Program with round_many (mpcsim.fleet): True runs it once per host and
        round on all runnable machines; False runs it on fleets of one machine, in the seeded
        shuffled order, to check that the kernel keeps machines apart (same results).
    checkpoint_every: snapshot every host every this many rounds, so that a lost host (a
        dead Ray actor) is restored on a new actor and its rounds since the snapshot replayed,
        with the same output, rounds and words; 0 turns snapshots and recovery off; None
        (default): 20 on Ray, and on the local backend only when `faults` or a checkpoint
        directory are given (nothing else loses a local host). See the README, "Surviving a lost machine", for what it
        costs and what it does not cover.
    max_recoveries: hosts that may be lost in one run; one more raises HostLost.
    faults: Fault(host, round_idx, phase) deaths to inject (tests, demos).
    checkpoint_dir: also write every checkpoint (all hosts' snapshots, the frames in flight,
        the driver's round records) to this directory, atomically, so that a run whose driver
        died can be resumed; the directory must hold no other run's checkpoints.
    resume: continue the run whose checkpoints are in this directory from its latest one,
        with the same output, rounds and per-round words as an uninterrupted run. Pass the same
        program, inputs, num_machines, memory_words, seed (and enforce, vectorize); a
        directory of another run, an empty or a corrupt one raises ConfigError. Later
        checkpoints go to the same directory unless checkpoint_dir names another.
    progress: optional callback(record, elapsed_s) after each round.

    Raises ConfigError (also for a Program class passed instead of an instance),
    MemoryLimitExceeded, UnknownDestination, UnsupportedValue,
    ProgramError (user code raised), MaxRoundsExceeded, BackendUnavailable (HostLost: a host
    died and could not be recovered); all MPCError.
    """
    config = RunConfig(num_machines=num_machines, memory_words=memory_words, backend=backend,
                       address=address, num_workers=num_workers, seed=seed,
                       max_rounds=max_rounds, enforce=enforce, vectorize=vectorize,
                       checkpoint_every=checkpoint_every, max_recoveries=max_recoveries,
                       faults=faults, checkpoint_dir=checkpoint_dir, resume=resume)
    if isinstance(program, type) and issubclass(program, Program):
        raise ConfigError(problems=[(
            "program", program, f"is the class {program.__name__}, not a Program: pass an "
            f"instance, e.g. mpcsim.run({program.__name__}(), ...)")])
    if not isinstance(program, Program):
        if not callable(program):
            raise TypeError(f"program must be an mpcsim.Program or a function, got {program!r}")
        program = FunctionProgram(program)
    return execute(program, inputs, config, make_backend(config), progress=progress)
