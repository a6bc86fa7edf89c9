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
from .trace import RoundRecord

__all__ = ["EXIT_OK", "EXIT_NOT_VERIFIED", "EXIT_ERROR", "count_argument", "print_table",
           "Progress", "add_backend_arguments", "add_algorithm_arguments"]

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
