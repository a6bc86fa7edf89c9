"""transformer_bridge.constructions.hopk: the hand-built hop_k transformer is exact for every
k in 0..64 at N in {16, 100, 1024} (dense forward), its compiled MPC runs on every backend
give the dense forward's outputs bit for bit, its depth is ceil(log2 k) + 2, and no schedule
of the construction with floor(log2 k) + 2 layers computes hop_k when k is not a power of two.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from transformer_bridge import compile_transformer, forward
from transformer_bridge.constructions.hopk import (
    HopSchedule, Pointer, hopk_transformer, min_margin, precision_limit, random_inputs,
    reachable_hops, schedule_hops, schedule_transformer, targets, UNIT_ROUNDOFF)

ALPHABET = 4


def predictions(model, ids: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    return forward(model, ids).argmax(-1)


@pytest.mark.parametrize("seq_len, sequences", [
    (16, 8), (100, 4), pytest.param(1024, 1, marks=pytest.mark.slow)])
def test_dense_forward_is_exact_for_every_k_up_to_64(seq_len: int, sequences: int) -> None:
    ids = random_inputs(sequences, seq_len, ALPHABET, np.random.default_rng(seq_len))
    wrong = [k for k in range(65) if not np.array_equal(
        predictions(hopk_transformer(k, seq_len, ALPHABET), ids), targets(ids, k, ALPHABET))]
    assert wrong == []


@pytest.mark.parametrize("alphabet", [1, 2, 26])
def test_exact_for_other_alphabets(alphabet: int) -> None:
    ids = random_inputs(3, 100, alphabet, np.random.default_rng(alphabet))
    for k in (0, 1, 2, 3, 7, 9, 33):
        assert np.array_equal(predictions(hopk_transformer(k, 100, alphabet), ids),
                              targets(ids, k, alphabet)), k


def test_targets_exercise_letters_and_none() -> None:
    ids = random_inputs(1, 1024, ALPHABET, np.random.default_rng(1024))
    for k in (1, 8, 64):
        found = set(np.unique(targets(ids, k, ALPHABET)))
        assert ALPHABET in found and len(found) == ALPHABET + 1  # none and every letter


@pytest.mark.parametrize("k, layers", [(0, 1), (1, 2), (2, 3), (3, 4), (4, 4), (5, 5), (8, 5),
                                       (9, 6), (16, 6), (17, 7), (64, 8)])
def test_depth_is_ceil_log2_k_plus_2(k: int, layers: int) -> None:
    model = hopk_transformer(k, 16, ALPHABET)
    assert model.num_layers == layers
    assert k == 0 or layers == math.ceil(math.log2(k)) + 2
    assert all(layer.attention.num_heads == 1 and layer.attention.kind == "hardmax"
               for layer in model.layers)


# One table of cases through the bridge: (N, k, memory_words or tile forcing many machines).
BRIDGE_CASES = [
    pytest.param(16, 0, 2, id="N16-k0-tile2"),
    pytest.param(16, 3, 3, id="N16-k3-tile3"),
    pytest.param(16, 7, 5, id="N16-k7-tile5"),
    pytest.param(100, 5, 10, id="N100-k5-tile10"),
    pytest.param(100, 16, 30, id="N100-k16-tile30"),
    pytest.param(1024, 2, 256, id="N1024-k2-tile256"),
    pytest.param(1024, 64, 200, id="N1024-k64-tile200"),
]


@pytest.mark.parametrize("seq_len, k, tile", BRIDGE_CASES)
def test_mpc_job_gives_the_dense_outputs_exactly(seq_len: int, k: int, tile: int,
                                                 backend: str) -> None:
    model = hopk_transformer(k, seq_len, ALPHABET)
    ids = random_inputs(2, seq_len, ALPHABET, np.random.default_rng(k))
    job = compile_transformer(model, seq_len, 10**9, tile=tile, fan_in=2)
    outputs, result = job.run(ids, backend=backend, num_workers=2)
    assert job.plan.machines > 1 and result.rounds == job.plan.total_rounds
    # Hardmax with unique maximisers copies values exactly and every map is a 0/1 selection
    # (or the rotation, which only moves scores), so the outputs are bit-identical.
    assert np.array_equal(outputs, forward(model, ids))
    assert np.array_equal(outputs.argmax(-1), targets(ids, k, ALPHABET))


def test_exact_through_the_bridge_at_n_4096() -> None:
    model = hopk_transformer(5, 4096, ALPHABET)
    ids = random_inputs(1, 4096, ALPHABET, np.random.default_rng(4096))
    outputs, _ = compile_transformer(model, 4096, 10**9, tile=512).run(ids)
    assert np.array_equal(outputs.argmax(-1), targets(ids, 5, ALPHABET))


def test_margins_dwarf_round_off_up_to_n_4096_and_larger_n_is_refused() -> None:
    round_off = 4 * (ALPHABET + 3 + 8) * UNIT_ROUNDOFF
    assert min_margin(4096) > 1e6 * round_off  # 3.7e-8 vs 6.7e-15
    limit = precision_limit(ALPHABET)
    assert limit > 4096 and min_margin(limit) >= 1e3 * round_off
    with pytest.raises(ValueError, match=f"seq_len={limit + 1}"):
        hopk_transformer(3, limit + 1, ALPHABET)


def test_bad_arguments_are_refused_with_the_rule() -> None:
    with pytest.raises(ValueError, match="k=-1"):
        hopk_transformer(-1, 16, ALPHABET)
    with pytest.raises(ValueError, match="alphabet_size=0"):
        hopk_transformer(1, 16, 0)
    with pytest.raises(ValueError, match="not a register"):
        HopSchedule(registers=2, induction_writes=(0,), pointers=(Pointer(2, ()),), readout=0)


# -- floor(log2 k) + 2 layers --------------------------------------------------------------

def all_schedules(depth: int) -> list[HopSchedule]:
    """Every two-register schedule with exactly `depth` layers (depth >= 2)."""
    layer_options = [Pointer(q, tuple((d, s) for d, s in enumerate(pick) if s is not None))
                     for q in (0, 1) for pick in itertools.product([None, 0, 1], repeat=2)]
    return [HopSchedule(2, writes, pointers, readout)
            for writes in ((0,), (1,), (0, 1))
            for pointers in itertools.product(layer_options, repeat=depth - 2)
            for readout in (0, 1)]


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_depth_l_reaches_exactly_hops_0_to_2_pow_l_minus_2(depth: int) -> None:
    reach = 2 ** (depth - 2) if depth >= 2 else 0
    assert sorted(reachable_hops(depth)) == list(range(reach + 1))


@pytest.mark.parametrize("depth, ks", [(3, [3]), (4, [5, 6, 7])])
def test_no_schedule_of_floor_log2_k_plus_2_layers_computes_hop_k(depth: int,
                                                                  ks: list[int]) -> None:
    """Every schedule of this depth, built as a transformer, computes hop_e with e its
    symbolic exponent, and e <= 2^(depth - 2) < k: on this input hop_e != hop_k."""
    ids = random_inputs(1, 48, 3, np.random.default_rng(7))
    wanted = {k: targets(ids, k, 3) for k in ks}
    for schedule in all_schedules(depth):
        e = schedule_hops(schedule)
        assert e <= 2 ** (depth - 2)
        got = predictions(schedule_transformer(schedule, 48, 3), ids)
        assert np.array_equal(got, targets(ids, e, 3))
        assert not any(np.array_equal(got, want) for want in wanted.values())
    for k in ks:
        assert math.floor(math.log2(k)) + 2 == depth
        assert hopk_transformer(k, 48, 3).num_layers == depth + 1
