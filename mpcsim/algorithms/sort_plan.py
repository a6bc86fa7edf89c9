"""The sort's plan for (n, q, s): which of its three plans runs, and its shape (items per
machine; samples, buckets, group width and tree fan-in), the memory each machine may need,
and the round bound.

How the sort works is in mpcsim.algorithms.sort (and sort_levels, sort_network); the
per-segment tree in split_tree. `plan` builds every plan that fits (n, q, s) and keeps the
one with the fewest expected + bounded rounds (`SortPlan.kind`):
- "direct" (large s): one level, bucket j straight to machine j, 4 rounds (`direct_plan`);
- "network" (small s): the bitonic merge-split network, deterministic, T + 1 rounds with
  T = L(L+1)/2, L = ceil(log2 m); c = floor((s - 2) / (2w')) (`network_plan`, sort_network);
  it fits any s >= 2w' + 2, so the sort accepts s >= 4 words (keys), s >= 8 (records);
- "levels": the sample sort's levels over split trees, below. It wins from about
  s = n^(1/2) at n = 10^5 up.
q = m = ceil(n / c) machines in each (sort.sizing).

The levels plan has two sets of split parameters (`Split`: S samples, B buckets, fan g, group
width h): `first` for the first level (the whole input, one segment, so every machine takes
part in one segment only and may spend more memory on it) and `rest` for every later
segment. Memory, per machine, after delivery, in any round (`SortPlan.peak_words`; w words
per item, c slots, 8 words of segment state):
- a *leaf* (every machine of a segment) holds the splitters arriving (2 words each, plus one
  header word per group message), then its B + 1 cut positions, then the (prefix, total) pairs
  arriving (2B + header words), then the B totals (`leaf_words`);
- an *inner* machine (local 1..G-2) is also a host: besides its cuts, the tables of counts
  it keeps below the top (<= D - 1 of them) and the counts arriving in one round
  (split_tree.host_bounds); the leader (local 1) also receives <= S samples (keys only: it
  recomputes their slots from the hash draws), and hosts the top level only if that inbox
  fits S words beside its other host state;
- a machine is inner in at most one segment and an end (local 0 or G-1) of at most two, and
  ends never host: first level c*w + max(inner, leader); later levels
  max(2cw + leaf (a pair's left part arriving), cw + 2 leaf, cw + inner, cw + leader).
So no cap depends on the sampling. Words sent per round are bounded the same way.

Round bound (with probability >= 1 - 1e-9 over the sampling, for any input): a level on a
segment spanning G machines takes SplitTree.rounds = a + 3D + 1 rounds. Follow one item: a
level cuts its segment of T > S items at every a-th of about a*B samples (a = floor(0.9 S / B);
the 0.9 covers repeated hash draws), so its bucket has T*Y items with Y ~ Gamma(a+1)/(a*B)
(a size-biased gap), independently at each level; a Chernoff bound on the product of the Y's,
with a union bound over the n items, bounds every segment's size after l levels
(`size_after`); a segment of T <= S items is sampled whole and cut exactly (buckets <=
ceil(T/B)). Levels repeat while segments exceed c items; then the segments of <= c items that
straddle two machines merge in one round (+ 2 with the round that reads them); `round_bound`
adds these up. A segment spanning exactly 2 machines (<= 2c items) is merged without a level
(2 or 3 rounds), which only ends sooner than the bound. For fixed delta with s = n^delta,
S, B and g grow like a power of s, so the levels and their rounds are O(1/delta): a constant.
Measured at s = ceil(n^delta), float keys (rounds = bound for the network):
    n = 10^3: s = 32 network 29, s = 100 network 16;  n = 10^4: s = 100 network 37,
    s = 465 levels 13 (bound 19);  n = 10^5: s = 317 levels 30 (bound 39), s = 2155 levels
    14 (bound 14);  n = 10^6: s = 1000 levels 23-25 (bound 31, 3,509 machines), s = 10^4
    levels 13 (bound 13).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from ..errors import ConfigError
from . import sort_network
from .split_tree import SplitTree, depth, host_bounds

__all__ = ["SortPlan", "Split", "plan", "network_plan", "direct_plan", "FAILURE_PROBABILITY",
           "KINDS", "STATE_WORDS"]

FAILURE_PROBABILITY = 1e-9  # per split, for the with-high-probability round bound
STATE_WORDS = 8  # a machine's segment state: (start, length, first round, kind) per side
_SPARE_WORDS = 2  # slack
KINDS = ("direct", "network", "levels")  # the plans `plan` chooses among
_KEEP = 2  # splits kept per tree depth in the levels search


@dataclass(frozen=True)
class Split:
    """How one level cuts a segment."""

    samples: int  # S: hashed sample draws
    buckets: int  # B >= 2
    fan: int  # g: block fan-in of the split trees
    width: int  # h: buckets per message (a group); B' = ceil(B / h) groups

    @property
    def groups(self) -> int:
        """B': groups of buckets (counts, prefixes)."""
        return -(-self.buckets // self.width)

    @property
    def splitter_groups(self) -> int:
        """Groups of the B - 1 splitters."""
        return -(-(self.buckets - 1) // self.width)

    @property
    def top_words(self) -> int:
        """Words one child sends the leader when it hosts the top level: B counts and a
        header per group."""
        return self.buckets + self.groups

    def leaf_words(self) -> int:
        """The most one segment's leaf state and inbox take on a machine (module docstring)."""
        b = self.buckets
        return max(2 * (b - 1) + self.splitter_groups, (b + 1) + 2 * b + self.groups)

    def host(self, max_depth: int) -> tuple[int, int, int, int]:
        """(inner words, leader words, leader-top budget, words sent) for trees of depth <=
        max_depth."""
        return _split_host(self, max_depth)

    def _host(self, max_depth: int) -> tuple[int, int, int, int]:
        b, s = self.buckets, self.samples
        budget = 0
        for _ in range(2):  # the budget depends on the tables, which depend on the budget
            tables, inbox, sent = host_bounds(self.fan, self.groups, self.width, max_depth,
                                              budget, self.top_words)
            budget = max(0, s - (b + 1) - tables)
        inner = max(self.leaf_words(), (b + 1) + tables + inbox)
        leader = max(inner, s, (b + 1) + tables + budget)
        sent = max(sent, 2 * (b - 1) + self.splitter_groups, 2 * budget)
        return inner, leader, budget, sent


@dataclass(frozen=True)
class SortPlan:
    n: int  # items to sort
    item_words: int  # w: 1 (keys) or 2 ((key, value) records)
    slots: int  # c: items per machine in the dense layout
    first: Split  # the first level's split (the whole input)
    rest: Split  # every later level's
    seed: int  # seeds the sample hashes
    stable_floats: bool  # float keys with both signs of zero: use stable sorts throughout
    direct: bool = False  # one level, bucket j straight to machine j (see `direct_plan`)
    network: bool = False  # the bitonic merge-split network (sort_network, `network_plan`)

    @property
    def machines(self) -> int:
        """m = ceil(n / c): machines 0..m-1 hold items."""
        return -(-self.n // self.slots) if self.n else 0

    @property
    def samples(self) -> int:  # the direct plan's sample draws
        return self.first.samples

    @property
    def buckets(self) -> int:
        return self.first.buckets

    @property
    def kind(self) -> str:
        """"direct", "network" or "levels" (the sample sort's split levels)."""
        return "direct" if self.direct else "network" if self.network else "levels"

    @property
    def tiebreak(self) -> bool:
        """Network plans: items carry their input position (records, or signed zeros)."""
        return self.item_words == 2 or self.stable_floats

    def split_for(self, whole: bool) -> Split:
        return self.first if whole else self.rest

    def leader_budget(self, whole: bool) -> int:
        """Words the leader may spend on the top level's inbox."""
        return _leader_budget(self.split_for(whole), self._max_depth(whole))

    def tree(self, machines: int, whole: bool = False) -> SplitTree:
        split = self.split_for(whole)
        return _tree(machines, split.fan, split.groups, split.top_words,
                     self.leader_budget(whole))

    def _max_depth(self, whole: bool) -> int:
        return int(depth(max(3, self.machines), self.split_for(whole).fan))

    @property
    def peak_words(self) -> int:
        """An upper bound on the words any machine holds after delivery, in any round."""
        c, w = self.slots, self.item_words
        if self.network:  # its items and its partner's, a position each if needed
            return 2 * c * (w + self.tiebreak) + _SPARE_WORDS
        if self.direct:  # slots + samples, or its bucket + one tag per sender
            m = self.machines
            return max(c * w + 3 * self.samples + 4 * m, self.bucket_cap * w + m) + _SPARE_WORDS
        if self.machines <= 2:  # sorted in place, or one pair: the left part arrives
            return 2 * c * w + STATE_WORDS + _SPARE_WORDS
        first = self.first.host(self._max_depth(True))
        rest = self.rest.host(self._max_depth(False))
        leaf = self.rest.leaf_words()
        whole = c * w + max(first[0], first[1])
        later = max(2 * c * w + leaf, c * w + 2 * leaf, c * w + rest[0], c * w + rest[1])
        return STATE_WORDS + max(whole, later) + _SPARE_WORDS

    @property
    def sent_words(self) -> int:
        """An upper bound on the words any machine sends in one round."""
        c, w = self.slots, self.item_words
        if self.network:
            return c * (w + self.tiebreak)
        if self.direct or self.machines <= 2:
            return self.peak_words
        counts = max(s.buckets + s.groups for s in (self.first, self.rest))
        hosts = max(self.first.host(self._max_depth(True))[3],
                    self.rest.host(self._max_depth(False))[3])
        return max(c * w + 2 * counts, c * w + 2, hosts + 2 * counts)

    def size_after(self, levels: int, probability: float = FAILURE_PROBABILITY) -> int:
        """A bound on every segment's size after `levels` levels, except with `probability`.

        Follow one item: at level i its segment of T > S_i items is cut at every a_i-th of
        about a_i*B_i samples (a_i = floor(0.9 S_i / B_i)), and the bucket holding the item has
        T * Y_i items, Y_i ~ Gamma(a_i + 1) / (a_i B_i) (a size-biased Gamma(a_i) gap). After l
        such levels its segment has n * Y_1 ... Y_l items, and by Markov's inequality on its
        theta-th power, P(n * prod Y > x) <= prod E[Y_i^theta] (n / x)^theta. Requiring that to
        be <= probability / n (a union over the n items) and minimising over theta gives x. A
        segment of T <= S items is sampled whole and cut exactly: buckets <= ceil(T / B).
        """
        size = float(self.n)
        random: tuple[tuple[int, int], ...] = ()
        for i in range(levels):
            split = self.split_for(i == 0)
            if size <= split.samples:
                size = math.ceil(size / split.buckets)
                continue
            a = max(1, int(0.9 * split.samples) // split.buckets)
            random += ((a, split.buckets),)
            size = max(_product_bound(self.n, random, probability / max(self.n, 1)), 1.0)
        return math.ceil(size)

    def levels(self, probability: float = FAILURE_PROBABILITY) -> list[tuple[int, int]]:
        """(segment items, machines spanned) bounds at each splitting level, largest first."""
        return _levels(self, probability)

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
        return _round_bound(self, probability)

    def _round_bound(self, probability: float) -> int:
        if self.n <= self.slots:
            return 1
        if self.direct:  # samples, splitters, scatter, arrival
            return 4
        if self.network:  # deterministic: a local sort, then one round per stage
            return sort_network.stages(self.machines) + 1
        if self.machines == 2:  # one pair: send, merge (and send back), receive
            return 3
        levels = self.levels(probability)
        if levels and levels[-1][0] == -1:
            return -1
        return sum(self.tree(g, i == 0).rounds for i, (_, g) in enumerate(levels)) + 2

    def expected_rounds(self) -> int:
        """The bound for a median split (probability 1/2): what a typical run takes."""
        return self.round_bound() if self.direct or self.network else self.round_bound(0.5)


@lru_cache(maxsize=1 << 14)
def _split_host(split: Split, max_depth: int) -> tuple[int, int, int, int]:
    return split._host(max_depth)


@lru_cache(maxsize=1 << 14)
def _round_bound(p: SortPlan, probability: float) -> int:
    return p._round_bound(probability)


@lru_cache(maxsize=1 << 12)
def _leader_budget(split: Split, max_depth: int) -> int:
    return split.host(max_depth)[2]


@lru_cache(maxsize=1 << 14)
def _levels(p: SortPlan, probability: float) -> list[tuple[int, int]]:
    """SortPlan.levels, in one pass over the levels (see SortPlan.size_after)."""
    out: list[tuple[int, int]] = []
    items, size = p.n, float(p.n)
    random: tuple[tuple[int, int], ...] = ()
    while items > p.slots:
        out.append((items, min(p.machines, -(-items // p.slots) + 1)))
        if len(out) > 64:
            return out + [(-1, 0)]  # no useful bound: too few samples per bucket
        split = p.split_for(len(out) == 1)
        if size <= split.samples:
            size = math.ceil(size / split.buckets)
        else:
            a = max(1, int(0.9 * split.samples) // split.buckets)
            random += ((a, split.buckets),)
            size = max(_product_bound(p.n, random, probability / max(p.n, 1)), 1.0)
        items = min(items, math.ceil(size))
    return out


@lru_cache(maxsize=4096)
def _tree(machines: int, fan: int, groups: int, top_words: int, budget: int) -> SplitTree:
    return SplitTree.build(max(3, machines), fan, groups, top_words, budget)


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


_THETAS = (0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32)


@lru_cache(maxsize=1 << 12)
def _log_moments(a: int, buckets: int) -> tuple[float, ...]:
    """log E[Y^theta] for Y = Gamma(a + 1) / (a * buckets), for each theta in _THETAS."""
    return tuple(math.lgamma(a + 1 + t) - math.lgamma(a + 1) - t * math.log(a * buckets)
                 for t in _THETAS)


@lru_cache(maxsize=1 << 16)
def _product_bound(n: int, random: tuple[tuple[int, int], ...], probability: float) -> float:
    """min over theta of n * prod_i (E[Y_i^theta])^(1/theta) * probability^(-1/theta), with
    Y_i = Gamma(a_i + 1) / (a_i * B_i): see SortPlan.size_after."""
    log_n, log_p = math.log(max(n, 1)), math.log(probability)
    moments = [_log_moments(a, b) for a, b in random]
    best = float(n)
    for j, theta in enumerate(_THETAS):
        log_moment = sum(m[j] for m in moments)
        best = min(best, math.exp(log_n + (log_moment - log_p) / theta))
    return best


def plan(n: int, num_machines: int, memory_words: int, item_words: int = 1, seed: int = 0,
         stable_floats: bool = False, slots: int | None = None, samples: int | None = None,
         buckets: int | None = None, fan: int | None = None,
         max_held: int | None = None, kind: str | None = None) -> SortPlan:
    """The plan with the fewest expected + bounded rounds that fits (n, q, s); ConfigError
    naming the problem (and the least memory_words that would do) otherwise. max_held caps
    the items a machine may hold when the sort ends (2c for a levels plan, bucket_cap for a
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
    machine (3 words each: (m - 1)(3m - 2) <= s); a bucket holds at most bucket_cap items
    (with high probability, S = 256m samples), and must fit a machine. 4 rounds: samples
    up, splitters out, scatter, arrive and sort."""
    c = max(1, s // (2 * w) if max_held is None else min(s // (2 * w), int(max_held / 1.5)))
    m = -(-n // c)
    if m < 2 or (m - 1) * (4 * m - 3) > s:
        return None
    split = Split(min(256 * m, max(m, s // 8)), m, 2, 1)
    p = SortPlan(n, w, c, split, split, seed, stable_floats, direct=True)
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
    split = Split(0, 2, 2, 1)
    return SortPlan(n, w, c, split, split, seed, stable_floats, network=True)


@lru_cache(maxsize=256)
def _search(n: int, q: int, s: int, w: int, seed: int, stable_floats: bool,
            overrides: tuple[int | None, ...], kind: str | None = None) -> SortPlan | None:
    """The fitting plan with the fewest expected + bounded rounds (then not the network, then
    the fewest machines): the direct plan, the network plan, or the best levels plan."""
    fixed = [] if any(overrides[:-1]) else [
        direct_plan(n, s, w, seed, stable_floats, overrides[-1]),
        network_plan(n, s, w, seed, stable_floats, overrides[-1])]
    candidates = [p for p in fixed if p is not None]
    if kind == "levels" or (kind is None and not _unbeatable(candidates, n, q, s, w)):
        candidates += _levels_plans(n, q, s, w, seed, stable_floats, overrides)
    best = None
    for p in candidates:
        if (kind is not None and p.kind != kind) or p.machines > q or p.peak_words > s \
                or p.sent_words > s:
            continue
        bound = p.round_bound()
        if bound < 0:
            continue
        # on a tie the network loses: it moves every item once per stage, not once per level
        key = (p.expected_rounds() + bound, bound, p.network, p.machines)
        if best is None or key < best[0]:
            best = (key, p)
    return None if best is None else best[1]


def _unbeatable(fixed: list[SortPlan], n: int, q: int, s: int, w: int) -> bool:
    """Whether a fitting direct or network plan beats every levels plan, so the grid need not
    be searched. A levels plan holds at most (s - 10) // (2w) items per machine (a pair's
    right machine receives the left part); with more than twice that it needs at least one
    level (>= 5 rounds) and the final 2: expected and bound >= 7 each, a key of >= 14, which
    a fixed plan's smaller key beats outright."""
    keys = [p.expected_rounds() + p.round_bound() for p in fixed
            if p.machines <= q and p.peak_words <= s and p.round_bound() >= 0]
    most = (s - STATE_WORDS - _SPARE_WORDS) // (2 * w)
    return n > 2 * most and bool(keys) and min(keys) < 14


def _levels_plans(n: int, q: int, s: int, w: int, seed: int, stable_floats: bool,
                  overrides: tuple[int | None, ...]) -> list[SortPlan]:
    """The levels plans to compare: for each c, the first-level and later-level splits that
    fit (the most promising few of each), combined."""
    slots, samples, buckets, fan, max_held = overrides
    out = []
    for c in _slot_options(n, s, w, slots, max_held):
        m = -(-n // c)
        if m > q:
            continue
        if m <= 2:
            out.append(SortPlan(n, w, c, Split(2, 2, 2, 1), Split(2, 2, 2, 1), seed,
                                stable_floats))
            continue
        rest = _fitting(c, m, s, w, False, samples, buckets, fan)
        first = _fitting(c, m, s, w, True, samples, buckets, fan)
        for f in first:
            for r in rest:
                out.append(SortPlan(n, w, c, f, r, seed, stable_floats))
    return out


def _slot_options(n: int, s: int, w: int, slots: int | None, max_held: int | None) -> list[int]:
    if slots:
        options = {slots}
    else:
        options = {max(1, int(s / (k * w))) for k in (2.2, 2.5, 3, 3.5, 4, 5, 6, 8, 12)}
    if max_held is not None:
        options = {min(c, max(1, max_held // 2)) for c in options}
    return sorted(options)


@lru_cache(maxsize=4096)
def _fitting(c: int, m: int, s: int, w: int, whole: bool, samples: int | None,
             buckets: int | None, fan: int | None) -> tuple[Split, ...]:
    """Splits whose memory fits (first level: `whole`), best few by how much they cut per
    round: for each tree depth at m machines, those with the largest a*B (a samples per
    bucket, capped at 8), then the most buckets."""
    d_max = int(depth(m, 2))
    budget = s - STATE_WORDS - _SPARE_WORDS
    fans = [fan] if fan else [f for f in (4, 8, 16, 32, 64, 128, 256) if f < 2 * m or f == 4]
    bucket_options = [buckets] if buckets else [b for b in (4, 8, 12, 16, 24, 32, 48, 64, 96,
                                                            128, 192, 256, 384) if b <= s]
    best: dict[int, list[tuple[tuple[float, int], Split]]] = {}
    found = []
    for g in fans:
        d = int(depth(m, g))  # the deepest tree of this fan on <= m machines
        for b in bucket_options:
            for sa in ([samples] if samples else [4 * b, 8 * b, 16 * b]):
                for h in (1, 2, 4, 8, 16):
                    if h > b or (h > 1 and b < 4 * h):
                        continue
                    split = Split(sa, b, g, h)
                    leaf = split.leaf_words()
                    if c * w + (leaf if whole else max(c * w + leaf, 2 * leaf)) > budget:
                        continue
                    inner, leader, _, sent = split.host(d)
                    if whole:
                        words = c * w + max(inner, leader)
                    else:
                        words = max(2 * c * w + leaf, c * w + 2 * leaf,
                                    c * w + max(inner, leader))
                    if words > budget or sent > s:
                        continue
                    a = max(1, int(0.9 * sa) // b)
                    found.append(split)
                    best.setdefault(d, []).append(((min(a, 8) * b, h), split))
    if samples or buckets or fan:
        return tuple(found)
    kept: dict[Split, None] = {}  # per depth: the most cutting, widest and narrowest first
    for options in best.values():
        for order in ((lambda o: o[0]), (lambda o: (o[0][0], -o[0][1]))):
            for _, split in sorted(options, key=order, reverse=True)[:_KEEP]:
                kept[split] = None
    return tuple(kept)
