"""The routing heads' margins, measured on a run: every hardmax row a machine reads has
exactly its intended maximisers, with a margin against float64 round-off.

Stated margin (moduli.py): a machine's score for a key is the number of the band's key
moduli at which its id meets the key's set: exactly K (the number of moduli) for the
intended keys (the senders of band-b messages to it, and itself) and at most K - 1 for every
other key. So MARGIN = 1. Round-off: a score is a sum of dk products of 0/1 entries; the
standard bound for a dot product (Higham, Accuracy and Stability, §3.1) is
gamma_dk * sum |q_d k_d| <= 1.01 dk u * K with u = 2^-53, and here every partial sum is an
integer below 2^53, so the computed score is exact (the bound is what it would take to
break a tie; tests require MARGIN >= SAFETY x that bound).

routing_margins re-runs the dense forward layer by layer and, for every head and every
machine's row, derives the intended set from the senders' outboxes (their rows' cells,
decoded directly, not from the scores), then checks the scores: intended keys all score the
same value, no other key reaches it, and the gap is the row's margin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..attention import dense_attention
from .compiler import CompiledProgram
from .plan import RoutingPlan
from .rows import cell_messages

__all__ = ["MARGIN", "SAFETY", "roundoff_bound", "MarginReport", "routing_margins"]

MARGIN = 1.0
SAFETY = 1000.0
UNIT_ROUNDOFF = 2.0 ** -53


def roundoff_bound(key_dim: int, max_score: int) -> float:
    """gamma_dk * sum |q_d k_d| for 0/1 codes: a bound on a score's round-off."""
    return 1.01 * key_dim * UNIT_ROUNDOFF * max_score


@dataclass(frozen=True)
class MarginReport:
    smallest: float  # the least gap between a row's maximisers and its best other key
    rows: int  # machine rows checked (layers x heads x machines)
    mismatches: int  # rows whose maximisers were not exactly the intended set
    roundoff_bound: float  # the largest round-off bound over the heads


def routing_margins(model: CompiledProgram, inputs: object) -> MarginReport:
    """Check every routing row of the dense forward on `inputs` (module docstring)."""
    plan = model.plan
    assert plan is not None
    ids = model.ids(inputs)
    pos = np.arange(len(ids))
    x = model.embed(ids, pos)
    q_count = plan.num_machines
    smallest, rows, mismatches, bound = np.inf, 0, 0, 0.0
    for layer in model.layers:
        q, k, v = layer.qkv(x, pos)
        scores = np.einsum("qhd,khd->hqk", q, k)  # [H, N, N], as attention.partial computes
        for h, head in enumerate(plan.heads):
            band = plan.bands[head.band]
            intended = _intended(x, plan, band.index, q_count)  # [N receivers, N senders]
            top = float(len(band.key_moduli))
            bound = max(bound, roundoff_bound(band.key_dim, len(band.key_moduli)))
            for j in range(q_count):
                row, want = scores[h, j], intended[j]
                rows += 1
                if not (np.all(row[want] == top) and np.all(row[~want] < top)):
                    mismatches += 1
                    continue
                smallest = min(smallest, top - (row[~want].max() if (~want).any() else -np.inf))
        x = layer.post(x, dense_attention(q, k, v, layer.attention, len(ids)), pos)
    return MarginReport(float(smallest), rows, mismatches, bound)


def _intended(x: np.ndarray, plan: RoutingPlan, band: int, machines: int) -> np.ndarray:
    """bool [N, N]: receiver j should attend sender i (i sends band-b messages to j, or
    i = j), read from the senders' cells."""
    n = plan.num_tokens
    out = np.zeros((n, n), dtype=bool)
    out[np.arange(machines), np.arange(machines)] = True
    cell = plan.offsets[f"cell{band}"]
    width = plan.bands[band].cell_width
    for i in range(n):
        fields = x[i, cell:cell + width]
        if fields[0] == 1.0 and fields[1] == i:
            for msg in cell_messages(fields, plan):
                out[msg.dest, i] = True
    return out
