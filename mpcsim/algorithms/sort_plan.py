"""The sort's plan for (n, q, s): which of its three plans runs, and its shape (items per
machine; samples, buckets and tree fan-in), the memory each machine may need, and the round
bound.

How the sort works is in mpcsim.algorithms.sort, the per-segment tree in split_tree, the
network in sort_network. `plan` builds every plan that fits (n, q, s) and keeps the one with
the fewest expected + bounded rounds (`SortPlan.kind`):
- "direct" (large s): one level, bucket j straight to machine j, 4 rounds (`direct_plan`);
- "network" (small s): the bitonic merge-split network, deterministic, T + 1 rounds with
  T = L(L+1)/2, L = ceil(log2 m); c = floor((s - 2) / (2w')) (`network_plan`, sort_network);
  it fits any s >= 2w' + 2, so the sort accepts s >= 4 words (keys), s >= 8 (records);
- "levels": the sample sort's levels over split trees, below. It needs s >= ~90 words (the
  trees' and samples' state) and wins from about s = n^(1/2) at n = 10^6 up.
q = m = ceil(n / c) machines in each (sort.sizing): q*s ~ 3wn .. 12wn for levels
(c = s/(3w) .. s/(12w)), ~ 2w'n for the network (w' = w, + 1 for a position tiebreak with
records or signed zeros), ~ 2wn for direct. So the bound is the least of the three: for
fixed delta with s = n^delta the levels' O(1/delta) once n is large; at small s the
network's, ~((1 - delta) log2 n)^2 / 2.
Measured at s = ceil(n^delta) (float keys; rounds = bound for the network):
    n = 10^3: s = 32 network 29, s = 100 network 16;  n = 10^4: s = 100 network 37,
    s = 465 network 22;  n = 10^5: s = 317 network 56, s = 2155 levels 21 (bound 22);
    n = 10^6: s = 1000 levels 41 (bound 52), s = 10^4 levels 14 (bound 14).

The levels plan. Memory, per machine (w = words per item: 1 for keys, 2 for (key, value)
records; c slots), the most it holds after delivery in any round (`SortPlan.peak_words`):
- data: its c slots (c*w words); in the round a segment's items arrive, also one tag word per
  message (<= c); the round after, at most c*w more words of a small segment straddling in
  from the left neighbour: data <= max(c*(w+1), 2*c*w) + 2.
- per active segment (<= 2 per machine: the one crossing its left edge and the one crossing
  its right edge; `role_words`): 6 words of state, B + 1 cut positions, and the largest of its
  phases: the leader's samples (<= 3S: key, rank among equal keys, a tag per sender), the
  splitters arriving (<= 5B), or its host tables and a counts/prefixes inbox.
The search tries a grid of (c, S, B, fan) (c = s/(3w) .. s/(12w)) and keeps the one with the
smallest expected + bounded rounds whose peak fits s.

Round bound (with probability >= 1 - 1e-9 over the sampling, for any input): a level on a
segment spanning G machines takes SplitTree.rounds = a + 3D + 1 rounds (D = ceil(log_fan G),
a = 1 or 2). Follow one item: a level cuts its segment of T > S items at every a-th of about
a*B samples (a = floor(0.9*S/B); the 0.9 covers repeated hash draws), so its bucket has
T*Y items with Y ~ Gamma(a+1)/(a*B) (a size-biased gap), independently at each level; a
Chernoff bound on the product of the Y's, with a union bound over the n items, bounds every
segment's size after l levels (`size_after`); a segment of T <= S items is sampled whole and
cut exactly (buckets <= ceil(T/B)). Levels repeat while segments exceed c items; one last
round merges the segments of <= c items that straddle two machines; `round_bound` adds these
up. For fixed delta with s = n^delta, S, B and fan grow like a power of s, so the number of
levels and of rounds per level are O(1/delta): a constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from ..errors import ConfigError
from . import sort_network
from .split_tree import SplitTree

__all__ = ["SortPlan", "plan", "network_plan", "direct_plan", "FAILURE_PROBABILITY", "KINDS"]

FAILURE_PROBABILITY = 1e-9  # per split, for the with-high-probability round bound
_ROLE_WORDS = 5  # a segment's state: start, length, first round, kind, and its tag
_SPARE_WORDS = 2  # slack
_LEAST_LEVELS_ROUNDS = 7  # one level (a + 3D + 1 >= 5 rounds) and the final 2
KINDS = ("direct", "network", "levels")  # the plans `plan` chooses among


@dataclass(frozen=True)
class SortPlan:
    n: int  # items to sort
    item_words: int  # w: 1 (keys) or 2 ((key, value) records)
    slots: int  # c: items per machine in the dense layout
    samples: int  # S: hashed sample draws per split
    buckets: int  # B: buckets per split
    fan: int  # g: block fan-in of the split trees
    seed: int  # seeds the sample hashes
    stable_floats: bool  # float keys with both signs of zero: use stable sorts throughout
    direct: bool = False  # one level, bucket j straight to machine j (see `direct_plan`)
    network: bool = False  # the bitonic merge-split network (sort_network, `network_plan`)

    @property
    def machines(self) -> int:
        """m = ceil(n / c): machines 0..m-1 hold items."""
        return -(-self.n // self.slots) if self.n else 0

    @property
    def leader_budget(self) -> int:
        """Words the leader may spend on the top level's counts (when it hosts it)."""
        return 2 * self.buckets + self.fan

    @property
    def kind(self) -> str:
        """"direct", "network" or "levels" (the sample sort's split levels)."""
        return "direct" if self.direct else "network" if self.network else "levels"

    @property
    def tiebreak(self) -> bool:
        """Network plans: items carry their input position (records, or signed zeros)."""
        return self.item_words == 2 or self.stable_floats

    def tree(self, machines: int) -> SplitTree:
        return _tree(machines, self.fan, self.buckets, self.leader_budget)

    def role_words(self, leader: bool) -> int:
        """Words one active segment may need on one machine (any span <= m), the most it holds
        at any one time: 6 words of state and tag, B + 1 cut positions (or B totals), plus the
        largest of its phases: the leader's samples (<= 3S: key, rank, and a tag per sender),
        the splitters arriving (4 words each and a tag per host, <= 5B), or the host tables
        (see SplitTree.max_hosted) with a counts or prefixes inbox: from z <= g children, each
        sending 2 words per index and a tag, a host of ceil(B/z) indices receives
        <= 2B + 3g words; the leader's top inbox <= 2 * leader_budget."""
        b, g = self.buckets, self.fan
        tree = self.tree(self.machines)
        tables = tree.max_hosted()
        inbox = max(2 * b + 3 * g, 2 * self.leader_budget, 4 * b)
        phase = max(3 * self.samples if leader else 0, 5 * b, tables + inbox)
        return _ROLE_WORDS + 1 + (b + 1) + phase

    @property
    def peak_words(self) -> int:
        """An upper bound on the words any machine holds after delivery, in any round: its
        slots, a straddler's (or one tag per arriving message), and two segments' state."""
        c, w = self.slots, self.item_words
        if self.network:  # its items and its partner's, a position each if needed
            return 2 * c * (w + self.tiebreak) + _SPARE_WORDS
        if self.direct:  # slots + samples, or its bucket + one tag per sender
            m = self.machines
            return max(c * w + 3 * self.samples + 4 * m, self.bucket_cap * w + m) + _SPARE_WORDS
        if self.machines <= 1:
            return c * w + _SPARE_WORDS
        data = max(c * (w + 1), 2 * c * w) + 2
        return data + self.role_words(True) + self.role_words(False) + _SPARE_WORDS

    def size_after(self, levels: int, probability: float = FAILURE_PROBABILITY) -> int:
        """A bound on every segment's size after `levels` levels, except with `probability`.

        Follow one item: at a level, its segment of T > S items is cut at every a-th of about
        a*B samples (a = floor(0.9 S / B)), and the bucket holding the item has
        T * Y items, Y ~ Gamma(a + 1) / (a B) (a size-biased Gamma(a) gap). After l such
        levels its segment has n * Y_1 ... Y_l items, and by Markov's inequality on its
        theta-th power, P(n * prod Y > x) <= (E[Y^theta])^l (n / x)^theta. Requiring that to be
        <= probability / n (a union over the n items) and minimising over theta gives x. A
        segment of T <= S items is sampled whole and cut exactly: buckets <= ceil(T / B).
        """
        a = max(1, int(0.9 * self.samples) // self.buckets)
        size = float(self.n)
        random_levels = 0
        for _ in range(levels):
            if size <= self.samples:
                size = math.ceil(size / self.buckets)
                continue
            random_levels += 1
            size = max(_product_bound(self.n, a, self.buckets, random_levels,
                                      probability / max(self.n, 1)), 1.0)
        return math.ceil(size)

    def levels(self, probability: float = FAILURE_PROBABILITY) -> list[tuple[int, int]]:
        """(segment items, machines spanned) bounds at each splitting level, largest first."""
        out: list[tuple[int, int]] = []
        items, done = self.n, 0
        while items > self.slots:
            out.append((items, min(self.machines, -(-items // self.slots) + 1)))
            done += 1
            smaller = self.size_after(done, probability)
            if done > 64:
                return out + [(-1, 0)]  # no useful bound: too few samples per bucket
            items = min(items, smaller)
        return out

    @property
    def bucket_cap(self) -> int:
        """Direct plans: the largest bucket a machine may receive, except with probability
        FAILURE_PROBABILITY. A bucket spans a = floor(0.9 S / B) sample gaps; with samples a
        Poisson process of rate S'/n (S' >= 0.9 S distinct draws), P(bucket > x) =
        P(Poisson(x S'/n) < a); a union over the B buckets gives x."""
        a = max(1, int(0.9 * self.samples) // self.buckets)
        lam = _poisson_upper(a, FAILURE_PROBABILITY / self.buckets)
        return min(self.n, math.ceil(self.n * lam / (0.9 * self.samples)) + 1)

    def round_bound(self, probability: float = FAILURE_PROBABILITY) -> int:
        """Rounds the sort takes, except with probability <= probability per split."""
        if self.n <= self.slots:
            return 1
        if self.direct:  # samples, splitters, scatter, arrival
            return 4
        if self.network:  # deterministic: a local sort, then one round per stage
            return sort_network.stages(self.machines) + 1
        levels = self.levels(probability)
        if levels and levels[-1][0] == -1:
            return -1
        return sum(self.tree(g).rounds for _, g in levels) + 2

    def expected_rounds(self) -> int:
        """The bound for a median split (probability 1/2): what a typical run takes."""
        return self.round_bound() if self.direct or self.network else self.round_bound(0.5)


@lru_cache(maxsize=4096)
def _tree(machines: int, fan: int, buckets: int, leader_budget: int) -> SplitTree:
    return SplitTree.build(machines, fan, buckets, leader_budget)


@lru_cache(maxsize=1024)
def _poisson_upper(k: int, probability: float) -> float:
    """The least lam (to 0.5%) with P(Poisson(lam) <= k - 1) <= probability."""
    def lower_tail(lam: float) -> float:
        log_term = -lam  # log of e^-lam lam^i / i!, summed for i < k in log space
        total = 0.0
        for i in range(k):
            if i:
                log_term += math.log(lam) - math.log(i)
            total += math.exp(log_term)
        return total

    lam = float(k)
    while lower_tail(lam) > probability:
        lam *= 1.005
    return lam


@lru_cache(maxsize=4096)
def _product_bound(n: int, a: int, buckets: int, levels: int, probability: float) -> float:
    """min over theta of n * (E[Y^theta])^(levels/theta) * probability^(-1/theta), with
    Y = Gamma(a + 1) / (a * buckets): see SortPlan.size_after."""
    best = float(n)
    log_n, log_p = math.log(max(n, 1)), math.log(probability)
    for theta in (0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32):
        log_moment = (math.lgamma(a + 1 + theta) - math.lgamma(a + 1)
                      - theta * math.log(a * buckets))
        best = min(best, math.exp(log_n + (levels * log_moment - log_p) / theta))
    return best


def plan(n: int, num_machines: int, memory_words: int, item_words: int = 1, seed: int = 0,
         stable_floats: bool = False, slots: int | None = None, samples: int | None = None,
         buckets: int | None = None, fan: int | None = None,
         max_held: int | None = None, kind: str | None = None) -> SortPlan:
    """The plan with the fewest expected + bounded rounds that fits (n, q, s); ConfigError
    naming the problem (and the least memory_words that would do) otherwise. max_held caps
    the items a machine may hold when the sort ends (2c for a segment plan, bucket_cap for a
    direct one, c for a network), for a program that does more with them than the sort's own
    budget allows. kind: None (the best), or only "direct", "network" or "levels" plans (the
    sample sort's levels; also what slots, samples, buckets or fan imply), for tests and
    comparisons."""
    if kind not in KINDS + (None,):
        raise ConfigError(problems=[("kind", kind, f"must be one of {KINDS} or None")])
    overrides = (slots, samples, buckets, fan, max_held)
    found = _search(n, num_machines, memory_words, item_words, seed, stable_floats, overrides,
                    kind)
    if found is not None:
        return found
    q, s, w = num_machines, memory_words, item_words
    least_s = 4
    while least_s < 1 << 40 and _search(n, 1 << 40, least_s, w, seed, stable_floats,
                                         overrides, kind) is None:
        least_s *= 2
    fits_s = _search(n, 1 << 40, s, w, seed, stable_floats, overrides, kind)
    if fits_s is not None:
        raise ConfigError(problems=[("num_machines", q, f"{n} items on machines of "
                                     f"memory_words={s} need {fits_s.machines} machines; raise "
                                     f"num_machines to >= {fits_s.machines} or memory_words")])
    carried = w + (w == 2 or stable_floats)
    raise ConfigError(problems=[("memory_words", s, f"{n} items of {w} word(s) fit no plan "
                                 f"(the network needs 2 items of {carried} word(s) and 2 "
                                 "spare words per machine, the levels a split tree and "
                                 f"samples); raise memory_words to >= {least_s}")])


@lru_cache(maxsize=256)
def direct_plan(n: int, s: int, w: int, seed: int, stable_floats: bool,
                max_held: int | None = None) -> SortPlan | None:
    """The direct plan, if it fits: c = s / (2w) items per machine, m = ceil(n/c) machines and
    m buckets, bucket j on machine j. The leader (machine 0) sends all m - 1 splitters to every
    machine (4 words each: (m - 1)(4m - 3) <= s); a bucket holds at most bucket_cap items
    (with high probability, S = 256m samples), and must fit a machine. 4 rounds: samples
    up, splitters out, scatter, arrive and sort."""
    c = max(1, s // (2 * w) if max_held is None else min(s // (2 * w), int(max_held / 1.5)))
    m = -(-n // c)
    if m < 2 or (m - 1) * (4 * m - 3) > s:
        return None
    p = SortPlan(n, w, c, min(256 * m, max(m, s // 8)), m, 2, seed, stable_floats, direct=True)
    fits = p.bucket_cap * w + m + 8 <= s and p.peak_words <= s
    return p if fits and (max_held is None or p.bucket_cap <= max_held) else None


@lru_cache(maxsize=256)
def network_plan(n: int, s: int, w: int, seed: int, stable_floats: bool,
                 max_held: int | None = None) -> SortPlan | None:
    """The network plan (sort_network), if one item per machine fits: c =
    floor((s - 2) / (2w')) items per machine (at most max_held), w' = w + 1 when items carry
    their position as a tiebreak (records, signed zeros), else w."""
    carried = w + (w == 2 or stable_floats)
    c = (s - _SPARE_WORDS) // (2 * carried)
    if max_held is not None:
        c = min(c, max_held)
    if c < 1:
        return None
    return SortPlan(n, w, c, 0, 1, 2, seed, stable_floats, network=True)


def _search(n: int, q: int, s: int, w: int, seed: int, stable_floats: bool,
            overrides: tuple[int | None, ...], kind: str | None = None) -> SortPlan | None:
    """The fitting plan with the fewest expected + bounded rounds (then not the network, then
    the fewest machines): the direct plan, the network plan, or the best levels plan of the
    grid."""
    fixed = [] if any(overrides[:-1]) else [
        direct_plan(n, s, w, seed, stable_floats, overrides[-1]),
        network_plan(n, s, w, seed, stable_floats, overrides[-1])]
    candidates = [p for p in fixed if p is not None]
    if kind == "levels" or (kind is None and not _unbeatable(candidates, n, q, s, w)):
        candidates += [SortPlan(n, w, *cand, seed=seed, stable_floats=stable_floats)
                       for cand in _candidates(n, s, w, *overrides)]
    best = None
    for p in candidates:
        if (kind is not None and p.kind != kind) or p.machines > q or p.peak_words > s:
            continue
        bound = p.round_bound()
        if bound < 0:
            continue
        # on a tie the network loses: it moves every item once per stage, not once per level
        key = (p.expected_rounds() + bound, bound, p.network, p.machines,
               p.samples + p.buckets)
        if best is None or key < best[0]:
            best = (key, p)
    return None if best is None else best[1]


def _unbeatable(fixed: list[SortPlan], n: int, q: int, s: int, w: int) -> bool:
    """Whether a fitting direct or network plan beats every levels plan, so the grid need not
    be searched (at n = 10^6 the search is most of the planning time). A levels plan holds at
    most s // (3w) items per machine; with more items than that it needs at least one level
    (a split tree of depth >= 1: >= 5 rounds) and the final 2: expected and bound >= 7 each,
    a key of >= 14, which a fixed plan's smaller key beats outright."""
    keys = [p.expected_rounds() + p.round_bound() for p in fixed
            if p.machines <= q and p.peak_words <= s and p.round_bound() >= 0]
    return n > s // (3 * w) and bool(keys) and min(keys) < 2 * _LEAST_LEVELS_ROUNDS


def _candidates(n: int, s: int, w: int, slots: int | None, samples: int | None,
                buckets: int | None, fan: int | None,
                max_held: int | None = None) -> list[tuple[int, int, int, int]]:
    """(c, S, B, g) to try: data taking 1/4..1/2 of s, fans and bucket counts around s/16."""
    out = []
    def options(given: int | None, divisors: tuple[float, ...], least: int) -> list[int]:
        return [given] if given else sorted({max(least, int(s / d)) for d in divisors})

    bucket_options = options(buckets, (8, 12, 16, 24, 32, 48, 64, 128, 256), 2)
    if not buckets:  # large s: few buckets may do (fewer samples to draw and sort)
        bucket_options = sorted(set(bucket_options) | {b for b in (16, 64, 256) if b < s // 8})
    slot_options = options(slots, tuple(k * w for k in (3, 4, 6, 8, 12)), 1)
    if max_held is not None:
        slot_options = sorted({min(c, max(1, max_held // 2)) for c in slot_options})
    for c in slot_options:
        for g in options(fan, (6, 8, 12, 16, 24, 32, 48, 64), 2):
            for b in bucket_options:
                sample_options = sorted(set(options(samples, (4, 6, 8, 12, 16), b))
                                        | ({8 * b, 32 * b} if not samples else set()))
                for sa in sample_options:
                    out.append((c, sa, b, g))
    return out
