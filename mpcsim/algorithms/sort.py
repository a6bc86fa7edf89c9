"""Sample sort: a stable sort of n keys (ints or floats) or (key, value) records (at small s,
by a merge-split network instead: see "Network plans" below). Every plan runs as fleet rounds
(mpcsim.fleet): a host's machines take each round as one numpy pass, messages as columns.

Layout: a dense array of n slots, c per machine (machine j holds slots [jc, (j+1)c)). The
items of a *segment* (a range of slots) are known to belong to exactly those slots in sorted
order, but are unsorted among themselves; at the start the whole input is one segment.
Each machine keeps its part of a segment sorted locally. A segment spanning G >= 3 machines is
refined by one *level* (mpcsim.algorithms.sort_levels; the tree in split_tree):
  1. sample: S hashed draws of its slots; the keys drawn go to the segment's *leader* (its
     second machine), which recomputes their slots from the same hash;
  2. the leader sorts the samples by (key, slot) and takes every (S/B)-th as a splitter
     (key, slot): a total order on items consistent with stable order, so ties split at any
     item;
  3. the splitters go down, bucket counts up and (prefix, total) per bucket back down split
     trees whose hosts are the segment's inner machines (never its two end machines, which
     may belong to a neighbouring segment too), B/h groups of h buckets per message, so every
     machine learns where its bucket-b items go: the slots start + (items of buckets < b) +
     (bucket-b items on earlier machines) + ...;
  4. scatter: each machine sends each destination machine one message (a contiguous run of
     its locally sorted items, no header: a machine's two segments are told apart by the
     sender's side) and keeps the run for itself; the receiver sorts what arrives, which
     splits its slots into the sub-segments (the buckets) it holds. Buckets within one
     machine are done; a bucket spanning two machines (<= 2c items) is a *pair*: the left
     machine sends its part to the right one, which merges it and keeps it (<= c items) or
     sends the left machine its share back; larger buckets are refined by the next level.
Buckets are contiguous in stable order and every machine receives exactly its slots (a pair's
right machine <= 2c items), so no cap depends on the luck of the sampling: only the number of
levels does. Stability: within a segment slot order is input order among equal keys (true at
the start, kept by sending runs in machine order and sorting stably), and the splitters'
slots break ties in that order. The first level (the whole input: every machine in one
segment only) may use more buckets than the later ones (sort_plan's `first` and `rest`).

Direct plans: when one bucket per machine fits (with high probability) in a machine, the
plan skips the counting: round 0 local sort and samples to machine 0, round 1 the splitters
to every machine, round 2 bucket j to machine j, round 3 sort what arrived: 4 rounds, and the
output is one bucket per machine rather than dense. This is the case for large s (e.g.
n = 10^6 with s >= ~2^17 words).

Network plans (small s, mpcsim.algorithms.sort_network): the same dense layout, sorted by a
bitonic merge-split network over the machines: deterministic, L(L+1)/2 + 1 rounds
(L = ceil(log2 m)), c = floor((s - 2) / (2w')) items per machine (w' = w, + 1 when items carry
their input position as the tiebreak: records, signed zeros).

Rounds: a level on a segment spanning G machines takes a + 3D + 1 rounds (D the split tree's
depth, a = 1 or 2; 5 or 6 when one block of hosts does); levels run until segments have <= c
items, then one round merges pairs. mpcsim.algorithms.sort_plan derives the
with-high-probability bound (`round_bound`) and the memory per machine, and chooses the plan
with the fewest rounds: the levels' bound is O(1/delta) for s = n^delta (a constant for fixed
delta), the network's ~((1 - delta) log2 n)^2 / 2 grows with n but is lower at small s.
Measured at s = ceil(n^(1/2)): n = 10^3 (s = 32) network 29 rounds, n = 10^4 (s = 100)
network 37, n = 10^5 (s = 317) levels 30 (bound 39), n = 10^6 (s = 1000) levels 23-25
(bound 31, 3,509 machines); at s = ceil(n^(2/3)): 16 (network), 13 (bound 19), 14 (bound 14),
13 (bound 13). Any s >= 4 words (keys; 8 for records) has a plan. With q*s = O(n):
q = ceil(n/c) machines, c = s/(2.2w) .. s/(12w) for levels, (s - 2)/(2w') for the network
(see `sizing`).

Embedding: `step_many(plan, fleet)` is one round of the sort on a fleet (what SampleSort's
round_many does), `step(plan, machine)` the same for one machine (much slower per machine:
programs with fleet rounds should call step_many); `place` lays out the input; a finished
machine holds its share in memory "mk" (and "mv").

Failure modes: ConfigError up front when no plan fits (s < 4 words for keys, < 8 for records,
or too few machines), naming the least memory_words or num_machines; NaN keys are rejected
(they have no order).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..fleet import Fleet, FleetMessages
from ..program import Machine, Partition, Program
from . import segments, sort_levels, sort_network
from .sort_plan import KINDS, SortPlan, plan
from .spec import AlgorithmSpec, double_until_accepted

__all__ = [
    "SampleSort", "reference", "verify", "round_bound", "make_input", "sizing", "SPEC",
    "as_items", "place", "step", "step_many", "sorted_part",
]


class SampleSort(Program):
    """Stable sample sort of keys or (key, value) records; see the module docstring.

    seed: seeds the sample draws. slots, samples, buckets, fan: override the plan's choice of
    c (items per machine), S, B and the split trees' fan-in (None: searched for the fewest
    rounds; see sort_plan.plan); kind: None (the best plan), or only "direct", "network" or
    "levels" plans (sort_plan.KINDS). Output: machine j's share of the sorted sequence (a 1-D
    array of keys, or an (k, 2) array of records), in machine order; None on machines that
    end empty.
    """

    def __init__(self, seed: int = 0, slots: int | None = None, samples: int | None = None,
                 buckets: int | None = None, fan: int | None = None,
                 kind: str | None = None) -> None:
        problems = [(name, value, "must be an int >= 2 or None")
                    for name, value in (("slots", slots), ("samples", samples),
                                        ("buckets", buckets), ("fan", fan))
                    if value is not None and (type(value) is not int or value < 2)]
        if type(seed) is not int or seed < 0:
            problems.append(("seed", seed, "must be an int >= 0"))
        if kind not in KINDS + (None,):
            problems.append(("kind", kind, f"must be one of {KINDS} or None"))
        if problems:
            raise ConfigError(problems=problems)
        self.seed = seed
        self.overrides = {"slots": slots, "samples": samples, "buckets": buckets, "fan": fan,
                          "kind": kind}

    def partition(self, inputs: Any, num_machines: int, memory_words: int) -> Partition:
        """The SortPlan for (n, q, s) as the run's plan; machine j < m starts with slots
        [jc, (j+1)c) of the input."""
        keys, values = as_items(inputs)
        p = self.make_plan(keys, values, num_machines, memory_words)
        return Partition(place(p, keys, values), p)

    def make_plan(self, keys: np.ndarray, values: np.ndarray | None, num_machines: int,
                  memory_words: int) -> SortPlan:
        return plan(keys.size, num_machines, memory_words, 1 if values is None else 2,
                    seed=self.seed, stable_floats=_signed_zeros(keys), **self.overrides)

    def round_many(self, fleet: Fleet) -> None:
        done, awake = step_many(fleet.plan, fleet)
        for i in np.flatnonzero(done).tolist():
            machine = fleet.machines[i]
            machine.output = sorted_part(machine.memory)
            machine.memory.clear()  # the output holds the items now: count them once
        fleet.halt(where=done | ~awake)  # the others are woken by their next message

    def __repr__(self) -> str:
        return f"SampleSort(seed={self.seed})"


# -- the round, as functions of (plan, fleet), so other programs can embed the sort ----------

def place(p: SortPlan, keys: np.ndarray, values: np.ndarray | None) -> dict[int, dict[str, Any]]:
    """Initial memory: machine j < m holds {"k": its keys[, "v": its values]}."""
    c = p.slots
    out = {}
    for j in range(p.machines):
        memory: dict[str, Any] = {"k": keys[j * c:(j + 1) * c]}
        if values is not None:
            memory["v"] = values[j * c:(j + 1) * c]
        out[j] = memory
    return out


def step_many(p: SortPlan, fleet: Fleet, inbox: FleetMessages | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """One round of the sort on every machine of `fleet`: (done, awake), a bool per machine.
    done: it holds only its sorted share (memory "mk", and "mv" for records; of the sort's
    state only, in a levels plan, an empty "r": 0 words, the caller may drop it). awake: it must run next round even if no message comes (the others may halt
    and are woken by their next message). inbox: the sort's own messages, for a program that
    receives others too (default: fleet.inbox). Every machine of a plan's first
    `p.machines` takes part from round 0 until it is done; it may be the fleet of one
    machine (that is what `step` does), at a higher cost per machine."""
    if p.direct:
        done = _direct_step(p, fleet, fleet.inbox if inbox is None else inbox)
        return done, np.full(done.shape, fleet.round_idx < 2)
    if p.network:
        done = sort_network.step_many(p, fleet, inbox)
        return done, ~done  # a stage may pass a machine by: it runs every round
    return sort_levels.step_many(p, fleet, inbox)


def step(p: SortPlan, machine: Machine) -> bool:
    """One round of the sort on one machine (a fleet of one: see step_many); True once the
    machine holds only sorted items. Programs with round_many should call step_many."""
    if p.network:
        return sort_network.step(p, machine)
    fleet = Fleet([machine], np.array([machine.id], dtype=np.int64),
                  machine._run)  # noqa: SLF001 - the machine's own run state
    return bool(step_many(p, fleet)[0][0])


def sorted_part(memory: dict[str, Any]) -> np.ndarray | None:
    """This machine's finished share: keys, or (k, 2) records; None if it holds nothing."""
    keys = memory.get("mk")
    if keys is None or keys.size == 0:
        return None
    values = memory.get("mv")
    return keys if values is None else np.column_stack([keys, values])


def _sorted(p: SortPlan, keys: np.ndarray, values: np.ndarray | None
            ) -> tuple[np.ndarray, np.ndarray | None]:
    if values is None:
        return np.sort(keys, kind="stable" if p.stable_floats else None), None
    order = np.argsort(keys, kind="stable")
    return keys[order], values[order]


def _direct_step(p: SortPlan, fleet: Fleet, inbox: FleetMessages) -> np.ndarray:
    """A direct plan (sort_plan.direct_plan), per machine (there are few): round 0 sort
    locally and send samples (keys, ranks among equal keys) to machine 0; round 1 machine 0
    sends every machine the splitters (key, machine, rank) (m - 1 of them, or fewer if it has
    fewer samples); round 2 cut and send bucket j to machine j; round 3 sort what arrived
    (stably: it arrives in machine order). Every machine but machine 0 and trailing ones ends
    with at least one item (its bucket's splitter)."""
    t = fleet.round_idx
    if t > 3:  # ended in round 3: every machine holds its sorted share (a caller may go on)
        return np.ones(len(fleet), dtype=bool)
    done = np.zeros(len(fleet), dtype=bool)
    out: list[tuple[int, int, np.ndarray]] = []
    got = inbox if t else None
    for i, machine in enumerate(fleet.machines):
        me, memory = machine.id, machine.memory
        if me >= p.machines:
            done[i] = True
            continue
        mine = got.dests == me if got is not None else None
        if t == 0:
            keys, values = _sorted(p, memory.pop("k"), memory.pop("v", None))
            memory["mk"] = keys
            if values is not None:
                memory["mv"] = values
            slot = sort_levels.draws(p.seed, 0, p.n, p.samples) if p.n > p.samples \
                else np.arange(p.n)
            local = slot[(slot >= me * p.slots) & (slot < me * p.slots + keys.size)] \
                - me * p.slots
            ranks = local - np.searchsorted(keys, keys[local], side="left")
            if local.size:
                out.append((me, 0, np.concatenate([keys[local], ranks])))
        elif t == 1 and me == 0:
            sizes = got.lengths[mine] // 2
            starts = got.offsets[:-1][mine]
            keys = np.concatenate([got.values[a:a + n] for a, n in zip(starts, sizes)])
            ranks = np.concatenate([got.values[a + n:a + 2 * n] for a, n in zip(starts, sizes)])
            owners = np.repeat(got.sources[mine], sizes)
            order = np.lexsort((ranks, owners, keys))
            # buckets <= samples + 1, so the picks are distinct items: bucket j >= 1 holds
            # its splitter, and only machine 0 or the last machines can end empty
            buckets = min(p.machines, order.size + 1)
            pick = order[np.arange(1, buckets) * order.size // buckets]
            message = np.concatenate([keys[pick], owners[pick], ranks[pick]])
            out.extend((0, dest, message) for dest in range(p.machines))
        elif t == 2:
            (j,) = np.flatnonzero(mine)
            split = got.values[got.offsets[j]:got.offsets[j + 1]].reshape(3, -1)
            keys = memory["mk"]
            values = memory.get("mv")
            memory["mk"] = keys[:0]  # empty, keeping the dtypes for the arrival
            if values is not None:
                memory["mv"] = values[:0]
            spl_k = split[0].astype(keys.dtype)
            spl_m, spl_r = split[1].astype(np.int64), split[2].astype(np.int64)
            left = np.searchsorted(keys, spl_k, side="left")
            right = np.searchsorted(keys, spl_k, side="right")
            cut = np.where(me > spl_m, left, np.where(me < spl_m, right, left + spl_r))
            cuts = np.concatenate([[0], cut, [keys.size]]).tolist()
            for dest, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:])):
                if hi > lo:
                    out.append((me, dest, keys[lo:hi] if values is None
                                else np.concatenate([keys[lo:hi], values[lo:hi]])))
        elif t == 3:
            done[i] = True
            sizes = got.lengths[mine] // p.item_words
            if not sizes.size:
                continue
            starts = got.offsets[:-1][mine]
            keys = np.concatenate([got.values[a:a + n] for a, n in zip(starts, sizes)])
            values = (np.concatenate([got.values[a + n:a + 2 * n] for a, n in zip(starts, sizes)])
                      if p.item_words == 2 else None)
            keys, values = _sorted(p, keys.astype(memory["mk"].dtype, copy=False),
                                   None if values is None
                                   else values.astype(memory["mv"].dtype, copy=False))
            memory["mk"] = keys
            if values is not None:
                memory["mv"] = values
    if out:
        out.sort(key=lambda message: (message[1], message[0]))  # by (dest, source): routed as is
        dtype = segments.carrier(next(iter(fleet.machines)).memory["mk"].dtype)
        lengths = np.array([v.size for _, _, v in out], dtype=np.int64)
        fleet.send_many(np.array([s for s, _, _ in out]), np.array([d for _, d, _ in out]),
                        np.concatenate([v.astype(dtype, copy=False) for _, _, v in out]),
                        segments.offsets_of(lengths))
    return done


# -- inputs, reference, registry --------------------------------------------------------------

def as_items(inputs: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """(keys, values or None) from a 1-D array of keys or an (n, 2) array / sequence of
    (key, value) records; ConfigError for anything else or for NaN keys."""
    arr = np.asarray([] if inputs is None else inputs)
    if arr.size == 0:
        return np.zeros(0, dtype=arr.dtype if arr.dtype.kind in "iuf" else np.float64), None
    problems = []
    if arr.dtype.kind not in "biuf" or not (arr.ndim == 1 or (arr.ndim == 2
                                                               and arr.shape[1] == 2)):
        problems.append(("inputs", f"array of shape {arr.shape}, dtype {arr.dtype}",
                         "sort needs a 1-D array of numbers or an (n, 2) array of (key, "
                         "value) records"))
    elif arr.dtype.kind == "f" and np.isnan(arr if arr.ndim == 1 else arr[:, 0]).any():
        problems.append(("inputs", "NaN keys", "NaN has no place in a sort order; drop or "
                         "replace NaN keys"))
    if problems:
        raise ConfigError(problems=problems)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    return (arr, None) if arr.ndim == 1 else (arr[:, 0], arr[:, 1])


def _signed_zeros(keys: np.ndarray) -> bool:
    """Float keys holding -0.0: equal to 0.0 but distinguishable, so only a stable sort
    reproduces the stable order."""
    return keys.dtype.kind == "f" and bool(np.signbit(keys[keys == 0]).any())


def reference(inputs: Any) -> np.ndarray:
    """numpy's stable sort (of the records by key)."""
    keys, values = as_items(inputs)
    if values is None:
        return np.sort(keys, kind="stable")
    order = np.argsort(keys, kind="stable")
    return np.column_stack([keys[order], values[order]])


def verify(output: list[Any], inputs: Any) -> bool:
    """True when the outputs, concatenated in machine order, equal `reference` bit for bit
    (so -0.0 and 0.0, and records with equal keys, must keep their input order)."""
    want = reference(inputs)
    parts = [np.asarray(o) for o in output if o is not None]
    got = np.concatenate(parts) if parts else want[:0]
    return got.shape == want.shape and got.dtype == want.dtype and got.tobytes() == want.tobytes()


def round_bound(n: int, q: int, s: int, item_words: int = 1) -> int:
    """The with-high-probability bound of sort_plan for n items on (q, s)."""
    return plan(n, q, s, item_words).round_bound()


def make_input(n: int, rng: np.random.Generator) -> np.ndarray:
    """n standard normal float64 keys."""
    return rng.standard_normal(n)


def sizing(n: int, q: int | None = None, s: int | None = None) -> tuple[int, int]:
    """Default (q, s): s = max(256, 8*ceil(n^(2/3))) (for a given q, at least 8*ceil(n/q)),
    doubled until a plan fits. q = the plan's machines, ceil(n/c) for c keys per machine:
    c = floor((s - 2)/2) for a network plan (q*s ~ 2n, the small-s case: e.g. s = n^(1/2)
    up to n = 10^5), c = s/3 .. s/12 for a levels plan (q*s ~ 3n .. 12n), s/2 for a direct
    plan; any s >= 4 is accepted."""
    if s is None:
        s = max(256, 8 * int(np.ceil(max(n, 1) ** (2 / 3))))
        if q is not None:
            s = max(s, 8 * -(-n // q))
        s = double_until_accepted(s, lambda s: plan(n, q if q is not None else 1 << 40, s))
    if q is None:
        q = max(1, plan(n, 1 << 40, s).machines)
    return q, s


SPEC = AlgorithmSpec(
    name="sort",
    summary="stable sample sort of n keys or (key, value) records (refines a dense layout)",
    program=SampleSort,
    make_input=make_input,
    reference=reference,
    verify=verify,
    round_bound=round_bound,
    sizing=sizing,
)
