"""transformer_to_plan: lay a transformer's forward pass out on MPC machines under a cap.

The plan fixes, for one sequence of N tokens: the tile B (tokens per block; T = ceil(N/B)
blocks), the fan-in b of the propagation trees, the machines and their roles, the rounds,
and a bound on the words any machine holds, works with, sends or receives in a round.

Strategy "tree" (Theorem 3.4, generalised to B x B tiles): token machine i holds block i and
does all per-token work. Inner-product machine (i, j) exists for every visible off-diagonal
tile (query block i, key block j); the diagonal tile is computed by the token machine itself.
Row i's machines form a b-ary heap rooted at token machine i (its tiles in key order), and
column j's a b-ary heap rooted at token machine j. Per layer:
    round 0:        token machines compute Q, K, V and the diagonal tile's partial state,
                    and send Q down the row heap, K and V down the column heap;
    rounds 1..D:    heap nodes at depth d receive at round d and forward to their children;
                    a tile computes its partial state when it has both Q and K/V;
    rounds D..2D:   states merge up the row heap (log-sum-exp merge): the node at depth d
                    sends at round 2D - d, so the token machine has them all at round 2D,
                    where it finishes attention, applies the residual/MLP map, and starts
                    the next layer (its round 0).
So each layer takes exactly 2D rounds, where D is the largest depth of any row or column
heap: D = depth(n + 1, b) for the largest heap with n off-diagonal tiles, and
depth(k, b) = min{d : 1 + b + ... + b^d >= k} <= ceil(log_b(T)). (The paper counts 2D + 3
with separate root and packing stages; rooting the trees at the token machines merges them.)
The run takes L * 2D + 1 rounds: the last round applies the readout. With T = 1 (B = N) a
single machine does everything in one round.

Strategy "ring" (ring attention): T machines each hold a block; every layer, the K/V blocks
travel once around the ring, each machine merging the blocks it may see into its state:
T - 1 rounds per layer, L * (T - 1) + 1 rounds in all.

Words (per block of B tokens, H heads, key/value dims dk/dv, width m, output width m_out):
Q = B H dk, KV = B H (dk + dv), S = B H (2 + dv) (a partial state), P = B B H (a score tile,
transient). The per-token maps' internal activations (e.g. the MLP's 4m) are code in the
paper's model, not counted; everything the bridge stores or sends is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from mpcsim import MPCError
from mpcsim.algorithms import tree

from .attention import AttentionSpec, visible_blocks
from .model import Transformer

__all__ = ["Plan", "transformer_to_plan", "heap_depth", "PlanError", "STRATEGIES", "Schedule",
           "register_schedule", "schedule_named"]


class PlanError(MPCError, ValueError):
    """No layout fits memory_words (or the options contradict each other)."""

    reason: str

    def _message(self) -> str:
        return self.reason


@dataclass(frozen=True)
class Shapes:
    """The sizes the word counts depend on (max over layers)."""

    width: int  # m
    out_width: int  # m_out
    heads: int  # H
    key_dim: int  # dk
    value_dim: int  # dv

    @classmethod
    def of(cls, model: Transformer) -> Shapes:
        specs = [layer.attention for layer in model.layers]
        return cls(model.width, model.result_width, max(a.num_heads for a in specs),
                   max(a.key_dim for a in specs), max(a.value_dim for a in specs))


@dataclass(frozen=True)
class Plan:
    strategy: str  # "tree" or "ring"
    seq_len: int  # N
    memory_words: int  # s
    tile: int  # B: tokens per block
    fan_in: int  # b: children per heap node (tree); 1 for ring
    num_layers: int  # L
    blocks: int  # T = ceil(N / B): token machines
    tiles: tuple[tuple[int, int], ...]  # (query block, key block) of each inner-product machine
    depth: int  # D: deepest heap (tree); 0 for ring
    rounds_per_layer: int  # 2D (tree) or T - 1 (ring)
    total_rounds: int  # L * rounds_per_layer + 1
    words: dict[str, int] = field(compare=False)  # bound per kind: held, working, sent, received
    shapes: Shapes = field(compare=False, repr=False)

    @property
    def machines(self) -> int:
        """Machines per sequence: T token machines, then the inner-product machines."""
        return self.blocks + len(self.tiles)

    @property
    def roles(self) -> dict[str, int]:
        """Machines per sequence by role."""
        return {"token": self.blocks, "inner_product": len(self.tiles)}

    @property
    def words_bound(self) -> int:
        return max(self.words.values())

    def describe(self) -> str:
        roles = f"{self.blocks} token machines"
        if self.tiles:
            roles += f" + {len(self.tiles)} inner-product machines"
        return (f"{self.strategy} plan for N={self.seq_len}, memory_words={self.memory_words}: "
                f"tile B={self.tile}, fan-in b={self.fan_in}, {roles} = {self.machines} "
                f"machines per sequence; {self.rounds_per_layer} rounds per layer x "
                f"{self.num_layers} layers + 1 = {self.total_rounds} rounds; words per machine "
                f"<= {self.words_bound} ({', '.join(f'{k} {v}' for k, v in self.words.items())})")

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "seq_len": self.seq_len,
                "memory_words": self.memory_words, "tile": self.tile, "fan_in": self.fan_in,
                "blocks": self.blocks, "inner_product_machines": len(self.tiles),
                "machines": self.machines, "depth": self.depth,
                "rounds_per_layer": self.rounds_per_layer, "total_rounds": self.total_rounds,
                "words": dict(self.words), "words_bound": self.words_bound}


def heap_depth(nodes: int, fan_in: int) -> int:
    """Depth of a b-ary heap of `nodes` nodes (root at depth 0): min{d : sum b^i >= nodes}."""
    return tree.depth(nodes, fan_in)


def transformer_to_plan(model: Transformer, seq_len: int, memory_words: int,
                        strategy: str = "tree", fan_in: int | None = None,
                        tile: int | None = None) -> Plan:
    """The plan with the largest tile (then fan-in) that fits memory_words, or PlanError."""
    model.check_length(seq_len)
    problems = []
    if strategy not in SCHEDULES:
        problems.append(f"strategy={strategy!r}: must be one of {', '.join(SCHEDULES)}")
    if not isinstance(memory_words, int) or memory_words < 1:
        problems.append(f"memory_words={memory_words!r}: must be an int >= 1")
    if tile is not None and not 1 <= tile <= seq_len:
        problems.append(f"tile={tile}: must be in 1..seq_len={seq_len}")
    if fan_in is not None and fan_in < 1:
        problems.append(f"fan_in={fan_in}: must be >= 1")
    if fan_in is not None and strategy in SCHEDULES and not SCHEDULES[strategy].fan_in:
        problems.append(f"fan_in={fan_in}: only the "
                        f"{', '.join(n for n, sc in SCHEDULES.items() if sc.fan_in)} strategy "
                        f"has fan-out trees")
    if problems:
        raise PlanError(reason="cannot plan: " + "; ".join(problems))
    shapes = Shapes.of(model)
    specs = [layer.attention for layer in model.layers]
    tiles_to_try = [tile] if tile is not None else range(seq_len, 0, -1)
    for b_tile in tiles_to_try:
        plan = SCHEDULES[strategy].plan_for_tile(model.num_layers, seq_len, memory_words,
                                                 b_tile, fan_in, shapes, specs)
        if plan is not None:
            return plan
    need = _minimum_words(strategy, seq_len, tile, fan_in, shapes)
    fixed = ", ".join(f"{k}={v}" for k, v in (("tile", tile), ("fan_in", fan_in)) if v)
    raise PlanError(reason=
        f"no {strategy} plan fits memory_words={memory_words} for N={seq_len}"
        + (f" with {fixed}" if fixed else "")
        + f": the smallest layout needs memory_words >= {need}; raise memory_words")


def _ring_plan_for_tile(layers: int, n: int, s: int, b_tile: int, fan_in: int | None,
                        shapes: Shapes, specs: list[AttentionSpec]) -> Plan | None:
    blocks = -(-n // b_tile)
    words = _ring_words(b_tile, blocks, shapes)
    if max(words.values()) > s:
        return None
    per_layer = blocks - 1
    return Plan("ring", n, s, b_tile, 1, layers, blocks, (), 0, per_layer,
                layers * per_layer + 1, words, shapes)


def _tree_plan_for_tile(layers: int, n: int, s: int, b_tile: int, fan_in: int | None,
                        shapes: Shapes, specs: list[AttentionSpec]) -> Plan | None:
    blocks = -(-n // b_tile)
    tiles = _visible_tiles(n, b_tile, blocks, specs)
    widest = _widest_heap(tiles, blocks)
    candidates = [fan_in] if fan_in is not None else range(max(1, widest - 1), 0, -1)
    for b in candidates:
        words = _tree_words(b_tile, b, blocks, shapes)
        if max(words.values()) <= s:
            depth = heap_depth(widest, b)
            return Plan("tree", n, s, b_tile, b, layers, blocks, tiles, depth, 2 * depth,
                        layers * 2 * depth + 1, words, shapes)
    return None


def _visible_tiles(n: int, b_tile: int, blocks: int,
                   specs: list[AttentionSpec]) -> tuple[tuple[int, int], ...]:
    """Off-diagonal tiles any layer's mask lets a query block see (diagonals: token machines)."""
    visible = np.zeros((blocks, blocks), dtype=bool)
    for spec in specs:
        visible |= visible_blocks(spec, n, b_tile)
    np.fill_diagonal(visible, False)
    return tuple(zip(*(axis.tolist() for axis in np.nonzero(visible))))


def _widest_heap(tiles: tuple[tuple[int, int], ...], blocks: int) -> int:
    """Nodes in the largest row or column heap: its tiles plus the token machine at the root."""
    rows = [0] * blocks
    cols = [0] * blocks
    for i, j in tiles:
        rows[i] += 1
        cols[j] += 1
    return 1 + max(rows + cols, default=0)


def _sizes(b_tile: int, sh: Shapes) -> tuple[int, int, int, int]:
    q = b_tile * sh.heads * sh.key_dim
    kv = b_tile * sh.heads * (sh.key_dim + sh.value_dim)
    state = b_tile * sh.heads * (2 + sh.value_dim)
    scores = b_tile * b_tile * sh.heads
    return q, kv, state, scores


def _tree_words(b_tile: int, b: int, blocks: int, sh: Shapes) -> dict[str, int]:
    q, kv, state, scores = _sizes(b_tile, sh)
    x, out = b_tile * sh.width, b_tile * sh.out_width
    if blocks == 1:  # one machine, one round: ids in, outputs out; all else is in-round work
        return {"held": max(b_tile, out), "working": x + q + kv + scores + state + out,
                "sent": 0, "received": 0}
    # messages carry a one-word tag: [TAG_Q, q], [TAG_KV, k, v], [TAG_STATE, mx, z, acc]
    q_msg, kv_msg, state_msg = q + 1, kv + 1, state + 1
    return {
        # token: x + own state + b children's states; tile: Q and K/V (stored or arriving),
        # or its own state + b children's states
        "held": max(x + state + b * state_msg, q_msg + kv_msg, state + b * state_msg, out,
                    b_tile),
        # token at round 0 of a layer: x, Q, K, V, the diagonal scores and state
        "working": max(x + q + kv + scores + state, q + kv + scores + state),
        # Q to b row children and K/V to b column children, in one round at most
        "sent": max(b * (q_msg + kv_msg), state_msg),
        "received": max(q_msg + kv_msg, b * state_msg),
    }


def _ring_words(b_tile: int, blocks: int, sh: Shapes) -> dict[str, int]:
    q, kv, state, scores = _sizes(b_tile, sh)
    x, out = b_tile * sh.width, b_tile * sh.out_width
    if blocks == 1:
        return {"held": max(b_tile, out), "working": x + q + kv + scores + state + out,
                "sent": 0, "received": 0}
    kv_msg = kv + 2  # [TAG_KV, k, v, block]
    return {
        # x, this layer's Q, the running state, and the K/V block passing through
        "held": max(x + q + state + kv_msg, out, b_tile),
        "working": x + q + kv + kv + scores + state,
        "sent": kv_msg,
        "received": kv_msg,
    }


def _minimum_words(strategy: str, n: int, tile: int | None, fan_in: int | None,
                   shapes: Shapes) -> int:
    """The smallest memory_words for which some plan exists: every word count grows with the
    fan-in, so b = 1 (or the given fan-in) at the best tile."""
    words = SCHEDULES[strategy].words

    def need(b_tile: int) -> int:
        return max(words(b_tile, fan_in or 1, -(-n // b_tile), shapes).values())

    return min(need(b_tile) for b_tile in ([tile] if tile else range(1, n + 1)))


# -- the schedules, by name ----------------------------------------------------------------------

@dataclass(frozen=True)
class Schedule:
    """One way to lay a transformer's attention out on machines (a `strategy`)."""

    name: str  # what Plan.strategy and --strategy say
    fan_in: bool  # whether it takes a fan-in (b) for fan-out trees
    # (layers, n, s, tile, fan_in, shapes, specs) -> the plan at this tile, or None if over s
    plan_for_tile: Callable[..., Plan | None]
    # (tile, fan_in, blocks, shapes) -> words per machine by kind (held, working, sent, received)
    words: Callable[[int, int, int, Shapes], dict[str, int]]
    to_program: str  # "module:function" building its round program from (model, plan)


SCHEDULES: dict[str, Schedule] = {}


def register_schedule(schedule: Schedule) -> None:
    """Make `schedule.name` a valid strategy of transformer_to_plan and compile_transformer."""
    SCHEDULES[schedule.name] = schedule


def schedule_named(name: str) -> Schedule:
    """The registered schedule `name`; PlanError listing the registered names otherwise."""
    if name not in SCHEDULES:
        raise PlanError(reason=f"strategy={name!r}: must be one of {', '.join(SCHEDULES)}")
    return SCHEDULES[name]


register_schedule(Schedule("tree", True, _tree_plan_for_tile,
                           lambda b_tile, b, blocks, sh: _tree_words(b_tile, b, blocks, sh),
                           "transformer_bridge.tree_program:plan_to_tree_program"))
register_schedule(Schedule("ring", False, _ring_plan_for_tile,
                           lambda b_tile, b, blocks, sh: _ring_words(b_tile, blocks, sh),
                           "transformer_bridge.ring_program:plan_to_ring_program"))
STRATEGIES = tuple(SCHEDULES)  # the built-in schedules' names (--strategy's choices)
