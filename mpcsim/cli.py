"""The mpcsim command line: run a registered algorithm and check it, or describe this install.

    mpcsim run prefix-sum --n 1000000
    mpcsim run all-reduce --n 100000 --json
    mpcsim info
    mpcsim cluster local --nodes 2      (then `mpcsim run ... --backend ray --address ...`)
    mpcsim transformer --model CHECKPOINT_DIR --inputs ids.npy --out hidden.npy
    mpcsim demo                         (also `mpcsim hopk run|eval`: k-hop induction heads)
    mpcsim compile all-reduce --n 16    (the algorithm as a transformer, checked vs mpcsim.run)
    mpcsim checkpoint convert model.pt config.yaml DIR  (the authors' checkpoints, no torch)
    mpcsim bench --suite quick --out DIR (ratios vs baselines, plots, RESULTS.md)

Subcommands are Command entries in COMMANDS (a name, a help line, a function adding the
arguments, a handler returning the exit code); add one there to extend the CLI. Commands of
other installed packages (transformer, hopk, demo, compile, checkpoint: transformer_bridge's)
come through mpcsim.extensions, so this module names no other package. The pieces commands
share (exit codes, argument groups, tables, progress) are mpcsim.console. Algorithms
come from mpcsim.algorithms.ALGORITHMS. Exit codes: 0 success (for `run`: output verified
against the sequential reference), 1 output not verified, 2 an MPCError or a file that
cannot be written (the message on stderr, no traceback) or bad arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from . import __version__
from .algorithms import ALGORITHMS
from .api import run
from .console import (EXIT_ERROR, EXIT_NOT_VERIFIED, EXIT_OK, Progress, add_algorithm_arguments,
                      add_backend_arguments, add_recovery_arguments, print_table)
from .console import count_argument as _count
from .errors import ConfigError, MPCError
from .extensions import Command, commands
from .trace import Trace
from .wordcount import words

if TYPE_CHECKING:
    from .cluster import ClusterInfo

__all__ = ["main", "build_parser", "COMMANDS", "Command", "add_algorithm_arguments",
           "add_backend_arguments"]


# -- mpcsim run ---------------------------------------------------------------------------------

def _configure_run(parser: argparse.ArgumentParser) -> None:
    add_algorithm_arguments(parser, default_n=10_000)
    add_backend_arguments(parser)
    parser.add_argument("--seed", type=_count(0), default=0,
                        help="seeds the input and the run (default: %(default)s)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object on stdout instead of the summary")
    parser.add_argument("--trace-out", metavar="FILE", help="write the trace as JSON to FILE")
    parser.add_argument("--chrome-trace", metavar="FILE",
                        help="write a chrome://tracing / Perfetto timeline to FILE")
    parser.add_argument("--no-enforce", action="store_true",
                        help="record cap violations in the trace instead of stopping")
    add_recovery_arguments(parser)
    for option in _algorithm_options().values():  # e.g. --k for hop-k, --graph for connectivity
        users = ", ".join(sorted(name for name, spec in ALGORITHMS.items()
                                 if option in spec.options))
        parser.add_argument(f"--{option.name}", type=option.type, choices=option.choices,
                            default=None, help=f"{option.help} ({users}; default: "
                                               f"{option.default})")
    for flag, users in _input_files().items():  # e.g. --edges FILE for connectivity
        parser.add_argument(f"--{flag}", metavar="FILE", default=None,
                            help=f"{users[0][1]} ({', '.join(u for u, _ in users)}; instead of "
                                 "a generated input of --n words)")


def _input_files() -> dict[str, list[tuple[str, str]]]:
    """Input-file flags of the registered algorithms: flag -> [(algorithm, help)]."""
    flags: dict[str, list[tuple[str, str]]] = {}
    for name, spec in sorted(ALGORITHMS.items()):
        if spec.input_file is not None:
            flags.setdefault(spec.input_file.flag, []).append((name, spec.input_file.help))
    return flags


def _input_from_file(spec: Any, args: argparse.Namespace) -> tuple[str, str] | None:
    """(flag, path) of the input file given on the command line, if any; a flag the
    algorithm does not take raises."""
    given = [(flag, getattr(args, flag)) for flag in _input_files()
             if getattr(args, flag, None) is not None]
    for flag, path in given:
        if spec.input_file is None or spec.input_file.flag != flag:
            raise ConfigError(problems=[(f"--{flag}", path,
                                         f"is not an input of {spec.name}")])
    return given[0] if given else None


def _algorithm_options() -> dict[str, Any]:
    """Every algorithm-specific Option of the registered algorithms, by name."""
    return {option.name: option for spec in ALGORITHMS.values() for option in spec.options}


def _option_values(spec: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The algorithm options given on the command line; a flag another algorithm owns raises."""
    values = {}
    for name in _algorithm_options():
        value = getattr(args, name, None)
        if value is None:
            continue
        if not any(o.name == name for o in spec.options):
            raise ConfigError(problems=[(f"--{name}", value,
                                         f"is not an option of {spec.name}")])
        values[name] = value
    return values


def _handle_run(args: argparse.Namespace) -> int:
    spec = ALGORITHMS[args.algorithm]
    options = _option_values(spec, args)
    from_file = _input_from_file(spec, args)
    n = args.n
    if from_file is not None:
        inputs = spec.input_file.load(from_file[1])
        n = words(inputs)
        q, s = spec.input_file.sizing(inputs, args.machines, args.memory_words)
        bound = spec.input_file.round_bound(inputs, q, s)
    else:
        q, s = spec.sizing(args.n, args.machines, args.memory_words,
                           **spec.option_kwargs("sizing", options))
        inputs = spec.make_input(args.n, np.random.default_rng(args.seed),
                                 **spec.option_kwargs("make_input", options))
        bound = spec.round_bound(args.n, q, s, **spec.option_kwargs("round_bound", options))
    progress = Progress(bound) if sys.stderr.isatty() and not args.json else None
    try:
        result = run(spec.program(**spec.option_kwargs("program", options)), inputs,
                     num_machines=q, memory_words=s,
                     backend=args.backend, address=args.address, num_workers=args.workers,
                     seed=args.seed, enforce=not args.no_enforce,
                     checkpoint_every=args.checkpoint_every, max_recoveries=args.max_recoveries,
                     faults=tuple(args.fault), checkpoint_dir=args.checkpoint_dir,
                     resume=args.resume, progress=progress)
    finally:
        if progress is not None:
            progress.close()
    verified = bool(spec.verify(result.output, inputs, **spec.option_kwargs("verify", options)))
    trace = result.trace
    if args.trace_out:
        trace.to_json(args.trace_out)
    if args.chrome_trace:
        trace.to_chrome_trace(args.chrome_trace)
    report = {
        "algorithm": spec.name, "n": n, "machines": q, "memory_words": s,
        "backend": trace.backend, "workers": result.workers, "nodes": len(trace.nodes),
        "machines_per_node": _machines_per_node(trace),
        "rounds": result.rounds, "round_bound": bound, "wall_s": result.wall_s,
        "verified": verified, "max_memory_words": trace.max_memory_words,
        "max_sent_words": trace.max_sent_words,
        "max_received_words": trace.max_received_words,
        "total_words_sent": trace.total_words_sent, "total_messages": trace.total_messages,
        "violations": len(trace.violations), "enforce": not args.no_enforce, "seed": args.seed,
        "checkpoint_every": result.config.snapshot_every,
        "recoveries": [dataclasses.asdict(r) for r in trace.recoveries],
        **({"resumed_from": str(args.resume)} if args.resume else {}),
        **({from_file[0]: from_file[1]} if from_file is not None else
           {**{option.name: option.default for option in spec.options}, **options}),
        **(spec.report(result.output) if spec.report is not None else {}),
    }
    if args.json:
        print(json.dumps(report))
    else:
        extra = ((from_file[0],) if from_file is not None else ()) + tuple(
            spec.report(result.output) if spec.report is not None else ())
        _print_run(report, trace, sys.stdout, extra)
    return EXIT_OK if verified else EXIT_NOT_VERIFIED


def _machines_per_node(trace: Trace) -> dict[str, int]:
    """Node name ("local", or a Ray node's IP, IP:raylet port where nodes share one) -> machines
    it hosted."""
    counts: dict[str, int] = {}
    per_host = np.bincount(trace.machine_host, minlength=len(trace.hosts)).tolist()
    for host, machines in zip(trace.hosts, per_host):
        counts[host["node"]] = counts.get(host["node"], 0) + machines
    return counts


def _print_run(report: dict[str, Any], trace: Trace, out: TextIO,
               extra: tuple[str, ...] = ()) -> None:
    """The summary table; `extra` names report keys to show too (an input file, what the
    algorithm's report adds, e.g. connectivity's components)."""
    rows = [
        ("algorithm", report["algorithm"]),
        *[(key, str(report[key])) for key in extra],
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
    if report["recoveries"]:
        rows.append(("recoveries", f"{len(report['recoveries'])} lost host(s) replayed (see "
                                   f"below)"))
    if "resumed_from" in report:
        rows.append(("resumed from", report["resumed_from"]))
    print_table("mpcsim run", rows, out)
    print(file=out)
    trace.summary(file=out)


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
    print_table("mpcsim info", rows, sys.stdout)
    return EXIT_OK


def _ray_status() -> tuple[str | None, str]:
    """(Ray's version, "") if Ray imports here, else (None, why not)."""
    try:
        import ray
    except Exception as exc:  # ImportError, or a broken install failing on import
        return None, f"{type(exc).__name__}: {exc}"
    return str(ray.__version__), ""


# -- mpcsim bench -------------------------------------------------------------------------------
# Suites of rounds vs wall-clock with baselines in the same run (mpcsim.bench, imported lazily).

def _configure_bench(parser: argparse.ArgumentParser) -> None:
    from .bench import command

    command.configure(parser)


def _handle_bench(args: argparse.Namespace) -> int:
    from .bench import command

    return command.handle(args)


# -- mpcsim cluster -----------------------------------------------------------------------------
# A multi-node Ray cluster on this machine (mpcsim.cluster, imported when the command runs).

def _configure_cluster(parser: argparse.ArgumentParser) -> None:
    from .cluster import AUTH_MODES, DEFAULT_STATE_DIR

    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    local = actions.add_parser(
        "local", help="start a head and NODES-1 more raylets here (`ray start`), print the "
                      "address", description="Start a multi-node Ray cluster on this machine "
        "(one `ray start` process per node, each with its own ports) and print its address and "
        "the environment a driver needs.")
    local.add_argument("--nodes", type=_count(1), default=2,
                       help="Ray nodes, the head included (default: %(default)s)")
    local.add_argument("--cpus-per-node", type=_count(0), default=1, metavar="C",
                       help="CPUs each node offers (default: %(default)s)")
    local.add_argument("--object-store-mb", type=_count(75), default=500, metavar="MB",
                       help="each node's object store in MB (default: %(default)s)")
    local.add_argument("--port", type=_count(1024), metavar="P",
                       help="the head's GCS port (default: a free one)")
    local.add_argument("--auth", choices=AUTH_MODES, default="token",
                       help="RAY_AUTH_MODE for every process (default: %(default)s)")
    local.add_argument("--timeout-s", type=float, default=60.0, metavar="T",
                       help="seconds the cluster may take to come up (default: %(default)s)")
    status = actions.add_parser("status", help="show the recorded cluster and which of its "
                                               "processes are alive (exit 1 if not running)")
    stop = actions.add_parser("stop", help="stop the recorded cluster's processes, by pid; "
                                           "nothing else (never `ray stop`)")
    for action in (local, status, stop):
        action.add_argument("--state-dir", default=str(DEFAULT_STATE_DIR), metavar="DIR",
                            help="where pids, logs and the token are kept (default: "
                                 "%(default)s)")
        action.add_argument("--json", action="store_true", help="print one JSON object")


def _handle_cluster(args: argparse.Namespace) -> int:
    from . import cluster

    if args.action == "local":
        info = cluster.start_local(cluster.LocalClusterConfig(
            nodes=args.nodes, cpus_per_node=args.cpus_per_node,
            object_store_mb=args.object_store_mb, port=args.port, auth_mode=args.auth,
            state_dir=args.state_dir, timeout_s=args.timeout_s))
        _print_cluster(info, args, sys.stdout)
        return EXIT_OK
    if args.action == "status":
        found = cluster.status(args.state_dir)
        running = found is not None and all(found.alive)
        if args.json:
            print(json.dumps({"running": running, **(found.to_dict() if found else {})}))
        elif found is None:
            print(f"no cluster recorded in {args.state_dir}")
        else:
            _print_cluster(found, args, sys.stdout)
        return EXIT_OK if running else EXIT_NOT_VERIFIED
    stopped = cluster.stop(args.state_dir)
    if args.json:
        print(json.dumps({"stopped_pids": stopped}))
    else:
        print(f"stopped {len(stopped)} node(s) (pids {', '.join(map(str, stopped))})" if stopped
              else f"nothing running from {args.state_dir}")
    return EXIT_OK


def _print_cluster(info: ClusterInfo, args: argparse.Namespace, out: TextIO) -> None:
    from .cluster import DEFAULT_STATE_DIR

    if args.json:
        print(json.dumps({"nodes": len(info.processes), **info.to_dict()}), file=out)
        return
    alive = info.alive or (True,) * len(info.processes)
    rows = [("address", info.address),
            ("nodes", f"{sum(alive)} of {len(info.processes)} alive"),
            *[(p.role, f"{'alive' if ok else 'dead'} (pid {p.pid}, log {p.log})")
              for p, ok in zip(info.processes, alive)],
            ("auth", " ".join(f"{k}={v}" for k, v in info.env.items())),
            ("state", info.state_dir)]
    if info.client_address:
        rows.append(("ray client", info.client_address))
    print_table(f"mpcsim cluster {args.action}", rows, out)
    state = "" if args.state_dir == str(DEFAULT_STATE_DIR) else f" --state-dir {args.state_dir}"
    if not all(alive):
        print(f"\nsome nodes are dead: see their logs; `mpcsim cluster stop{state}` ends the "
              f"rest", file=out)
        return
    print(f"\nrun a job on it (the driver needs the same auth environment):\n"
          f"  export {' '.join(f'{k}={v}' for k, v in info.env.items())}\n"
          f"  mpcsim run all-reduce --n 100000 --backend ray --address {info.address}\n"
          f"stop it:\n  mpcsim cluster stop{state}", file=out)


# -- the parser and main ------------------------------------------------------------------------

COMMANDS: tuple[Command, ...] = (
    Command("run", "run an algorithm on generated input, verify it, report rounds and words",
            _configure_run, _handle_run),
    Command("info", "show versions, CPUs, available backends and algorithms",
            _configure_info, _handle_info),
    Command("cluster", "start, inspect or stop a multi-node Ray cluster on this machine",
            _configure_cluster, _handle_cluster),
    Command("bench", "measure rounds and wall-clock against baselines in one run; write "
            "results.json, results.csv, plots and RESULTS.md", _configure_bench, _handle_bench),
)


class _NamesKeptWhole(argparse.HelpFormatter):
    """Wraps help text without breaking at hyphens, so algorithm names stay whole."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        return textwrap.fill(" ".join(text.split()), width, initial_indent=indent,
                             subsequent_indent=indent, break_on_hyphens=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mpcsim", formatter_class=_NamesKeptWhole,
        description="Run Massively Parallel Computation round programs for real, with every "
                    "cap enforced.",
        epilog="algorithms: " + ", ".join(sorted(ALGORITHMS))
               + "; exit codes: 0 ok (run: verified), 1 run not verified, 2 error. "
               "`mpcsim COMMAND --help` describes a command.")
    parser.add_argument("--version", action="version", version=f"mpcsim {__version__}")
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND",
                                required=True)
    for command in COMMANDS + commands():  # mpcsim's own, then the extensions' (mpcsim.extensions)
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


if __name__ == "__main__":
    sys.exit(main())
