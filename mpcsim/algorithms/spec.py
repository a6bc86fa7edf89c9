"""AlgorithmSpec: what the registry (mpcsim.algorithms.ALGORITHMS) knows about one algorithm.

A spec bundles a program factory with its sequential reference, a checker, the documented
round bound and default sizing, so the CLI and the tests can run any registered algorithm the
same way. Each algorithm module defines one `SPEC`; the package __init__ collects them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from ..errors import ConfigError
from ..program import Program

__all__ = ["AlgorithmSpec", "Option", "InputFile", "default_memory_words", "double_until_accepted"]

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_SPEC_CALLABLES = ("program", "make_input", "reference", "verify", "round_bound", "sizing")


@dataclass(frozen=True)
class Option:
    """An algorithm-specific setting: a CLI flag (`--NAME`) and a keyword argument.

    The value reaches only the spec callables listed in `used_by` (e.g. hop-k's k goes to
    program, reference, verify and round_bound; connectivity's graph only to make_input).
    """

    name: str  # the flag without dashes and the keyword, e.g. "k"
    default: Any  # the value when the flag is not given
    help: str  # one line for `mpcsim run --help`
    used_by: tuple[str, ...]  # names of the spec callables that take it as a keyword
    type: Callable[[str], Any] = int  # parses the flag's text
    choices: tuple[Any, ...] | None = None  # the allowed values, if a closed set


@dataclass(frozen=True)
class InputFile:
    """A user's own input, read from a file: `mpcsim run ALGORITHM --FLAG FILE` (e.g.
    connectivity's `--edges graph.txt`) instead of a generated input of n words."""

    flag: str  # the flag without dashes, e.g. "edges"
    help: str  # one line for `mpcsim run --help`
    load: Callable[[str], Any]  # path -> inputs (ConfigError naming the file if unreadable)
    sizing: Callable[[Any, int | None, int | None], tuple[int, int]]  # (inputs, q, s) -> (q, s)
    round_bound: Callable[[Any, int, int], int]  # (inputs, q, s) -> the most rounds a run takes


@dataclass(frozen=True)
class AlgorithmSpec:
    name: str  # the CLI name, lowercase words joined by '-', e.g. "prefix-sum"
    summary: str  # one line for `mpcsim run --help` and `mpcsim info`
    program: Callable[..., Program]  # program(**options) -> a fresh Program
    make_input: Callable[[int, np.random.Generator], Any]  # (n, rng) -> an input of n words
    reference: Callable[[Any], Any]  # inputs -> the sequential answer
    verify: Callable[[list[Any], Any], bool]  # (result.output, inputs) -> agrees with reference
    round_bound: Callable[..., int]  # (n, q, s, **options) -> the most rounds a run may take
    sizing: Callable[[int, int | None, int | None], tuple[int, int]]  # (n, q, s) -> (q, s)
    options: tuple[Option, ...] = ()  # algorithm-specific settings (CLI flags), see Option
    input_file: InputFile | None = None  # inputs a user brings in a file, if supported
    report: Callable[[list[Any]], dict[str, Any]] | None = None  # output -> summary lines

    def option_kwargs(self, callable_name: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """The keywords `callable_name` takes: each option it uses, from `values` or default."""
        return {o.name: values.get(o.name, o.default) for o in self.options
                if callable_name in o.used_by}

    def __post_init__(self) -> None:
        problems: list[tuple[str, Any, str]] = []
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            problems.append(("name", self.name, "must be lowercase words joined by '-'"))
        if not isinstance(self.summary, str) or not self.summary:
            problems.append(("summary", self.summary, "must be a non-empty str"))
        for field in _SPEC_CALLABLES:
            if not callable(getattr(self, field)):
                problems.append((field, getattr(self, field), "must be callable"))
        for option in self.options:
            unknown = sorted(set(option.used_by) - set(_SPEC_CALLABLES))
            if not isinstance(option, Option) or not _NAME.match(option.name) or unknown:
                problems.append(("options", option, "must be Options with a lowercase name, "
                                 f"used_by naming spec callables ({', '.join(_SPEC_CALLABLES)})"))
        if self.input_file is not None and (not isinstance(self.input_file, InputFile)
                                            or not _NAME.match(self.input_file.flag)):
            problems.append(("input_file", self.input_file, "must be an InputFile with a "
                             "lowercase flag"))
        if self.report is not None and not callable(self.report):
            problems.append(("report", self.report, "must be callable or None"))
        if problems:
            raise ConfigError(problems=problems)


def default_memory_words(n: int) -> int:
    """A default s for n input words: 4*ceil(sqrt(n)), at least 64.

    s = Theta(sqrt(n)) is the model's s = n^delta with delta = 1/2: about sqrt(n)/2 machines
    hold the input (chunks of s/2 words), and a tree of fan-in up to s/2 over them has depth 1
    or 2, so the runs take a handful of rounds.
    """
    return max(64, 4 * math.isqrt(max(n, 1) - 1) + 4)


def double_until_accepted(s: int, build: Callable[[int], object]) -> int:
    """The default sizings' search: s, doubled until build(s) raises no ConfigError."""
    while True:
        try:
            build(s)
            return s
        except ConfigError:
            s *= 2
