"""Connected components of an edge list: label[v] = the smallest vertex id in v's component.

Input: an (E, 2) int array of edges over vertices 0..V-1 (V = num_vertices, or 1 + the largest
id; a vertex in no edge is its own component; loops and repeats are allowed). Output: vertex
v's label on machine v // c_v, the machines' outputs concatenated in machine order are the V
labels. From Python: `connected_components(edges)` (labels, how many components, the run);
from the shell: `mpcsim run connectivity --edges FILE` (.npy or a networkx/SNAP edge list, see
graphs.read_edges), or a generated graph (`--n`, `--graph`). Generators and the union-find
reference: mpcsim.algorithms.graphs; where data lives and the sizing: connectivity_plan; the
exchange: label_exchange.

Algorithm: concurrent min-label hooking, shortcutting and edge contraction (the "connect,
shortcut, alter" family of Liu and Tarjan, Simple Concurrent Connected Components Algorithms,
2019/2022), run as one pipeline of exchanges with no phase boundaries. Every vertex x has a
parent p(x) <= x, held by x's owner (label_exchange's table); roots (p(x) = x) are the
current super-vertices. Every live edge holds two labels (a, b), a < b, at first its
endpoints. One exchange (2D + 2 rounds, `label_exchange`):
  - requests: each machine asks, once per distinct label, for p(a) and p(b) of its edges,
    offering a to b (the larger endpoint); and each vertex that may not point at a root yet
    (it hooked or jumped last time) asks for p(p(x)), passing up any offer it holds;
  - owners: a root x offered m < x hooks, p(x) = m (min-label hooking; any m will do: every
    parent is smaller than its child, so the parents form a forest whose roots are its
    minima); a non-root x offered m < p(x) keeps m to pass to p(x) next time (its own link
    cannot change: the edge that made it may be gone); the answer is p(x) after hooking;
  - answers: edges take the labels (p(a), p(b)), drop loops and repeats on the machine
    (alter, contraction); asking vertices take p(p(x)) (shortcut, pointer doubling), and stop
    asking once the answer is their parent (it was a root).
Invariant: forest links plus live edges connect exactly the original components (relabelling
an edge replaces a-b by a-p(a), p(a)-p(b), p(b)-b; a dropped loop's endpoints share a
parent; a link only ever moves to an ancestor). So once no edge is live, every tree is a
component and its root is its least vertex: the exact output, whatever the seed.
Termination without waiting for the worst case: "no live edge" only becomes true, so each
machine tells its parent in a heap tree of fan-in F = s/8 once it has no edges and its
children have all told it; the root then fixes the final round R (an exchange start at least
H rounds away, H = the tree's height) and sends STOP down, so every machine knows R by R.
Final stage: from R, every non-root vertex doubles p <- p(p) until its parent is a root
(an owner whose vertex already points at a root says so, -(p + 1), which saves the asker one
exchange); then owners send (v, label) to v's output machine, and everyone halts.

Rounds: L = 2D + 2 per exchange (D = 0..3 host levels, chosen by the plan), K exchanges while
edges live, the barrier's <= 2H + L, F final exchanges, 2 output rounds. Everything is
deterministic given the input and seed; the seed only places the table and the hashes
(memory), never what hooks, so there is no "expected" round count apart from the input's.
Measured K (a sequential replay of the same exchanges, and the runs): karate club 3, les
miserables 4, florentine 4, davis 2, powerlaw_cluster_graph(5000, 1, 0.1) 6, 60 x 60 grid 8,
random graph of 10^5 words 7, one or two cycles of 2^19 vertices 19, the path 0-1-..-5000
(every vertex's least neighbour is its predecessor) 14; over random, BFS-ordered, reversed
and zig-zag labellings of paths, trees, caterpillars, grids and lollipops, and labellings of
256-vertex paths, trees and cycles searched for the worst case, K <= ceil(log2 V) + 3; F <= 4.
Liu and Tarjan prove Theta(log n) steps for their algorithm RA (root-connect, shortcut,
alter, in sequence, each step a constant number of exchanges), not for this concurrent
variant, for which no O(log n) proof is known to us: the bound this module states and tests
check is K <= contraction_bound(V) = 2 ceil(log2 V) + 4 (twice the worst seen) and
F <= ceil(log2 V) + 1 (every pointer is an ancestor, and doubling halves the distance), so
rounds <= L (K + F + 1) + 2H + 2 (Plan.rounds). Measured rounds: karate club 22 (s = 64),
powerlaw 5000 44 (s = 100), random 10^5 words 62 (s = 317), one or two cycles at n = 2^20
words 98-102 (s = 2^10, D = 1) and 50-52 (s = n^(2/3), D = 0): ~5 log2 n at s = n^(1/2) and
~2.6 log2 n at n^(2/3); at n = 2^10..2^12 and s = n^(1/2) the plan needs D = 3 (8 rounds per
exchange) and takes 98-122 rounds, over 8 log2 n: see "The 2^10 and 2^12 cycles" below for
why, and what forcing D = 1 measures. benchmarks/connectivity.py prints the table and plots
it; `mpcsim bench` records the same rows and draws connectivity_cycles.png.

Communication: an exchange moves ~6 words per live edge (two requests of 1-2 words up and an
answer down, per hop) plus ~3 per asking vertex; edges shrink as trees merge (loops and
repeats are dropped every exchange), so traffic follows the live edges: 11-64 words per input
edge in all (karate club 11, powerlaw 5000 40, the random graph of 10^5 words 55, cycles 17
at D = 0 to 64 at D = 3).

Skew: a popular label (a hub, or the root of a large tree: it is every edge's label in the
end) is asked for by every machine holding one of its edges. Requests are merged per machine
(each distinct label once), then by the combining hosts (label_exchange: a host sees a label
at most once per child, an owner at most once per top block), so a popular label costs its
host g words and its owner max(g, q / g^D), not one word per edge: D is chosen so that fits.

Memory, derived (per machine, words; c_e = ceil(E / q) edges and c_v = ceil(P / q) slots per
machine, P >= V prime; g the fan-in, B = q / g^D the top blocks; Plan and peak_words in
connectivity_plan). The core caps memory + inbox, sent and received words per round.
  Deterministic terms. State: 2 c_e (an edge's two labels; edges are only ever dropped) +
  2 c_v (a slot's parent and pending offer) + 2 (bar). A requester sends at tau 0 at most
  3 c_e + 2 c_v words (per edge 1 word for a, 2 for b with its offer; per asking slot 2) and
  receives at tau 2D + 2 one word per distinct id it asked, <= 2 c_e + c_v. An owner holds
  exactly c_v slots (pi is a bijection), and at D >= 1 an id reaches its owner from at most B
  level-D hosts (their D low digits are hash(x)'s), so its inbox is <= 2 c_v B words; at D = 0
  from at most q machines. Output stage: 2 words per vertex sent and received plus 1 per
  message, c_o = c_v labels held; the plan takes 6 c_v + 2.
  Random terms (the hashes). A level-l host receives from its g children, each passing up
  <= r distinct ids (r = 2 c_e + c_v at level 1, and no more than its own load above), and
  keeps 1 word per received request until tau 2D + 2 - l, so at tau D + 1 a machine holds
  sum_l L_l book words plus that round's inbox (<= 2 L_{D+1} words). Model hash(x) as
  uniform: L_l = sum_x m_x [digit_{l-1} hash(x) = the host's digit], m_x <= g children asking
  for x, sum_x m_x <= g r, so E[L_l] <= r and Var[L_l] <= g r, and Bernstein gives
  P(L_l >= r + t) <= exp(-t^2 / (2 g r + 2 g t / 3)): with lambda = ln(1/delta),
  L_l <= r + sqrt(2 g r lambda) + 2 g lambda / 3 except with probability delta per host,
  level and exchange (union over q D (K + F) of them for the run).
  What the plan sizes by (`peak_words`): the means with 25% slack plus the popular copies,
      2 c_e + 2 c_v + 2 + D (5/4 r + P g) + 5/4 (r + c_e) + 2 P max(g, B),
  P = max(1, ceil(2E / (V g))) popular ids per host (2 at D = 0), r = max(2 c_e, c_v); or
  6 c_v + 2 in the output stage. It is the mean, not the with-high-probability bound: at
  delta = 1e-9 (lambda ~ 21 + ln(q D (K + F))) the tail term is several times r (g = 10,
  r = 50: r + 187 + 233 words), which would raise the least s several-fold. Measured
  instead: peaks (memory, sent and received) over 124 runs of 31 graphs (networkx's real
  graphs, grids, trees, cliques, powerlaw cluster and Barabasi-Albert graphs, and the
  registry's generators at 2000 and 20000 edges) at s = max(ceil((2E)^(1/2)), the least
  that fits), twice that and (2E)^(2/3), two seeds each: 0.42-0.90 of s, median 0.65. Caps
  are enforced, so a load past the estimate raises MemoryLimitExceeded (machine, round,
  words), never a wrong label; another seed re-draws the hashes.
q = max(E / c_e, V / c_v) machines: q s is about 10-20 words per input word at s = n^(1/2)
(2548 machines of 317 words for the random graph of 10^5 words), 2-3 at n^(2/3).

The 2^10 and 2^12 cycles (s = n^(1/2); issue 12 asks <= 8 log2 n = 80 and 96 rounds).
Measured 2026-12-04, one and two cycles, seeds 0-3, caps off to measure. D = 1 (4 rounds an
exchange) takes 50-70 rounds there, but the estimate admits D = 1 only from s = 74 (2^10)
and 112 (2^12), D = 2 from 48 and 68, D = 3 from 44 and 54: at s = 44 (2^10: the bench runs
at the least s that fits, as 32 fits nothing) and 64 (2^12) it plans D = 3. Its popular term
is not slack there. A cycle has no hub, but pointer doubling makes one: vertices that jump
to a root ask for it once more, and in the final stage every vertex of the one or two trees
chases its root, so once about q vertices ask for one id, each block's host keeps g book
words for it and its owner receives B words; the two coexist at tau D + 1, and an owner of
c_v ids can be asked for all of them. Forced D = 1 plans, peak words (memory + inbox, sent,
received) over 8 runs each: at s = 44, c_e = c_v = 1, 2, 3 (g = 23, 16, 14): 27-38, 27-40,
32-40 (up to 0.86-0.91 of s); at s = 64, c = 2 (g = 32, B = 33): 41-65, over s on seed 1
(a final-stage owner round: 30 words of state and book, 35 received from 33 hosts); c = 4
(g = 23): 42-48; c = 5 (g = 21): 48-50 (0.66-0.78 of s); c = 8: 66-73. So D = 1 fits 2^12 at
s = 64 with c = 4 or 5 in practice, but for c = 4 the estimate puts the popular copies (g
book words, 2 max(g, B) inbox words: 69) on top of means that already fill 43 of the 64
words, and even one word a copy at host and owner (g + B = 46) is over. An estimate that drops the
coexistence (a popular id counted once, max(g, B) words, one word a copy) admits these
plans, but also s = 18, 21, 23 and 23 on florentine, karate, davis and les miserables,
where the plans it picks peak at 15-18, 20-24, 24-27 and 28-38 words (seeds 0-2): over s in
8 of 12 runs, so it is not adopted. At 2^10 a sharper estimate would not help the bench row
anyway: the row runs at the least s that fits, which for these cycles is the deepest plan's
(the popular term grows with g, and g shrinks with D). Meeting 2^10 needs a cheaper exchange at
the floor; meeting 2^12 needs a bound on the popular copies that also holds on hubs (live
edges per label bound the edges' requests, not the vertices that jumped to a root).

Why not s = ceil((2E)^(1/2)) on tiny graphs. The least s any plan fits (`least_memory_words`,
what plan_for's ConfigError names) is, per tests/algorithms/test_connectivity.py: florentine
families 28 (E = 20, ceil((2E)^(1/2)) = 7), karate club 36 (13), davis southern women 42
(14), les miserables 44 (23); cycles of 2^9 edges 44 (32), of 2^11 54 (64: fits). The floor
is the design's, not the model's: a machine holds an edge, a slot and the bar (6 words) and
receives its edge's 2 answers and its slot's 1 at tau 0 (9 words > 7 for florentine
whatever the hashes), and the exchange adds, at c_e = c_v = 1, a host's books and inbox and
an owner's popular copies: 10 + D (3 + g) + 2 max(g, B) words by the estimate, g^D B >= q,
which grows with log q while (2E)^(1/2) grows with E^(1/2) (they cross near E = 1,200 on
sparse graphs). Forcing every plan (D = 0..3, c_e and c_v = 1..6, 3 seeds; caps off to
measure) the least peak seen is 15 words on florentine, 20 on karate, 22 on davis and 24 on
les miserables, so no plan of this design meets ceil((2E)^(1/2)) on the first three, with any
sizing. A sorting-network exchange (sort_exchange: 3 words an item, deterministic memory)
could go lower at ~T = L(L + 1)/2 rounds per exchange; it is not wired in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from ..fleet import Fleet
from ..program import Partition, Program
from . import graphs
from .connectivity_plan import BAR_WORDS, Plan, least_memory_words, plan_for
from .label_exchange import CONTROL, NO_VALUE, Batch, split
from .segments import offsets_of
from .spec import AlgorithmSpec, InputFile, Option, double_until_accepted

__all__ = ["Connectivity", "Components", "connected_components", "reference", "verify",
           "round_bound", "round_bound_for", "make_input", "sizing", "sizing_for",
           "machines_needed", "count_components", "SPEC"]

DONE, STOP, OUT = CONTROL - 1, CONTROL - 2, CONTROL - 3  # [DONE], [STOP, R], [OUT, v, label..]
NEED = NO_VALUE - 1  # a pending "ask once more, offering nothing" (never wins a min)
# bar, per machine, unpacked: children that reported DONE, DONE sent, the final round R (-1:
# unknown), output sent, live edges, busy (slots asking or with an offer to pass on); held as
# BAR_WORDS = 2 words: [R, kids + (sent << 32) + (output sent << 33) + (edges > 0) << 34 +
# (busy > 0) << 35]
KIDS, SENT, STOP_AT, OUTPUT_SENT, EDGES, BUSY = range(6)
_EMPTY = np.zeros(0, dtype=np.int64)
# the bar of a machine beyond the plan's (num_machines > needed): reported, output, idle
_IDLE = np.array([-1, (1 << 32) + (1 << 33)], dtype=np.int64)
FINAL_DONE = -1  # in the final stage, f of a vertex whose parent is its root

if TYPE_CHECKING:
    from ..driver import Result


class Connectivity(Program):
    """Connected components by concurrent hooking, shortcutting and edge contraction; see the
    module docstring.

    seed: salts the exchange's hashes and the slot permutation. num_vertices: V, or None for
    1 + the largest id in the edge list. depth, edge_words, slot_words: override the plan's
    choices (for experiments; None chooses).
    """

    def __init__(self, seed: int = 0, num_vertices: int | None = None,
                 depth: int | None = None, edge_words: int | None = None,
                 slot_words: int | None = None) -> None:
        problems = []
        if type(seed) is not int or seed < 0:
            problems.append(("seed", seed, "must be an int >= 0"))
        if num_vertices is not None and (type(num_vertices) is not int or num_vertices < 0):
            problems.append(("num_vertices", num_vertices, "must be an int >= 0 or None"))
        for name, value in (("depth", depth), ("edge_words", edge_words),
                            ("slot_words", slot_words)):
            if value is not None and (type(value) is not int or value < (name != "depth")):
                problems.append((name, value, "must be a positive int or None"))
        if problems:
            raise ConfigError(problems=problems)
        self.seed = seed
        self.num_vertices = num_vertices
        self.overrides = (depth, edge_words, slot_words)

    def partition(self, inputs: Any, num_machines: int, memory_words: int) -> Partition:
        """The Plan for (E, V, q, s) as the run's plan; the edges spread over its machines."""
        edges = _as_edges(inputs, self.num_vertices)
        vertices = (self.num_vertices if self.num_vertices is not None
                    else graphs.num_vertices(edges))
        plan = plan_for(len(edges), vertices, memory_words, num_machines, self.seed,
                        *self.overrides)
        ex, ce = plan.exchange, plan.edge_words
        out: dict[int, dict[str, Any]] = {}
        for j in range(plan.machines):
            a, b = _oriented(edges[j * ce:(j + 1) * ce])
            slots = ex.slot_ids(j) if j < ex.owners else _EMPTY
            out[j] = {"e": _interleave(a, b),
                      "v": _interleave(slots, np.full(slots.size, NO_VALUE)),
                      "bar": np.array([-1, int(a.size > 0) << 34], dtype=np.int64)}
        return Partition(out, plan)

    def round_many(self, fleet: Fleet) -> None:
        plan: Plan = fleet.plan
        ex = plan.exchange
        t = fleet.round_idx
        tau = t % ex.rounds
        requests, control = split(fleet)
        bar = _unpack(fleet.gather("bar", _IDLE)[0])
        _control(fleet, plan, control, bar)
        final = bool(np.any((bar[:, STOP_AT] >= 0) & (t >= bar[:, STOP_AT])))
        if tau == 0:
            _requesters(fleet, plan, requests, bar, final, t)
        elif tau <= ex.depth:
            ex.host_up(fleet, requests, tau)
        elif tau == ex.depth + 1:
            _owners(fleet, plan, requests, bar, final)
        else:
            ex.host_down(fleet, requests, ex.rounds - tau)
        _barrier(fleet, plan, bar, t)
        fleet.scatter("bar", _pack(bar), BAR_WORDS * np.arange(len(fleet) + 1))
        waiting = (bar[:, STOP_AT] >= 0) & (t < bar[:, STOP_AT])
        fleet.halt(where=(bar[:, EDGES] == 0) & (bar[:, BUSY] == 0) & ~waiting)

    def __repr__(self) -> str:
        return f"Connectivity(seed={self.seed}, num_vertices={self.num_vertices})"


# -- the kernels --------------------------------------------------------------------------------

def _requesters(fleet: Fleet, plan: Plan, batch: Batch, bar: np.ndarray, final: bool,
                t: int) -> None:
    """tau 0: read the last exchange's answers (edges take their endpoints' new labels, asking
    vertices jump), then ask again: every edge endpoint (the larger offered the smaller), and
    every vertex whose parent may not be a root or that has an offer to pass on.

    A vertex that asked is marked in its parent word: p = -(parent + 1) until the answer."""
    ex = plan.exchange
    k = len(fleet)
    a, b, a_off = _pairs(fleet, "e")
    p, f, p_off = _pairs(fleet, "v")
    who_all = np.repeat(np.arange(k), p_off[1:] - p_off[:-1])
    who_e = np.repeat(np.arange(k), a_off[1:] - a_off[:-1])
    at = np.flatnonzero(p < 0)
    p[at] = -p[at] - 1
    who_v = who_all[at]
    if len(batch.dests):  # the answers: new labels for the edges, parents' parents
        e = a.size
        answer = ex.answers(batch, fleet, np.concatenate([who_e, who_e, who_v]),
                            np.concatenate([a, b, p[at]]))
        jumped = answer[2 * e:]
        rooted = jumped < 0  # final stage: the parent's parent is known to be a root
        jumped = np.where(rooted, -jumped - 1, jumped)
        moved = ~rooted & (jumped != p[at])
        p[at] = jumped
        if final:
            f[at[~moved]] = FINAL_DONE
        who_e, a, b = _relabel(who_e, answer[:e], answer[e:2 * e])
        who_v, at = who_v[moved], at[moved]
    offers = np.full(at.size, NO_VALUE)
    if not final:  # vertices just hooked, or with an offer to pass up, ask too
        pending = np.flatnonzero(f != NO_VALUE)
        who_v, at, offers = _merge(np.concatenate([who_v, who_all[pending]]),
                                   np.concatenate([at, pending]),
                                   np.concatenate([offers, np.where(f[pending] < NEED,
                                                                    f[pending], NO_VALUE)]))
        f[pending] = NO_VALUE
    elif t == bar[0, STOP_AT]:  # the final stage starts: every non-root finds its root
        ids = ex.ids_at(fleet.ids[who_all], np.arange(p.size) - p_off[who_all])
        at = np.flatnonzero((p != ids) & (ids < plan.vertices))
        who_v, offers = who_all[at], np.full(at.size, NO_VALUE)
        f[:] = NO_VALUE  # offers left over are moot: every edge is inside a tree
    edge_counts = np.bincount(who_e, minlength=k)
    ask_counts = np.bincount(who_v, minlength=k)
    ex.request(fleet, np.concatenate([who_e, who_e, who_v]), np.concatenate([a, b, p[at]]),
               np.concatenate([np.full(a.size, NO_VALUE), a, offers]))
    if final:
        _output(fleet, plan, p, p_off, bar, ask_counts)
    p[at] = -p[at] - 1
    fleet.scatter("e", _interleave(a, b), 2 * offsets_of(edge_counts))
    fleet.scatter("v", _interleave(p, f), 2 * p_off)
    bar[:, EDGES] = edge_counts
    bar[:, BUSY] = ask_counts


def _owners(fleet: Fleet, plan: Plan, batch: Batch, bar: np.ndarray, final: bool) -> None:
    """tau D + 1: each asked entry x answers its parent after hooking: a root x offered a
    smaller label m hooks to it (parent(x) = m, and x asks for m's parent next); a non-root
    offered a label below its parent keeps the offer to pass up to its parent. In the final
    stage nothing hooks, and a parent known to be a root is answered as -(parent + 1)."""
    ex = plan.exchange
    p, f, p_off = _pairs(fleet, "v")

    def decide(at: np.ndarray, slot: np.ndarray, least: np.ndarray) -> np.ndarray:
        g = p_off[at] + slot
        current = p[g]
        asked = current < 0  # the vertex itself asked this exchange: a non-root
        current = np.where(asked, -current - 1, current)
        if not final:
            x = ex.ids_at(fleet.ids[at], slot)
            root = current == x
            hook = root & (least < x)
            up = ~root & (least < current)
            newly = (hook | up) & (f[g] == NO_VALUE)
            p[g[hook]] = least[hook]
            current[hook] = least[hook]
            f[g[hook]] = NEED
            f[g[up]] = np.minimum(f[g[up]], least[up])
            bar[:, BUSY] += np.bincount(at[newly], minlength=len(fleet))
        else:  # the asker may stop: x's parent is a root
            current = np.where(f[g] == FINAL_DONE, -current - 1, current)
        return current

    ex.own(fleet, batch, decide)
    if not final:
        fleet.scatter("v", _interleave(p, f), 2 * p_off)


def _relabel(who: np.ndarray, a: np.ndarray, b: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges (who, a, b) as (who, min, max), loops dropped, repeats on a machine merged."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keep = lo != hi
    who, lo, hi = who[keep], lo[keep], hi[keep]
    order = np.lexsort((hi, lo, who))
    who, lo, hi = who[order], lo[order], hi[order]
    first = np.ones(who.size, dtype=bool)
    first[1:] = (who[1:] != who[:-1]) | (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    return who[first], lo[first], hi[first]


def _merge(who: np.ndarray, at: np.ndarray, offers: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Asking slots (global positions `at`, ascending by machine) merged, least offer kept."""
    if at.size == 0:
        return who, at, offers
    order = np.lexsort((at, who))
    who, at, offers = who[order], at[order], offers[order]
    first = np.ones(at.size, dtype=bool)
    first[1:] = at[1:] != at[:-1]
    runs = np.flatnonzero(first)
    return who[runs], at[runs], np.minimum.reduceat(offers, runs)


def _output(fleet: Fleet, plan: Plan, p: np.ndarray, p_off: np.ndarray, bar: np.ndarray,
            asking: np.ndarray) -> None:
    """Machines whose vertices all know their roots send (vertex, label) pairs to the machines
    that output them (vertex v on machine v // c_o)."""
    ready = np.flatnonzero((asking == 0) & (bar[:, OUTPUT_SENT] == 0))
    if ready.size == 0:
        return
    bar[ready, OUTPUT_SENT] = 1
    ex = plan.exchange
    counts = (p_off[1:] - p_off[:-1])[ready]
    who = np.repeat(ready, counts)
    at = np.concatenate([np.arange(p_off[i], p_off[i + 1]) for i in ready.tolist()]) \
        if ready.size else _EMPTY
    ids = ex.ids_at(fleet.ids[who], at - p_off[who])
    real = ids < plan.vertices
    who, ids, labels = who[real], ids[real], p[at[real]]
    dest = ids // plan.output_words
    order = np.lexsort((ids, dest, who))
    who, dest, ids, labels = who[order], dest[order], ids[order], labels[order]
    if who.size == 0:
        return
    cut = np.ones(who.size, dtype=bool)
    cut[1:] = (who[1:] != who[:-1]) | (dest[1:] != dest[:-1])
    heads = np.flatnonzero(cut)
    sizes = 2 * np.diff(np.append(heads, who.size)) + 1
    offsets = offsets_of(sizes)
    payload = np.empty(offsets[-1], dtype=np.int64)
    tags = np.zeros(payload.size, dtype=bool)
    tags[offsets[:-1]] = True
    payload[tags] = OUT
    pairs = np.empty(2 * ids.size, dtype=np.int64)
    pairs[0::2], pairs[1::2] = ids, labels
    payload[~tags] = pairs
    fleet.send_many(fleet.ids[who[heads]], dest[heads], payload, offsets)


def _control(fleet: Fleet, plan: Plan, control: Batch, bar: np.ndarray) -> None:
    """DONE from a child, STOP from the parent (passed on to the children), OUT labels."""
    if control.dests.size == 0:
        return
    starts = control.starts
    tag = control.values[starts]
    at = fleet.index_of(control.dests)
    done = tag == DONE
    if done.any():
        bar[:, KIDS] += np.bincount(at[done], minlength=len(fleet))
    stop = tag == STOP
    if stop.any():
        bar[at[stop], STOP_AT] = control.values[starts[stop] + 1]
        _send_stop(fleet, plan, at[stop], control.values[starts[stop] + 1])
    out = np.flatnonzero(tag == OUT)
    if out.size:
        lens = control.lens[out] - 1
        where = np.repeat(starts[out] + 1 - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        pairs = control.values[where].reshape(-1, 2)
        receiver = np.repeat(at[out], lens // 2)
        cuts = np.flatnonzero(np.diff(receiver)) + 1
        for lo, hi in zip(np.r_[0, cuts].tolist(), np.r_[cuts, receiver.size].tolist()):
            machine = fleet.machines[receiver[lo]]
            first = int(fleet.ids[receiver[lo]]) * plan.output_words
            if machine.output is None:
                size = min(plan.output_words, plan.vertices - first)
                machine.output = np.full(size, -1, dtype=np.int64)
            machine.output[pairs[lo:hi, 0] - first] = pairs[lo:hi, 1]


def _send_stop(fleet: Fleet, plan: Plan, at: np.ndarray, final_round: np.ndarray) -> None:
    ids = fleet.ids[at]
    kids = plan.kids(ids)
    if kids.sum() == 0:
        return
    senders = np.repeat(ids, kids)
    first = np.repeat(ids * plan.barrier_fan + 1, kids)
    rank = np.arange(senders.size) - np.repeat(offsets_of(kids)[:-1], kids)
    payload = np.empty((senders.size, 2), dtype=np.int64)
    payload[:, 0] = STOP
    payload[:, 1] = np.repeat(final_round, kids)
    fleet.send_many(senders, first + rank, payload)


def _barrier(fleet: Fleet, plan: Plan, bar: np.ndarray, t: int) -> None:
    """A machine without edges whose heap-tree children all reported tells its parent; when
    the root can, every edge is gone: it fixes the final round R and sends STOP down."""
    ids = fleet.ids
    ready = ((bar[:, SENT] == 0) & (bar[:, EDGES] == 0) & (bar[:, STOP_AT] < 0)
             & (bar[:, KIDS] == plan.kids(ids)))
    if not ready.any():
        return
    bar[ready, SENT] = 1
    root = ready & (ids == 0)
    if root.any():
        final_round = plan.final_round(t)
        bar[root, STOP_AT] = final_round
        _send_stop(fleet, plan, np.flatnonzero(root), np.array([final_round]))
    leaf = ready & (ids != 0)
    if leaf.any():
        fleet.send_many(ids[leaf], (ids[leaf] - 1) // plan.barrier_fan,
                        np.full(int(leaf.sum()), DONE, dtype=np.int64))


def _pairs(fleet: Fleet, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """memory[key] (x0, y0, x1, y1, ...) of every fleet machine as writable columns x, y and
    each machine's offsets into them."""
    values, offsets = fleet.gather(key, _EMPTY)
    return values[0::2].copy(), values[1::2].copy(), offsets // 2


def _interleave(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = np.empty(2 * x.size, dtype=np.int64)
    out[0::2], out[1::2] = x, y
    return out


def _unpack(words: np.ndarray) -> np.ndarray:
    """Each machine's 2 bar words as the 6 columns KIDS..BUSY."""
    words = words.reshape(-1, BAR_WORDS)
    bar = np.empty((words.shape[0], 6), dtype=np.int64)
    flags = words[:, 1]
    bar[:, STOP_AT] = words[:, 0]
    bar[:, KIDS] = flags & 0xFFFFFFFF
    for column, bit in ((SENT, 32), (OUTPUT_SENT, 33), (EDGES, 34), (BUSY, 35)):
        bar[:, column] = (flags >> bit) & 1
    return bar


def _pack(bar: np.ndarray) -> np.ndarray:
    words = np.empty((bar.shape[0], BAR_WORDS), dtype=np.int64)
    words[:, 0] = bar[:, STOP_AT]
    words[:, 1] = bar[:, KIDS]
    for column, bit in ((SENT, 32), (OUTPUT_SENT, 33), (EDGES, 34), (BUSY, 35)):
        words[:, 1] |= (bar[:, column] > 0).astype(np.int64) << bit
    return words.reshape(-1)


def _oriented(chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A machine's edges as (min, max) pairs, loops dropped, repeats merged."""
    if chunk.size == 0:
        return _EMPTY, _EMPTY
    _, lo, hi = _relabel(np.zeros(len(chunk), dtype=np.int64), chunk[:, 0], chunk[:, 1])
    return lo.copy(), hi.copy()


# -- the registry's functions -------------------------------------------------------------------

def _as_edges(inputs: Any, vertices: int | None) -> np.ndarray:
    edges = np.asarray([] if inputs is None else inputs)
    if edges.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    problems = []
    if edges.ndim != 2 or edges.shape[1] != 2 or edges.dtype.kind not in "iu":
        problems.append(("inputs", f"array of shape {edges.shape}, dtype {edges.dtype}",
                         "connectivity needs an (E, 2) int array of edges"))
    elif edges.min() < 0 or (vertices is not None and edges.max() >= vertices):
        problems.append(("inputs", f"ids in [{edges.min()}, {edges.max()}]",
                         "vertex ids must be in [0, num_vertices)"))
    if problems:
        raise ConfigError(problems=problems)
    return edges.astype(np.int64)


def machines_needed(inputs: Any, memory_words: int, num_vertices: int | None = None,
                    seed: int = 0) -> int:
    """q for this edge list on machines of `memory_words` words (ConfigError if none fit)."""
    edges = _as_edges(inputs, num_vertices)
    vertices = num_vertices if num_vertices is not None else graphs.num_vertices(edges)
    return plan_for(len(edges), vertices, memory_words, 1 << 40, seed).machines


def reference(inputs: Any, num_vertices: int | None = None) -> np.ndarray:
    """Union-find (mpcsim.algorithms.graphs.components)."""
    return graphs.components(_as_edges(inputs, num_vertices), num_vertices)


def verify(output: list[Any], inputs: Any, num_vertices: int | None = None) -> bool:
    parts = [np.asarray(o) for o in output if o is not None]
    got = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    want = reference(inputs, num_vertices)
    return got.shape == want.shape and bool(np.array_equal(got, want))


def round_bound(n: int, q: int, s: int, graph: str = "random") -> int:
    """The round bound (Plan.rounds) for a generated graph of n words on q machines of s."""
    edges = make_input(n, np.random.default_rng(0), graph)
    return plan_for(len(edges), graphs.num_vertices(edges), s, q, 0).rounds()


def make_input(n: int, rng: np.random.Generator, graph: str = "random") -> np.ndarray:
    """n // 2 edges from the named generator (graphs.GENERATORS)."""
    if graph not in graphs.GENERATORS:
        raise ConfigError(problems=[("graph", graph, "must be one of "
                                     + ", ".join(graphs.GENERATORS))])
    return graphs.GENERATORS[graph](n // 2, rng)


def sizing(n: int, q: int | None = None, s: int | None = None,
           graph: str = "random") -> tuple[int, int]:
    """Default (q, s) for a generated graph of n words: see `sizing_for`."""
    edges = make_input(n, np.random.default_rng(0), graph)
    return sizing_for(edges, q, s)


def sizing_for(inputs: Any, q: int | None = None, s: int | None = None,
               num_vertices: int | None = None) -> tuple[int, int]:
    """(q, s) for an edge list: s = max(256, ceil(n^(2/3)), the least that fits) for n = 2E
    input words (doubled until the plan fits q, if q is given); q = the plan's machines. A
    given s or q that cannot work raises ConfigError naming it."""
    edges = _as_edges(inputs, num_vertices)
    e = len(edges)
    v = num_vertices if num_vertices is not None else graphs.num_vertices(edges)
    if s is None:
        s = max(256, math.ceil((2 * e) ** (2 / 3)), least_memory_words(e, v))
        if q is not None:
            s = double_until_accepted(s, lambda words: plan_for(e, v, words, q, 0))
    plan = plan_for(e, v, s, q if q is not None else 1 << 40, 0)
    return (q if q is not None else plan.machines), s


def round_bound_for(inputs: Any, q: int, s: int, num_vertices: int | None = None) -> int:
    """The round bound (Plan.rounds) for an edge list on q machines of s words."""
    edges = _as_edges(inputs, num_vertices)
    v = num_vertices if num_vertices is not None else graphs.num_vertices(edges)
    return plan_for(len(edges), v, s, q, 0).rounds()


def count_components(output: list[Any]) -> dict[str, Any]:
    """The summary's extra line: how many components the labels name."""
    parts = [np.asarray(o) for o in output if o is not None]
    labels = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return {"components": int(np.unique(labels).size)}


@dataclass(frozen=True)
class Components:
    """What `connected_components` found."""

    labels: np.ndarray  # int64[V]: the least vertex id in each vertex's component
    count: int  # components, isolated vertices included
    result: Result  # the MPC run: rounds, wall_s, trace (caps, words sent)


def connected_components(edges: Any, num_vertices: int | None = None, *,
                         memory_words: int | None = None, num_machines: int | None = None,
                         seed: int = 0, **run_options: Any) -> Components:
    """The connected components of an edge list, computed as an MPC job (`Connectivity`).

    edges: an (E, 2) int array (or nested sequence) of vertex ids >= 0; vertices are
    0..V-1 with V = num_vertices or 1 + the largest id, so a vertex in no edge is its own
    component. memory_words (s) and num_machines (q) default to `sizing_for`'s choice;
    run_options go to mpcsim.run (backend="ray", address=..., enforce=False, ...). Raises
    ConfigError for a malformed edge list or an s that no plan fits (naming the least s).

        >>> import numpy as np
        >>> from mpcsim.algorithms import connected_components
        >>> found = connected_components(np.array([[0, 1], [2, 3], [1, 3], [5, 6]]))
        >>> found.labels.tolist(), found.count
        ([0, 0, 0, 0, 4, 5, 5], 3)
    """
    from ..api import run

    edges = _as_edges(edges, num_vertices)
    q, s = sizing_for(edges, num_machines, memory_words, num_vertices)
    result = run(Connectivity(seed=seed, num_vertices=num_vertices), edges, num_machines=q,
                 memory_words=s, seed=seed, **run_options)
    parts = [np.asarray(o) for o in result.output if o is not None]
    labels = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return Components(labels, int(np.unique(labels).size), result)


SPEC = AlgorithmSpec(
    name="connectivity",
    summary="connected components (labels = least vertex id) by hooking, shortcutting and "
            "edge contraction",
    program=Connectivity,
    make_input=make_input,
    reference=reference,
    verify=verify,
    round_bound=round_bound,
    sizing=sizing,
    options=(Option("graph", "random", "the generated graph for connectivity",
                    ("make_input", "round_bound", "sizing"), type=str,
                    choices=tuple(graphs.GENERATORS)),),
    input_file=InputFile("edges", "an edge list: .npy (E, 2) ints, or text with one edge "
                         "'u v' per line as networkx's write_edgelist or SNAP write it",
                         graphs.load_edges, sizing_for, round_bound_for),
    report=count_components,
)
