"""The shared pieces of mpcsim's commands: exit codes, argument types and groups, the two-column
table and the round progress line.

Public so that commands added from other packages (mpcsim.extensions) look and behave like
mpcsim's own; the commands themselves are in mpcsim.cli.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Callable, TextIO

from .algorithms import ALGORITHMS
from .backends import backend_names
from .config import CHECKPOINT_EVERY, FAULT_PHASES, Fault
from .trace import RoundRecord

__all__ = ["EXIT_OK", "EXIT_NOT_VERIFIED", "EXIT_ERROR", "count_argument", "fault_argument",
           "print_table", "Progress", "add_backend_arguments", "add_recovery_arguments",
           "add_algorithm_arguments"]

EXIT_OK, EXIT_NOT_VERIFIED, EXIT_ERROR = 0, 1, 2  # success, output not verified, error


def count_argument(minimum: int) -> Callable[[str], int]:
    """An argparse type: an int >= minimum (underscores allowed: 1_000_000)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = "count"
    return parse


def fault_argument(text: str) -> Fault:
    """An argparse type: HOST:ROUND[:PHASE] as an mpcsim.Fault (PHASE: deliver or compute)."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:ROUND[:PHASE], e.g. 1:5 or "
                                         f"1:5:deliver")
    try:
        host, round_idx = int(parts[0]), int(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: HOST and ROUND must be integers") from None
    phase = parts[2] if len(parts) == 3 else "compute"
    if host < 0 or round_idx < 0 or phase not in FAULT_PHASES:
        raise argparse.ArgumentTypeError(f"{text!r}: HOST and ROUND must be >= 0 and PHASE one "
                                         f"of {', '.join(FAULT_PHASES)}")
    return Fault(host, round_idx, phase)


def print_table(title: str, rows: list[tuple[str, str]], out: TextIO) -> None:
    """Two columns: a rich table on a terminal, `key: value` lines otherwise."""
    if out.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        for key, value in rows:
            table.add_row(key, value)
        Console(file=out).print(table)
        return
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}", file=out)


class Progress:
    """Round and elapsed time on a terminal's stderr, redrawn at most 10 times a second; pass
    as mpcsim.run(..., progress=...) and call close() after the run."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.shown = False
        self.last = 0.0

    def __call__(self, record: RoundRecord, elapsed_s: float) -> None:
        now = time.monotonic()
        if elapsed_s < 0.5 or now - self.last < 0.1:
            return  # short runs stay quiet
        self.last = now
        self.shown = True
        sys.stderr.write(f"\r  round {record.round_idx + 1} (bound {self.bound}), "
                         f"{elapsed_s:.1f} s elapsed")
        sys.stderr.flush()

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """--backend, --address, --workers: where a command's MPC job runs (shared by commands)."""
    parser.add_argument("--backend", choices=backend_names(), default="local",
                        help="where machines run (default: %(default)s)")
    parser.add_argument("--address", metavar="A",
                        help="Ray cluster address for --backend ray (default: a local Ray)")
    parser.add_argument("--workers", type=count_argument(1), metavar="W",
                        help="hosts (Ray actors) to spread machines over (default: 1 for "
                             "local, one per CPU for ray)")


def add_recovery_arguments(parser: argparse.ArgumentParser) -> None:
    """--checkpoint-every, --max-recoveries, --fault, --checkpoint-dir, --resume: surviving a
    lost host or driver (mpcsim.run's options of the same names; README, "Surviving a lost
    machine")."""
    group = parser.add_argument_group("surviving a lost machine")
    group.add_argument("--checkpoint-every", type=count_argument(0), metavar="K",
                       help=f"snapshot every host every K rounds, so a lost host is replayed "
                            f"from its snapshot; 0: off (default: {CHECKPOINT_EVERY} on ray; "
                            f"on local {CHECKPOINT_EVERY} with a fault or a checkpoint "
                            f"directory, else off)")
    group.add_argument("--max-recoveries", type=count_argument(0), default=3, metavar="M",
                       help="hosts that may be lost in the run; one more is an error "
                            "(default: %(default)s)")
    group.add_argument("--fault", type=fault_argument, action="append", default=[],
                       metavar="HOST:ROUND[:PHASE]",
                       help="kill host HOST in round ROUND, in PHASE deliver or compute "
                            "(default compute); repeatable (a demo of recovery: on ray a real "
                            "SIGKILL, on local the host's state is dropped)")
    group.add_argument("--checkpoint-dir", metavar="DIR",
                       help="also write every checkpoint to DIR (which must hold no other "
                            "run's), so that --resume DIR can continue the run if this "
                            "process dies")
    group.add_argument("--resume", metavar="DIR",
                       help="continue the run whose checkpoints are in DIR from its latest one "
                            "(same algorithm, --n, --seed, --machines, --memory-words); later "
                            "checkpoints go to DIR too")


def add_algorithm_arguments(parser: argparse.ArgumentParser, default_n: int) -> None:
    """ALGORITHM (a registered name), --n, --machines Q and --memory-words S (both defaulting
    to the algorithm's sizing for n): the arguments of every command that runs an algorithm."""
    parser.add_argument("algorithm", choices=sorted(ALGORITHMS), metavar="ALGORITHM",
                        help="one of: " + ", ".join(sorted(ALGORITHMS)))
    parser.add_argument("--n", type=count_argument(0), default=default_n,
                        help="input size in words (default: %(default)s)")
    parser.add_argument("--machines", type=count_argument(1), metavar="Q",
                        help="number of machines q (default: the algorithm's sizing for n)")
    parser.add_argument("--memory-words", type=count_argument(1), metavar="S",
                        help="words per machine s (default: the algorithm's sizing for n)")
