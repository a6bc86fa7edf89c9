"""hopk_transformer: the paper's log-depth transformer for k-hop induction heads (Thm 4.2),
with explicit weights and no training, and the pointer schedules it is built from.

Task and reference: transformer_bridge.tasks.hopk (find, hop_k; docs/paper.md). Running the model
as an MPC job: transformer_bridge.compile_transformer; `mpcsim hopk run` does both.

Encoding (this construction's own; the trained models use the paper's, see tasks.hopk): ids
0..A-1 are the letters, id A is START. A sequence of N tokens is [START, X_1, .., X_(N-1)], so
token position i holds X_i (the paper's 1-indexing) and position 0 is the 'none' default.
The output at position i is a logit vector over A + 1 classes: letter c, or A = none; its
argmax is hop_k(X)_i (position 0: none). See encode / targets / random_inputs.

Residual stream (one row per token, float64), with e(s) a one-hot over A + 1 symbols
(START = A) and c(p) = (cos, sin)(2 pi p / M), M = 2 * seq_len:

    SYM   e(X_i)        POS  c(i)        ONE  1        PREV  e(X_(i-1))  (layer 1)
    register r: (c(f^(e_r)(i)), e(X_(f^(e_r)(i))))   f = find; e_r = the register's exponent

The embedding (tables wte, wpe) sets every register to the token itself (e_r = 0). Layers,
one hardmax head each, causally masked, scale 1:

    1  previous token:  q = c(i - 1) (c(i) rotated by one step), k = c(j), v = e(X_j)
                        -> PREV. Score cos(2 pi (i - 1 - j) / M): 1 at j = i - 1 only.
    2  induction:       q = (e(X_i) letters, EPS c(i), 1/2), k = (PREV_j letters, c(j),
                        [j is START]), v = (c(j), e(X_j)) -> the registers the schedule names
                        (exponent 1). A letter match scores 1 + EPS cos(2 pi (i - j) / M),
                        START scores 1/2 + the same tie-break, a mismatch the tie-break
                        alone: the most recent match wins, START (find = 0) when none.
    3.. pointer:        q = register a's code c(f^(e_a)(i)), k = c(j), v = every register
                        -> writes d <- fetched s: e_d = e_a + e_s (pointer doubling).
    readout:            logits = the output register's symbol one-hot (START -> none).

doubling_schedule(k) keeps two registers, P = f^(2^t) and A = f^r: layer 2 sets both to f;
layer 3 + t queries P, doubles it, and adds 2^t to r when bit t of k - 1 is set. So k >= 1
takes ceil(log2 k) + 2 layers and k = 0 one layer (the previous-token head, unused).

Depth. A pointer layer can only add two exponents a layer already holds, so the largest
exponent at most doubles per layer, from 1 after layer 2: depth L reaches find^k only for
k <= 2^(L-2), whatever the number of registers or heads of this form (reachable_hops
enumerates the two-register schedules). Hence floor(log2 k) + 2 layers, the paper's count,
is too few for this construction when k is not a power of two (docs/paper.md). That is a fact
about this construction, not a lower bound for transformers in general.

Margins (every hardmax query has a unique maximiser; hardmax then returns the maximiser's
value exactly, so the compiled run and the dense forward make the same choices):
- positional scores cos(2 pi d / M) with d = i - 1 - j or p - j, |d| <= N - 1 < M: 1 at d = 0,
  at most cos(2 pi / M) elsewhere: margin 1 - cos(pi / N) = 2 sin^2(pi / 2N) ~ 4.93 / N^2.
- induction: matches >= 1 - EPS = 7/8; START in [1/2 - EPS, 1/2 + EPS] = [3/8, 5/8];
  mismatches <= EPS = 1/8 (gaps 1/4). Among matches the tie-break EPS cos(2 pi (i - j) / M)
  strictly decreases in i - j on [0, N - 1] because 2 pi (N - 1) / M < pi; adjacent gaps are
  >= EPS (1 - cos(2 pi / M)) = EPS 2 sin^2(pi / 2N) ~ 0.617 / N^2, the smallest margin.
- round-off: a score is a dot product of dk terms with |q_d|, |k_d| <= 1, from table values
  within a few ulp of exact; its error is below 4 (dk + 8) u, u = 2^-53 (1.1e-16).
  At N = 4096 the smallest margin is 3.7e-8 against 6.7e-15 (A = 4): a factor 5e6.
hopk_transformer refuses seq_len whose margin is under 1000x the round-off bound
(precision_limit: N ~ 3e5 for A = 4). The weights are float64; in float32 (u = 6e-8) the
bound reaches the smallest margin near N = 400 (and 1/1000 of it at N = 13), so do not
astype(float32) this model beyond toy sizes.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from ..attention import AttentionSpec
from ..model import Layer, Transformer
from ..tasks.hopk import hop_k

__all__ = ["hopk_transformer", "schedule_transformer", "doubling_schedule", "HopSchedule",
           "Pointer", "schedule_hops", "reachable_hops", "encode", "targets", "random_inputs",
           "precision_limit", "min_margin", "EPS"]

EPS = 1.0 / 8.0  # weight of the induction head's recency tie-break (a power of two: exact)
START_SCORE = 0.5  # the START key's score before the tie-break
UNIT_ROUNDOFF = 2.0 ** -53
SAFETY = 1000.0  # required ratio of the smallest margin to the round-off bound


# -- schedules: which pointers each layer composes ------------------------------------------

@dataclass(frozen=True)
class Pointer:
    """One pointer layer: attend to register `query`'s target, copy registers from there."""

    query: int  # register a: the layer attends to position f^(e_a)(i)
    writes: tuple[tuple[int, int], ...]  # (d, s): register d <- register s fetched there


@dataclass(frozen=True)
class HopSchedule:
    registers: int  # pointer registers in the residual stream
    induction_writes: tuple[int, ...]  # registers layer 2 sets to find(i); () = no layer 2
    pointers: tuple[Pointer, ...]  # layers 3, 4, ...
    readout: int  # the register whose symbol is the output

    def __post_init__(self) -> None:
        problems = []
        if self.registers < 1:
            problems.append(f"registers={self.registers}: must be >= 1")
        regs = range(self.registers)
        used = [("induction_writes", r) for r in self.induction_writes]
        used += [(f"pointers[{t}].query", p.query) for t, p in enumerate(self.pointers)]
        used += [(f"pointers[{t}].writes", r) for t, p in enumerate(self.pointers)
                 for pair in p.writes for r in pair]
        used.append(("readout", self.readout))
        problems += [f"{name}={r}: not a register 0..{self.registers - 1}"
                     for name, r in used if r not in regs]
        if self.pointers and not self.induction_writes:
            problems.append("pointers: need an induction layer (induction_writes) before them")
        for t, p in enumerate(self.pointers):
            targets_ = [d for d, _ in p.writes]
            if len(set(targets_)) != len(targets_):
                problems.append(f"pointers[{t}].writes={p.writes}: a register written twice")
        if problems:
            raise ValueError("invalid HopSchedule: " + "; ".join(problems))

    @property
    def depth(self) -> int:
        """Layers of the transformer: the previous-token head, the induction head, pointers."""
        return 1 + (1 if self.induction_writes else 0) + len(self.pointers)


def doubling_schedule(k: int) -> HopSchedule:
    """The construction's schedule for find^k: registers P (0) and A (1), ceil(log2 k) + 2
    layers for k >= 1 (one for k = 0). After layer 2 both are find; layer 3 + t queries P
    (find^(2^t)), doubles it (except in the last layer, where it is not needed) and, if bit t
    of k - 1 is set, moves A from find^r to find^(r + 2^t). r = 1 + (k - 1) = k at the end."""
    if k < 0:
        raise ValueError(f"k={k}: the number of hops must be >= 0")
    if k == 0:
        return HopSchedule(registers=2, induction_writes=(), pointers=(), readout=1)
    bits = (k - 1).bit_length()  # = ceil(log2 k)
    pointers = tuple(
        Pointer(query=0, writes=(((0, 0),) if t < bits - 1 else ())
                + (((1, 1),) if (k - 1) >> t & 1 else ()))
        for t in range(bits))
    return HopSchedule(registers=2, induction_writes=(0, 1), pointers=pointers, readout=1)


def schedule_hops(schedule: HopSchedule) -> int:
    """The k such that the schedule's transformer computes hop_k: exponents added symbolically."""
    exps = [0] * schedule.registers
    for r in schedule.induction_writes:
        exps[r] = 1
    for layer in schedule.pointers:
        held = list(exps)  # before the layer; every token holds the same exponents (lockstep)
        for d, s in layer.writes:
            exps[d] = held[layer.query] + held[s]
    return exps[schedule.readout]


def reachable_hops(depth: int, registers: int = 2) -> dict[int, HopSchedule]:
    """Every k some schedule of exactly `depth` layers with `registers` registers computes,
    with one such schedule each (exhaustive: (registers * (registers + 1)^registers)^(depth-2)
    pointer layers, times the induction and readout choices)."""
    if depth < 1:
        raise ValueError(f"depth={depth}: must be >= 1")
    if depth == 1:
        return {0: HopSchedule(registers, (), (), 0)}
    regs = range(registers)
    subsets = [tuple(r for r in regs if mask >> r & 1) for mask in range(1, 2 ** registers)]
    choices = (None,) + tuple(regs)  # per register: keep, or <- register s fetched
    layer_options = [Pointer(q, tuple((d, s) for d, s in enumerate(pick) if s is not None))
                     for q in regs for pick in itertools.product(choices, repeat=registers)]
    found: dict[int, HopSchedule] = {}
    for writes in subsets:
        for pointers in itertools.product(layer_options, repeat=depth - 2):
            for readout in regs:
                schedule = HopSchedule(registers, writes, tuple(pointers), readout)
                found.setdefault(schedule_hops(schedule), schedule)
    return dict(sorted(found.items()))


# -- margins ---------------------------------------------------------------------------------

def min_margin(seq_len: int) -> float:
    """The smallest gap between a hardmax query's best and second-best score (module
    docstring): EPS (1 - cos(2 pi / M)) with M = 2 seq_len."""
    return EPS * 2.0 * math.sin(math.pi / (2 * seq_len)) ** 2


def _roundoff_bound(key_dim: int) -> float:
    return 4.0 * (key_dim + 8) * UNIT_ROUNDOFF


def precision_limit(alphabet_size: int) -> int:
    """The largest seq_len whose smallest margin is >= SAFETY x the round-off bound."""
    bound = SAFETY * _roundoff_bound(alphabet_size + 3)
    n = int(math.pi / (2 * math.asin(math.sqrt(bound / (2 * EPS)))))
    while min_margin(n + 1) >= bound:  # settle the last integer exactly
        n += 1
    while min_margin(n) < bound:
        n -= 1
    return n


# -- the per-token maps ----------------------------------------------------------------------

class _Weights:
    """astype for frozen dataclasses of numpy weights (Transformer.astype calls it)."""

    def astype(self, dtype: Any) -> Any:
        return replace(self, **{f.name: getattr(self, f.name).astype(dtype)  # type: ignore
                                for f in fields(self)  # type: ignore[arg-type]
                                if isinstance(getattr(self, f.name), np.ndarray)})


@dataclass(frozen=True, eq=False)
class TableEmbed(_Weights):
    wte: np.ndarray  # [A + 1, m]: the symbol columns of a token
    wpe: np.ndarray  # [seq_len, m]: the positional columns (codes, ONE)

    def __call__(self, ids: np.ndarray, pos: np.ndarray) -> np.ndarray:
        return self.wte[ids] + self.wpe[pos]  # [T, m]; disjoint columns: exact


@dataclass(frozen=True, eq=False)
class LinearQKV(_Weights):
    wq: np.ndarray  # [m, dk]
    wk: np.ndarray  # [m, dk]
    wv: np.ndarray  # [m, dv]

    def __call__(self, x: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                 np.ndarray]:
        # one head: [T, 1, dk], [T, 1, dk], [T, 1, dv]
        return (x @ self.wq)[:, None], (x @ self.wk)[:, None], (x @ self.wv)[:, None]


@dataclass(frozen=True, eq=False)
class Overwrite(_Weights):
    """x' = x keep + a write: the written columns are cleared, then set to attention output.
    keep and write are 0/1 with at most one 1 per column, so x' is an exact copy."""

    keep: np.ndarray  # [m, m]
    write: np.ndarray  # [dv, m]

    def __call__(self, x: np.ndarray, a: np.ndarray, pos: np.ndarray) -> np.ndarray:
        return x @ self.keep + a[:, 0] @ self.write  # [T, m]


@dataclass(frozen=True, eq=False)
class Linear(_Weights):
    weight: np.ndarray  # [m, out]

    def __call__(self, x: np.ndarray, pos: np.ndarray) -> np.ndarray:
        return x @ self.weight


# -- building ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Layout:
    """Column ranges of the residual stream (module docstring)."""

    alphabet: int  # A
    registers: int

    @property
    def symbols(self) -> int:  # A + 1 (START)
        return self.alphabet + 1

    def sym(self) -> slice:
        return slice(0, self.symbols)

    def pos(self) -> slice:
        return slice(self.symbols, self.symbols + 2)

    def one(self) -> int:
        return self.symbols + 2

    def prev(self) -> slice:
        return slice(self.symbols + 3, 2 * self.symbols + 3)

    def reg_code(self, r: int) -> slice:
        start = 2 * self.symbols + 3 + r * (self.symbols + 2)
        return slice(start, start + 2)

    def reg_sym(self, r: int) -> slice:
        start = 2 * self.symbols + 3 + r * (self.symbols + 2) + 2
        return slice(start, start + self.symbols)

    @property
    def width(self) -> int:
        return 2 * self.symbols + 3 + self.registers * (self.symbols + 2)


def hopk_transformer(k: int, seq_len: int, alphabet_size: int) -> Transformer:
    """The transformer computing hop_k at every position of sequences of up to seq_len tokens
    [START, X_1, ..] over alphabet_size letters (module docstring): ceil(log2 k) + 2 layers
    for k >= 1, one for k = 0; one hardmax head per layer; width 2 (A + 1) + 3 + 2 (A + 3).
    Raises ValueError for k < 0, alphabet_size < 1, or seq_len outside 1..precision_limit."""
    return schedule_transformer(doubling_schedule(k), seq_len, alphabet_size,
                                name=f"hopk_transformer(k={k}, N={seq_len}, A={alphabet_size})")


def schedule_transformer(schedule: HopSchedule, seq_len: int, alphabet_size: int,
                         name: str | None = None) -> Transformer:
    """The transformer of any HopSchedule: it computes hop_(schedule_hops(schedule))."""
    problems = []
    if alphabet_size < 1:
        problems.append(f"alphabet_size={alphabet_size}: must be >= 1")
    elif not 1 <= seq_len <= precision_limit(alphabet_size):
        problems.append(f"seq_len={seq_len}: must be 1..{precision_limit(alphabet_size)} (above "
                        f"that the smallest attention margin, {min_margin(max(seq_len, 1)):.2g}, "
                        f"is under {SAFETY:g}x the float64 round-off bound)")
    if problems:
        raise ValueError("cannot build the hop_k transformer: " + "; ".join(problems))
    lay = _Layout(alphabet_size, schedule.registers)
    layers = [_previous_token_layer(lay, seq_len)]
    if schedule.induction_writes:
        layers.append(_induction_layer(lay, schedule.induction_writes))
    layers += [_pointer_layer(lay, p) for p in schedule.pointers]
    readout = np.zeros((lay.width, lay.symbols))
    readout[lay.reg_sym(schedule.readout), :] = np.eye(lay.symbols)
    return Transformer(width=lay.width, embed=_embedding(lay, seq_len), layers=tuple(layers),
                       readout=Linear(readout), out_width=lay.symbols, max_positions=seq_len,
                       vocab_size=lay.symbols, dtype=np.dtype(np.float64),
                       name=name or f"schedule_transformer(k={schedule_hops(schedule)})")


def _codes(positions: np.ndarray, seq_len: int) -> np.ndarray:
    angle = 2.0 * np.pi * positions / (2 * seq_len)  # M = 2 N
    return np.stack([np.cos(angle), np.sin(angle)], axis=-1)  # [P, 2]


def _embedding(lay: _Layout, seq_len: int) -> TableEmbed:
    wte = np.zeros((lay.symbols, lay.width))
    wte[:, lay.sym()] = np.eye(lay.symbols)
    wpe = np.zeros((seq_len, lay.width))
    codes = _codes(np.arange(seq_len), seq_len)
    wpe[:, lay.pos()] = codes
    wpe[:, lay.one()] = 1.0
    for r in range(lay.registers):  # every register starts at the token itself: f^0
        wte[:, lay.reg_sym(r)] = np.eye(lay.symbols)
        wpe[:, lay.reg_code(r)] = codes
    return TableEmbed(wte, wpe)


def _select(lay: _Layout, columns: list[slice]) -> np.ndarray:
    """[m, d]: the 0/1 matrix whose product with x picks `columns`, in order."""
    picked = np.concatenate([np.arange(lay.width)[c] for c in columns])
    weight = np.zeros((lay.width, len(picked)))
    weight[picked, np.arange(len(picked))] = 1.0
    return weight


def _overwrite(lay: _Layout, dv: int, moves: list[tuple[slice, slice]]) -> Overwrite:
    """Each (residual columns, attention-output columns) pair: the former are replaced by the
    latter. One source may feed several targets; every target column has one source."""
    keep = np.eye(lay.width)
    write = np.zeros((dv, lay.width))
    for target, source in moves:
        cols = np.arange(lay.width)[target]
        keep[cols, cols] = 0.0
        write[np.arange(dv)[source], cols] = 1.0
    return Overwrite(keep, write)


def _layer(wq: np.ndarray, wk: np.ndarray, wv: np.ndarray, post: Overwrite) -> Layer:
    spec = AttentionSpec(num_heads=1, key_dim=wq.shape[1], value_dim=wv.shape[1],
                         kind="hardmax", scale=1.0, mask="causal")
    return Layer(attention=spec, qkv=LinearQKV(wq, wk, wv), post=post)


def _previous_token_layer(lay: _Layout, seq_len: int) -> Layer:
    """q = c(i - 1) = c(i) R, R the rotation by -2 pi / M; k = c(j); v = e(X_j) -> PREV."""
    step = 2.0 * np.pi / (2 * seq_len)
    rotation = np.array([[np.cos(step), -np.sin(step)],   # row: cos(i), sin(i) of x
                         [np.sin(step), np.cos(step)]])   # column: cos(i-1), sin(i-1)
    wq = _select(lay, [lay.pos()]) @ rotation
    wk = _select(lay, [lay.pos()])
    wv = _select(lay, [lay.sym()])
    return _layer(wq, wk, wv, _overwrite(lay, lay.symbols, [(lay.prev(), slice(None))]))


def _induction_layer(lay: _Layout, writes: tuple[int, ...]) -> Layer:
    """q = (e(X_i) letters, EPS c(i), START_SCORE), k = (PREV_j letters, c(j), [X_j = START]),
    v = (c(j), e(X_j)) -> the registers in `writes`."""
    a = lay.alphabet
    start_flag = slice(a, a + 1)  # SYM's START column
    one = slice(lay.one(), lay.one() + 1)
    wq = _select(lay, [slice(0, a), lay.pos(), one]) * np.r_[np.ones(a), EPS, EPS, START_SCORE]
    prev = lay.prev().start
    wk = _select(lay, [slice(prev, prev + a), lay.pos(), start_flag])
    wv = _select(lay, [lay.pos(), lay.sym()])
    moves = [(lay.reg_code(r), slice(0, 2)) for r in writes]
    moves += [(lay.reg_sym(r), slice(2, 2 + lay.symbols)) for r in writes]
    return _layer(wq, wk, wv, _overwrite(lay, 2 + lay.symbols, moves))


def _pointer_layer(lay: _Layout, pointer: Pointer) -> Layer:
    """q = register a's code, k = c(j), v = every register (code, symbol) -> the writes."""
    wq = _select(lay, [lay.reg_code(pointer.query)])
    wk = _select(lay, [lay.pos()])
    wv = _select(lay, [c for r in range(lay.registers) for c in (lay.reg_code(r),
                                                                  lay.reg_sym(r))])
    size = 2 + lay.symbols  # one register's columns in v
    moves = []
    for d, s in pointer.writes:
        moves += [(lay.reg_code(d), slice(s * size, s * size + 2)),
                  (lay.reg_sym(d), slice(s * size + 2, (s + 1) * size))]
    return _layer(wq, wk, wv, _overwrite(lay, size * lay.registers, moves))


# -- this construction's encoding ------------------------------------------------------------

def encode(letters: np.ndarray, alphabet_size: int) -> np.ndarray:
    """Token ids [..., N + 1]: START (id alphabet_size) then the letters [..., N] (0..A-1)."""
    letters = np.asarray(letters)
    if letters.size and (letters.min() < 0 or letters.max() >= alphabet_size):
        raise ValueError(f"letters must be 0..{alphabet_size - 1}")
    start = np.full(letters.shape[:-1] + (1,), alphabet_size, dtype=np.int64)
    return np.concatenate([start, letters.astype(np.int64)], axis=-1)


def targets(ids: np.ndarray, k: int, alphabet_size: int) -> np.ndarray:
    """The classes hopk_transformer must output for ids [..., N] (encode's layout): hop_k of
    the letter at each position, alphabet_size (none) where it runs off, and at position 0.
    Raises ValueError unless ids are START then letters."""
    ids = np.asarray(ids)
    if (ids[..., 0] != alphabet_size).any() or (
            ids[..., 1:].size and (ids[..., 1:].min() < 0
                                   or ids[..., 1:].max() >= alphabet_size)):
        raise ValueError(f"ids must be START ({alphabet_size}) then letters 0.."
                         f"{alphabet_size - 1}")
    out = np.full(ids.shape, alphabet_size, dtype=np.int64)
    out[..., 1:] = hop_k(ids[..., 1:], k, none=alphabet_size)
    return out


def random_inputs(count: int, seq_len: int, alphabet_size: int,
                  rng: np.random.Generator) -> np.ndarray:
    """[count, seq_len] ids: START then i.i.d. uniform letters (repeats allowed, so find(i) = i
    occurs: the paper's definition admits j = i)."""
    return encode(rng.integers(0, alphabet_size, size=(count, seq_len - 1)), alphabet_size)
