"""hop_k: the k-hop induction heads task (the paper's Definition 4.1, docs/paper.md) as an MPC
program.

For X in Sigma^N, 1-indexed: find(i) = max({0} U {j <= i : X_(j-1) = X_i}), one past the most
recent earlier occurrence of X_i (0 = none, and find(0) = 0); hop_k(X)_i = X_(find^k(i)) if
find^k(i) != 0, else none; hop_0 is the identity. In code positions are 0-indexed (p = i - 1),
find's value f(p) = p' + 1 for the previous occurrence p' < p of X_p (so f(p) <= p, with
f(p) = p when X_(p-1) = X_p), -1 for none, and `NONE` (the least int64) marks a none output.

Stages:
1. find for all positions, one of two ways (HopK(find=...); by default the one with fewer
   rounds, which is the scan whenever it fits):
   - scan (symbols spanning A = max - min + 1 <= min(2c, (s - c - 4) / 4) values, e.g. the
     paper's alphabets): machine j holds positions [jc, (j+1)c); a block's table (the last
     position of each symbol in it) and an exclusive prefix max of the tables over machines,
     in a tree of fan-in F = (s - c - 4) // A - 2, give every position its previous
     occurrence where it lives (mpcsim.algorithms.hopk_scan): 2D rounds, D = ceil(log_F q),
     no sort and no barrier;
   - sort (any symbols): sort the (symbol, position) pairs stably by symbol
   (mpcsim.algorithms.sort; as one int64 key (symbol - min) * N + position when that fits,
   else as records); then, after a sample sort (its levels end at different rounds on
   different machines), a barrier (mpcsim.algorithms.barrier); a network sort (small s,
   sort_network) ends in the same known round on every machine and needs none. From there
   every machine runs in lock-step. Round 0 of the lock-step: each sorted machine sends its
   last pair to the next one; round 1: a pair's predecessor in sorted order, if it has the
   same symbol, is the previous occurrence, so f(p) = p' + 1; (p, f(p), X_p) goes to the owner
   of p (machine p // c) as one 3-word message.
2. pointer doubling, O(log k) rounds: the owner of p keeps X, P = f^(2^j) and R = f^(bits of k
   below j) (R starts as the identity); a step asks the owner of P(p) for P(P(p))
   (P <- P o P) and, if bit j of k is set, the owner of R(p) for P(R(p)) (R <- P o R): one
   1-word request per pointer (its offset at the owner) in a request round, one 1-word reply
   in the next (the constant: 2 rounds per step). The first set bit of k just copies P into R.
   Steps: ceil(log2 k) for k >= 1 (k > N acts as the power of two >= N: f^k is fixed from
   k = N on, since f(p) < p except at fixed points). Last, one request and reply fetch X at
   R(p). An asker keeps the order it asked in (memory["ask"], <= 2c words): its inbox lists
   the replies by owner, then in the order asked, so each lands without another sort.
Requests never pile up: f is injective on the positions it does not send to none (if
f(p) = f(p') = t with p < p', then p is an occurrence of X_p' between t - 1 and p'), so P and R
are too, and each position is asked at most once per kind and step.
Every round is a fleet round, one numpy pass over a host's machines: the sort's
(mpcsim.algorithms.sort.step_many, reading the fleet's batched rows), the barrier's (reading
its few single sends apart: fleet.singles) and the lock-step's (mpcsim.algorithms.hopk_doubling).

Round bound: with a scan, 2D + 2*(ceil(log2 k) + 1) + 1 (exact); with a sort, sort_rounds +
barrier + 2 + 2*(ceil(log2 k) + 1) + 1, with sort_rounds the
sort's bound (sort_plan: with high probability for its levels, exact for its network),
barrier = 2*depth(M, F) + 1 after a levels or direct sort on M machines, 0 after a network
(k = 0: 1). The sort's part is O(1/delta) for s = n^delta at large n and ~((1 - delta)
log2 N)^2 / 2 at small s (see sort_plan); the scan's 2D = 2 ceil(log_F q) is O(1/delta) for
a fixed alphabet (F ~ s/A). Measured with the sort at s = ceil(N^delta), k = 16 (rounds =
bound with a network sort): N = 10^3: 42 (s = 32), 35 (s = 100); N = 10^4: 59 (s = 100), 42
(s = 465); N = 10^5: 80 (s = 317), 38 (s = 2155, bound 40); N = 10^6: 60 (s = 1000, bound
73), 33 (s = 10^4, bound 34). With the scan (4 symbols, k = 64): N = 10^5, s = 317: 19
(D = 2, F = 68, 3,226 machines), where the levels sort takes 70.
Memory: the sort's plan within s - F - 4 words (F the barrier fan-in), ending with at most
s // 4 pairs per machine (each goes on as one 3-word message: <= s sent); in the lock-step,
c positions per machine hold X, P and R (3c words), the order they asked in (<= 2c: one per
position and kind) and the barrier's state (3), and receive at most 3c words of finds, or 2c
of requests or replies: <= 7c + 3 words (sent: <= 2c). c = (s - 4) // 10, so that q and the
sort's plans stay as they were when the lock-step kept its requests per kind (9c + 4 words).
q = max(sort machines, ceil(N / c)): q*s ~ 10N (<= 17N for s >= 24). Any s >= 14 words has a
plan (c = 1, a network sort). The scan holds c symbols and one table of A words and receives
at most F - 1 tables: c + F*A words, F the largest with c + (F + 2)A + 4 <= s
(hopk_scan).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..fleet import Fleet
from ..program import Partition, Program
from . import hopk_doubling, hopk_scan, sort
from .barrier import Barrier
from .hopk_doubling import NONE
from .hopk_scan import ScanFind
from .sort_plan import KINDS, SortPlan
from .spec import AlgorithmSpec, Option, double_until_accepted

__all__ = ["HopK", "NONE", "find", "definition", "reference", "verify", "round_bound",
           "make_input", "sizing", "SPEC", "effective_k", "doubling_steps", "FINDS"]

_WORDS_PER_POSITION = 10  # c = (s - 4) // 10; the lock-step needs 5c + 1 (module docstring)
_SPARE_WORDS = 4
FINDS = ("scan", "sort")  # how find is computed: HopK(find=...), None for the fewer rounds


def effective_k(k: int, n: int) -> int:
    """k, or for k > n the power of two >= n: f^k stops changing from k = n on."""
    return k if k <= n else 1 << max(0, math.ceil(math.log2(max(n, 1))))


def doubling_steps(k: int) -> int:
    """Request/reply steps that compose f^k from doublings: ceil(log2 k) (0 for k <= 1)."""
    return max(0, (k - 1).bit_length()) if k >= 1 else 0


class HopK(Program):
    """hop_k of a 1-D int sequence by a scan or a sort (and barrier), then pointer doubling
    (module docstring).

    k: hops (int >= 0). seed: the sort's sample seed. find: None (the way with fewer rounds),
    "scan" (ConfigError if the symbols span too many values for s) or "sort". sort_kind: None
    (the best sort plan), or only that kind of plan (sort_plan.KINDS; implies find="sort"),
    for tests and comparisons. Output: machine j
    holds hop_k for positions j*c .. (j+1)*c - 1 (int64, NONE for none), machines
    0..ceil(N/c)-1.
    """

    def __init__(self, k: int = 4, seed: int = 0, sort_kind: str | None = None,
                 find: str | None = None) -> None:
        problems = []
        if type(k) is not int or k < 0:
            problems.append(("k", k, "must be an int >= 0"))
        if type(seed) is not int or seed < 0:
            problems.append(("seed", seed, "must be an int >= 0"))
        if sort_kind not in KINDS + (None,):
            problems.append(("sort_kind", sort_kind, f"must be one of {KINDS} or None"))
        if find not in FINDS + (None,):
            problems.append(("find", find, f"must be one of {FINDS} or None"))
        elif find == "scan" and sort_kind is not None:
            problems.append(("sort_kind", sort_kind, "must be None with find='scan' (no sort)"))
        if problems:
            raise ConfigError(problems=problems)
        self.k = k
        self.seed = seed
        self.sort_kind = sort_kind
        self.find = "sort" if sort_kind is not None else find

    def partition(self, inputs: Any, num_machines: int, memory_words: int) -> Partition:
        """The run's layout (sort plan, barrier, positions per machine) as its plan; the
        (symbol, position) pairs placed for the sort."""
        x = _as_symbols(inputs)
        layout = _Layout.build(x, self.k, num_machines, memory_words, self.seed, self.sort_kind,
                               self.find)
        if layout.k == 0 or x.size == 0 or layout.scan is not None:
            c = layout.positions
            return Partition({j: {"x": x[j * c:(j + 1) * c]} for j in range(-(-x.size // c))},
                             layout)
        keys, values = layout.sort_items(x)
        return Partition(sort.place(layout.sort_plan, keys, values), layout)

    def round_many(self, fleet: Fleet) -> None:
        """The sort (and barrier), then the lock-step, each as fleet rounds."""
        layout: _Layout = fleet.plan
        if layout.k == 0 or layout.n == 0:  # hop_0 is the identity: one round
            for machine in fleet.machines:
                machine.output = machine.memory.pop("x", None)
            fleet.halt()
            return
        if layout.scan is not None:
            _scan_round(layout, layout.scan, fleet)
            return
        # the barrier's machines (the others halt in round 0); a network sort has no barrier
        job = fleet if layout.barrier is None else fleet.select(fleet.ids < layout.machines)
        tau = _lock_step_round(layout, fleet, job)
        if tau is not None:
            hopk_doubling.step(layout, fleet, tau)
        else:
            _sort_round(layout, fleet, job)

    def __repr__(self) -> str:
        kind = "" if self.sort_kind is None else f", sort_kind={self.sort_kind!r}"
        find = "" if self.find is None or self.sort_kind is not None else f", find={self.find!r}"
        return f"HopK(k={self.k}, seed={self.seed}{kind}{find})"


def _scan_round(layout: _Layout, scan: ScanFind, fleet: Fleet) -> None:
    """A round after a find by scan: the scan's rounds, then the lock-step from its first
    request round (lock-step round 2: the finds are where they belong already)."""
    now = fleet.round_idx
    if now == 0:
        fleet.halt(where=fleet.ids >= scan.machines)  # more machines than the job needs
        fleet = fleet.select(fleet.ids < scan.machines)
    if now > scan.rounds():
        hopk_doubling.step(layout, fleet, now - scan.rounds() + 2)
        return
    found = hopk_scan.step(scan, fleet)
    if found is not None:
        hopk_doubling.start(layout, fleet, *found)


def _sort_round(layout: _Layout, fleet: Fleet, job: Fleet) -> None:
    """A round before the lock-step: the sort on its machines, and after a sample sort the
    barrier on all of the job's machines (`job`; ready: done sorting, or not in the sort)."""
    ids = fleet.ids
    fleet.halt(where=ids >= layout.machines)  # more machines than the job needs
    sorting = ids < layout.sort_plan.machines
    sorters = fleet.select(sorting)
    done = np.ones(ids.size, dtype=bool)
    if len(sorters):
        done[sorting] = sort.step_many(layout.sort_plan, sorters, sorters.batched)[0]
    if layout.barrier is None:  # a network sort ends in the same round on every machine
        fleet.halt(where=~sorting)  # woken by the finds they own (lock-step round 2)
        return
    _, asleep = layout.barrier.step_many(job, done[ids < layout.machines])
    job.halt(where=asleep)  # reported: sleep until GO arrives


def _lock_step_round(layout: _Layout, fleet: Fleet, job: Fleet) -> int | None:
    """tau = rounds since the lock-step started, if this fleet (its job machines: `job`) is
    in it, else None. After a network sort it starts in the sort's known last round + 1;
    after the barrier, in the round each machine was told (the same on all, and told to all
    of them by then)."""
    now = fleet.round_idx
    if layout.barrier is None:
        start = layout.sort_plan.round_bound()
        return now - start if now >= start else None
    if now == 0 or not len(job):
        return None
    starts = layout.barrier.starts(job)
    started = np.unique(starts[(starts >= 0) & (starts <= now)])
    if not started.size:
        return None
    if started.size > 1 or (starts < 0).any() or (starts > now).any():
        raise AssertionError(f"hop-k: round {now} finds machines of one fleet at lock-step "
                             f"starts {sorted(set(starts.tolist()))}: the barrier tells every "
                             "machine the same round before it")
    return now - int(started[0])


class _Layout:
    """The run's shape: sort plan, barrier, positions per machine, k, and the doubling
    schedule; built once in partition from the input and (q, s)."""

    def __init__(self, n: int, k: int, positions: int, sort_plan: SortPlan | None,
                 machines: int, barrier: Barrier | None, composite: tuple[int, int] | None,
                 scan: ScanFind | None = None) -> None:
        self.n, self.k, self.positions, self.machines = n, k, positions, machines
        self.sort_plan, self.barrier, self.composite = sort_plan, barrier, composite
        self.scan = scan

    @classmethod
    def build(cls, x: np.ndarray, k: int, q: int, s: int, seed: int,
              sort_kind: str | None = None, find: str | None = None) -> _Layout:
        n = x.size
        c = max(1, (s - _SPARE_WORDS) // _WORDS_PER_POSITION)
        scan = ScanFind.fit(x, c, s) if find != "sort" and sort_kind is None else None
        if find == "scan" and scan is None and n:
            raise ConfigError(problems=[("find", find, f"a scan needs symbols spanning <= "
                                         f"min(2c, (s - c - 4) // 4) values (c = {c} positions "
                                         f"per machine at memory_words={s}); these span "
                                         f"{int(x.max()) - int(x.min()) + 1}")])
        if scan is not None:
            layout = cls._scanned(n, k, q, s, c, scan)
            if find == "scan" or layout.rounds() <= cls.build(x, k, q, s, seed, None,
                                                                "sort").rounds():
                return layout
        fan = max(2, min(64, s // 16))
        composite = None
        if n and int(x.max()) - int(x.min()) + 1 < (1 << 62) // max(n, 1):
            composite = (int(x.min()), n)
        words = 1 if composite is not None else 2
        try:
            # after the sort a machine sends each pair it holds on as one 3-word message,
            # and holds them (1 or 2 words each) with 3 more words: s // 4 pairs fit
            sort_plan = sort.plan(n, q, max(1, s - fan - 4), words, seed=seed,
                                  max_held=max(1, s // 4), kind=sort_kind)
        except ConfigError as exc:  # the sort runs in s - fan - 4 of the s words
            share = f"(the sort of the (symbol, position) pairs, in {max(1, s - fan - 4)} of the " \
                    f"{s} words)"
            raise ConfigError(problems=[
                (name, value if name != "memory_words" else s, f"{share} {rule}" if
                 name != "memory_words" else f"{share} " +
                 re.sub(r"; raise memory_words to >= \d+", "", rule) +
                 "; hop_k takes memory_words >= 14")
                for name, value, rule in exc.problems]) from None
        machines = max(sort_plan.machines, -(-n // c))
        problems = []
        if machines > q:
            problems.append(("num_machines", q, f"hop_k of {n} symbols needs {machines} "
                             f"machines of memory_words={s}; raise num_machines to >= "
                             f"{machines} or memory_words"))
        if _WORDS_PER_POSITION * c + _SPARE_WORDS > s and n:
            problems.append(("memory_words", s, f"pointer doubling needs >= "
                             f"{_WORDS_PER_POSITION + _SPARE_WORDS} words per machine"))
        if problems:
            raise ConfigError(problems=problems)
        barrier = None if sort_plan.network else Barrier(machines, fan)
        return cls(n, effective_k(k, n), c, sort_plan, machines, barrier, composite)

    @classmethod
    def _scanned(cls, n: int, k: int, q: int, s: int, c: int, scan: ScanFind) -> _Layout:
        if scan.machines > q:
            raise ConfigError(problems=[("num_machines", q, f"hop_k of {n} symbols needs "
                                         f"{scan.machines} machines of memory_words={s}; "
                                         f"raise num_machines to >= {scan.machines} or "
                                         "memory_words")])
        return cls(n, effective_k(k, n), c, None, scan.machines, None, None, scan)

    def sort_items(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        positions = np.arange(self.n, dtype=np.int64)
        if self.composite is not None:
            low, n = self.composite
            return (x - low) * n + positions, None
        return x, positions

    def decode(self, memory: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """(symbols, positions) of this machine's sorted pairs."""
        keys = memory.pop("mk", np.zeros(0, dtype=np.int64))
        if self.composite is not None:
            low, n = self.composite
            return keys // n + low, keys % n
        return keys, memory.pop("mv")

    def rounds(self) -> int:
        """The round bound (module docstring)."""
        if self.k == 0 or self.n == 0:
            return 1
        doubling = 2 * (doubling_steps(self.k) + 1) + 1
        if self.scan is not None:
            return self.scan.rounds() + doubling
        barrier = 0 if self.barrier is None else self.barrier.rounds
        return self.sort_plan.round_bound() + barrier + 2 + doubling


def _as_symbols(inputs: Any) -> np.ndarray:
    x = np.asarray([] if inputs is None else inputs)
    if x.size == 0:
        return np.zeros(0, dtype=np.int64)
    if x.ndim != 1 or x.dtype.kind not in "biu":
        raise ConfigError(problems=[("inputs", f"array of shape {x.shape}, dtype {x.dtype}",
                                     "hop_k needs a 1-D sequence of int symbols")])
    x = x.astype(np.int64)
    if (x == NONE).any():
        raise ConfigError(problems=[("inputs", f"the symbol {NONE}", "is reserved for 'none' "
                                     "in hop_k's output; use other symbols")])
    return x


def find(inputs: Any) -> np.ndarray:
    """f for every 0-indexed position, by the definition: a plain loop remembering each
    symbol's latest position (f(p) = p' + 1, -1 for none)."""
    x = _as_symbols(inputs).tolist()
    latest: dict[int, int] = {}
    f = []
    for p, symbol in enumerate(x):
        f.append(latest[symbol] + 1 if symbol in latest else -1)
        latest[symbol] = p
    return np.array(f, dtype=np.int64)


def definition(inputs: Any, k: int = 4) -> np.ndarray:
    """hop_k by the definition, in plain Python: from each position follow find k times
    (stopping early at none or at a fixed point f(p) = p), then read X there."""
    x = _as_symbols(inputs).tolist()
    f = find(x).tolist()
    out = []
    for p in range(len(x)):
        for _ in range(k):
            if p < 0 or f[p] == p:
                break
            p = f[p]
        out.append(x[p] if p >= 0 else int(NONE))
    return np.array(out, dtype=np.int64)


def reference(inputs: Any, k: int = 4) -> np.ndarray:
    """hop_k: find (by the definition), then f^k by repeated squaring in numpy (the same
    values as `definition`, in O(N log k) instead of O(N k) steps)."""
    x = _as_symbols(inputs)
    f = find(x)
    power = np.arange(x.size, dtype=np.int64)  # f^0
    square = f
    k = effective_k(k, x.size)
    while k:
        if k & 1:
            power = np.where(power >= 0, square[np.maximum(power, 0)], -1)
        square = np.where(square >= 0, square[np.maximum(square, 0)], -1)
        k >>= 1
    return np.where(power >= 0, x[np.maximum(power, 0)], NONE) if x.size else x


def verify(output: list[Any], inputs: Any, k: int = 4) -> bool:
    parts = [np.asarray(o) for o in output if o is not None]
    got = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    want = reference(inputs, k)
    return got.shape == want.shape and bool(np.array_equal(got, want))


def round_bound(n: int, q: int, s: int, k: int = 4, find: str | None = None) -> int:
    """The bound (module docstring) for a make_input-like sequence of n symbols."""
    x = make_input(n, np.random.default_rng(0))
    return _Layout.build(x, k, q, s, 0, None, find).rounds()


def make_input(n: int, rng: np.random.Generator) -> np.ndarray:
    """The paper's sequences (its Section 5, docs/paper.md): n letters over {0, 1, 2, 3}, none
    twice in a row."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    steps = rng.integers(1, 4, size=n)
    steps[0] = rng.integers(0, 4)
    return np.cumsum(steps) % 4


def sizing(n: int, q: int | None = None, s: int | None = None) -> tuple[int, int]:
    """Default (q, s): s = max(512, 10*ceil(n^(2/3)) + 4) (for a given q, enough for
    ceil(n/q) positions and the sort), doubled until everything fits. q = the machines
    needed by either find: max(sort machines, ceil(n/c)) with c = (s - 4) // 10 positions
    per machine, so q*s ~ 10n (<= 17n for s >= 24); any s >= 14 is accepted (module
    docstring). A scan uses the first ceil(n/c) of them (the rest halt in round 0)."""
    x = make_input(n, np.random.default_rng(0))
    if s is None:
        s = max(512, _WORDS_PER_POSITION * math.ceil(max(n, 1) ** (2 / 3)) + _SPARE_WORDS)
        if q is not None:
            s = max(s, _WORDS_PER_POSITION * -(-n // q) + _SPARE_WORDS)
        most = q if q is not None else 1 << 40
        s = double_until_accepted(s, lambda s: _Layout.build(x, 1, most, s, 0))
    if q is None:
        q = max(1, _Layout.build(x, 1, 1 << 40, s, 0, None, "sort").machines,
                -(-n // max(1, (s - _SPARE_WORDS) // _WORDS_PER_POSITION)))
    return q, s


SPEC = AlgorithmSpec(
    name="hop-k",
    summary="k-hop induction heads (the paper's Def. 4.1): find by a scan or a sort, then "
            "pointer doubling",
    program=HopK,
    make_input=make_input,
    reference=reference,
    verify=verify,
    round_bound=round_bound,
    sizing=sizing,
    options=(Option("k", 4, "hops for hop-k (an int >= 0)",
                    ("program", "reference", "verify", "round_bound")),
             Option("find", None, "how hop-k finds previous occurrences: scan (symbols spanning "
                    "few values) or sort; default: the one with fewer rounds",
                    ("program", "round_bound"), type=str, choices=FINDS)),
)
