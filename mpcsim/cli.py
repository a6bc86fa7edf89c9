"""The mpcsim command line: run a registered algorithm and check it, or describe this install.

    mpcsim run prefix-sum --n 1000000
    mpcsim run all-reduce --n 100000 --json
    mpcsim info

Subcommands are Command entries in COMMANDS (a name, a help line, a function adding the
arguments, a handler returning the exit code); add one there to extend the CLI. Algorithms
come from mpcsim.algorithms.ALGORITHMS. Exit codes: 0 success (for `run`: output verified
against the sequential reference), 1 output not verified, 2 an MPCError or a file that
cannot be written (the message on stderr, no traceback) or bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, TextIO

import numpy as np

from . import __version__
from .algorithms import ALGORITHMS
from .api import run
from .config import BACKENDS
from .errors import MPCError
from .trace import RoundRecord, Trace

__all__ = ["main", "build_parser", "COMMANDS", "Command"]

EXIT_OK, EXIT_NOT_VERIFIED, EXIT_ERROR = 0, 1, 2


@dataclass(frozen=True)
class Command:
    name: str  # the subcommand, e.g. "run"
    help: str  # one line for `mpcsim --help`
    configure: Callable[[argparse.ArgumentParser], None]  # adds the subcommand's arguments
    handle: Callable[[argparse.Namespace], int]  # runs it; returns the exit code


# -- mpcsim run ---------------------------------------------------------------------------------

def _configure_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("algorithm", choices=sorted(ALGORITHMS), metavar="ALGORITHM",
                        help="one of: " + ", ".join(sorted(ALGORITHMS)))
    parser.add_argument("--n", type=_count(0), default=10_000,
                        help="input size in words (default: %(default)s)")
    parser.add_argument("--machines", type=_count(1), metavar="Q",
                        help="number of machines q (default: the algorithm's sizing for n)")
    parser.add_argument("--memory-words", type=_count(1), metavar="S",
                        help="words per machine s (default: the algorithm's sizing for n)")
    parser.add_argument("--backend", choices=BACKENDS, default="local",
                        help="where machines run (default: %(default)s)")
    parser.add_argument("--address", metavar="A",
                        help="Ray cluster address for --backend ray (default: a local Ray)")
    parser.add_argument("--workers", type=_count(1), metavar="W",
                        help="hosts (Ray actors) to spread machines over (default: 1 for "
                             "local, one per CPU for ray)")
    parser.add_argument("--seed", type=_count(0), default=0,
                        help="seeds the input and the run (default: %(default)s)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object on stdout instead of the summary")
    parser.add_argument("--trace-out", metavar="FILE", help="write the trace as JSON to FILE")
    parser.add_argument("--chrome-trace", metavar="FILE",
                        help="write a chrome://tracing / Perfetto timeline to FILE")
    parser.add_argument("--no-enforce", action="store_true",
                        help="record cap violations in the trace instead of stopping")


def _handle_run(args: argparse.Namespace) -> int:
    spec = ALGORITHMS[args.algorithm]
    q, s = spec.sizing(args.n, args.machines, args.memory_words)
    inputs = spec.make_input(args.n, np.random.default_rng(args.seed))
    bound = spec.round_bound(args.n, q, s)
    progress = _Progress(bound) if sys.stderr.isatty() and not args.json else None
    try:
        result = run(spec.program(), inputs, num_machines=q, memory_words=s,
                     backend=args.backend, address=args.address, num_workers=args.workers,
                     seed=args.seed, enforce=not args.no_enforce, progress=progress)
    finally:
        if progress is not None:
            progress.close()
    verified = bool(spec.verify(result.output, inputs))
    trace = result.trace
    if args.trace_out:
        trace.to_json(args.trace_out)
    if args.chrome_trace:
        trace.to_chrome_trace(args.chrome_trace)
    report = {
        "algorithm": spec.name, "n": args.n, "machines": q, "memory_words": s,
        "backend": trace.backend, "workers": result.workers, "nodes": len(trace.nodes),
        "rounds": result.rounds, "round_bound": bound, "wall_s": result.wall_s,
        "verified": verified, "max_memory_words": trace.max_memory_words,
        "max_sent_words": trace.max_sent_words,
        "max_received_words": trace.max_received_words,
        "total_words_sent": trace.total_words_sent, "total_messages": trace.total_messages,
        "violations": len(trace.violations), "enforce": not args.no_enforce, "seed": args.seed,
    }
    if args.json:
        print(json.dumps(report))
    else:
        _print_run(report, trace, sys.stdout)
    return EXIT_OK if verified else EXIT_NOT_VERIFIED


def _print_run(report: dict[str, Any], trace: Trace, out: TextIO) -> None:
    rows = [
        ("algorithm", report["algorithm"]),
        ("n", f"{report['n']} words"),
        ("machines (q)", str(report["machines"])),
        ("memory_words (s)", str(report["memory_words"])),
        ("backend", f"{report['backend']}, {report['workers']} worker(s) on "
                    f"{report['nodes']} node(s)"),
        ("rounds", f"{report['rounds']} (bound {report['round_bound']})"),
        ("wall", f"{report['wall_s']:.3f} s"),
        ("verified", "yes" if report["verified"] else "NO: output differs from the reference"),
        ("max words", f"memory {report['max_memory_words']} / sent "
                      f"{report['max_sent_words']} / received "
                      f"{report['max_received_words']} (cap {report['memory_words']})"),
        ("words sent", f"{report['total_words_sent']} in {report['total_messages']} messages"),
    ]
    if report["violations"]:
        rows.append(("violations", f"{report['violations']} (see --trace-out)"))
    _print_table("mpcsim run", rows, out)
    print(file=out)
    trace.summary(file=out)


class _Progress:
    """Round and elapsed time on a terminal's stderr, redrawn at most 10 times a second."""

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


# -- mpcsim info --------------------------------------------------------------------------------

def _configure_info(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _handle_info(args: argparse.Namespace) -> int:
    import msgpack

    ray_version, ray_problem = _ray_status()
    info = {
        "mpcsim": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "msgpack": ".".join(map(str, msgpack.version)),
        "ray": ray_version,
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "backends": {"local": True, "ray": ray_version is not None},
        "algorithms": {name: spec.summary for name, spec in sorted(ALGORITHMS.items())},
    }
    if args.json:
        print(json.dumps(info))
        return EXIT_OK
    ray_text = ray_version if ray_version is not None else f"unavailable ({ray_problem})"
    rows = [(name, str(info[name])) for name in ("mpcsim", "python", "numpy", "msgpack")]
    rows += [("ray", ray_text), ("cpus", f"{info['cpus']} ({info['cpus_usable']} usable)"),
             ("backends", ", ".join(b for b, ok in info["backends"].items() if ok))]
    rows += [(f"algorithm {name}", summary) for name, summary in info["algorithms"].items()]
    _print_table("mpcsim info", rows, sys.stdout)
    return EXIT_OK


def _ray_status() -> tuple[str | None, str]:
    """(Ray's version, "") if Ray imports here, else (None, why not)."""
    try:
        import ray
    except Exception as exc:  # ImportError, or a broken install failing on import
        return None, f"{type(exc).__name__}: {exc}"
    return str(ray.__version__), ""


# -- the parser and main ------------------------------------------------------------------------

COMMANDS: tuple[Command, ...] = (
    Command("run", "run an algorithm on generated input, verify it, report rounds and words",
            _configure_run, _handle_run),
    Command("info", "show versions, CPUs, available backends and algorithms",
            _configure_info, _handle_info),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mpcsim",
        description="Run Massively Parallel Computation round programs for real, with every "
                    "cap enforced.",
        epilog="algorithms: " + ", ".join(sorted(ALGORITHMS))
               + "; exit codes: 0 ok (run: verified), 1 run not verified, 2 error. "
               "`mpcsim COMMAND --help` describes a command.")
    parser.add_argument("--version", action="version", version=f"mpcsim {__version__}")
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND",
                                required=True)
    for command in COMMANDS:
        child = sub.add_parser(command.name, help=command.help, description=command.help)
        command.configure(child)
        child.set_defaults(handle=command.handle)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` (default: sys.argv[1:]), run the subcommand, return its exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handle(args))
    except MPCError as exc:
        print(f"mpcsim {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # stdout closed early (`mpcsim ... | head`): exit quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:  # e.g. --trace-out into a missing folder
        print(f"mpcsim {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"mpcsim {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        _shutdown_ray()


def _shutdown_ray() -> None:
    """Stop a Ray this process started, if the Ray backend was used (so the CLI exits)."""
    module = sys.modules.get("mpcsim.backends.ray_actors")
    shutdown = getattr(module, "shutdown", None)
    if callable(shutdown):
        try:
            shutdown()
        except Exception as exc:  # never mask the run's own exit code
            print(f"mpcsim: warning: Ray shutdown failed: {exc}", file=sys.stderr)


def _print_table(title: str, rows: list[tuple[str, str]], out: TextIO) -> None:
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


def _count(minimum: int) -> Callable[[str], int]:
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


if __name__ == "__main__":
    sys.exit(main())
