"""Connected components of an edge list: label[v] = the smallest vertex id in v's component.

Input: an (E, 2) int64 edge list over vertices 0..V-1 (V = 1 + the largest id unless given;
graph generators in mpcsim.algorithms.graphs). Output: labels for vertices j*c .. (j+1)*c - 1
on machine j (c = output_words), in machine order.

Algorithm: random-mate contraction ("hooking" of stars; Reif 1985), on labels. Every vertex v
has a label L(v), a vertex id naming its current super-vertex (at first L(v) = v), and every
edge holds the labels (a, b) of its endpoints. A phase t: each label flips a coin (a hash of
(seed, t, label), so every machine can flip any label's coin); a tail label x with a head
neighbour hooks to the least such neighbour y (pi(x) = y); others stay (pi(x) = x). Then every
edge becomes (pi(a), pi(b)), dropped when pi(a) = pi(b), and every vertex L(v) <- pi(L(v)).
Hooks only go tail -> head, so pi flattens in one step: no pointer jumping. A label with a
neighbour disappears with probability >= 1/4 per phase, so E[labels with neighbours] shrinks
by 3/4 per phase, and after T = ceil(log_{4/3}(V / eps)) phases none is left, except with
probability eps (Markov's inequality). When no edge is left (a tally over a heap tree says so),
one more exchange gives every label the least vertex id offering it, and the labels go to the
output machines.

Both the hooks (write-min of the tails' candidates) and the relabelling (reading pi) are one
exchange through mpcsim.algorithms.combining, so a label with a million edges costs its owner
no more than its share: an exchange takes 2D + 2 rounds (D = 0 when q <= fan, the usual case
for s >= n^(2/3); D = 1 for s = n^(1/2) at n = 10^6).

Round bound: T * (2D + 2) phases' rounds, plus the tally's latency (<= 2H + 1 + (2D + 2)
rounds for a heap tree of depth H), plus one final exchange and 2 rounds of output: with
eps = 1e-9 (`round_bound`); O(log n) for fixed delta. Memory, per machine: its c_e edges and
their requests (about 4 words per edge), its vertices (<= 3 words each plus their requests),
and an exchange's host and owner loads (2 words per request received); `Connectivity`
sizes c_e = s / 40 and checks the vertex shares; q = max(ceil(E / c_e), ceil(V / c_v)).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..program import Machine, Program
from . import graphs
from .combining import DOWN, NO_VALUE, UP, Exchange, mix
from .spec import AlgorithmSpec, Option
from .tree import children, depth, parent

__all__ = ["Connectivity", "reference", "verify", "round_bound", "make_input", "sizing",
           "SPEC", "phase_bound"]

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
        choice = _choose(edges, vertices, s, seed)
        problems: list[tuple[str, Any, str]] = []
        if choice is None:
            problems.append(("memory_words", s, f"{edges} edges over {vertices} vertices do not "
                             "fit machines of this size (connectivity needs roughly 40 words "
                             "per edge per machine and >= ~200 words); raise memory_words"))
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
        phases = phase_bound(self.vertices)
        latency = 2 * self.tally_depth + 1 + self.phase_rounds
        return phases * self.phase_rounds + latency + self.phase_rounds + 2

    def coins(self, labels: np.ndarray, phase: int) -> np.ndarray:
        """True for heads: a hash of (seed, phase, label)."""
        return (mix(labels, self.seed * 1_000_003 + phase + 17) & np.uint64(1)).astype(bool)


def _vertex_share(vertices: int, machines: int) -> int:
    """A bound on the vertices a machine owns (owners are hashed): mean + 4 sd + 4."""
    mean = vertices / max(machines, 1)
    return math.ceil(mean + 4 * math.sqrt(mean) + 4)


def _peak(edge_words: int, vertex_words: int, fan: int, levels: int) -> int:
    """Words a machine may hold (load factor 2 over the mean request load r):
    edges (2 per edge) and vertices (id, label), the requests' inverse and grouping (2r),
    per host level its children's counts and lengths (2g) and merge state (2L, L = 2r), the
    owner's (2g + L), and the largest inbox (2L + g)."""
    r = 2 * edge_words + vertex_words
    load = 2 * r
    return (2 * edge_words + 2 * vertex_words + 2 * r + levels * (2 * fan + 2 * load)
            + (2 * fan + load) + (2 * load + fan) + 16)


def _choose(edges: int, vertices: int, s: int, seed: int) -> tuple[int, Exchange] | None:
    """(edges per machine, exchange) with the least estimated time per phase: rounds times
    machines (~20 us each) plus messages (~3 us each, at most g per machine and hop)."""
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
            r = 2 * min(ce, max(edges, 1)) + cv
            cost = exchange.rounds * q * 20 + exchange.rounds * q * min(r, exchange.fan) * 3
            if best is None or cost < best[0]:
                best = (cost, ce, exchange)
    return None if best is None else (best[1], best[2])


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
        owners = layout.exchange.owner(ids)
        order = np.argsort(owners, kind="stable")
        bounds = np.searchsorted(owners[order], np.arange(layout.machines + 1))
        out: dict[int, dict[str, Any]] = {}
        for j in range(layout.machines):
            mine = ids[order[bounds[j]:bounds[j + 1]]]
            chunk = edges[j * ce:(j + 1) * ce]
            chunk = chunk[chunk[:, 0] != chunk[:, 1]]
            out[j] = {"a": chunk[:, 0].copy(), "b": chunk[:, 1].copy(), "vid": mine,
                      "lab": mine.copy()}
        return out

    def round(self, machine: Machine) -> None:
        layout = self.layout
        assert layout is not None, "Connectivity.partition sets the layout before round 0"
        memory, now = machine.memory, machine.round_idx
        ex = layout.exchange
        phase, tau = divmod(now, layout.phase_rounds)
        own, tally = [], []
        for source, payload in machine.inbox:
            (tally if payload[0] in (COUNT, STOP) else own).append((source, payload))
        if memory.get("done"):
            _write_output(layout, machine, own)
            return
        if tau == 0:
            if phase > 0:
                _apply(ex, machine, own)
            if memory.get("final"):
                _route_output(layout, machine)
                return
            stop = memory.get("stop")
            if stop is not None and now >= stop:
                memory["final"] = 1
                _request(ex, machine, memory["lab"], memory["vid"])  # least id per label
                return
            _start_phase(layout, machine, phase)
        elif tau <= ex.depth:
            ex.host_up(machine, tau, own)
        elif tau == ex.depth + 1:
            final = bool(memory.get("final"))
            ex.own(machine, own, _least if final else _hook)
        else:
            ex.host_down(machine, 2 * ex.depth + 2 - tau, own)
        _tally(layout, machine, phase, tau, tally)

    def __repr__(self) -> str:
        return f"Connectivity(seed={self.seed}, num_vertices={self.num_vertices})"


def _hook(targets: np.ndarray, least: np.ndarray) -> np.ndarray:
    """A tail's least head neighbour (offered only for tails), else the label itself."""
    return np.where(least != NO_VALUE, least, targets)


def _least(targets: np.ndarray, least: np.ndarray) -> np.ndarray:
    return least


def _start_phase(layout: _Layout, machine: Machine, phase: int) -> None:
    """Offer hooks (tail endpoint <- head endpoint) and ask for every label's new value."""
    memory = machine.memory
    a, b, lab = memory["a"], memory["b"], memory["lab"]
    head_a, head_b = layout.coins(a, phase), layout.coins(b, phase)
    offer_a = np.where(~head_a & head_b, b, NO_VALUE)
    offer_b = np.where(~head_b & head_a, a, NO_VALUE)
    targets = np.concatenate([a, b, lab])
    offers = np.concatenate([offer_a, offer_b, np.full(lab.size, NO_VALUE, dtype=np.int64)])
    _request(layout.exchange, machine, targets, offers)


def _request(ex: Exchange, machine: Machine, targets: np.ndarray, offers: np.ndarray) -> None:
    machine.memory["inv"] = ex.request(machine, targets, offers)


def _apply(ex: Exchange, machine: Machine, messages: list[tuple[int, Any]]) -> None:
    """The exchange's answers: relabel edges (dropping loops) and vertices."""
    memory = machine.memory
    inverse = memory.pop("inv")
    new = ex.answers(machine, messages)[inverse] if inverse.size else inverse
    if memory.get("final"):
        memory["lab"] = new
        return
    e = memory["a"].size
    a, b = new[:e], new[e:2 * e]
    live = a != b
    memory["a"], memory["b"], memory["lab"] = a[live], b[live], new[2 * e:]


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
    if "stop" in memory or memory.get("final"):
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


def _route_output(layout: _Layout, machine: Machine) -> None:
    """Send (vertex, label) to the machine that outputs the vertex."""
    memory = machine.memory
    vid, lab = memory.pop("vid"), memory.pop("lab")
    for key in ("a", "b", "final", "stop"):
        memory.pop(key, None)
    memory["done"] = 1
    dest = vid // layout.output_words
    order = np.argsort(dest, kind="stable")
    dest, vid, lab = dest[order], vid[order], lab[order]
    cuts = np.flatnonzero(np.diff(dest)) + 1
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, dest.size]) if dest.size else ():
        machine.send(int(dest[lo]), [OUT, vid[lo:hi], lab[lo:hi]])


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
    of the edges), doubled until it fits; q = the machines the layout needs."""
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
