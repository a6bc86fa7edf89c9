"""List ranking by pointer jumping: each node's distance (in links) to the end of its list.

Input: succ, n ints; succ[i] is the node after i, or -1 if i ends its list. Any set of
disjoint lists works (one long list, many short ones); every node has at most one
predecessor (checked up front). Output: rank[i] = links from i to the end of its list (0 for
a last node), or -1 for a node on a cycle (following succ never ends).

Layout: node i lives on machine i // c (c = chunk_words nodes per machine), at offset
i - (i // c) * c, as one word V(i) in memory["nodes"] (int32, int64 for n >= 2^31): while i
is live, V(i) = S(i) >= 0, the node 2^t links ahead of i after t steps; once the end is
within reach, V(i) = -1 - rank(i). One word suffices because a live node's distance to S(i)
is always 2^t (the jump lengths double in lock step until a jump reaches the end), so it
need not be stored. Initially V = succ (-1 = rank 0). The run's plan (mpcsim.Partition) is
(c, n, J): the same numbers on every machine, computed from n and s, so it is not memory.
Step t, in rounds 2t and 2t+1: each live node i of machine m sends one 1-word request, the
offset of S(i), to the owner of S(i); the owner replies to each request with the 1-word
V(S(i)); in round 2t+2 the asker sets V(i) = V(S(i)) if that is a node (i now jumps
2^(t+1) links), else V(i) = V(S(i)) - 2^t (rank(i) = 2^t + rank(S(i))).
An asker matches the replies without remembering anything: its inbox lists them by owner, and
an owner answers an asker's requests in the order of the offsets asked about; so replies come
in the order of S, and reply j belongs to the asker's live node with the j-th smallest S,
recomputed from S (unchanged since it asked; S is injective on live nodes, see Memory). After
step t, S jumps 2^(t+1) links, so J = ceil(log2 n) steps reach every list's end.

The program is a fleet round (mpcsim.fleet): a host's machines do each round as one numpy
pass over their stacked nodes, and the messages leave as one send_many, already in the
(destination, source) order the core delivers in, so the core sorts nothing. Each of the
three reorderings a step needs is one numpy sort of packed unsigned words: requests by
(owner, asker node), replies by (asker, node asked), and, on each asker, its live nodes by S,
a sort of each machine's row (c words) rather than of the whole fleet. Words are int32 and
large temporaries few (numpy's fresh allocations of ~10^5 words cost page faults, as much as
the arithmetic). What machine m keeps, sends and outputs depends only on its own nodes (or
output), plan and inbox (tested with vectorize=False).

Round bound: 2*ceil(log2 n) + 1 (n >= 2; 1 for n <= 1). Derivation: step t sends requests in
round 2t and replies in round 2t+1; round 2t+2 applies them; round 2J (J = ceil(log2 n)) is
the last, in which every node has its rank unless it is on a cycle. A machine whose nodes
have all reached their list end outputs and halts early, so short lists finish sooner; it
then holds its output instead of its words V and answers requests from it (V = -1 - rank).

Memory, per machine and round (c nodes): c words, V or the output, never both. An asking
machine receives at most c words of replies (one per live node); any machine receives at
most c words of requests, and never replies and requests in one round (requests arrive in
odd rounds, replies in even ones): 2c after delivery. Requests never pile up: S^(2^t) is
injective on the nodes it does not send past the end (succ is, and compositions of
injective maps are), so each node is asked at most once per step. Sent: at most c request or
c reply words. So c = s // 2 and q = ceil(n / c) machines: q = 2n/s, i.e. q*s = O(n).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from ..errors import ConfigError
from ..fleet import Fleet
from ..program import Partition, Program
from .fleet_order import bits, ids_at, positions, word_for
from .segments import offsets_of
from .spec import AlgorithmSpec

__all__ = [
    "ListRanking", "reference", "verify", "round_bound", "make_input", "sizing", "chunk_for",
    "SPEC",
]

_WORDS_PER_NODE = 2  # V and a word of reply, or of requests (finished: output, requests)
_NOTHING = np.zeros(0, dtype=np.int32)  # joins int32 or int64 nodes without changing them


class _Plan(NamedTuple):
    """The run's plan (fleet.plan)."""

    chunk_words: int  # c: nodes per machine
    n: int  # nodes in the input
    steps: int  # J = ceil(log2 n): the jumping steps


def _id_dtype(n: int) -> type:
    """int32 when node ids and distances (< n) fit it, else int64: a word is a word whatever
    its dtype (mpcsim.wordcount), and half the bytes halve what each numpy pass moves."""
    return np.int32 if n < 1 << 31 else np.int64


def chunk_for(memory_words: int) -> int:
    """Nodes per machine c = s // 2 (at least 1); see the module docstring."""
    return max(1, memory_words // _WORDS_PER_NODE)


def steps_for(n: int) -> int:
    """J = ceil(log2 n) jumping steps (0 for n <= 1)."""
    return max(0, math.ceil(math.log2(n))) if n > 1 else 0


class ListRanking(Program):
    """Pointer jumping over a successor array; see the module docstring.

    chunk_words: nodes per machine, or None for chunk_for(s).
    """

    def __init__(self, chunk_words: int | None = None) -> None:
        if chunk_words is not None and (type(chunk_words) is not int or chunk_words < 1):
            raise ConfigError(problems=[("chunk_words", chunk_words, "must be an int >= 1 "
                                         "or None")])
        self.chunk_words = chunk_words

    def partition(self, inputs: Any, num_machines: int,
                  memory_words: int) -> Partition:
        """Machine i holds the pairs (succ, dist) of nodes i*c .. (i+1)*c - 1 as "nodes"; the
        plan is (c, n, J)."""
        succ = _as_successors(inputs)
        n = succ.size
        c = self.chunk_words if self.chunk_words is not None else chunk_for(memory_words)
        m = -(-n // c)
        need = _WORDS_PER_NODE * c
        problems = []
        if m > num_machines:
            problems.append(("num_machines", num_machines,
                             f"{n} nodes in chunks of {c} need {m} machines; raise "
                             f"num_machines to >= {m} or memory_words"))
        if need > memory_words and n > 0:
            problems.append(("memory_words", memory_words,
                             f"chunks of {c} nodes need {need} words; raise memory_words to "
                             f">= {need} or lower chunk_words"))
        if problems:
            raise ConfigError(problems=problems)
        values = succ.astype(_id_dtype(n))  # a private array: its slices need no copies
        memory = {i: {"nodes": values[i * c:(i + 1) * c]} for i in range(m)}
        return Partition(memory, _Plan(c, n, steps_for(n)))

    def round_many(self, fleet: Fleet) -> None:
        t, phase = divmod(fleet.round_idx, 2)
        values, starts = fleet.gather("nodes", _NOTHING)  # machines past the input hold none
        if phase == 1:
            values, starts = _with_outputs(fleet, values, starts)
            _answer(fleet, values, _Layout(starts))
            fleet.halt()  # asleep until asked again, or until its replies arrive
            return
        layout = _Layout(starts)  # machine i's nodes: starts[i] .. starts[i + 1] - 1
        c, n, steps = fleet.plan
        changed = t > 0 and len(fleet.inbox) > 0
        if changed:
            values = _apply(fleet, values, layout, n, t - 1)
        asks = (layout.padded(values >= 0, False).any(axis=1) if t < steps
                else np.zeros(len(fleet), dtype=bool))
        # a machine none of whose nodes asks is done: it outputs its ranks, keeps only them
        # (it answers from its output), and sleeps
        done = ~asks & (layout.counts > 0)
        if done.any():
            _finish(fleet, values, layout, done)
        elif changed:
            fleet.scatter("nodes", values, starts)
        if asks.any():
            _ask(fleet, values, layout, c)
        fleet.halt(where=~asks)

    def __repr__(self) -> str:
        return f"ListRanking(chunk_words={self.chunk_words})"


class _Layout:
    """Where a fleet's stacked nodes sit: machine i (a fleet index) holds nodes starts[i] ..
    starts[i + 1] - 1, at most `width` of them. `even` when every machine but the last holds
    exactly `width` (as partition lays them out): then node j is on machine j // width."""

    __slots__ = ("starts", "counts", "width", "even", "_at")

    def __init__(self, starts: np.ndarray) -> None:
        self.starts = starts
        self.counts = starts[1:] - starts[:-1]
        self.width = max(1, int(self.counts.max(initial=1)))
        self.even = bool(self.counts.size < 2 or self.counts[:-1].min() == self.width)
        self._at: np.ndarray | None = None

    def machine_of(self, nodes: np.ndarray) -> np.ndarray:
        """The fleet index of the machine holding each of `nodes`."""
        if self.even:
            return nodes // self.width
        if self._at is None:
            self._at = np.repeat(np.arange(self.counts.size), self.counts)
        return self._at[nodes]

    def first_of(self, machines: np.ndarray) -> np.ndarray:
        """The first node of each of `machines` (fleet indexes)."""
        return machines * self.width if self.even else self.starts.take(machines)

    def padded(self, values: np.ndarray, fill: Any, dtype: Any = None) -> np.ndarray:
        """values (one per node) as a (machines, width) array of `dtype` (values' if None),
        row i = machine i's nodes in order, then `fill`."""
        k, w = self.counts.size, self.width
        out = np.full(k * w, fill, dtype=values.dtype if dtype is None else dtype)
        if self.even:
            out[:values.size] = values
        else:
            nodes = np.arange(values.size)
            at = self.machine_of(nodes)
            out[at * w + nodes - self.starts[at]] = values
        return out.reshape(k, w)


def _ask(fleet: Fleet, values: np.ndarray, layout: _Layout, c: int) -> None:
    """One 1-word request per live node, the offset of S(i) at its owner, sent in (owner,
    asker, node) order: the order the core delivers in. One sort of the words
    (owner << b) | node, an ended node's owner -1 (all ones) sorting last."""
    q, b = fleet.num_machines, bits(values.size)
    kind = word_for((q + 2) << b)  # -1 << b, as unsigned, is above every (owner + 1) << b
    owner = values // c
    np.maximum(owner, -1, out=owner)  # ended (V < 0): -1
    keys = owner.astype(kind)
    keys <<= kind(b)
    keys |= np.arange(values.size, dtype=kind)
    keys.sort()
    keys = keys[:np.searchsorted(keys, kind(q << b))]  # the live nodes'
    order = keys & kind((1 << b) - 1)  # the asking nodes
    keys >>= kind(b)  # their owners
    owner *= c
    offset = np.subtract(values, owner, out=owner)
    payload = offset.take(order)
    fleet.send_many(_machine_ids(fleet, layout, order), keys, payload)


def _machine_ids(fleet: Fleet, layout: _Layout, nodes: np.ndarray) -> np.ndarray:
    """The machine id holding each of `nodes` (unsigned fleet node indexes, overwritten)."""
    if not (layout.even and _consecutive(fleet)):
        return ids_at(fleet, layout.machine_of(nodes))
    nodes //= nodes.dtype.type(layout.width)
    nodes += nodes.dtype.type(fleet.ids[0])  # ids < q fit nodes' dtype: q <= nodes
    return nodes


def _consecutive(fleet: Fleet) -> bool:
    ids = fleet.ids
    return ids.size > 0 and int(ids[-1]) - int(ids[0]) + 1 == ids.size


def _finish(fleet: Fleet, values: np.ndarray, layout: _Layout, done: np.ndarray) -> None:
    """The machines where `done` output their ranks (-1: on a cycle) and drop their nodes;
    the others keep theirs."""
    ranks = np.where(values < 0, -1 - values, -1)
    bounds = layout.starts.tolist()
    machines = fleet.machines
    for i in np.flatnonzero(done).tolist():
        machines[i].output = ranks[bounds[i]:bounds[i + 1]]
    kept = np.where(done, 0, layout.counts)
    fleet.scatter("nodes", values[np.repeat(~done, layout.counts)], offsets_of(kept))


def _with_outputs(fleet: Fleet, values: np.ndarray, starts: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(values, starts) with each finished machine's nodes back, as V = -1 - rank from its
    output: what it answers requests from."""
    empty = np.flatnonzero(starts[1:] == starts[:-1]).tolist()
    machines = fleet.machines
    outputs = [(i, machines[i].output) for i in empty if machines[i].output is not None]
    if not outputs:
        return values, starts
    bounds = starts.tolist()
    pieces, lengths, last = [], np.diff(starts), 0
    for i, ranks in outputs:
        pieces.append(values[bounds[last]:bounds[i]])
        pieces.append((-1 - ranks).astype(values.dtype, copy=False))
        lengths[i] = ranks.size
        last = i + 1
    pieces.append(values[bounds[last]:])
    return np.concatenate(pieces), offsets_of(lengths)


def _answer(fleet: Fleet, values: np.ndarray, layout: _Layout) -> None:
    """Reply to each request with V of the node asked about, sent by asker, then by node
    asked about (which is by owner, then offset): one sort of the words (asker << b) | node
    asked."""
    got = fleet.inbox  # by owner (dests), then asker, then order asked
    if len(got) == 0:
        return
    nodes = int(layout.starts[-1])
    b = bits(nodes)
    kind = word_for(fleet.num_machines << b)
    if layout.even and _consecutive(fleet):  # node = (dest - first id) * width + offset
        asked = got.dests.astype(kind)
        asked -= kind(fleet.ids[0])
        asked *= kind(layout.width)
        np.add(asked, got.values, out=asked, casting="unsafe")
    else:
        asked = (layout.first_of(positions(fleet, got.dests)) + got.values).astype(kind)
    keys = got.sources.astype(kind)
    keys <<= kind(b)
    keys |= asked
    keys.sort()
    np.bitwise_and(keys, kind((1 << b) - 1), out=asked)
    keys >>= kind(b)  # the askers
    payload = values.take(asked)
    fleet.send_many(_machine_ids(fleet, layout, asked), keys, payload)


def _apply(fleet: Fleet, values: np.ndarray, layout: _Layout, n: int, t: int) -> np.ndarray:
    """Step t's replies, by asker, then owner, then offset asked about, land on the nodes
    that asked: each machine's live nodes sorted by S (owner * c + offset). Returns the new
    words (values is the read-only gathered array)."""
    pending = _rows_sorted(layout, values, n)
    replies = fleet.inbox.values  # V(S(i)) per asking node i
    if replies.size != pending.size:
        raise AssertionError(f"list ranking: {replies.size} replies for {pending.size} "
                             "live nodes")
    # V(S(i)) a node: i jumps there; a rank, -1 - r: rank(i) = 2^t + r, i.e. -1 - r - 2^t
    jumped = replies >> (8 * replies.dtype.itemsize - 1)  # -1 where a rank, else 0
    jumped &= 1 << t
    np.subtract(replies, jumped, out=jumped)
    out = values.copy()
    out[pending] = jumped
    return out


def _rows_sorted(layout: _Layout, values: np.ndarray, bound: int) -> np.ndarray:
    """The nodes whose value (in [-1 - bound, bound)) is >= 0, machine by machine, each
    machine's sorted by (value, node): one sort of each machine's row of packed words
    (value << b) | offset, in which a value v < 0 becomes 2^w - |v| (w bits) and sorts
    last, above every live key (that is what the word's 2 * bound + 2 leaves room for)."""
    b = bits(layout.width)
    kind = word_for((2 * bound + 2) << b)
    rows = layout.padded(values, np.iinfo(kind).max, kind)  # cast as unsigned: v < 0 wraps
    rows <<= kind(b)
    rows |= np.arange(layout.width, dtype=kind)
    rows.sort(axis=1)
    live = rows < kind(bound << b)
    rows &= kind((1 << b) - 1)
    rows += layout.starts[:-1, None].astype(kind)
    return rows[live].astype(np.intp)  # numpy indexes ~2x faster by intp than by uint32


def _as_successors(inputs: Any) -> np.ndarray:
    succ = np.asarray([] if inputs is None else inputs)
    if succ.size == 0:
        return np.zeros(0, dtype=np.int64)
    problems = []
    if succ.ndim != 1 or succ.dtype.kind not in "iu":
        problems.append(("inputs", f"array of shape {succ.shape}, dtype {succ.dtype}",
                         "list ranking needs a 1-D array of successor ids (ints, -1 = end)"))
    else:
        succ = succ.astype(np.int64, copy=False)
        n = succ.size
        if succ.min() < -1 or succ.max() >= n:
            problems.append(("inputs", f"ids in [{succ.min()}, {succ.max()}]",
                             f"successors must be -1 or node ids in [0, {n})"))
        else:
            indegree = np.bincount(succ + 1, minlength=n + 1)[1:]  # the ends (-1) left out
            if indegree.max(initial=0) > 1:
                node = int(np.argmax(indegree))
                problems.append(("inputs", f"node {node} has {indegree[node]} predecessors",
                                 "every node may follow at most one node (disjoint lists)"))
    if problems:
        raise ConfigError(problems=problems)
    return succ


def reference(inputs: Any) -> np.ndarray:
    """Sequentially: walk each list from its head; nodes never reached from a head (cycles)
    get -1."""
    succ = _as_successors(inputs)
    n = succ.size
    rank = np.full(n, -1, dtype=np.int64)
    has_pred = np.zeros(n, dtype=bool)
    has_pred[succ[succ >= 0]] = True
    for head in np.flatnonzero(~has_pred).tolist():
        chain = []
        node = head
        while node != -1:
            chain.append(node)
            node = int(succ[node])
        rank[chain] = np.arange(len(chain) - 1, -1, -1)
    return rank


def verify(output: list[Any], inputs: Any) -> bool:
    """True when the outputs, concatenated in machine order, equal `reference` exactly."""
    parts = [np.asarray(o) for o in output if o is not None]
    got = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    want = reference(inputs)
    return got.shape == want.shape and bool(np.array_equal(got, want))


def round_bound(n: int, q: int, s: int, chunk_words: int | None = None) -> int:
    """2*ceil(log2 n) + 1 rounds (1 for n <= 1); see the module docstring."""
    return 2 * steps_for(n) + 1


def make_input(n: int, rng: np.random.Generator) -> np.ndarray:
    """One list through all n nodes in a random order."""
    order = rng.permutation(n)
    succ = np.full(n, -1, dtype=np.int64)
    succ[order[:-1]] = order[1:]
    return succ


def sizing(n: int, q: int | None = None, s: int | None = None) -> tuple[int, int]:
    """Default (q, s): s = max(64, 2*ceil(n^(2/3))), i.e. n^(2/3) nodes per machine (raised so
    ceil(n/q) nodes fit if q is given); q = ceil(n / c) with c = chunk_for(s)."""
    if s is None:
        s = max(64, _WORDS_PER_NODE * math.ceil(max(n, 1) ** (2 / 3)))
        if q is not None:
            s = max(s, _WORDS_PER_NODE * math.ceil(n / q))
    if q is None:
        q = max(1, -(-n // chunk_for(s)))
    return q, s


SPEC = AlgorithmSpec(
    name="list-ranking",
    summary="each node's distance to the end of its list, by pointer jumping",
    program=ListRanking,
    make_input=make_input,
    reference=reference,
    verify=verify,
    round_bound=round_bound,
    sizing=sizing,
)
