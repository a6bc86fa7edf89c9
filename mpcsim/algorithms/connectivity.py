"""Connected components of an edge list: label[v] = the smallest vertex id in v's component.

Input: an (E, 2) int64 edge list over vertices 0..V-1 (V = 1 + the largest id unless given;
graph generators, including the paper's one-vs-two-cycles instance, in
mpcsim.algorithms.graphs). Output: the labels of vertices j*c .. (j+1)*c - 1 on machine j
(c = s // 4; c_v, below, in the sorted plan), in machine order.

Algorithm: random-mate contraction ("hooking" of stars; Reif 1985) plus pointer jumping.
Every edge holds the labels (a, b) of its endpoints' current super-vertices (at first
a = u, b = v). Phase t: each label flips a coin (a hash of (seed, t, label), so any machine
can flip any label's coin); a tail label x with a head neighbour hooks to the least such
neighbour, pi(x) = y, recorded by x's owner as hook(x) = y; every other label stays,
pi(x) = x. Every edge becomes (pi(a), pi(b)) and is dropped when that is a loop (repeats are
merged). Hooks go tail -> head only, so edges always join current labels: no pointer jumping
during the phases. A label with a neighbour disappears with probability >= 1/4 per phase, so
the expected number of labels with neighbours shrinks by 3/4 per phase, and after
T = ceil(log_{4/3}(V / eps)) phases no edge is left, except with probability eps (Markov's
inequality): O(log n) phases. When a phase starts with no edge left (a tally over a heap tree,
or the sorted plan's scan, says so), pointer jumping over the hooks, P <- P o P,
ceil(log2(phases + 1)) times (a label hooks at most once, to a label not yet hooked, so every
chain has at most one hook per phase), takes each vertex to its component's last label; one
more exchange gives every such label the least vertex id offering it (each vertex offers its
own), and the labels go to the output machines.

Every step that reads or write-mins labels (the hooks, the relabelling, each jump, the least
id) is one exchange, by one of two plans (`_Layout` picks the combining plan when it fits s,
else the sorted plan):
- combining (mpcsim.algorithms.combining, a butterfly of combining hosts, hashed owners): a
  label in a million edges costs its owner no more than its share: 2D + 2 rounds per
  exchange, D = 0..3 chosen by `_choose`; memory is an estimate (below);
- sorted (mpcsim.algorithms.sort_exchange, for small s): requests (label, offer, slot) and
  the owners' records are sorted together by a bitonic merge-split network, a segmented scan
  gives every request its label's entry and least offer, and one round sends the answers
  back: T_s + 2D + 1 rounds per exchange (T_s = L(L+1)/2, L = ceil(log2 q); D =
  ceil(log_b q) for the scan's fan-in b), with deterministic memory. Owners are contiguous
  (vertex v on machine v // c_v), each vertex also asks for its own new label (so its owner
  learns its hook), and the tally is the scan's sum of live edges (no separate tree).

Round bound (`_Layout.rounds`, eps = 1e-9), combining plan: T (2D + 2) rounds of
contraction, the tally's latency (<= 2H + 1 + (2D + 2) rounds for its heap tree of depth H),
(ceil(log2(T' + 1)) + 1) (2D + 2) for the jumps and the least-id exchange (T' = those rounds
in whole exchanges), and 2 output rounds; O(log n) for fixed delta (D <= 3, H = O(1/delta)).
Sorted plan: (T + 1 + ceil(log2(T + 2)) + 1) R + 2 rounds, R = T_s + 2D + 1 per exchange
(the phase after the first one with no edge learns so from the previous exchange's scan):
O(log n) exchanges of O(log^2 q) rounds each, e.g. 6594 at n = 10^3, s = 32 (R = 64) and
10117 at n = 10^5, s = 317 (R = 85); runs stop when the edges run out, far earlier.

Machines, combining plan: q = Q = g^(D+1), the least such power >= max(E / c_e, V / (s/4)),
with c_e = s/8 .. s/256 edges per machine and D = 0..3 chosen by `_choose` (rounding up to a
power g^(D+1) at most doubles per digit, so Q <= 16 max(E / c_e, 4V / s)): q*s = O(n), but
with a large constant at small s, where c_e = 1: q*s/n = 121 at n = 10^3, s = 236, and 244 at
n = 10^6, s = 459; 27 at n = 10^6, s = 1000; 17 at s = 10^4. Sorted plan: q = max(E / c_e,
V / c_v) with c = max(2 c_e + c_v, 2 c_v) items per machine and (`_sorted_peak`) 2 c_e + 2 c_v
+ 4 + max(6c + 2, 3c + 4 + 5(b - 1), 11(b - 1) + 5) <= s, c_e and c_v chosen for the fewest
machines (`_choose_sorted`): about 14 c_e + 8 c_v <= s, so q*s = O(n), ~11 n for the random
graph (V = E = n/2) once s is large enough that the constant words do not dominate: q = 500,
q*s/n = 16 at n = 10^3, s = 32; q = 1250, 12.5 at n = 10^4, s = 100; q = 3572, 11.3 at
n = 10^5, s = 317. The output is then c_v labels per machine (the owned vertices), not s/4.

Memory, per machine, combining plan (`_peak`): its c_e edges (2 words each) and owned
vertices (id and hook), the requests' bookkeeping, and the exchange's host and owner loads.
This is an estimate, not a with-high-probability bound: owners' vertex counts are taken at
mean + 4 sd and the exchange's loads at twice the mean request load r, but a combining host
can receive a popular label once from each of its g children, so its load is a sum with
weights up to g, and a Chernoff bound at failure probability 1e-9 over all hosts and
exchanges needs hundreds to thousands of words per machine (e.g. ~1000 at n = 10^3). Runs
so far stay far below the estimate, but an adversarial input could exceed s; caps are
enforced, so it would raise, not pass silently. The combining plan fits from 236 words
(n = 10^3), 297 (10^4), 351 (10^5), 459 (10^6) for the random graph. Sorted plan: every
machine holds at most c items whatever the input (the network keeps c per machine, a scan
round adds O(b) words, answers come to the c slots that asked), so `_sorted_peak` is a bound,
not an estimate; it needs s >= 28 words (c_e = c_v = 1), at any n.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..program import Machine, Program
from . import graphs
from .combining import NO_VALUE, Exchange, mix
from .sort_exchange import ITEM_WORDS, SortExchange
from .spec import AlgorithmSpec, Option
from .tree import children, depth, parent

__all__ = ["Connectivity", "reference", "verify", "round_bound", "make_input", "sizing",
           "SPEC", "phase_bound", "machines_needed", "jumps_for"]

COUNT, STOP, OUT = -21, -22, -23  # message tags
FAILURE_PROBABILITY = 1e-9
_OUTPUT_DIVISOR = 4  # output labels per machine: s / 4


def phase_bound(vertices: int, probability: float = FAILURE_PROBABILITY) -> int:
    """T = ceil(log_{4/3}(V / probability)): phases after which no edge is left, except with
    `probability` (module docstring)."""
    return max(1, math.ceil(math.log(max(vertices, 1) / probability) / math.log(4 / 3)))


class _Layout:
    """Edges per machine, the exchange (D, g, Q = g^(D+1) machines) and the tally tree, for
    E edges and V vertices on machines of s words (see `choose`)."""

    def __init__(self, edges: int, vertices: int, q: int, s: int, seed: int) -> None:
        self.edges, self.vertices, self.seed = edges, vertices, seed
        self.output_words = max(1, s // _OUTPUT_DIVISOR)
        self.tally_fan = max(2, s // 8)
        self.vertex_words = 0  # sorted plan: vertices per machine (owners are v // cv)
        choice: tuple[int, Any] | None = _choose(edges, vertices, s, seed)
        if choice is None:
            sorted_choice = _choose_sorted(edges, vertices, s)
            if sorted_choice is not None:
                ce, self.vertex_words, fan = sorted_choice
                choice = (ce, _sort_exchange(edges, vertices, ce, self.vertex_words, fan))
                self.output_words = self.vertex_words
        problems: list[tuple[str, Any, str]] = []
        if choice is None:
            problems.append(("memory_words", s, f"{edges} edges over {vertices} vertices do not "
                             f"fit machines of this size (connectivity needs >= {_LEAST_SORTED} "
                             "words); raise memory_words"))
        else:
            self.edge_words, self.exchange = choice
            if self.machines > q:
                problems.append(("num_machines", q, f"{edges} edges over {vertices} vertices "
                                 f"need {self.machines} machines of memory_words={s}; raise "
                                 f"num_machines to >= {self.machines} or memory_words"))
        if problems:
            raise ConfigError(problems=problems)

    @property
    def machines(self) -> int:
        return self.exchange.machines

    @property
    def sorted(self) -> bool:
        """True for the sorted plan (mpcsim.algorithms.sort_exchange), else combining."""
        return isinstance(self.exchange, SortExchange)

    def owner(self, vertices: np.ndarray) -> np.ndarray:
        if self.sorted:
            return vertices // self.vertex_words
        return self.exchange.owner(vertices)

    @property
    def phase_rounds(self) -> int:
        return self.exchange.rounds

    @property
    def tally_depth(self) -> int:
        return depth(self.machines, self.tally_fan)

    def stop_after(self, decided: int) -> int:
        """The first phase start >= decided + H + 1 (everyone has heard STOP by then)."""
        earliest = decided + self.tally_depth + 1
        return -(-earliest // self.phase_rounds) * self.phase_rounds

    def rounds(self) -> int:
        """Contraction phases (with high probability), the tally's latency up to the next
        phase start, the jumps and the least-member exchange, and 2 output rounds."""
        phases = phase_bound(self.vertices)
        if self.sorted:  # the tally rides on the exchange's scan: one exchange's latency
            return (phases + 1 + jumps_for(phases + 1) + 1) * self.phase_rounds + 2
        latency = 2 * self.tally_depth + 1 + self.phase_rounds
        stop = phases * self.phase_rounds + latency
        jumps = jumps_for(-(-stop // self.phase_rounds))
        return stop + (jumps + 1) * self.phase_rounds + 2

    def coins(self, labels: np.ndarray, phase: int) -> np.ndarray:
        """True for heads: a hash of (seed, phase, label)."""
        return (mix(labels, self.seed * 1_000_003 + phase + 17) & np.uint64(1)).astype(bool)


def jumps_for(phases: int) -> int:
    """Pointer jumps that flatten the hook forest after `phases` phases: a label hooks at most
    once, to a label still unhooked, so chains have at most `phases` hooks and
    ceil(log2(phases + 1)) doublings reach every root."""
    return max(1, math.ceil(math.log2(phases + 1)))


def _vertex_share(vertices: int, machines: int) -> int:
    """A bound on the vertices a machine owns (owners are hashed): mean + 4 sd + 4."""
    mean = vertices / max(machines, 1)
    return math.ceil(mean + 4 * math.sqrt(mean) + 4)


def _peak(edge_words: int, vertex_words: int, fan: int, levels: int) -> int:
    """Words a machine may hold (load factor 2 over the mean request load r): edges (2 per
    edge) and vertices (id, hook or pointer), the requests' inverse and grouping (2r; edges
    ask 2 labels each while contracting, vertices 1 each afterwards), per host level its
    children's counts and lengths (2g) and merge state (2L, L = 2r), the owner's (2g + L),
    and the largest inbox (2L + g)."""
    r = max(2 * edge_words, vertex_words)
    load = 2 * r
    return (2 * edge_words + 2 * vertex_words + 2 * r + levels * (2 * fan + 2 * load)
            + (2 * fan + load) + (2 * load + fan) + 16)


def _choose(edges: int, vertices: int, s: int, seed: int) -> tuple[int, Exchange] | None:
    """(edges per machine, exchange) with the least estimated time per phase: rounds times
    machines (~40 us each on the local backend) plus messages (~8 us each, at most g per
    machine and hop)."""
    best = None
    for levels in range(4):
        for divisor in (8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256):
            ce = max(1, s // divisor)
            wanted = max(1, -(-edges // ce), -(-vertices // max(1, s // _OUTPUT_DIVISOR)))
            exchange = Exchange.over(wanted, levels, seed)
            q = exchange.machines
            cv = _vertex_share(vertices, q)
            if _peak(ce, cv, exchange.fan, levels) > s:
                continue
            r = max(2 * min(ce, max(edges, 1)), cv)
            cost = exchange.rounds * q * (40 + 8 * min(r, exchange.fan))
            if best is None or cost < best[0]:
                best = (cost, ce, exchange)
    return None if best is None else (best[1], best[2])


_STATE_WORDS = 4  # sorted plan: stage, jumps, request count, the exchange's total


def _sorted_peak(edge_words: int, vertex_words: int, capacity: int, fan: int) -> int:
    """Words a machine holds in the sorted plan, deterministically: its edges (2 words
    each), vertex ids and hooks (or pointers), a few counters, and the exchange's
    (SortExchange.peak_words)."""
    return (2 * edge_words + 2 * vertex_words + _STATE_WORDS
            + SortExchange.peak_words(capacity, fan))


def _capacity(edge_words: int, vertex_words: int) -> int:
    """Items a machine puts in an exchange: 2 requests per edge and 1 per vertex while
    contracting; 1 owner record and 1 request per vertex while jumping."""
    return max(2 * edge_words + vertex_words, 2 * vertex_words)


def _sort_exchange(edges: int, vertices: int, ce: int, cv: int, fan: int) -> SortExchange:
    machines = max(1, -(-edges // ce), -(-vertices // cv))
    return SortExchange(machines, _capacity(ce, cv), fan)


def _choose_sorted(edges: int, vertices: int, s: int) -> tuple[int, int, int] | None:
    """(edges per machine c_e, vertices per machine c_v, scan fan-in b) for the sorted plan:
    the fewest machines (so the fewest network stages) whose peak fits s, then the largest
    fan-in that fits (the fewest scan rounds)."""
    def fits(ce: int, cv: int) -> bool:
        return _sorted_peak(ce, cv, _capacity(ce, cv), 2) <= s

    best: tuple[int, int, int] | None = None
    for cv in range(1, s // (2 * ITEM_WORDS) + 1):
        if not fits(1, cv):
            break
        lo, hi = 1, s  # the largest c_e with this c_v that fits (the peak grows with c_e)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if fits(mid, cv) else (lo, mid - 1)
        ce = lo
        machines = max(1, -(-edges // ce), -(-vertices // cv))
        if best is None or machines < best[0]:
            best = (machines, ce, cv)
    if best is None:
        return None
    machines, ce, cv = best
    fan = 2
    while fan < machines and _sorted_peak(ce, cv, _capacity(ce, cv), fan + 1) <= s:
        fan += 1
    return ce, cv, fan


_LEAST_SORTED = _sorted_peak(1, 1, _capacity(1, 1), 2)  # c_e = c_v = 1


class Connectivity(Program):
    """Connected components by random-mate contraction; see the module docstring.

    seed: salts the coins and the exchange's hashes. num_vertices: V, or None for 1 + the
    largest id in the edge list.
    """

    def __init__(self, seed: int = 0, num_vertices: int | None = None) -> None:
        problems = []
        if type(seed) is not int or seed < 0:
            problems.append(("seed", seed, "must be an int >= 0"))
        if num_vertices is not None and (type(num_vertices) is not int or num_vertices < 0):
            problems.append(("num_vertices", num_vertices, "must be an int >= 0 or None"))
        if problems:
            raise ConfigError(problems=problems)
        self.seed = seed
        self.num_vertices = num_vertices
        self.layout: _Layout | None = None

    def partition(self, inputs: Any, num_machines: int,
                  memory_words: int) -> dict[int, dict[str, Any]]:
        edges = _as_edges(inputs, self.num_vertices)
        vertices = (self.num_vertices if self.num_vertices is not None
                    else graphs.num_vertices(edges))
        self.layout = layout = _Layout(len(edges), vertices, num_machines, memory_words,
                                       self.seed)
        ce = layout.edge_words
        ids = np.arange(vertices, dtype=np.int64)
        owners = layout.owner(ids)
        order = np.argsort(owners, kind="stable")
        bounds = np.searchsorted(owners[order], np.arange(layout.machines + 1))
        out: dict[int, dict[str, Any]] = {}
        for j in range(layout.machines):
            mine = ids[order[bounds[j]:bounds[j + 1]]]
            chunk = edges[j * ce:(j + 1) * ce]
            chunk = chunk[chunk[:, 0] != chunk[:, 1]]
            out[j] = {"a": chunk[:, 0].copy(), "b": chunk[:, 1].copy(), "vid": mine,
                      "hook": mine.copy()}
        return out

    def round(self, machine: Machine) -> None:
        layout = self.layout
        assert layout is not None, "Connectivity.partition sets the layout before round 0"
        memory, now = machine.memory, machine.round_idx
        if machine.id >= layout.machines:  # more machines than the job needs
            machine.halt()
            return
        if layout.sorted:
            _sorted_round(layout, machine)
            return
        ex = layout.exchange
        phase, tau = divmod(now, layout.phase_rounds)
        own, tally = [], []
        for source, payload in machine.inbox:
            (tally if payload[0] in (COUNT, STOP) else own).append((source, payload))
        stage = memory.get("stage", CONTRACT)
        if stage == OUTPUT:
            _write_output(layout, machine, own)
            return
        if tau == 0:
            _next_exchange(layout, machine, phase, own)
        elif tau <= ex.depth:
            ex.host_up(machine, tau, own)
        elif tau == ex.depth + 1:
            ex.own(machine, own, _answer(machine, stage))
        else:
            ex.host_down(machine, 2 * ex.depth + 2 - tau, own)
        if memory.get("stage", CONTRACT) == CONTRACT:
            _tally(layout, machine, phase, tau, tally)

    def __repr__(self) -> str:
        return f"Connectivity(seed={self.seed}, num_vertices={self.num_vertices})"


CONTRACT, JUMP, LEAST, OUTPUT = 0, 1, 2, 3  # stages


def _next_exchange(layout: _Layout, machine: Machine, phase: int,
                   messages: list[tuple[int, Any]]) -> None:
    """At an exchange boundary: take the last exchange's answers, start the next one.

    contract phases until STOP's round; then ceil(log2(phases + 1)) jumps P <- P o P over
    the hooks (the hook forest is at most one level deeper per phase); then one exchange
    giving every root's least member; then the output."""
    memory, ex = machine.memory, layout.exchange
    stage = memory.get("stage", CONTRACT)
    answers = _answers(ex, machine, messages) if "inv" in memory else None
    if stage == CONTRACT:
        if answers is not None:
            _relabel_edges(memory, answers, layout.vertices)
        stop = memory.get("stop")
        if stop is None or machine.round_idx < stop:
            _start_phase(layout, machine, phase)
            return
        memory["stage"], memory["jumps"] = JUMP, jumps_for(phase)
        memory["ptr"] = memory.pop("hook")
        for key in ("a", "b", "stop"):
            memory.pop(key, None)
        stage = JUMP
        answers = None
    if stage == JUMP:
        if answers is not None:
            memory["ptr"] = answers
            memory["jumps"] -= 1
        if memory["jumps"] > 0:
            _request(ex, machine, memory["ptr"], np.full(memory["ptr"].size, NO_VALUE))
            return
        memory["stage"] = LEAST
        memory.pop("jumps")
        _request(ex, machine, memory.pop("ptr"), memory["vid"])  # least member per root
        return
    if stage == LEAST:
        memory["stage"] = OUTPUT
        _route_output(layout, machine, answers)


def _sorted_round(layout: _Layout, machine: Machine) -> None:
    """A round of the sorted plan: the same stages, one SortExchange per phase."""
    ex, memory = layout.exchange, machine.memory
    stage = memory.get("stage", CONTRACT)
    if stage == OUTPUT:
        _write_output(layout, machine, machine.inbox)
        return
    phase, tau = divmod(machine.round_idx, ex.rounds)
    if tau == 0:
        _next_sorted(layout, machine, phase)
    else:
        ex.advance(machine, tau, machine.inbox, _SORTED_ANSWERS[stage])


_SORTED_ANSWERS = {  # (x, x's entry, the least offer for x) -> the answer, per stage
    CONTRACT: lambda x, entry, least: np.where(least != NO_VALUE, least, x),  # new label
    JUMP: lambda x, entry, least: entry,  # ptr[x]
    LEAST: lambda x, entry, least: least,  # the least member offering x
}


def _next_sorted(layout: _Layout, machine: Machine, phase: int) -> None:
    """At an exchange boundary of the sorted plan: as `_next_exchange`, but the tally is the
    last exchange's total (the live edges at its start), and requests carry their slots."""
    memory, ex = machine.memory, layout.exchange
    answers = ex.answers(machine.inbox, memory.pop("nreq")) if "nreq" in memory else None
    stage = memory.get("stage", CONTRACT)
    vid = memory["vid"]
    if stage == CONTRACT:
        if answers is not None:
            e = memory["a"].size
            hooks = answers[2 * e:]
            moved = hooks != vid
            memory["hook"][moved] = hooks[moved]
            _relabel_edges(memory, answers[:2 * e], layout.vertices)
        total = memory.get("xtotal")
        if total is None or total > 0:
            a, b = memory["a"], memory["b"]
            head_a, head_b = layout.coins(a, phase), layout.coins(b, phase)
            offers = np.concatenate([np.where(~head_a & head_b, b, NO_VALUE),
                                     np.where(~head_b & head_a, a, NO_VALUE),
                                     np.full(vid.size, NO_VALUE)])
            _sorted_request(layout, machine, np.concatenate([a, b, vid]), offers, CONTRACT,
                            count=a.size)
            return
        memory["stage"], memory["jumps"] = JUMP, jumps_for(phase)
        memory["ptr"] = memory.pop("hook")
        for key in ("a", "b"):
            memory.pop(key)
        stage, answers = JUMP, None
    if stage == JUMP:
        if answers is not None:
            memory["ptr"] = answers
            memory["jumps"] -= 1
        if memory["jumps"] > 0:
            ptr = memory["ptr"]
            _sorted_request(layout, machine, ptr, np.full(ptr.size, NO_VALUE), JUMP,
                            owned=ptr)
            return
        memory["stage"] = LEAST
        memory.pop("jumps")
        _sorted_request(layout, machine, memory.pop("ptr"), vid, LEAST)
        return
    memory["stage"] = OUTPUT
    _route_output(layout, machine, answers)


def _sorted_request(layout: _Layout, machine: Machine, targets: np.ndarray,
                    offers: np.ndarray, stage: int, count: int = 0,
                    owned: np.ndarray | None = None) -> None:
    """Requests (key 2x + 1, offer, slot) and, when `owned` is given, the owner records
    (key 2v, owned[v's index], slot -1) of this machine's vertices v."""
    ex = layout.exchange
    machine.memory["nreq"] = targets.size
    keys, values = 2 * targets + 1, offers
    slots = machine.id * ex.capacity + np.arange(targets.size, dtype=np.int64)
    if owned is not None:
        vid = machine.memory["vid"]
        keys = np.concatenate([2 * vid, keys])
        values = np.concatenate([owned, values])
        slots = np.concatenate([np.full(vid.size, -1, dtype=np.int64), slots])
    ex.start(machine, keys, values, slots, count, _SORTED_ANSWERS[stage])


def _answers(ex: Exchange, machine: Machine, messages: list[tuple[int, Any]]) -> np.ndarray:
    inverse = machine.memory.pop("inv")
    return ex.answers(machine, messages)[inverse] if inverse.size else inverse


def _answer(machine: Machine, stage: int) -> Any:
    """What an owner answers for its vertices x (with the least value offered for each)."""
    memory = machine.memory
    vid = memory["vid"]

    def hook(targets: np.ndarray, least: np.ndarray) -> np.ndarray:
        """A tail's least head neighbour (offered only to tails), recorded as its hook."""
        new = np.where(least != NO_VALUE, least, targets)
        moved = new != targets
        memory["hook"][np.searchsorted(vid, targets[moved])] = new[moved]
        return new

    def pointer(targets: np.ndarray, least: np.ndarray) -> np.ndarray:
        return memory["ptr"][np.searchsorted(vid, targets)]

    def least_member(targets: np.ndarray, least: np.ndarray) -> np.ndarray:
        return least

    return {CONTRACT: hook, JUMP: pointer, LEAST: least_member}[stage]


def _start_phase(layout: _Layout, machine: Machine, phase: int) -> None:
    """Offer hooks (tail endpoint <- head endpoint) and ask for both endpoints' new labels."""
    memory = machine.memory
    a, b = memory["a"], memory["b"]
    head_a, head_b = layout.coins(a, phase), layout.coins(b, phase)
    offer_a = np.where(~head_a & head_b, b, NO_VALUE)
    offer_b = np.where(~head_b & head_a, a, NO_VALUE)
    _request(layout.exchange, machine, np.concatenate([a, b]),
             np.concatenate([offer_a, offer_b]))


def _request(ex: Exchange, machine: Machine, targets: np.ndarray, offers: np.ndarray) -> None:
    machine.memory["inv"] = ex.request(machine, targets, offers)


def _relabel_edges(memory: dict[str, Any], new: np.ndarray, vertices: int) -> None:
    """Edges take their endpoints' new labels; loops are dropped, repeats merged."""
    e = memory["a"].size
    a, b = new[:e], new[e:]
    low, high = np.minimum(a, b), np.maximum(a, b)
    key = np.unique((low * vertices + high)[low != high])
    memory["a"], memory["b"] = key // vertices, key % vertices


def _tally(layout: _Layout, machine: Machine, phase: int, tau: int,
           messages: list[tuple[int, Any]]) -> None:
    """Sum the live edges of each phase up a heap tree (node at depth d sends phase t's
    subtotal at round t*L + H - d); when a phase had none, the root sends STOP, naming the
    phase start at which everyone switches to the final exchange."""
    memory, me, fan = machine.memory, machine.id, layout.tally_fan
    for _, payload in messages:
        if payload[0] == STOP:
            _stop(layout, machine, int(payload[1]))
        else:
            key = f"t{int(payload[1])}"
            memory[key] = memory.get(key, 0) + int(payload[2])
    if "stop" in memory:
        return
    height = layout.tally_depth
    if tau == 0:
        memory[f"t{phase}"] = memory.get(f"t{phase}", 0) + int(memory["a"].size)
    level = _heap_depth(me, fan)
    when = height - level  # rounds after its phase start that this node reports
    reported = (machine.round_idx - when) // layout.phase_rounds
    if reported < 0 or reported * layout.phase_rounds + when != machine.round_idx:
        return
    total = memory.pop(f"t{reported}", 0)
    if me == 0:
        if total == 0:
            _stop(layout, machine, layout.stop_after(machine.round_idx))
    else:
        machine.send(parent(me, fan), [COUNT, reported, total])


def _stop(layout: _Layout, machine: Machine, stop: int) -> None:
    memory = machine.memory
    if "stop" in memory:
        return
    memory["stop"] = stop
    for key in [k for k in memory if k.startswith("t") and k[1:].isdigit()]:
        del memory[key]
    for child in children(machine.id, layout.tally_fan, layout.machines):
        machine.send(child, [STOP, stop])


def _heap_depth(i: int, fan: int) -> int:
    d = 0
    while i > 0:
        i = (i - 1) // fan
        d += 1
    return d


def _route_output(layout: _Layout, machine: Machine, labels: np.ndarray) -> None:
    """Send (vertex, label) to the machine that outputs the vertex."""
    memory = machine.memory
    vid = memory.pop("vid")
    dest = vid // layout.output_words
    order = np.argsort(dest, kind="stable")
    dest, vid, labels = dest[order], vid[order], labels[order]
    cuts = np.flatnonzero(np.diff(dest)) + 1
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, dest.size]) if dest.size else ():
        machine.send(int(dest[lo]), [OUT, vid[lo:hi], labels[lo:hi]])


def _write_output(layout: _Layout, machine: Machine, messages: list[tuple[int, Any]]) -> None:
    lo = machine.id * layout.output_words
    size = min(layout.output_words, layout.vertices - lo)
    if size > 0 and messages:
        labels = np.empty(size, dtype=np.int64)
        for _, (_, vid, lab) in messages:
            labels[vid - lo] = lab
        machine.output = labels
    machine.memory.clear()
    machine.halt()


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


def machines_needed(inputs: Any, memory_words: int, num_vertices: int | None = None) -> int:
    """q for this edge list on machines of `memory_words` words (ConfigError if none fit)."""
    edges = _as_edges(inputs, num_vertices)
    vertices = num_vertices if num_vertices is not None else graphs.num_vertices(edges)
    return _Layout(len(edges), vertices, 1 << 40, memory_words, 0).machines


def reference(inputs: Any, num_vertices: int | None = None) -> np.ndarray:
    """Union-find (mpcsim.algorithms.graphs.components)."""
    return graphs.components(_as_edges(inputs, num_vertices), num_vertices)


def verify(output: list[Any], inputs: Any, num_vertices: int | None = None) -> bool:
    parts = [np.asarray(o) for o in output if o is not None]
    got = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    want = reference(inputs, num_vertices)
    return got.shape == want.shape and bool(np.array_equal(got, want))


def round_bound(n: int, q: int, s: int, graph: str = "random") -> int:
    """The with-high-probability bound for a generated graph of n words (n // 2 edges)."""
    edges = make_input(n, np.random.default_rng(0), graph)
    return _Layout(len(edges), graphs.num_vertices(edges), q, s, 0).rounds()


def make_input(n: int, rng: np.random.Generator, graph: str = "random") -> np.ndarray:
    """n // 2 edges from the named generator (graphs.GENERATORS)."""
    if graph not in graphs.GENERATORS:
        raise ConfigError(problems=[("graph", graph, "must be one of "
                                     + ", ".join(graphs.GENERATORS))])
    return graphs.GENERATORS[graph](n // 2, rng)


def sizing(n: int, q: int | None = None, s: int | None = None,
           graph: str = "random") -> tuple[int, int]:
    """Default (q, s): s = max(1024, 16*ceil(n^(2/3))) (for a given q, enough for its share
    of the edges), doubled until it fits; q = the machines the layout needs: Q = g^(D+1)
    >= max(E / c_e, 4V / s) for the combining plan, max(E / c_e, V / c_v) for the sorted
    plan (module docstring). A given s below 28 words (the sorted plan's least, at any n)
    raises ConfigError naming memory_words."""
    edges = make_input(n, np.random.default_rng(0), graph)
    vertices = graphs.num_vertices(edges)
    if s is None:
        s = max(1024, 16 * math.ceil(max(n, 1) ** (2 / 3)))
        if q is not None:
            s = max(s, 40 * -(-len(edges) // q))
        while True:
            try:
                _Layout(len(edges), vertices, q if q is not None else 1 << 40, s, 0)
                break
            except ConfigError:
                s *= 2
    if q is None:
        q = _Layout(len(edges), vertices, 1 << 40, s, 0).machines
    return q, s


SPEC = AlgorithmSpec(
    name="connectivity",
    summary="connected components (labels = least vertex id) by random-mate contraction",
    program=Connectivity,
    make_input=make_input,
    reference=reference,
    verify=verify,
    round_bound=round_bound,
    sizing=sizing,
    options=(Option("graph", "random", "the generated graph for connectivity",
                    ("make_input", "round_bound", "sizing"), type=str,
                    choices=tuple(graphs.GENERATORS)),),
)
