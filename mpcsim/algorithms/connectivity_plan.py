"""Where connectivity's data lives and how big everything is: the plan (edges per machine, the
exchange's host depth, fan-in and slots, the barrier tree), the memory estimate it is sized by,
and the round bound. The algorithm is in mpcsim.algorithms.connectivity, whose docstring
derives the numbers used here; the exchange is mpcsim.algorithms.label_exchange.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .label_exchange import MASK_FAN, LabelExchange
from .tree import ceil_log
from .tree import depth as heap_depth

__all__ = ["Plan", "plan_for", "peak_words", "popular_ids", "least_memory_words",
           "contraction_bound", "barrier_fan",
           "BAR_WORDS", "MAX_DEPTH", "POPULAR_COPIES"]

BAR_WORDS = 2  # a machine's bookkeeping words (connectivity's `bar`)
MAX_DEPTH = 3  # host levels tried


def contraction_bound(vertices: int) -> int:
    """Exchanges that carry edges, at most (module docstring of connectivity, "Rounds"):
    2 ceil(log2 V) + 4 (twice what any graph tried needed)."""
    return 2 * ceil_log(max(vertices, 1), 2) + 4 if vertices > 1 else 0


@dataclass(frozen=True)
class Plan:
    """Where everything lives: c_e edges on each of the first ceil(E / c_e) machines, the
    table of parents in the exchange's slots, output labels c_o per machine."""

    vertices: int  # V
    edges: int  # E, input rows
    edge_words: int  # c_e: edges per machine at the start
    exchange: LabelExchange
    barrier_fan: int  # F: the heap tree that tells everyone the edges are gone
    output_words: int  # c_o: labels per output machine

    @property
    def machines(self) -> int:
        return self.exchange.machines

    @property
    def barrier_depth(self) -> int:
        return heap_depth(self.machines, self.barrier_fan)

    def rounds(self) -> int:
        """The round bound: K exchanges with edges (K <= contraction_bound(V); none hooks
        after them), then F = ceil(log2 V) + 1 exchanges in which every vertex not yet known
        to point at a root doubles (every pointer is an ancestor, and doubling halves the
        distance to the root until the answer is the pointer itself), the barrier's latency
        (every machine hears STOP within 2H rounds of the last edge dropping, at round KL) and
        2 output rounds: L (K + F) + 2H + 2, L = 2D + 2."""
        per = self.exchange.rounds
        final = ceil_log(max(self.vertices, 1), 2) + 1
        return (per * (contraction_bound(self.vertices) + final)
                + 2 * self.barrier_depth + 2)

    def kids(self, ids: np.ndarray) -> np.ndarray:
        """Heap-tree children of each machine."""
        return np.clip(self.machines - 1 - ids * self.barrier_fan, 0, self.barrier_fan)

    def parents(self, ids: np.ndarray) -> np.ndarray:
        """Heap-tree parent of each machine (ids > 0)."""
        return (ids - 1) // self.barrier_fan


LOAD_FACTOR = 1.25  # a host's or owner's load over the mean requests per machine r
# Copies of one popular id a machine may receive per sender at once, by host depth D (the
# inbox's popular term, POPULAR_COPIES[D] P max(g, B)). In the final doubling stage the roots
# and near-roots of the large trees are popular together, and a host whose digits two of them
# share receives both from its children. Measured need ((peak - the other terms) / (P max(g,
# B))) over 696 runs of 28 graphs at forced layouts (D = 1..3, c = 1, 2, 4, seeds 0-2): at
# most 2.15 at D = 1, 2.08 at D = 2 and 3.0 at D = 3 (the 60 x 60 grid needs 2.7 on every seed:
# two popular ids on one level-3 host); D = 0 keeps the 2 copies of the two popular ids it
# always counts.
POPULAR_COPIES = (2.0, 2.5, 2.5, 3.5)


def popular_ids(edges: int, vertices: int, fan: int) -> int:
    """Ids a host or owner may receive from every sender at once, estimated: 1, or more when
    the mean degree 2E/V exceeds the fan-in g (in a dense graph most ids sit in >= g edges,
    and a host's share of them is about 2E/(V g))."""
    return max(1, -(-2 * edges // max(1, vertices * fan)))


def peak_words(edge_words: int, slot_words: int, depth: int, fan: int, blocks: int,
               popular: int = 1) -> int:
    """Words a machine holds at its fullest, estimated (connectivity's docstring, "Memory"):
    state + D (LOAD_FACTOR r + books) + LOAD_FACTOR (r + c_e) + POPULAR_COPIES[D] P senders,
    with r = max(2 c_e, c_v), P = `popular`, senders = max(g, blocks) (blocks at D = 0) and
    books = P (a host's bitmask word per popular id passed up, g <= MASK_FAN) or P g (one word
    per request received, wider fans); or, in the output stage, 6 c_v + 2."""
    state = 2 * edge_words + 2 * slot_words + BAR_WORDS
    requests = max(2 * edge_words, slot_words)  # r: distinct ids a machine asks for
    books = popular if fan <= MASK_FAN else popular * fan
    kept = depth * (math.ceil(LOAD_FACTOR * requests) + books)
    senders = blocks if depth == 0 else max(fan, blocks)
    inbox = (math.ceil(LOAD_FACTOR * (requests + edge_words))
             + math.ceil(POPULAR_COPIES[depth] * popular * senders))
    return max(state + kept + inbox, 6 * slot_words + BAR_WORDS)


def _layout(edges: int, vertices: int, machines: int, depth: int) -> tuple[int, int, int, int]:
    """(c_e, c_v, g, blocks) when spreading E edges and V vertices over ~`machines` machines
    with `depth` host levels (g^depth * blocks >= machines, g ~ machines^(1/(depth + 1)))."""
    ce = max(1, -(-edges // machines))
    cv = max(1, -(-vertices // machines))
    if depth == 0:
        return ce, cv, 1, machines
    fan = max(2, math.ceil(machines ** (1 / (depth + 1)) - 1e-9))
    blocks = max(1, -(-machines // fan ** depth))
    return ce, cv, fan, blocks


def _least_machines(edges: int, vertices: int, s: int, depth: int) -> int | None:
    """The fewest machines whose layout fits s words by `peak_words`, or None."""
    best = None
    q = 1
    top = max(1, edges, vertices)  # past one edge and one vertex a machine, more only hurt
    while best is None and q < top:
        if _fits(edges, vertices, q, depth, s):
            best = q
        q = max(q + 1, math.ceil(q * 1.05))
    if best is None and _fits(edges, vertices, top, depth, s):
        best = q = top
    if best is None:
        return None
    lo = max(1, math.floor(best / 1.05))  # refine within the last step
    for q in range(lo, best):
        if _fits(edges, vertices, q, depth, s):
            return q
    return best


def _fits(edges: int, vertices: int, machines: int, depth: int, s: int) -> bool:
    ce, cv, fan, blocks = _layout(edges, vertices, machines, depth)
    popular = popular_ids(edges, vertices, max(fan, blocks) if depth == 0 else fan)
    if depth == 0:  # an owner hears from every machine: a hub and a large root may coincide
        popular = max(popular, 2)
    return peak_words(ce, cv, depth, fan, blocks, popular) <= s


def plan_for(edges: int, vertices: int, memory_words: int, num_machines: int, seed: int,
             depth: int | None = None, edge_words: int | None = None,
             slot_words: int | None = None) -> Plan:
    """The plan for E edges over V vertices on machines of s words: for each host depth D
    (or the given one), the fewest machines that fit s by `peak_words`; then the least D whose
    machines are within twice the fewest over all D (a level costs 2 rounds per exchange, a
    machine costs time). edge_words and slot_words force c_e and c_v (for experiments: the
    estimate is not checked). ConfigError naming memory_words (with the least that fits) or
    num_machines (with the machines needed)."""
    s = memory_words
    options, least = [], None
    for d in ([depth] if depth is not None else range(MAX_DEPTH + 1)):
        if edge_words is not None or slot_words is not None:
            q: int | None = max(1, -(-edges // (edge_words or max(1, edges))),
                                -(-vertices // (slot_words or max(1, vertices))))
        else:
            q = _least_machines(edges, vertices, s, d)
        if q is None:
            continue
        ce, cv, fan, _ = _layout(edges, vertices, q, d)
        ex = LabelExchange.build(vertices, q, slot_words or cv, d, fan, seed)
        least = ex.machines if least is None else min(least, ex.machines)
        if ex.machines <= num_machines:
            options.append((d, ex.machines, edge_words or ce, ex))
    if not options:
        if least is not None:
            raise ConfigError(problems=[("num_machines", num_machines,
                                         f"{edges} edges over {vertices} vertices need "
                                         f"{least} machines of memory_words={s}; raise "
                                         f"num_machines to >= {least} or memory_words")])
        raise ConfigError(problems=[("memory_words", s,
                                     f"{edges} edges over {vertices} vertices do not fit "
                                     "machines of this size; raise memory_words to >= "
                                     f"{least_memory_words(edges, vertices, depth)} (the "
                                     "plan's estimate; hashed loads can pass it by a word "
                                     "or two, so leave ~10% headroom)")])
    fewest = min(o[1] for o in options)
    d, q, ce, ex = min(o for o in options if o[1] <= 2 * fewest)
    return Plan(vertices, edges, ce, ex, barrier_fan(q, s), ex.slots)


def barrier_fan(machines: int, memory_words: int) -> int:
    """F: the least fan-in whose heap tree on q machines is as shallow as fan-in
    max(2, min(s / 4, q)) makes it. A machine receives at most F DONE words (one per child,
    once in the run) and sends F STOP words (once)."""
    widest = max(2, min(memory_words // 4, machines))
    height = heap_depth(machines, widest)
    fan = 2
    while heap_depth(machines, fan) > height:
        fan += 1
    return fan


def least_memory_words(edges: int, vertices: int, depth: int | None = None) -> int:
    """The least s that some plan (of the given host depth, or any) fits by `peak_words`."""
    depths = [depth] if depth is not None else list(range(MAX_DEPTH + 1))

    def fits(s: int) -> bool:
        return any(_least_machines(edges, vertices, s, d) is not None for d in depths)

    lo, hi = 8, 64
    while not fits(hi):
        lo, hi = hi, 2 * hi
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid + 1, hi)
    return lo


