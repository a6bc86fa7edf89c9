"""partition_to_template: the program's input placement as a fixed routing of input words.

An mpcsim run starts from `program.partition(inputs, q, s)`, a function of the whole input
(which no per-token map may read). The compiled transformer moves input words to machines
with attention instead, in its first layer, as messages; that is possible exactly when the
partition is an oblivious routing: every machine's initial memory has the same structure for
every input of n_in words, and each of its data words is either a constant or a copy of one
input word, always the same one.

partition_to_template finds that routing by probing: it runs the partition (through mpcsim's
wire, as mpcsim.run does) on several inputs whose words are distinct, encodes each machine's
memory (codec.py), and requires identical shape codes across probes; a data word equal to
input word p in every probe is a copy of p, one equal across probes is a constant. Anything
else is refused (CompileError naming the machine and the memory path). The partition may
also return a plan (mpcsim.Partition: SampleSort's SortPlan), which the compiled machines
read as machine.plan; it, and any state the partition leaves on the program, must not depend
on the input either (their pickle is compared across probes).

Probes: `probe(n_in, rng)` if given (e.g. an algorithm's make_input), else distinct random
integers in +-2^20, else (if the partition refuses those) random permutations of 0..n_in-1.
"""

from __future__ import annotations

import copy
import pickle
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from mpcsim import MPCError, Partition, Program, wire

from .codec import Refusal, data_paths, encode
from .plan import CompileError

__all__ = ["InputSpec", "Template", "partition_to_template"]

PROBES = 4
MAX_PROBES = 16


@dataclass(frozen=True)
class InputSpec:
    """What the program's input is made of the first n_in token ids."""

    shape: tuple[int, ...]  # numpy shape of the input (a list: (n_in,))
    kind: str = "int64"  # a numpy dtype name, or "list" (a Python list of ints)

    def __post_init__(self) -> None:
        if self.kind != "list":
            dtype = np.dtype(self.kind)
            if dtype.kind not in "biuf":
                raise CompileError(problems=[("input_type", self.kind, "must be 'list' or a "
                                              "numpy bool, int, uint or float dtype")])
        elif len(self.shape) != 1:
            raise CompileError(problems=[("input_shape", self.shape, "a list input is 1-D")])

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def build(self, words: np.ndarray) -> Any:
        """The program's input from n_in integer words."""
        flat = np.asarray(words).reshape(-1)
        if self.kind == "list":
            return [int(w) for w in flat.tolist()]
        return flat.astype(self.kind).reshape(self.shape)


@dataclass(frozen=True, eq=False)
class Template:
    """Initial memory of every machine as constants plus copies of input words."""

    inputs: InputSpec  # the program's input is inputs.build(ids[:n_in])
    codes: tuple[tuple[int, ...] | None, ...]  # per machine: the memory's shape codes
    constants: tuple[np.ndarray, ...]  # per machine: data words (input copies zeroed)
    sources: tuple[np.ndarray, ...]  # per machine: the input word of each data word, or -1
    sends: tuple[tuple[int, ...], ...]  # per input word: the machines that hold a copy
    run_plan: Any = None  # the partition's Partition.plan (the same for every input)

    @property
    def n_in(self) -> int:
        return len(self.sends)


def partition_to_template(program: Program, inputs: InputSpec, num_machines: int,
                          memory_words: int, seed: int,
                          probe: Callable[[int, np.random.Generator], Any] | None
                          ) -> tuple[Template, Program]:
    """The template of program.partition for inputs of this shape (module docstring), and
    a copy of the program as its partition leaves it (the state it keeps is the same for
    every input). Raises CompileError when the partition is not an oblivious routing of
    input words, or puts more than memory_words data words on a machine."""
    n_in = inputs.size
    rng = np.random.default_rng([seed, 0x7E3A])
    samplers = ([probe] if probe is not None else
                [lambda n, g: g.choice(2 ** 21, size=n, replace=False) - 2 ** 20,
                 lambda n, g: g.permutation(n)])
    failure: Exception | None = None
    for sampler in samplers:
        try:
            return _probe_with(program, sampler, inputs, n_in, num_machines, memory_words, rng)
        except (MPCError, ValueError, TypeError) as exc:
            if isinstance(exc, CompileError):
                raise
            failure = exc
    raise CompileError(problems=[("partition", type(program).__name__,
                                  f"refused every probe input ({failure}); pass probe= a "
                                  "function (n_in, rng) -> valid input words")])


def _probe_with(program: Program, sampler: Callable[[int, np.random.Generator], Any],
                inputs: InputSpec, n_in: int, q: int, s: int,
                rng: np.random.Generator) -> tuple[Template, Program]:
    probes, layouts, states = [], [], []
    names: dict[int, list[str]] = {}
    while len(probes) < PROBES or (_ambiguous(probes, layouts) and len(probes) < MAX_PROBES):
        words = np.asarray(sampler(n_in, rng)).reshape(-1)
        if words.size != n_in or not np.array_equal(words, np.rint(words)):
            raise CompileError(problems=[("probe", words[:8], f"must give {n_in} integer "
                                          "words")])
        trial = copy.deepcopy(program)
        initial = trial.partition(inputs.build(words), q, s)
        run_plan = None
        if isinstance(initial, Partition):
            initial, run_plan = initial.memory, initial.plan
        initial = wire.decode(wire.encode(initial), writable=True)  # what machines start with
        probes.append(words.astype(np.float64))
        layouts.append(_encode_all(initial, q))
        names = names or {machine: data_paths(memory, "memory")
                          for machine, memory in initial.items() if memory is not None}
        states.append(_pickled((trial, run_plan)))
    _check_structure(layouts, states)
    return _template(probes, layouts, names, inputs, q, s, run_plan), trial


def _pickled(program_and_plan: Any) -> bytes | None:
    try:
        return pickle.dumps(program_and_plan)
    except Exception:  # unpicklable programs cannot run on Ray either; skip the check
        return None


def _encode_all(initial: dict[int, Any], q: int) -> list[tuple[tuple[int, ...], np.ndarray]
                                                          | None]:
    out: list[tuple[tuple[int, ...], np.ndarray] | None] = [None] * q
    for machine, memory in initial.items():
        if memory is None:
            continue
        try:
            codes, data = encode(memory)
        except Refusal as exc:
            raise exc.error(machine, 0, "initial memory") from None
        out[machine] = (tuple(codes), np.asarray(data, dtype=np.float64))
    return out


def _check_structure(layouts: list[list[Any]], states: list[bytes | None]) -> None:
    problems = []
    first = layouts[0]
    for machine, entry in enumerate(first):
        for other in layouts[1:]:
            if (entry is None) != (other[machine] is None) or (
                    entry is not None and entry[0] != other[machine][0]):
                problems.append(("partition", f"machine {machine}", "its initial memory's "
                                 "structure (keys, types, lengths) depends on the input; the "
                                 "transformer needs an oblivious placement"))
                break
    if len(set(states)) > 1:
        problems.append(("partition", "program state", "the partition's plan, or state it "
                         "leaves on the program, depends on the input"))
    if problems:
        raise CompileError(problems=problems)


def _ambiguous(probes: list[np.ndarray], layouts: list[list[Any]]) -> bool:
    """Whether some data word matches several input words in every probe so far."""
    for machine, entry in enumerate(layouts[0]):
        if entry is None:
            continue
        data = np.stack([layout[machine][1] for layout in layouts])
        for pos in np.flatnonzero(np.any(data != data[0], axis=0)).tolist():  # not constants
            if len(_candidates(probes, layouts, machine, pos)) > 1:
                return True
    return False


def _candidates(probes: list[np.ndarray], layouts: list[list[Any]], machine: int,
                pos: int) -> np.ndarray:
    match = np.ones(len(probes[0]), dtype=bool)
    for words, layout in zip(probes, layouts):
        match &= words == layout[machine][1][pos]
    return np.flatnonzero(match)


def _template(probes: list[np.ndarray], layouts: list[list[Any]], names: dict[int, list[str]],
              inputs: InputSpec, q: int, s: int, run_plan: Any = None) -> Template:
    codes, constants, sources = [], [], []
    sends: list[list[int]] = [[] for _ in range(len(probes[0]))]
    problems = []
    for machine, entry in enumerate(layouts[0]):
        if entry is None:
            codes.append(None)
            constants.append(np.zeros(0))
            sources.append(np.zeros(0, dtype=np.int64))
            continue
        data = np.stack([layout[machine][1] for layout in layouts])  # [probes, words]
        if data.shape[1] > s:
            problems.append(("memory_words", s, f"the partition puts {data.shape[1]} data "
                             f"words on machine {machine}"))
        source = np.full(data.shape[1], -1, dtype=np.int64)
        for pos in range(data.shape[1]):
            if np.all(data[:, pos] == data[0, pos]):
                continue  # a constant
            found = _candidates(probes, layouts, machine, pos)
            if found.size != 1:
                problems.append(("partition", f"machine {machine}: {names[machine][pos]}",
                                 "is neither a constant nor a copy of one input word (the "
                                 "first layer can only route input words)"))
                continue
            source[pos] = found[0]
            if machine not in sends[found[0]]:
                sends[found[0]].append(machine)
        codes.append(entry[0])
        constants.append(np.where(source >= 0, 0.0, data[0]))
        sources.append(source)
    for p, dests in enumerate(sends):
        if len(dests) > s:
            problems.append(("partition", f"input word {p}", f"is copied to {len(dests)} "
                             f"machines; the first layer sends at most memory_words={s}"))
    if problems:
        raise CompileError(problems=problems)
    return Template(inputs=inputs, codes=tuple(codes),
                    constants=tuple(constants), sources=tuple(sources),
                    sends=tuple(tuple(d) for d in sends), run_plan=run_plan)
