"""`mpcsim transformer`: run a GPT-2 checkpoint's forward pass as an MPC job from the shell.

    mpcsim transformer --model CHECKPOINT_DIR --inputs ids.npy --out hidden.npy [--json]

Loads the checkpoint (transformer_bridge.checkpoint), compiles it under --memory-words
(transformer_bridge.compiler), runs the job on the chosen backend with every cap enforced,
runs the dense reference forward (transformer_bridge.model.forward) on the same ids, writes
the job's outputs [batch, N, m] as float32 to --out, and reports rounds, machines, words and
the largest difference from the dense forward. mpcsim.cli registers configure and handle
(importing this module only when the command runs, so `mpcsim` itself never imports the
bridge); the exit codes are mpcsim.cli's: 0 done, 2 an error (message on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from mpcsim.console import (EXIT_ERROR, EXIT_OK, Progress, add_backend_arguments, count_argument,
                            print_table)

from .checkpoint import CheckpointError, load_gpt2
from .compiler import Job, compile_transformer
from .model import Transformer, forward
from .plan import STRATEGIES, PlanError, transformer_to_plan

__all__ = ["configure", "handle", "default_memory_words"]

PROG = "mpcsim transformer"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="DIR",
                        help="GPT-2 checkpoint folder (config.json + model.safetensors)")
    parser.add_argument("--inputs", required=True, metavar="FILE",
                        help="token ids [batch, N]: an integer .npy, or an .npz (see --key)")
    parser.add_argument("--key", default="inputs",
                        help="the array to read from an .npz --inputs (default: %(default)s)")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="where to write the outputs [batch, N, m] as float32 .npy")
    parser.add_argument("--memory-words", type=count_argument(1), metavar="S",
                        help="words per machine s (default: the cap whose largest tile is "
                             "about N/4 tokens, so attention spans several machines)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="tree",
                        help="tree: 2D rounds per layer; ring: T - 1 (default: %(default)s)")
    parser.add_argument("--tile", type=count_argument(1), metavar="B",
                        help="tokens per block (default: the largest that fits)")
    parser.add_argument("--fan-in", type=count_argument(1), metavar="b",
                        help="children per heap node, tree only (default: the largest that "
                             "fits)")
    add_backend_arguments(parser)
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object on stdout instead of the summary")


def handle(args: argparse.Namespace) -> int:
    """Run the command; errors the user can fix go to stderr with exit code 2. MPCErrors
    from the run (caps, Ray) propagate to mpcsim.cli.main, which reports them the same way."""
    try:
        model, ids, job = _prepare(args)
    except (PlanError, ValueError, OSError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    report, outputs = _run(args, model, ids, job)
    with open(args.out, "wb") as file:  # the name as given (np.save(name) appends .npy)
        np.save(file, outputs.astype(np.float32, copy=False))
    if args.json:
        print(json.dumps(report))
    else:
        _print_report(report, job, sys.stdout)
    return EXIT_OK


# -- preparing: every input problem is reported before any work -----------------------------

def _prepare(args: argparse.Namespace) -> tuple[Transformer, np.ndarray, Job]:
    problems = []
    if args.fan_in is not None and args.strategy == "ring":
        problems.append(f"--fan-in={args.fan_in}: the ring strategy has no fan-in; drop it "
                        f"or use --strategy tree")
    if args.address is not None and args.backend != "ray":
        problems.append("--address: only used with --backend ray")
    out_dir = Path(args.out).resolve().parent
    if not out_dir.is_dir():
        problems.append(f"--out {args.out}: the folder {out_dir} does not exist")
    ids, found = _load_ids(args.inputs, args.key)
    problems += found
    try:
        model: Transformer | None = load_gpt2(args.model)
    except CheckpointError as exc:
        model = None
        problems += [f"--model {exc.path}: {problem}" for problem in exc.problems]
    if ids is not None and model is not None:
        problems += _id_problems(model, ids)
    if problems or model is None or ids is None:
        raise ValueError("cannot run:\n" + "\n".join(f"  - {p}" for p in problems))
    seq_len = ids.shape[1]
    memory_words = args.memory_words or default_memory_words(model, seq_len, args.strategy,
                                                             args.tile, args.fan_in)
    job = compile_transformer(model, seq_len, memory_words, strategy=args.strategy,
                              fan_in=args.fan_in, tile=args.tile)
    return model, ids, job


def _load_ids(path: str, key: str) -> tuple[np.ndarray | None, list[str]]:
    file = Path(path)
    if not file.is_file():
        return None, [f"--inputs {path}: no such file"]
    try:
        loaded = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as exc:
        return None, [f"--inputs {path}: not a .npy or .npz file numpy can read ({exc})"]
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            if key not in loaded.files:
                return None, [f"--inputs {path}: no array {key!r} in it (it holds "
                              f"{', '.join(loaded.files) or 'nothing'}); pass --key NAME"]
            return loaded[key], []
    return loaded, []


def _id_problems(model: Transformer, ids: np.ndarray) -> list[str]:
    problems = []
    if ids.ndim != 2 or ids.shape[0] < 1 or ids.shape[1] < 1:
        problems.append(f"--inputs has shape {ids.shape}: expected token ids [batch, N] with "
                        f"batch, N >= 1 (reshape one sequence to [1, N])")
    if not np.issubdtype(ids.dtype, np.integer):
        problems.append(f"--inputs has dtype {ids.dtype}: token ids must be integers")
    elif ids.size:
        vocab = model.vocab_size
        if vocab is not None and (ids.min() < 0 or ids.max() >= vocab):
            problems.append(f"--inputs holds ids in {ids.min()}..{ids.max()}, outside the "
                            f"model's vocabulary 0..{vocab - 1}")
    if ids.ndim == 2 and model.max_positions is not None and ids.shape[1] > model.max_positions:
        problems.append(f"--inputs has N={ids.shape[1]} tokens per sequence; the model takes "
                        f"at most {model.max_positions}")
    return problems


def default_memory_words(model: Transformer, seq_len: int, strategy: str = "tree",
                         tile: int | None = None, fan_in: int | None = None) -> int:
    """The smallest memory_words that fits a tile of `tile` tokens (default ceil(N/4)) at
    fan-in `fan_in` (default 1), so the plan splits attention over several machines rather
    than putting the whole sequence on one. Raises PlanError if the tile is invalid."""
    tile = tile or max(1, -(-seq_len // 4))
    fan_in = fan_in or (1 if strategy == "tree" else None)
    plan = transformer_to_plan(model, seq_len, sys.maxsize, strategy=strategy, tile=tile,
                               fan_in=fan_in)
    return plan.words_bound


# -- running and reporting ----------------------------------------------------------------

def _run(args: argparse.Namespace, model: Transformer, ids: np.ndarray,
         job: Job) -> tuple[dict[str, Any], np.ndarray]:
    plan = job.plan
    progress = Progress(plan.total_rounds) if sys.stderr.isatty() and not args.json else None
    start = time.perf_counter()
    try:
        outputs, result = job.run(ids, backend=args.backend, address=args.address,
                                  num_workers=args.workers, progress=progress)
    finally:
        if progress is not None:
            progress.close()
    wall_s = time.perf_counter() - start  # everything job.run does, not just the rounds
    start = time.perf_counter()
    dense = forward(model, ids)
    dense_wall_s = time.perf_counter() - start
    trace = result.trace
    report = {
        "model": model.name, "layers": model.num_layers, "batch": int(ids.shape[0]),
        "seq_len": plan.seq_len, "strategy": plan.strategy, "tile": plan.tile,
        "fan_in": plan.fan_in, "blocks": plan.blocks,
        "inner_product_machines": len(plan.tiles), "machines_per_sequence": plan.machines,
        "machines": plan.machines * int(ids.shape[0]), "rounds": result.rounds,
        "rounds_per_layer": plan.rounds_per_layer, "planned_rounds": plan.total_rounds,
        "memory_words": plan.memory_words, "memory_words_default": args.memory_words is None,
        "words_bound": plan.words_bound,
        "max_memory_words": trace.max_memory_words, "max_sent_words": trace.max_sent_words,
        "max_received_words": trace.max_received_words,
        "total_words_sent": trace.total_words_sent, "backend": trace.backend,
        "workers": result.workers, "nodes": len(trace.nodes), "wall_s": wall_s,
        "rounds_wall_s": result.wall_s, "dense_wall_s": dense_wall_s,
        "max_abs_diff_vs_dense": float(np.max(np.abs(outputs.astype(np.float64) - dense),
                                              initial=0.0)),
        "out": str(args.out),
    }
    return report, outputs


def _print_report(report: dict[str, Any], job: Job, out: Any) -> None:
    cap = report["memory_words"]
    chosen = " (default: fits a tile of about N/4 tokens)" if report["memory_words_default"] else ""
    rows = [
        ("model", f"{report['model']}, {report['layers']} layers"),
        ("inputs", f"batch {report['batch']} x N={report['seq_len']} tokens"),
        ("memory_words (s)", f"{cap}{chosen}"),
        ("plan", f"{report['strategy']}: tile B={report['tile']}, fan-in b={report['fan_in']}, "
                 f"{report['blocks']} token + {report['inner_product_machines']} "
                 f"inner-product machines per sequence"),
        ("machines (q)", f"{report['machines']} ({report['machines_per_sequence']} per "
                         f"sequence x {report['batch']})"),
        ("backend", f"{report['backend']}, {report['workers']} worker(s) on "
                    f"{report['nodes']} node(s)"),
        ("rounds", f"{report['rounds']} ({report['rounds_per_layer']} per layer x "
                   f"{report['layers']} layers + 1)"),
        ("max words", f"memory {report['max_memory_words']} / sent {report['max_sent_words']} "
                      f"/ received {report['max_received_words']} (cap {cap})"),
        ("wall", f"{report['wall_s']:.3f} s (rounds {report['rounds_wall_s']:.3f} s); dense "
                 f"forward {report['dense_wall_s']:.3f} s"),
        ("max |mpc - dense|", f"{report['max_abs_diff_vs_dense']:.3g}"),
        ("outputs", f"{report['out']} [{report['batch']}, {report['seq_len']}, "
                    f"{job.model.result_width}] float32"),
    ]
    print(job.plan.describe(), file=out)
    print(file=out)
    print_table(PROG, rows, out)
