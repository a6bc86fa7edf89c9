"""`mpcsim hopk run|eval` and `mpcsim demo`: the k-hop induction heads task as MPC jobs.

    mpcsim demo                                     # hop_8 transformer, N = 256, local
    mpcsim hopk run --k 8 --n 256 [--json]
    mpcsim hopk eval --model DIR [--model DIR2] [--sequences 100] [--json] [--plot FILE.png]

`run` builds the constructed transformer (transformer_bridge.constructions.hopk), runs it on
random sequences through the bridge (transformer_bridge.compiler) with every cap enforced,
checks it against the reference (transformer_bridge.tasks.hopk) and the dense forward, and
runs the MPC-native pointer-doubling algorithm (mpcsim.algorithms.hopk) on the same letters.
`eval` runs trained GPT-2 checkpoints on the paper's sequences and prints the paper's per-k
error. `demo` lays `run`'s report out with the two side by side. mpcsim.cli registers the
commands and imports this module only when they run; exit codes are mpcsim.cli's: 0 verified,
1 not verified (wrong answers, or the MPC job and the dense forward disagree), 2 an error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from mpcsim.console import (EXIT_ERROR, EXIT_NOT_VERIFIED, EXIT_OK, Progress, add_backend_arguments,
                            count_argument, print_table)

from .checkpoint import CheckpointError, load_gpt2
from .command import default_memory_words
from .compiler import compile_transformer
from .constructions import hopk as construction
from .model import Transformer, forward
from .plan import PlanError
from .tasks import hopk as task

__all__ = ["configure", "handle", "configure_demo", "handle_demo", "run_construction",
           "evaluate_checkpoints", "GOLDEN_TOLERANCE"]

PROG = "mpcsim hopk"
GOLDEN_TOLERANCE = 2e-4  # |hidden - golden| for float32 HuggingFace goldens (as the tests)
DEMO_K, DEMO_N = 8, 256


# -- arguments ----------------------------------------------------------------------------

def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = actions.add_parser("run", help="run the constructed hop_k transformer as an MPC job",
                             description="Build the hop_k transformer (explicit weights), run "
                             "it on random sequences as an MPC job, check it.")
    _configure_construction(run, k=DEMO_K, n=DEMO_N)
    run.add_argument("--sequences", type=count_argument(1), default=1,
                     help="random sequences in the batch (default: %(default)s)")
    evaluate = actions.add_parser(
        "eval", help="the paper's per-k error of trained GPT-2 checkpoints, run as MPC jobs",
        description="Evaluate GPT-2 checkpoints trained on the paper's task on fresh sequences "
                    "(k = 0..16) as MPC jobs: the paper's error per k, checked against the "
                    "dense forward and the folder's golden.npz.")
    evaluate.add_argument("--model", required=True, action="append", metavar="DIR",
                          help="GPT-2 checkpoint folder; repeat for several models")
    evaluate.add_argument("--sequences", type=count_argument(1), default=100,
                          help="sequences per k (default: %(default)s)")
    evaluate.add_argument("--plot", metavar="FILE.png",
                          help="draw error vs k (log2 axis), one curve per model")
    _configure_common(evaluate, json_help="print one JSON object per model, one per line")


def configure_demo(parser: argparse.ArgumentParser) -> None:
    _configure_construction(parser, k=DEMO_K, n=DEMO_N)


def _configure_construction(parser: argparse.ArgumentParser, k: int, n: int) -> None:
    parser.add_argument("--k", type=count_argument(0), default=k,
                        help="hops (default: %(default)s)")
    parser.add_argument("--n", type=count_argument(2), default=n,
                        help="tokens per sequence, the start token included "
                             "(default: %(default)s)")
    parser.add_argument("--alphabet", type=count_argument(1), default=4, metavar="A",
                        help="letters (default: %(default)s)")
    _configure_common(parser)


def _configure_common(parser: argparse.ArgumentParser,
                      json_help: str = "print one JSON object on stdout instead of tables"
                      ) -> None:
    parser.add_argument("--seed", type=count_argument(0), default=0,
                        help="seeds the sequences and the run (default: %(default)s)")
    parser.add_argument("--memory-words", type=count_argument(1), metavar="S",
                        help="words per machine (default: the cap whose largest tile is about "
                             "N/4 tokens, as `mpcsim transformer`)")
    add_backend_arguments(parser)
    parser.add_argument("--json", action="store_true", help=json_help)


# -- handlers -----------------------------------------------------------------------------

def handle(args: argparse.Namespace) -> int:
    if args.action == "run":
        return _handle_run(args, demo=False)
    return _handle_eval(args)


def handle_demo(args: argparse.Namespace) -> int:
    return _handle_run(args, demo=True)


def _handle_run(args: argparse.Namespace, demo: bool) -> int:
    prog = "mpcsim demo" if demo else f"{PROG} run"
    try:
        _check_options(args)
        report = run_construction(args.k, args.n, args.alphabet,
                                  sequences=getattr(args, "sequences", 1),
                                  seed=args.seed, memory_words=args.memory_words,
                                  **_run_options(args))
    except (PlanError, ValueError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(json.dumps(report))
    elif demo:
        _print_demo(report, sys.stdout)
    else:
        print_table(prog, _run_rows(report), sys.stdout)
    return EXIT_OK if report["verified"] else EXIT_NOT_VERIFIED


def _handle_eval(args: argparse.Namespace) -> int:
    try:
        _check_options(args)
        reports = evaluate_checkpoints(args.model, args.sequences, seed=args.seed,
                                       memory_words=args.memory_words, **_run_options(args))
    except (PlanError, ValueError) as exc:
        print(f"{PROG} eval: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.plot:
        plot_errors(reports, args.plot)
    if args.json:
        for report in reports:  # one object per model, one line each
            print(json.dumps(report))
    else:
        _print_eval(reports, sys.stdout)
        if args.plot:
            print(f"\nplot: {args.plot}")
    return EXIT_OK if all(r["verified"] for r in reports) else EXIT_NOT_VERIFIED


def _check_options(args: argparse.Namespace) -> None:
    """Raise ValueError naming every option that cannot work, before any work."""
    problems = []
    if args.address is not None and args.backend != "ray":
        problems.append("--address: only used with --backend ray")
    plot = getattr(args, "plot", None)
    if plot is not None and not Path(plot).resolve().parent.is_dir():
        problems.append(f"--plot {plot}: the folder {Path(plot).resolve().parent} does not "
                        f"exist")
    if problems:
        raise ValueError("; ".join(problems))


def _run_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"backend": args.backend, "address": args.address, "num_workers": args.workers,
            "progress": not args.json}


# -- the constructed transformer ----------------------------------------------------------

def run_construction(k: int, n: int, alphabet: int = 4, sequences: int = 1, seed: int = 0,
                     memory_words: int | None = None, backend: str = "local",
                     **run_options: Any) -> dict[str, Any]:
    """Run hopk_transformer(k, n, alphabet) on `sequences` random sequences (seeded) as an MPC
    job, and the MPC pointer-doubling algorithm on the same letters; returns the report (k, n,
    layers, rounds, machines, memory_words, accuracy, wall_s, wall_per_round_s, matches_dense,
    pointer_doubling, verified, ...). accuracy is over all positions against the reference;
    verified: both exact and the transformer's predictions equal the dense forward's.
    Raises ValueError / PlanError for bad sizes or a cap below the minimum."""
    model = construction.hopk_transformer(k, n, alphabet)
    ids = construction.random_inputs(sequences, n, alphabet, np.random.default_rng(seed))
    expected = construction.targets(ids, k, alphabet)
    report, outputs, dense = _run_job(model, ids, memory_words, backend, seed=seed,
                                      **run_options)
    predictions = outputs.argmax(-1)
    accuracy = float((predictions == expected).mean())
    matches = bool(np.array_equal(predictions, dense.argmax(-1)))
    run_options.pop("progress", None)
    doubling = run_pointer_doubling(ids, k, alphabet, backend, seed=seed, **run_options)
    return {"k": k, "n": n, "alphabet": alphabet, "sequences": sequences, "seed": seed,
            **report, "accuracy": accuracy, "matches_dense": matches,
            "pointer_doubling": doubling,
            "verified": accuracy == 1.0 and matches and doubling["accuracy"] == 1.0}


def run_pointer_doubling(ids: np.ndarray, k: int, alphabet: int, backend: str = "local",
                         **run_options: Any) -> dict[str, Any]:
    """The MPC-native algorithm (mpcsim.algorithms.hopk: find by sorting, then pointer
    doubling) on the letters of each sequence of `ids` (this construction's encoding), one
    mpcsim.run per sequence with the algorithm's default sizing for N - 1 letters. Returns
    rounds (the most over sequences), round_bound, machines, memory_words, wall_s (all runs,
    each the whole mpcsim.run), rounds_wall_s, wall_per_round_s and accuracy over the letter
    positions against construction.targets."""
    import mpcsim
    from mpcsim.algorithms import hopk as algorithm

    spec = algorithm.SPEC
    letters = ids[:, 1:]  # [sequences, N - 1]
    q, s = spec.sizing(letters.shape[1])
    expected = construction.targets(ids, k, alphabet)[:, 1:]
    rounds, wall_s, rounds_wall_s, correct = 0, 0.0, 0.0, 0
    for row, want in zip(letters, expected):
        start = time.perf_counter()
        result = mpcsim.run(spec.program(k=k), row, num_machines=q, memory_words=s,
                            backend=backend, **run_options)
        wall_s += time.perf_counter() - start
        rounds, rounds_wall_s = max(rounds, result.rounds), rounds_wall_s + result.wall_s
        got = np.concatenate([np.asarray(o) for o in result.output if o is not None])
        correct += int((np.where(got == algorithm.NONE, alphabet, got) == want).sum())
    return {"algorithm": spec.name, "rounds": rounds,
            "round_bound": spec.round_bound(letters.shape[1], q, s, k=k), "machines": q,
            "memory_words": s, "wall_s": wall_s, "rounds_wall_s": rounds_wall_s,
            "wall_per_round_s": rounds_wall_s / max(rounds * len(letters), 1),
            "accuracy": correct / max(expected.size, 1)}


def _run_job(model: Transformer, ids: np.ndarray, memory_words: int | None, backend: str,
             progress: bool = False,
             **run_options: Any) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Compile, run on `backend`, run the dense forward: (the shared part of every report,
    the job's outputs, the dense outputs)."""
    seq_len = ids.shape[1]
    cap = memory_words or default_memory_words(model, seq_len)
    job = compile_transformer(model, seq_len, cap)
    plan = job.plan
    bar = Progress(plan.total_rounds) if progress and sys.stderr.isatty() else None
    start = time.perf_counter()
    try:
        outputs, result = job.run(ids, backend=backend, progress=bar, **run_options)
    finally:
        if bar is not None:
            bar.close()
    wall_s = time.perf_counter() - start  # everything job.run does
    start = time.perf_counter()
    dense = forward(model, ids)
    dense_wall_s = time.perf_counter() - start
    return {"model": model.name, "layers": model.num_layers, "rounds": result.rounds,
            "machines": plan.machines * len(ids), "machines_per_sequence": plan.machines,
            "memory_words": plan.memory_words, "max_memory_words": result.trace.max_memory_words,
            "tile": plan.tile, "fan_in": plan.fan_in, "backend": result.trace.backend,
            "workers": result.workers, "wall_s": wall_s, "rounds_wall_s": result.wall_s,
            "wall_per_round_s": result.wall_s / max(result.rounds, 1),
            "dense_wall_s": dense_wall_s, "plan": plan.describe()}, outputs, dense


# -- trained checkpoints ------------------------------------------------------------------

def evaluate_checkpoints(folders: list[str], sequences: int, seed: int = 0,
                         memory_words: int | None = None, backend: str = "local",
                         **run_options: Any) -> list[dict[str, Any]]:
    """The paper's error per k (0..16) of each checkpoint on the same fresh sequences
    (`sequences` per k, np.random.default_rng(seed)), run as one MPC job per model in float64
    together with the folder's golden.npz inputs when present. Each report holds errors
    {k: error}, dense_errors, matches_dense (identical argmax everywhere), golden
    (max |hidden - golden|, argmax equal) or None, rounds, machines, wall_s, verified.
    Raises ValueError listing every unusable folder before running anything."""
    models = _load_checkpoints(folders)
    rng = np.random.default_rng(seed)
    pairs = [task.paper_sequences(k, sequences, rng) for k in range(task.MAX_HOPS + 1)]
    inputs = np.concatenate([p[0] for p in pairs])
    targets = np.concatenate([p[1] for p in pairs])
    return [_evaluate(folder, model, golden, inputs, targets, sequences, memory_words,
                      backend, seed=seed, **run_options)
            for folder, (model, golden) in zip(folders, models)]


def _load_checkpoints(folders: list[str]) -> list[tuple[Transformer, dict[str, np.ndarray] | None]]:
    problems, loaded = [], []
    for folder in folders:
        try:
            model = load_gpt2(folder, dtype=np.float64)
        except CheckpointError as exc:
            problems += [f"--model {exc.path}: {p}" for p in exc.problems]
            continue
        problems += [f"--model {folder}: {p}" for p in _task_problems(Path(folder), model)]
        golden_file = Path(folder) / "golden.npz"
        golden = None
        if golden_file.is_file():
            with np.load(golden_file) as data:
                golden = {"inputs": data["inputs"], "hidden": data["hidden"]}
        loaded.append((model, golden))
    if problems:
        raise ValueError("cannot evaluate:\n" + "\n".join(f"  - {p}" for p in problems))
    return loaded


def _task_problems(folder: Path, model: Transformer) -> list[str]:
    """Whether the checkpoint can read the paper's sequences (task.json, when present, must
    describe them)."""
    problems = []
    if model.vocab_size is not None and model.vocab_size <= task.BLANK_ID:
        problems.append(f"vocabulary of {model.vocab_size} ids: the paper's encoding uses "
                        f"0..{task.BLANK_ID}")
    if model.max_positions is not None and model.max_positions < task.SEQ_LEN:
        problems.append(f"{model.max_positions} positions: the task needs {task.SEQ_LEN}")
    spec = folder / "task.json"
    if spec.is_file():
        found = json.loads(spec.read_text())
        wanted = {"task": "hop_k", "char_tokens": task.LETTERS, "seq_len": task.STRING_LENGTH}
        problems += [f"task.json: {key}={found.get(key)!r}, but this evaluation generates "
                     f"{key}={value!r}" for key, value in wanted.items()
                     if found.get(key) != value]
    return problems


def _evaluate(folder: str, model: Transformer, golden: dict[str, np.ndarray] | None,
              inputs: np.ndarray, targets: np.ndarray, sequences: int,
              memory_words: int | None, backend: str, **run_options: Any) -> dict[str, Any]:
    ids = inputs if golden is None else np.concatenate([inputs, golden["inputs"]])
    report, outputs, dense = _run_job(model, ids, memory_words, backend, **run_options)
    predictions, dense_predictions = outputs.argmax(-1), dense.argmax(-1)
    count = len(inputs)
    errors, dense_errors = {}, {}
    for k in range(task.MAX_HOPS + 1):
        rows = slice(k * sequences, (k + 1) * sequences)
        errors[k] = task.paper_error(predictions[rows], targets[rows])
        dense_errors[k] = task.paper_error(dense_predictions[rows], targets[rows])
    matches = bool(np.array_equal(predictions, dense_predictions))
    checked = None
    if golden is not None:
        hidden = outputs[count:]
        checked = {"sequences": len(hidden),
                   "max_abs_diff": float(np.abs(hidden - golden["hidden"]).max()),
                   "argmax_equal": bool(np.array_equal(hidden.argmax(-1),
                                                       golden["hidden"].argmax(-1)))}
    golden_ok = checked is None or (checked["max_abs_diff"] <= GOLDEN_TOLERANCE
                                    and checked["argmax_equal"])
    return {"folder": str(folder), **report, "sequences_per_k": sequences,
            "batch": len(ids), "errors": errors, "dense_errors": dense_errors,
            "matches_dense": matches, "max_abs_diff_vs_dense":
                float(np.abs(outputs - dense).max()),
            "golden": checked, "verified": matches and golden_ok}


# -- output -------------------------------------------------------------------------------

def _run_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("k, n", f"k = {report['k']}, n = {report['n']} tokens (start + {report['n'] - 1} "
                 f"letters over {report['alphabet']}), {report['sequences']} sequence(s)"),
        ("layers", f"{report['layers']} (one hardmax head each)"),
        ("rounds", str(report["rounds"])),
        ("machines", f"{report['machines']} ({report['machines_per_sequence']} per sequence)"),
        ("memory_words (s)", f"{report['memory_words']} (max held "
                             f"{report['max_memory_words']})"),
        ("accuracy", f"{report['accuracy']:.4f} vs the reference hop_k"),
        ("same as dense", "yes" if report["matches_dense"] else "NO: predictions differ"),
        ("wall", f"{report['wall_s']:.3f} s (rounds {report['rounds_wall_s']:.3f} s, "
                 f"{1e3 * report['wall_per_round_s']:.2f} ms per round); dense forward "
                 f"{report['dense_wall_s']:.3f} s"),
        ("pointer doubling", _doubling_summary(report["pointer_doubling"])),
    ]


def _doubling_summary(pd: dict[str, Any]) -> str:
    return (f"{pd['algorithm']}: {pd['rounds']} rounds (bound {pd['round_bound']}), "
            f"{pd['machines']} machines of {pd['memory_words']} words, "
            f"{pd['wall_s']:.3f} s, accuracy {pd['accuracy']:.4f}")


def _print_demo(report: dict[str, Any], out: TextIO) -> None:
    """The transformer and pointer doubling side by side, one row per measure."""
    pd = report["pointer_doubling"]
    print(f"hop_k, k = {report['k']}, on one random sequence of n = {report['n']} tokens "
          f"(START + {report['n'] - 1} letters over {report['alphabet']}), "
          f"{report['backend']} backend:\n", file=out)
    both = (report, pd)
    rows = [
        ["layers", str(report["layers"]), "-"],
        ["MPC rounds", *(str(r["rounds"]) for r in both)],
        ["machines", *(str(r["machines"]) for r in both)],
        ["memory cap (words)", *(str(r["memory_words"]) for r in both)],
        ["wall-clock", *(f"{1e3 * r['wall_s']:.1f} ms" for r in both)],
        ["per round", *(f"{1e3 * r['wall_per_round_s']:.2f} ms" for r in both)],
        ["accuracy", *(f"{r['accuracy']:.4f}" for r in both)],
    ]
    _print_grid(["", "transformer (bridge)", f"pointer doubling ({pd['algorithm']})"], rows,
                out)
    print(f"\ntransformer: {report['plan']}\nsame predictions as its dense forward: "
          f"{'yes' if report['matches_dense'] else 'NO'}; wall-clock is the whole job "
          f"(building, partitioning, rounds); per round is the rounds alone.", file=out)


def _print_eval(reports: list[dict[str, Any]], out: TextIO) -> None:
    names = [Path(r["folder"]).name for r in reports]
    header = ["k"] + names
    rows = [[str(k)] + [_fmt_error(r["errors"][k]) for r in reports]
            for k in range(task.MAX_HOPS + 1)]
    rows.append(["layers"] + [str(r["layers"]) for r in reports])
    rows.append(["rounds"] + [str(r["rounds"]) for r in reports])
    rows.append(["machines"] + [str(r["machines"]) for r in reports])
    rows.append(["memory_words"] + [str(r["memory_words"]) for r in reports])
    rows.append(["wall_s"] + [f"{r['wall_s']:.2f}" for r in reports])
    rows.append(["dense wall_s"] + [f"{r['dense_wall_s']:.2f}" for r in reports])
    rows.append(["same as dense"] + ["yes" if r["matches_dense"] else "NO" for r in reports])
    rows.append(["golden"] + [_fmt_golden(r["golden"]) for r in reports])
    first = reports[0]
    print(f"paper's error per k ({first['sequences_per_k']} sequences per k), each model one "
          f"MPC job of {first['batch']} sequences on {first['backend']}:\n", file=out)
    _print_grid(header, rows, out)


def _fmt_error(error: float) -> str:
    return "n/a" if error != error else f"{error:.3f}"


def _fmt_golden(golden: dict[str, Any] | None) -> str:
    if golden is None:
        return "no golden.npz"
    ok = golden["max_abs_diff"] <= GOLDEN_TOLERANCE and golden["argmax_equal"]
    return f"{'ok' if ok else 'NO'} ({golden['max_abs_diff']:.1e})"


def _print_grid(header: list[str], rows: list[list[str]], out: TextIO) -> None:
    """A table with a header row: rich on a terminal, aligned plain text otherwise."""
    if out.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*header)
        for row in rows:
            table.add_row(*row)
        Console(file=out).print(table)
        return
    widths = [max(len(line[c]) for line in [header, *rows]) for c in range(len(header))]
    for line in [header, *rows]:
        print("  ".join(cell.rjust(w) if c else cell.ljust(w)
                        for c, (cell, w) in enumerate(zip(line, widths))), file=out)


def plot_errors(reports: list[dict[str, Any]], path: str) -> None:
    """Error vs k on a log2 axis (k >= 1; k = 0 cannot sit on it), one curve per model, like
    the paper's Figure 2. Writes a PNG (matplotlib, no pyplot state)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.5, 3.6), dpi=120)
    axes = figure.add_subplot()
    ks = list(range(1, task.MAX_HOPS + 1))
    for report in reports:
        axes.plot(ks, [report["errors"][k] for k in ks], marker="o", markersize=3,
                  label=f"{Path(report['folder']).name} (L = {report['layers']})")
    axes.set_xscale("log", base=2)
    axes.set_xticks([1, 2, 4, 8, 16], labels=["1", "2", "4", "8", "16"])
    axes.set_xlabel("k (hops)")
    axes.set_ylabel("error (letter targets)")
    axes.set_ylim(-0.02, 1.0)
    axes.grid(alpha=0.3)
    axes.legend()
    axes.set_title(f"k-hop error, {reports[0]['sequences_per_k']} sequences per k (MPC job)")
    figure.tight_layout()
    figure.savefig(path)
