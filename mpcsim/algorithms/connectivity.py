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
    offering a to b (the larger endpoint); and every vertex that is not a root asks for
    p(p(x)) (full shortcutting: a root may hook at any exchange, so a child cannot know its
    parent stays a root until no edge is live);
  - owners: a root x offered m < x hooks, p(x) = m (min-label hooking; any m will do: every
    parent is smaller than its child, so the parents form a forest whose roots are its
    minima); the answer is p(x) after hooking. An offer to a non-root is dropped: the edge
    that made it is relabelled and offers again;
  - answers: asking vertices take p(p(x)) (shortcut, pointer doubling) and note whether it
    equalled p(x) (then p(x) was a root: the vertex is ROOTED); edges take the labels
    (p(a), p(b)) (alter), chased further along every link the machine just learnt (its
    answers y -> p(y) and its own slots' new parents: `_climb`, no round spent), and an edge
    whose b now points at a is dropped (the link b -> a joins them; if a answered a, a root,
    the machine sends b's owner a HINT next exchange: b is ROOTED); then each machine
    replaces its edges by spanning stars of their local components (every label x with
    local least label m != x becomes the edge (m, x): loops and repeats go, and each label
    is offered the least one its machine's edges reach).
Invariant: forest links plus live edges connect exactly the original components (relabelling
an edge replaces a-b by a-a', a'-b', b'-b with a' and b' in a's and b's trees; a dropped
loop's endpoints share a tree, a dropped linked edge's endpoints a link; a star spans what
the machine's edges spanned; a link only ever moves to an ancestor, so trees only merge).
So once no edge is live, every tree is a component and its root is its least vertex: the
exact output, whatever the seed.
Termination without waiting for the worst case: once no edge is live nothing hooks again
(only edges offer labels; a vertex asking for its parent's parent offers nothing). Each
machine tells its parent in a heap tree of fan-in F (the least with the height that
min(s/4, q) gives) once it has no edges and its children have all told it (a subtree that
starts without edges counts as told from the start: edges never move); the root then
knows no edge is live and sends STOP down, so every machine knows within 2H rounds of the
last edge dropping (H = the tree's height). A machine that knows STOP stops asking for its
ROOTED vertices (their flags come from answers read after the last hook: STOP reaches a
machine after the exchange that read the last edges' answers) and keeps doubling the
others; an owner answers -(p + 1) for a ROOTED vertex, and an asker that knows STOP takes
that as "my new parent p is a root" (no exchange spent to ask p itself). As soon as all of
a machine's vertices are roots or ROOTED and it knows STOP, it sends (v, label) to v's
output machine, in any round.
Flags, proved safe (a flag may be stale: it is only read once STOP is known). A ROOTED flag
says "p(x) was a root after the hooks of exchange j" for an info exchange j; it stays true if
no hook happens after j. Let K be the last exchange that carries an edge (hooks need edges'
offers, so the last hook is at an exchange <= K). Every machine reads no edges at tau 0 of
exchange K + 1, so the barrier's root decides at a round >= (K + 1) L, and a machine knows
STOP at a reading (tau 0 of exchange i, round i L) only if the root decided before it
(STOP arrives as a message; the root itself decides after reading): so i >= K + 2. Sources:
x's own answer read at i L (p(p(x)) = p(x) after the hooks of exchange i - 1: j = i - 1);
a flagged answer for x's request for y, read at i L: y's owner flagged y at tau D + 1 of
exchange i - 1 from y's own answer or a HINT, both read at tau 0 of exchange i - 1, so
j >= i - 2 >= K (or y kept an older flag because its machine knew STOP: true by this same
argument). An owner's flag set by a HINT is read by its own output check only in a round r
that knows STOP, r < i L for the next reading i L (which overwrites it if y asked): the root
decided by r, so (K + 1) L <= r < i L and j = i - 2 >= K again. Hints and flagged
answers offer nothing (HINT hooks no root: it exceeds every id; it goes only to non-roots,
whose offers are dropped anyway), so they change neither the invariant nor K; they only let
a vertex learn a root one exchange sooner.

Rounds: L = 2D + 2 per exchange (D = 0..3 host levels, chosen by the plan), K exchanges while
edges live, then at most F final doubling exchanges (they overlap the barrier's 2H rounds),
2 output rounds. Everything is deterministic given the input and seed; the seed places the
table and the hashes (memory) and, as a machine chases labels through its own slots too
(`_climb`), a little of what it learns: the same graph can take one exchange more or less
under another seed (2^10 cycle, draw 3, seeds 0-5: 56-68 rounds). Measured K (runs at
s = max(64, the least that fits), seed 0, before local chasing):
karate club 2, les miserables 4, florentine 3, davis 3, powerlaw_cluster_graph(5000, 1, 0.1)
1 and the path 0-1-..-5000 1 (their edges come in an order whose machine-local stars span
long stretches; the forest they leave is deep, and doubling takes the time), 60 x 60 grid 8,
random graph of 10^5 words 7; over random, given, reversed, BFS-ordered and zig-zag
labellings of a 3000-vertex path, random tree, caterpillar and 50 x 60 grid, a 2040-vertex
lollipop, a 4000-vertex cycle and a 4095-vertex binary tree, K <= ceil(log2 V) + 1 (the
cycle, randomly labelled). Liu and Tarjan prove Theta(log n) steps for their algorithm RA
(root-connect, shortcut, alter, in sequence, each step a constant number of exchanges), not
for this concurrent variant, for which no O(log n) proof is known to us: the bound this
module states and tests check is K <= contraction_bound(V) = 2 ceil(log2 V) + 4 and
F <= ceil(log2 V) + 1 (every pointer is an ancestor, and doubling halves the distance), so
rounds <= L (K + F) + 2H + 2 (Plan.rounds). Measured rounds: karate club 14 (s = 64),
powerlaw 5000 32 (s = 100), random 10^5 words 34 (s = 317, D = 1); one and two cycles of n
words, seed 0 (the bench's draws): at s = n^(1/2) 56 and 56 (n = 2^10, s = 38, D = 2), 68 and
62 (2^12, D = 2), 68 and 62 (2^14, D = 2), 50 and 50 (2^16, D = 1), 58 and 50 (2^18), 54 and 54
(2^20): within 8 log2 n at every n, ~2.7-5.7 log2 n, and on every draw tried (see "The 2^10
and 2^12 cycles"); at s = n^(2/3) 16-34 rounds (~0.8-3 log2 n). benchmarks/connectivity.py
prints the table and plots it; `mpcsim bench` records the same rows and draws
connectivity_cycles.png.

Communication: an exchange moves ~6 words per live edge (two requests of 1-2 words up and an
answer down, per hop) plus ~2 per non-root vertex (one word up and one down, per hop); edges
shrink as trees merge (loops, linked edges and repeats are dropped every exchange), so
traffic follows the live edges and the vertices still chasing a root, in words per input
edge: karate club 12, powerlaw 5000 27, the random graph of 10^5 words 37, cycles 10 at D = 0
to 60 at D = 2; a HINT is 2 words up and 1 down per hop, once per linked edge.

Skew: a popular label (a hub, or the root of a large tree: it is every edge's label in the
end) is asked for by every machine holding one of its edges or, as every non-root asks for
its parent's parent, one of its children. Requests are merged per machine
(each distinct label once), then by the combining hosts (label_exchange: a host sees a label
at most once per child, an owner at most once per top block), so a popular label costs its
host g words and its owner max(g, q / g^D), not one word per edge: D is chosen so that fits.

Memory, derived (per machine, words; c_e = ceil(E / q) edges and c_v = ceil(P / q) slots per
machine, P >= V prime; g the fan-in, B = q / g^D the top blocks; Plan and peak_words in
connectivity_plan). The core caps memory + inbox, sent and received words per round.
  Deterministic terms. State: 2 c_e (an edge's two labels; a machine's edges only shrink in
  number: the stars of k connected labels are k - 1 edges, and the edges joining them were at
  least as many) + 2 c_v (a slot's parent and its ROOTED flag) + 2 (bar). A HINT replaces a
  linked edge, which is dropped: 1 word kept for an exchange and 2 sent, for the edge's 2 and
  3 (edges plus hints stay <= c_e). A requester sends
  at tau 0 at most 3 c_e + c_v words (per edge 1 word for a, 2 for b with its offer; per
  asking slot 1) and receives at tau 2D + 2 one word per distinct id it asked,
  <= 2 c_e + c_v. The barrier: a machine receives at most F <= s/4 DONE words (one per child,
  once in the run) and sends F STOP words once; they are not in the estimate below (the
  measured peaks include them). An owner holds
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
      2 c_e + 2 c_v + 2 + D (5/4 r + P) + 5/4 (r + c_e) + k_D P max(g, B),
  r = max(2 c_e, c_v), P = max(1, ceil(2E / (V g))) popular ids per host (2 at D = 0; B
  senders there), a host's books P words (bitmasks, label_exchange: one word per id passed
  up, g <= 62; P g at wider fans, one word per request received), k_D = POPULAR_COPIES[D] =
  2, 5/2, 5/2, 7/2; or 6 c_v + 2 in the output stage. k_D is measured, not derived: in the
  final doubling stage the roots and near-roots of the large trees are popular together and
  some share a host, and an input that lists a hub's edges together makes whole blocks ask
  for it at exchange 0. Over 696 runs of 28 graphs at forced layouts (D = 1..3, c = 1, 2, 4,
  seeds 0-2, caps off) the most any run needed ((peak - the other terms) / (P max(g, B)))
  was 2.15 at D = 1, 2.08 at D = 2 and 3.0 at D = 3 (the 60 x 60 grid needs 2.7 on every
  seed: two popular ids on one level-3 host). Until 2026-12-04 the estimate also counted P g
  book words per level (a host's books before they were bitmasks) with 2 copies at every D;
  that slack grew with g, so it put D = 3 ahead of D = 2 at every small s, though D = 2 peaks
  lower in fact on cycles and grids (2^10 cycle at s = 44: 24 words at D = 2, 30 at D = 3; the grid:
  40-42 and 49-50), and the 2^10 and 2^12 cycles ran 8 rounds an exchange (below).
  It is the mean, not the with-high-probability bound: at
  delta = 1e-9 (lambda ~ 21 + ln(q D (K + F))) the tail term is several times r (g = 10,
  r = 50: r + 187 + 233 words), which would raise the least s several-fold. Measured
  instead, peaks (memory, sent and received; caps off) over 24 graphs (networkx's four real
  graphs, a powerlaw cluster graph, two grids, a random tree, disjoint cliques, a
  Barabasi-Albert graph, K_30, a 300-leaf star, and the registry's six generators at 2000
  and 20000 edges): at each graph's least s, seeds 0-9 (240 runs), at 1.5 and 2 times it,
  seeds 0-3 (192), and at max(least, (2E)^(2/3)), seeds 0-1 (48): 0.34-0.94 of s, median
  0.61, and one run over s: les miserables at its least s, 36, seed 8, 40 words (a level-2
  host at exchange 0 receives three ids of the book's dense revolutionary cluster, 61, 63 and
  65, from 4-7 level-1 hosts each, most with offers: 2 words a copy); its seeds 0-7 and 9-23
  peak at 20-32. (With the estimate before, one of 324 such runs went over:
  barabasi_albert_graph(500, 3, seed=1) at s = 110, D = 1, seed 3, 115 words.)
  Caps are enforced, so a load past the estimate raises MemoryLimitExceeded (machine, round,
  words), never a wrong label; another seed re-draws the hashes, or ~10% more s (what
  plan_for's ConfigError advises) holds it.
q = max(E / c_e, V / c_v) machines: q s is about 10-20 words per input word at s = n^(1/2)
(3136 machines of 317 words for the random graph of 10^5 words), 2-3 at n^(2/3).

The 2^10 and 2^12 cycles (s = n^(1/2); issue 12 asks <= 8 log2 n = 80 and 96 rounds). No plan
fits s = 32 at 2^10, so the bench runs it at the least s, 38 words; 2^12 runs at 64. Both plan
D = 2 (6 rounds an exchange). Over the draws rng(1..24), one and two cycles, seeds as the
draws (48 runs each, caps on): 2^10 took 56 rounds in 14 runs, 62 in 27 and 68 in 7 (peak 25
words); 2^12 62 in 12, 68 in 30 and 74 in 6 (peak 38); 2^14 (draws 1..12, 24 runs, s = 128, D
= 2) 62-74 (peak 94): within 8 log2 n on every draw. The ends are exchange-bound: the output
follows the last hook's exchange h by 2 exchanges, (h + 2) L + 2 rounds (the last hook's
children learn that their new parent is a root from the exchange after it), and min-label
hooking on a cycle contracts about 2x an exchange (512, 166, 75, 38, 23, 12, 5, 3, 2 live
edges on draw 2: a root hooked to a label that hooks in the same exchange is not a root the
next), so h is 7-9 at 2^10: at L = 8 (D = 3) only h <= 7 meets 80 rounds, at L = 6 every h
seen does. How the rounds came down (2^10 and 2^12, seed 0 unless said): 98-106 and 114-122
before this pipeline (commit 7cb2c95: every vertex chased its root anew after the last hook,
and the output waited for an exchange start); 74 and 90 with (1) full shortcutting with the
ROOTED flag (every non-root asks each exchange, so the flags are known when STOP arrives),
(2) the output sent in the round a machine knows both STOP and its roots, with the barrier's
fan-in the least with the height min(s/4, q) gives, and (3) linked edges dropped and each
machine's edges replaced by local stars (512 -> 168 live edges after the first exchange at
2^10); then local chasing and hints (`_climb`, HINT: a grandchild of the last hooked root no
longer waits an exchange to ask its new parent), over 48 draws 74-90 (14 within 80) and
82-98 (42 within 96), all at D = 3; then the estimate above, which lets the plan take D = 2.

Why not s = ceil((2E)^(1/2)) on tiny graphs. The least s any plan fits (`least_memory_words`,
what plan_for's ConfigError names) is, per tests/algorithms/test_connectivity.py: florentine
families 26 (E = 20, ceil((2E)^(1/2)) = 7), karate club 31 (13), davis southern women 39 (14),
les miserables 36 (23); cycles of 2^9 edges 38 (32), of 2^11 47 (64: fits). The floor is the
design's, not the model's: a machine holds an edge, a slot and the bar (6 words) and receives
its edge's 2 answers and its slot's 1 at tau 0 (9 words > 7 for florentine whatever the
hashes), and the exchange adds, at c_e = c_v = 1, a host's books and inbox and an owner's
popular copies: 10 + 4 D + k_D max(g, B) words by the estimate, g^D B >= q, which grows
with log q while (2E)^(1/2) grows with E^(1/2) (they cross near E = 900 on sparse graphs).
Forcing every plan (D = 0..3, c_e and c_v = 1..6, 3 seeds; caps off to measure; with the
pipeline before full shortcutting, commit 7cb2c95) the least peak seen is 15 words on
florentine, 20 on karate, 22 on davis and 24 on les miserables, so no plan of this design meets
ceil((2E)^(1/2)) on the first three, with any sizing. A sorting-network exchange
(sort_exchange: 3 words an item, deterministic memory) could go lower at ~T = L(L + 1)/2 rounds
per exchange; it is not wired in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

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

DONE, STOP, OUT = CONTROL - 1, CONTROL - 2, CONTROL - 3  # [DONE], [STOP], [OUT, v, label..]
# bar, per machine, unpacked: children that reported DONE, DONE sent, the round STOP reached
# it (-1: not yet), output sent, live edges, busy (slots asking, or just hooked); held as
# BAR_WORDS = 2 words: [STOP round, kids + (sent << 32) + (output sent << 33) + (edges > 0) << 34
# + (busy > 0) << 35]
KIDS, SENT, STOP_AT, OUTPUT_SENT, EDGES, BUSY = range(6)
_EMPTY = np.zeros(0, dtype=np.int64)
# the bar of a machine beyond the plan's (num_machines > needed): reported, output, idle
_IDLE = np.array([-1, (1 << 32) + (1 << 33)], dtype=np.int64)
HINT = 1 << 61  # an offer that hooks nothing: "the asked id is ROOTED" (see _requesters)
ROOTED = -1  # f of a vertex whose last answer showed its parent a root (else NO_VALUE)

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
        ex = plan.exchange
        who, lo, hi = _relabel(np.arange(len(edges)) // plan.edge_words, edges[:, 0],
                               edges[:, 1])  # c_e rows a machine, as its stars
        counts = np.bincount(who, minlength=plan.machines)
        cut = offsets_of(counts)
        bars = _starting_bars(plan, counts)
        out: dict[int, dict[str, Any]] = {}
        for j in range(plan.machines):
            a, b = lo[cut[j]:cut[j + 1]], hi[cut[j]:cut[j + 1]]
            slots = ex.slot_ids(j) if j < ex.owners else _EMPTY
            out[j] = {"e": _interleave(a, b),
                      "v": _interleave(slots, np.full(slots.size, NO_VALUE)),
                      "bar": bars[j]}
        return Partition(out, plan)

    def round_many(self, fleet: Fleet) -> None:
        plan: Plan = fleet.plan
        ex = plan.exchange
        t = fleet.round_idx
        tau = t % ex.rounds
        requests, control = split(fleet)
        bar = _unpack(fleet.gather("bar", _IDLE)[0])
        told = _control(fleet, plan, control, bar, t)
        final = bar[:, STOP_AT] >= 0  # per machine: it knows no edge is live anywhere
        if tau == 0:
            _requesters(fleet, plan, requests, bar, final)
        elif tau <= ex.depth:
            ex.host_up(fleet, requests, tau)
        elif tau == ex.depth + 1:
            _owners(fleet, plan, requests, bar, final)
        else:
            ex.host_down(fleet, requests, ex.rounds - tau)
        told |= _barrier(fleet, plan, bar, t)
        check = (bar[:, STOP_AT] >= 0) & (bar[:, OUTPUT_SENT] == 0) & (told | (tau == 0))
        if check.any():
            _output(fleet, plan, bar, check)
        fleet.scatter("bar", _pack(bar), BAR_WORDS * np.arange(len(fleet) + 1))
        fleet.halt(where=(bar[:, EDGES] == 0) & (bar[:, BUSY] == 0))

    def __repr__(self) -> str:
        return f"Connectivity(seed={self.seed}, num_vertices={self.num_vertices})"


# -- the kernels --------------------------------------------------------------------------------

def _requesters(fleet: Fleet, plan: Plan, batch: Batch, bar: np.ndarray,
                final: np.ndarray) -> None:
    """tau 0: read the last exchange's answers (edges take their endpoints' new labels, chased
    along what the machine learnt, `_climb`; asking vertices jump and note whether their
    parent was a root), then ask again: every edge endpoint (the larger offered the smaller),
    every vertex that is not a root, except, on a machine that knows STOP, those whose parent
    is known to be a root, and a HINT for the b of each edge that became a link to a root.

    A vertex that asked is marked in its parent word: p = -(parent + 1) until the answer.
    Hints are kept (memory "h", one word each) until their answers, which say nothing new."""
    ex = plan.exchange
    k = len(fleet)
    a, b, a_off = _pairs(fleet, "e")
    p, f, p_off = _pairs(fleet, "v")
    who_all = np.repeat(np.arange(k), p_off[1:] - p_off[:-1])
    who_e = np.repeat(np.arange(k), a_off[1:] - a_off[:-1])
    hints, h_off = fleet.gather("h", _EMPTY)
    who_h = np.repeat(np.arange(k), h_off[1:] - h_off[:-1])
    at = np.flatnonzero(p < 0)
    p[at] = -p[at] - 1
    who_v = who_all[at]
    new_hints = _EMPTY
    if len(batch.dests):  # the answers: new labels for the edges, parents' parents
        e, nh = a.size, hints.size
        answer = ex.answers(batch, fleet, np.concatenate([who_e, who_e, who_h, who_v]),
                            np.concatenate([a, b, hints, p[at]]))
        answer = np.concatenate([answer[:2 * e], answer[2 * e + nh:]])
        flagged = answer < 0  # -(p + 1): the asked id is ROOTED, p is a root (see _owners)
        answer = np.where(flagged, -answer - 1, answer)
        # an edge that became the link b -> a with a a root: b is ROOTED; tell b's owner
        hinted = (answer[e:2 * e] == a) & (answer[:e] == a)
        new_hints, who_hint = b[hinted], who_e[hinted]
        jumped = answer[2 * e:]
        rooted = flagged[2 * e:] & final[who_v]
        f[at] = np.where(rooted | (jumped == p[at]), ROOTED, NO_VALUE)
        asked = p[at]
        p[at] = jumped
        ids = ex.ids_at(fleet.ids[who_all], np.arange(p.size) - p_off[who_all])
        up = _climb(np.concatenate([who_e, who_e, who_v, who_all]),
                    np.concatenate([a, b, asked, ids]),
                    np.concatenate([answer[:2 * e], jumped, p]))
        who_e, a, b = _relabel(who_e, up(who_e, answer[:e]), up(who_e, answer[e:2 * e]),
                               answer[e:2 * e] == a)
    ids = ex.ids_at(fleet.ids[who_all], np.arange(p.size) - p_off[who_all])
    at = np.flatnonzero((p != ids) & (ids < plan.vertices) & ~(final[who_all] & (f == ROOTED)))
    who_v = who_all[at]
    edge_counts = np.bincount(who_e, minlength=k)
    ask_counts = np.bincount(who_v, minlength=k)
    if new_hints.size == 0:
        who_hint = _EMPTY
    hint_counts = np.bincount(who_hint, minlength=k)
    ex.request(fleet, np.concatenate([who_e, who_e, who_hint, who_v]),
               np.concatenate([a, b, new_hints, p[at]]),
               np.concatenate([np.full(a.size, NO_VALUE), a, np.full(new_hints.size, HINT),
                               np.full(at.size, NO_VALUE)]))
    p[at] = -p[at] - 1
    fleet.scatter("e", _interleave(a, b), 2 * offsets_of(edge_counts))
    if new_hints.size or hints.size:
        fleet.scatter("h", new_hints, offsets_of(hint_counts))
    fleet.scatter("v", _interleave(p, f), 2 * p_off)
    bar[:, EDGES] = edge_counts
    bar[:, BUSY] = ask_counts + hint_counts


def _owners(fleet: Fleet, plan: Plan, batch: Batch, bar: np.ndarray,
            final: np.ndarray) -> None:
    """tau D + 1: each asked entry x answers its parent after hooking: a root x offered a
    smaller label m hooks to it (p(x) = m, and x asks for m's parent next). A HINT offer marks
    x ROOTED; the answer for a ROOTED x is -(p + 1) (the asker may trust it once it knows
    STOP: module docstring, "Flags")."""
    ex = plan.exchange
    p, f, p_off = _pairs(fleet, "v")
    hooked = np.zeros(0, dtype=np.int64)
    changed = False

    def decide(at: np.ndarray, slot: np.ndarray, least: np.ndarray) -> np.ndarray:
        nonlocal hooked, changed
        g = p_off[at] + slot
        current = p[g]
        current = np.where(current < 0, -current - 1, current)  # x asked: a non-root
        hook = (current == ex.ids_at(fleet.ids[at], slot)) & (least < current)
        hooked = g[hook]
        p[hooked] = least[hook]
        current[hook] = least[hook]
        bar[:, BUSY] += np.bincount(at[hook], minlength=len(fleet))
        hinted = g[least == HINT]  # x is not a root: no hook, and no offer to x is lost
        f[hinted] = ROOTED
        changed = hinted.size > 0
        return np.where(f[g] == ROOTED, -current - 1, current)

    ex.own(fleet, batch, decide)
    if hooked.size or changed:
        fleet.scatter("v", _interleave(p, f), 2 * p_off)


def _climb(who: np.ndarray, x: np.ndarray, up: np.ndarray
           ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """What each machine knows of the forest after an exchange's answers: machine who[i] knows
    that up[i] <= x[i] is in x[i]'s tree (an answer to its request for x: x's parent after the
    hooks; or its own slot x's new parent). Returns label(who, y): the least label the machine
    reaches from y along what it knows (y itself if nothing), chasing pointers locally, with
    no round spent. Trees only merge, so the label stays in y's tree (module docstring)."""
    if x.size == 0:
        return lambda who_y, y: y
    span = int(max(x.max(), up.max())) + 1
    keys, inverse = np.unique(who * span + x, return_inverse=True)
    best = np.full(keys.size, span, dtype=np.int64)
    np.minimum.at(best, inverse, up)
    while True:  # pointer jumping over the known links, on each machine separately
        at = np.searchsorted(keys, keys // span * span + best)
        at = np.minimum(at, keys.size - 1)
        hit = keys[at] == keys // span * span + best
        jumped = np.where(hit, np.minimum(best[at], best), best)
        if np.array_equal(jumped, best):
            break
        best = jumped

    def label(who_y: np.ndarray, y: np.ndarray) -> np.ndarray:
        if y.size == 0:
            return y
        key = who_y * span + y
        at = np.minimum(np.searchsorted(keys, key), keys.size - 1)
        return np.where(keys[at] == key, np.minimum(best[at], y), y)

    return label


def _relabel(who: np.ndarray, a: np.ndarray, b: np.ndarray, linked: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges (who, a, b), minus the `linked` ones, as each machine's spanning stars: every
    label x in a machine's local component with least label m != x gives the edge (m, x), in
    (who, m, x) order. This drops loops and repeats, and offers each label the least one its
    machine's edges reach (the stars connect what the edges did: only local links are
    replaced)."""
    keep = a != b
    if linked is not None:
        keep &= ~linked
    who, a, b = who[keep], a[keep], b[keep]
    if who.size == 0:
        return who, a, b
    span = int(max(a.max(), b.max())) + 1
    keys, inverse = np.unique(np.concatenate([who * span + a, who * span + b]),
                              return_inverse=True)
    u, v = inverse[:who.size], inverse[who.size:]
    comp = np.arange(keys.size)  # same machine: a smaller index is a smaller label
    while True:  # min-label propagation with pointer jumping: the least index of each part
        least = np.minimum(comp[u], comp[v])
        new = comp.copy()
        np.minimum.at(new, u, least)
        np.minimum.at(new, v, least)
        new = new[new]
        if np.array_equal(new, comp):
            break
        comp = new
    hang = np.flatnonzero(comp != np.arange(keys.size))
    return keys[hang] // span, keys[comp[hang]] % span, keys[hang] % span


def _output(fleet: Fleet, plan: Plan, bar: np.ndarray, check: np.ndarray) -> None:
    """Machines in `check` (they know STOP) whose vertices all know their roots send
    (vertex, label) pairs to the machines that output them (vertex v on machine v // c_o)."""
    ex = plan.exchange
    p, f, p_off = _pairs(fleet, "v")
    p = np.where(p < 0, -p - 1, p)
    who_all = np.repeat(np.arange(len(fleet)), p_off[1:] - p_off[:-1])
    ids = ex.ids_at(fleet.ids[who_all], np.arange(p.size) - p_off[who_all])
    real = ids < plan.vertices
    waiting = real & (p != ids) & (f != ROOTED)
    ready = check & (np.bincount(who_all[waiting], minlength=len(fleet)) == 0)
    if not ready.any():
        return
    bar[ready, OUTPUT_SENT] = 1
    keep = real & ready[who_all]
    who, ids, labels = who_all[keep], ids[keep], p[keep]
    if who.size == 0:
        return
    dest = ids // plan.output_words
    order = np.lexsort((ids, dest, who))
    who, dest, ids, labels = who[order], dest[order], ids[order], labels[order]
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


def _control(fleet: Fleet, plan: Plan, control: Batch, bar: np.ndarray, t: int) -> np.ndarray:
    """DONE from a child, STOP from the parent (passed on to the children), OUT labels.
    Returns which machines heard STOP now."""
    told = np.zeros(len(fleet), dtype=bool)
    if control.dests.size == 0:
        return told
    starts = control.starts
    tag = control.values[starts]
    at = fleet.index_of(control.dests)
    done = tag == DONE
    if done.any():
        bar[:, KIDS] += np.bincount(at[done], minlength=len(fleet))
    stop = tag == STOP
    if stop.any():
        told[at[stop]] = True
        bar[at[stop], STOP_AT] = t
        _send_stop(fleet, plan, at[stop])
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
    return told


def _send_stop(fleet: Fleet, plan: Plan, at: np.ndarray) -> None:
    ids = fleet.ids[at]
    kids = plan.kids(ids)
    if kids.sum() == 0:
        return
    senders = np.repeat(ids, kids)
    first = np.repeat(ids * plan.barrier_fan + 1, kids)
    rank = np.arange(senders.size) - np.repeat(offsets_of(kids)[:-1], kids)
    fleet.send_many(senders, first + rank, np.full(senders.size, STOP, dtype=np.int64))


def _starting_bars(plan: Plan, edges: np.ndarray) -> np.ndarray:
    """Each machine's bar before round 0, given its edge count: a heap subtree that starts
    without edges never gets one (a machine's edges only shrink), so it counts as reported
    from the start: its parent's KIDS include it and it sends no DONE (if no machine has
    edges, the root decides in round 0). Without this the parents of the edgeless machines
    received F DONE words in round 1, on top of their first host round's inbox."""
    q = plan.machines
    busy = edges > 0  # machines whose subtree holds an edge
    for _ in range(plan.barrier_depth):
        busy[plan.parents(np.flatnonzero(busy[1:]) + 1)] = True
    quiet = np.flatnonzero(~busy[1:]) + 1  # non-root machines whose subtree starts edgeless
    bar = np.zeros((q, 6), dtype=np.int64)
    bar[:, STOP_AT] = -1
    bar[:, KIDS] = np.bincount(plan.parents(quiet), minlength=q)
    bar[quiet, SENT] = 1
    bar[:, EDGES] = edges
    return _pack(bar).reshape(q, BAR_WORDS)


def _barrier(fleet: Fleet, plan: Plan, bar: np.ndarray, t: int) -> np.ndarray:
    """A machine without edges whose heap-tree children all reported tells its parent; when
    the root can, every edge is gone: it knows STOP and sends it down. Returns whether each
    machine learnt STOP here (the root, when it decides)."""
    ids = fleet.ids
    ready = ((bar[:, SENT] == 0) & (bar[:, EDGES] == 0) & (bar[:, STOP_AT] < 0)
             & (bar[:, KIDS] == plan.kids(ids)))
    root = ready & (ids == 0)
    if not ready.any():
        return root
    bar[ready, SENT] = 1
    if root.any():
        bar[root, STOP_AT] = t
        _send_stop(fleet, plan, np.flatnonzero(root))
    leaf = ready & (ids != 0)
    if leaf.any():
        fleet.send_many(ids[leaf], plan.parents(ids[leaf]),
                        np.full(int(leaf.sum()), DONE, dtype=np.int64))
    return root


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
