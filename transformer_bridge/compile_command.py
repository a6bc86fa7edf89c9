"""`mpcsim compile`: compile a registered algorithm into a transformer and check it.

    mpcsim compile ALGORITHM --n N [--machines Q] [--memory-words S] [--trials T] [--json]

Sizes the algorithm as `mpcsim run` does (its default q and s unless given), takes its round
bound R as the number of rounds to simulate, compiles it (transformer_bridge
.mpc_to_transformer.compile_program: L = R layers of hardmax routing heads), then on --trials
random inputs from the algorithm's generator compares the dense forward's outputs with
mpcsim.run's, and prints L, H, m, N, the theorem's bounds and the largest difference. An
algorithm whose generator makes non-integral words (sort's floats) needs --integers.
mpcsim.cli registers configure and handle, importing this module only when the command
runs. Exit codes: 0 identical outputs, 1 a difference, 2 an error (a program that cannot be
compiled, e.g. a partition that computes words from the input: the message says which).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Callable, TextIO

import numpy as np

import mpcsim
from mpcsim.algorithms import ALGORITHMS
from mpcsim.algorithms.spec import AlgorithmSpec
from mpcsim.console import (EXIT_ERROR, EXIT_NOT_VERIFIED, EXIT_OK, add_algorithm_arguments,
                            count_argument, print_table)

from .mpc_to_transformer import CompiledProgram, compile_program

__all__ = ["configure", "handle", "compare_outputs"]

INTEGER_RANGE = 1000  # --integers draws words in [-1000, 1000)


def configure(parser: argparse.ArgumentParser) -> None:
    add_algorithm_arguments(parser, default_n=16)
    parser.add_argument("--trials", type=count_argument(1), default=3,
                        help="random inputs to compare on (default: %(default)s)")
    parser.add_argument("--integers", action="store_true",
                        help="draw inputs as random integers in [-1000, 1000) of the "
                             "generator's shape (for generators of floats, e.g. sort)")
    parser.add_argument("--seed", type=count_argument(0), default=0,
                        help="seeds the inputs and the runs (default: %(default)s)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object on stdout instead of the summary")


def handle(args: argparse.Namespace) -> int:
    """Compile, compare, report. MPCErrors (a program that cannot be compiled, a word that
    cannot be represented) propagate to mpcsim.cli.main: exit code 2, message on stderr."""
    spec = ALGORITHMS[args.algorithm]
    q, s = spec.sizing(args.n, args.machines, args.memory_words)
    rounds = spec.round_bound(args.n, q, s)
    make = _generator(spec, args.n, args.integers)
    sample = make(np.random.default_rng(args.seed))
    if sample.dtype.kind == "f" and not np.array_equal(sample, np.rint(sample)):
        print(f"mpcsim compile: error: {spec.name}'s input generator makes non-integral "
              "words, which a compiled transformer does not hold; pass --integers",
              file=sys.stderr)
        return EXIT_ERROR
    shape = np.shape(sample)
    t0 = time.perf_counter()
    model = compile_program(spec.program(), input_shape=shape, num_machines=q, memory_words=s,
                            input_type=str(sample.dtype), rounds=rounds, seed=args.seed,
                            probe=lambda n_in, g: make(g).reshape(-1))
    compile_s = time.perf_counter() - t0
    report = _compare(args, spec, model, make, q, s)
    assert model.plan is not None
    report = {"algorithm": spec.name, "n": args.n, "machines": q, "memory_words": s,
              "rounds": rounds, **model.plan.bounds(), "compile_s": compile_s, **report,
              "heads": [head.describe(model.plan) for head in model.plan.heads]}
    if args.json:
        print(json.dumps(report))
    else:
        _print(report, sys.stdout)
    return EXIT_OK if report["identical"] else EXIT_NOT_VERIFIED


def _generator(spec: AlgorithmSpec, n: int, integers: bool
               ) -> Callable[[np.random.Generator], np.ndarray]:
    if not integers:
        return lambda rng: np.asarray(spec.make_input(n, rng))
    shape = np.shape(spec.make_input(n, np.random.default_rng(0)))
    return lambda rng: rng.integers(-INTEGER_RANGE, INTEGER_RANGE, size=shape)


def _compare(args: argparse.Namespace, spec: AlgorithmSpec, model: CompiledProgram,
             make: Callable[[np.random.Generator], np.ndarray], q: int,
             s: int) -> dict[str, Any]:
    rng = np.random.default_rng([args.seed, 1])
    identical, max_diff, forward_s, run_s, used = True, 0.0, 0.0, 0.0, 0
    for _ in range(args.trials):
        inputs = make(rng)
        t0 = time.perf_counter()
        want = mpcsim.run(spec.program(), inputs, num_machines=q, memory_words=s,
                          seed=args.seed)
        t1 = time.perf_counter()
        got = model.forward(inputs)
        forward_s += time.perf_counter() - t1
        run_s += t1 - t0
        used = max(used, want.rounds)
        same, diff = compare_outputs(got, want.output)
        identical &= same
        max_diff = max(max_diff, diff)
    return {"trials": args.trials, "identical": identical, "max_abs_diff": max_diff,
            "rounds_used": used, "forward_s": forward_s / args.trials,
            "mpcsim_run_s": run_s / args.trials}


def compare_outputs(got: Any, want: Any) -> tuple[bool, float]:
    """(identical: same values and types, the largest |difference| of matching numbers; inf
    where the structures differ)."""
    if type(got) is not type(want):
        return False, float("inf")
    if isinstance(want, np.ndarray):
        if got.shape != want.shape or got.dtype != want.dtype:
            return False, float("inf")
        diff = float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max(initial=0.0))
        return bool(np.array_equal(got, want)), diff
    if isinstance(want, (list, tuple)):
        if len(got) != len(want):
            return False, float("inf")
        results = [compare_outputs(a, b) for a, b in zip(got, want)]
        return all(r[0] for r in results), max((r[1] for r in results), default=0.0)
    if isinstance(want, dict):
        if got.keys() != want.keys():
            return False, float("inf")
        return compare_outputs(list(got.values()), list(want.values()))
    if isinstance(want, (int, float, np.generic)) and not isinstance(want, bool):
        return bool(got == want), abs(float(got) - float(want))
    return bool(got == want), 0.0 if got == want else float("inf")


def _print(report: dict[str, Any], out: TextIO) -> None:
    rows = [
        ("algorithm", f"{report['algorithm']}, n = {report['n']} words"),
        ("machines (q)", str(report["machines"])),
        ("memory_words (s)", str(report["memory_words"])),
        ("rounds (R)", f"{report['rounds']} (the algorithm's bound; runs used "
                       f"{report['rounds_used']})"),
        ("L", f"{report['L']} layers (theorem: R + 1 = {report['L_bound']})"),
        ("H", f"{report['H']} heads over {report['bands']} bands (theorem: "
              f"{report['H_bound']})"),
        ("m", f"{report['m']} (row {report['row_width']}, key_dim {report['key_dim']}, "
              f"value_dim {report['value_dim']}); theorem O(s^4 log N): s^4 log2 N = "
              f"{report['m_unit']:.0f}, ratio {report['m_over_unit']:.3f}"),
        ("N", f"{report['N']} tokens"),
        ("compared", f"{report['trials']} random inputs: "
                     + ("identical outputs" if report["identical"] else "OUTPUTS DIFFER")
                     + f", max |difference| {report['max_abs_diff']:g}"),
        ("wall", f"dense forward {report['forward_s'] * 1e3:.1f} ms, mpcsim.run "
                 f"{report['mpcsim_run_s'] * 1e3:.1f} ms (per input), compile "
                 f"{report['compile_s'] * 1e3:.1f} ms"),
    ]
    rows += [(f"head {h}", text) for h, text in enumerate(report["heads"])]
    print_table("mpcsim compile", rows, out)
