"""Progress of a bench run on stderr: a rich progress bar on a terminal, plain lines otherwise
(one per finished step, with its seconds), so logs and CI output stay readable."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["Progress"]


class Progress:
    """Use as a context manager: `with Progress(total) as p: ...; p.advance("step name")`."""

    def __init__(self, total: int, out: TextIO | None = None) -> None:
        self.total, self.done, self.out = total, 0, out or sys.stderr
        self._bar: Any = None
        self._task: Any = None
        self._last = time.perf_counter()

    def __enter__(self) -> Progress:
        if self.out.isatty():
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bar,
                                       TextColumn, TimeElapsedColumn)

            self._bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=Console(file=self.out), transient=True)
            self._bar.start()
            self._task = self._bar.add_task("mpcsim bench", total=self.total)
        return self

    def starting(self, label: str) -> None:
        """Show the step now running (the bar's description; nothing in plain mode)."""
        if self._bar is not None:
            self._bar.update(self._task, description=label)

    def advance(self, label: str) -> None:
        """Mark the step `label` finished."""
        self.done += 1
        now = time.perf_counter()
        if self._bar is not None:
            self._bar.update(self._task, advance=1)
        else:
            print(f"[{self.done}/{self.total}] {label} ({now - self._last:.1f} s)",
                  file=self.out, flush=True)
        self._last = now

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()
