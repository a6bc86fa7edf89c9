"""compile_transformer: one table of cases through the dense reference, the local backend and
Ray: outputs equal the dense forward (<= 1e-9 in float64, <= 2e-4 in float32), the measured
rounds equal the plan and its per-layer formula, and no machine exceeds memory_words."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from functools import lru_cache


import numpy as np
import pytest

from transformer_bridge import forward, random_gpt2
from transformer_bridge.compiler import compile_transformer
from transformer_bridge.model import Transformer
from transformer_bridge.plan import PlanError, heap_depth, transformer_to_plan

LAYERS, HEADS, WIDTH, VOCAB = 2, 2, 16, 20


@lru_cache(maxsize=None)
def model(kind: str = "softmax", mask: str | None = "causal",
          dtype: str = "float64") -> Transformer:
    base = random_gpt2(LAYERS, HEADS, WIDTH, 300, VOCAB, seed=7).astype(np.dtype(dtype))
    layers = tuple(replace(layer, attention=replace(layer.attention, kind=kind, mask=mask))
                   for layer in base.layers)
    return replace(base, layers=layers)


@dataclass(frozen=True)
class Case:
    n: int
    strategy: str = "tree"
    kind: str = "softmax"
    mask: str | None = "causal"
    dtype: str = "float64"
    memory_words: int = 2_000
    tile: int | None = None
    fan_in: int | None = None

    @property
    def id(self) -> str:
        parts = [f"N{self.n}", self.strategy, self.kind, self.mask or "unmasked", self.dtype,
                 f"s{self.memory_words}"]
        parts += [f"B{self.tile}"] * (self.tile is not None)
        parts += [f"b{self.fan_in}"] * (self.fan_in is not None)
        return "-".join(parts)


CASES = [
    Case(1), Case(2), Case(2, "ring"), Case(7, memory_words=400), Case(7, "ring", memory_words=400),
    Case(64), Case(64, memory_words=400), Case(64, tile=1, fan_in=2, memory_words=400),
    Case(64, tile=5, fan_in=3), Case(64, tile=8, fan_in=1), Case(64, "ring", memory_words=600),
    Case(64, mask=None), Case(64, "ring", mask=None, tile=9),
    Case(64, kind="hardmax"), Case(64, "ring", kind="hardmax", mask=None, tile=16, memory_words=3_000),
    Case(64, dtype="float32"), Case(64, "ring", dtype="float32", tile=8),
    Case(257, memory_words=6_000, tile=32), Case(257, "ring", memory_words=9_000, tile=40),
    Case(257, kind="hardmax", mask=None, tile=64, memory_words=20_000),
]
TOLERANCE = {"float64": 1e-9, "float32": 2e-4}


@lru_cache(maxsize=None)
def inputs(n: int) -> np.ndarray:
    return np.random.default_rng(n).integers(0, VOCAB, size=(2, n))


@lru_cache(maxsize=None)
def dense(case_model: Transformer, n: int) -> np.ndarray:
    return forward(case_model, inputs(n))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_compiled_run_equals_dense_with_planned_rounds_and_caps(case: Case,
                                                               backend: str) -> None:
    net = model(case.kind, case.mask, case.dtype)
    job = compile_transformer(net, case.n, case.memory_words, strategy=case.strategy,
                              tile=case.tile, fan_in=case.fan_in)
    plan = job.plan
    out, result = job.run(inputs(case.n), backend=backend, num_workers=2)

    assert out.dtype == np.dtype(case.dtype)
    assert np.abs(out - dense(net, case.n)).max() <= TOLERANCE[case.dtype]
    assert result.rounds == plan.total_rounds == LAYERS * plan.rounds_per_layer + 1
    assert result.trace.num_machines == 2 * plan.machines
    trace = result.trace
    assert trace.violations == []
    assert trace.max_memory_words <= plan.words["held"] <= case.memory_words
    assert trace.max_sent_words <= plan.words["sent"] <= case.memory_words
    assert trace.max_received_words <= plan.words["received"] <= case.memory_words


@pytest.mark.parametrize("case", [c for c in CASES if c.strategy == "tree"], ids=lambda c: c.id)
def test_tree_rounds_per_layer_are_twice_the_deepest_fan_out_heap(case: Case) -> None:
    plan = transformer_to_plan(model(case.kind, case.mask), case.n, case.memory_words,
                               tile=case.tile, fan_in=case.fan_in)
    rows = [1 + sum(i == r for i, _ in plan.tiles) for r in range(plan.blocks)]
    cols = [1 + sum(j == c for _, j in plan.tiles) for c in range(plan.blocks)]
    assert plan.depth == heap_depth(max(rows + cols), plan.fan_in)
    assert plan.rounds_per_layer == 2 * plan.depth
    if plan.fan_in >= 2 and plan.blocks > 1:  # no deeper than the paper's D = ceil(log_b T)
        assert plan.depth <= math.ceil(math.log(plan.blocks, plan.fan_in) - 1e-12)


@pytest.mark.parametrize("case", [c for c in CASES if c.strategy == "ring"], ids=lambda c: c.id)
def test_ring_rounds_per_layer_are_one_less_than_the_blocks(case: Case) -> None:
    plan = transformer_to_plan(model(case.kind, case.mask), case.n, case.memory_words,
                               strategy="ring", tile=case.tile)
    assert plan.rounds_per_layer == plan.blocks - 1 == -(-case.n // plan.tile) - 1
    assert plan.machines == plan.blocks


@pytest.mark.parametrize("nodes, fan_in, depth", [
    (1, 2, 0), (2, 2, 1), (3, 2, 1), (4, 2, 2), (7, 2, 2), (8, 2, 3), (5, 1, 4), (13, 3, 2),
    (14, 3, 3)])
def test_heap_depth_is_the_smallest_full_tree_holding_the_nodes(nodes: int, fan_in: int,
                                                                depth: int) -> None:
    assert heap_depth(nodes, fan_in) == depth


@pytest.mark.parametrize("strategy", ["tree", "ring"])
def test_default_plan_takes_the_largest_tile_that_fits(strategy: str) -> None:
    net = model()
    plan = transformer_to_plan(net, 64, 2_000, strategy=strategy)
    assert plan.words_bound <= 2_000
    bigger = transformer_to_plan(net, 64, 10**9, strategy=strategy, tile=plan.tile + 1)
    assert bigger.words_bound > 2_000


@pytest.mark.parametrize("strategy", ["tree", "ring"])
def test_a_cap_too_small_is_refused_with_the_minimum_that_works(strategy: str) -> None:
    net = model()
    with pytest.raises(PlanError, match=r"memory_words >= \d+") as info:
        transformer_to_plan(net, 64, 50, strategy=strategy)
    need = int(re.search(r"memory_words >= (\d+)", str(info.value)).group(1))
    assert transformer_to_plan(net, 64, need, strategy=strategy).words_bound <= need
    with pytest.raises(PlanError):
        transformer_to_plan(net, 64, need - 1, strategy=strategy)


def test_invalid_options_are_all_reported_at_once() -> None:
    with pytest.raises(PlanError) as info:
        transformer_to_plan(model(), 64, 0, strategy="star", tile=65, fan_in=0)
    for text in ("strategy='star'", "memory_words=0", "tile=65", "fan_in=0"):
        assert text in str(info.value)


def test_a_fan_in_for_the_ring_is_refused_as_meaningless() -> None:
    with pytest.raises(PlanError, match="only the tree strategy"):
        transformer_to_plan(model(), 64, 10_000, strategy="ring", fan_in=2)


def test_input_ids_of_the_wrong_shape_are_refused() -> None:
    job = compile_transformer(model(), 7, 2_000)
    with pytest.raises(ValueError, match=r"\[batch, 7\]"):
        job.run(np.zeros((2, 8), dtype=int))
    with pytest.raises(ValueError, match="integers"):
        job.run(np.zeros((2, 7)))


def test_a_single_sequence_gives_a_single_output() -> None:
    job = compile_transformer(model(), 7, 400)
    out, _ = job.run(inputs(7)[0])
    assert out.shape == (7, WIDTH)
    assert np.abs(out - dense(model(), 7)[0]).max() <= 1e-9




def test_an_unknown_strategy_is_refused_listing_the_registered_schedules() -> None:
    with pytest.raises(PlanError, match="strategy='zigzag': must be one of tree, ring"):
        transformer_to_plan(model(), 64, 10_000, strategy="zigzag")


def test_a_registered_schedule_is_planned_and_compiled_through_the_registry() -> None:
    from transformer_bridge import plan as plans

    tree = plans.schedule_named("tree")
    plans.register_schedule(replace(tree, name="tree-again"))
    try:
        planned = transformer_to_plan(model(), 64, 10_000, strategy="tree-again")
        assert planned.strategy == "tree"  # built by the tree schedule's planner
        assert plans.schedule_named("tree-again").to_program == tree.to_program
    finally:
        del plans.SCHEDULES["tree-again"]
