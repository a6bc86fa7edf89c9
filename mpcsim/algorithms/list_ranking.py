"""List ranking by pointer jumping: each node's distance (in links) to the end of its list.

Input: succ, n ints; succ[i] is the node after i, or -1 if i ends its list. Any set of
disjoint lists works (one long list, many short ones); every node has at most one
predecessor (checked up front). Output: rank[i] = links from i to the end of its list (0 for
a last node), or -1 for a node on a cycle (following succ never ends).

Layout: node i lives on machine i // c (c = chunk_words nodes per machine) with
succ (S) and dist (D, the links S jumps over). Step t, in rounds 2t and 2t+1: every node with
S(i) != -1 asks the owner of S(i) for (S(S(i)), D(S(i))); the reply sets
D(i) += D(S(i)), S(i) = S(S(i)). After step t, S jumps 2^(t+1) links, so J = ceil(log2 n)
steps reach every list's end.

Round bound: 2*ceil(log2 n) + 1 (n >= 2; 1 for n <= 1). Derivation: step t sends requests in
round 2t and replies in round 2t+1; round 2t+2 applies them; round 2J (J = ceil(log2 n)) is
the last, in which every node's S is -1 unless it is on a cycle. A machine whose nodes have
all reached their list end halts early (it still answers requests), so short lists finish
sooner.

Memory, per machine and round (c nodes): S and D (2c words), the positions of the nodes whose
requests are pending (<= c), and at most 2c words of replies or c of requests in the inbox:
5c + 2 words. Requests never pile up: S^(2^t) is injective on the nodes it does not send to -1
(succ is, and compositions of injective maps are), so each node is asked at most once per
step and a machine receives at most c request words. Default c = (s - 2) // 6, so
q = ceil(n / c) machines: q = 6n/s, i.e. q*s = O(n).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..program import Machine, Program
from .payload import packed
from .spec import AlgorithmSpec

__all__ = [
    "ListRanking", "reference", "verify", "round_bound", "make_input", "sizing", "chunk_for",
    "SPEC",
]

_WORDS_PER_NODE = 6  # S, D, pending, replies (2): 5 per node, one spare


def chunk_for(memory_words: int) -> int:
    """Nodes per machine c = (s - 2) // 6 (at least 1); see the module docstring."""
    return max(1, (memory_words - 2) // _WORDS_PER_NODE)


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
                  memory_words: int) -> dict[int, dict[str, Any]]:
        """Machine i holds succ[i*c:(i+1)*c] as "succ" and "plan" = [c, n, J]."""
        succ = _as_successors(inputs)
        n = succ.size
        c = self.chunk_words if self.chunk_words is not None else chunk_for(memory_words)
        m = -(-n // c)
        problems = []
        if m > num_machines:
            problems.append(("num_machines", num_machines,
                             f"{n} nodes in chunks of {c} need {m} machines; raise "
                             f"num_machines to >= {m} or memory_words"))
        if _WORDS_PER_NODE * c + 2 > memory_words and n > 0:
            problems.append(("memory_words", memory_words,
                             f"chunks of {c} nodes need {_WORDS_PER_NODE * c + 2} words; raise "
                             f"memory_words to >= {_WORDS_PER_NODE * c + 2} or lower "
                             "chunk_words"))
        if problems:
            raise ConfigError(problems=problems)
        plan = np.array([c, n, steps_for(n)], dtype=np.int64)
        return {i: {"succ": succ[i * c:(i + 1) * c].copy(), "plan": plan} for i in range(m)}

    def round(self, machine: Machine) -> None:
        memory = machine.memory
        if "plan" not in memory:
            machine.halt()
            return
        c, _, steps = (int(v) for v in memory["plan"])
        t, phase = divmod(machine.round_idx, 2)
        if machine.round_idx == 0:
            succ = memory["succ"]
            memory["dist"] = (succ != -1).astype(np.int64)
        if phase == 1:
            _answer(machine, c)
            return
        if t > 0 and "pending" in memory:
            _apply(machine)
        if t < steps and _ask(machine, c):
            return
        # every node reached its list's end (or the steps ran out): output, then only answer
        succ, dist = memory["succ"], memory["dist"]
        machine.output = np.where(succ == -1, dist, -1)
        machine.halt()

    def __repr__(self) -> str:
        return f"ListRanking(chunk_words={self.chunk_words})"


def _ask(machine: Machine, c: int) -> bool:
    """Send this step's requests, grouped by owner; False if no node has a successor."""
    succ = machine.memory["succ"]
    live = np.flatnonzero(succ != -1)
    if live.size == 0:
        return False
    targets = succ[live]
    owners = targets // c
    order = np.argsort(owners.astype(np.uint16) if owners.size and owners.max() < 65536
                       else owners, kind="stable")  # a radix sort for 16-bit owners
    live, targets, owners = live[order], targets[order], owners[order]
    machine.memory["pending"] = live
    bounds = np.flatnonzero(np.diff(owners)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, owners.size]):
        owner = int(owners[lo])
        machine.send(owner, packed(targets[lo:hi] - owner * c))
    return True


def _answer(machine: Machine, c: int) -> None:
    """Reply to each requester with (S, D) of the nodes it asked about, in its order."""
    memory = machine.memory
    for source, offsets in machine.inbox:
        offsets = np.asarray(offsets, dtype=np.int64)
        machine.send(source, [packed(memory["succ"][offsets]), packed(memory["dist"][offsets])])
    if "pending" not in memory:
        machine.halt()  # nothing of ours is in flight: sleep until asked again


def _apply(machine: Machine) -> None:
    """Replies arrive in owner order, the order the requests were grouped in."""
    memory = machine.memory
    pending = memory.pop("pending")
    succ = np.concatenate([np.asarray(reply[0], dtype=np.int64) for _, reply in machine.inbox])
    dist = np.concatenate([np.asarray(reply[1], dtype=np.int64) for _, reply in machine.inbox])
    memory["dist"][pending] += dist
    memory["succ"][pending] = succ


def _as_successors(inputs: Any) -> np.ndarray:
    succ = np.asarray([] if inputs is None else inputs)
    if succ.size == 0:
        return np.zeros(0, dtype=np.int64)
    problems = []
    if succ.ndim != 1 or succ.dtype.kind not in "iu":
        problems.append(("inputs", f"array of shape {succ.shape}, dtype {succ.dtype}",
                         "list ranking needs a 1-D array of successor ids (ints, -1 = end)"))
    else:
        succ = succ.astype(np.int64)
        n = succ.size
        if succ.min() < -1 or succ.max() >= n:
            problems.append(("inputs", f"ids in [{succ.min()}, {succ.max()}]",
                             f"successors must be -1 or node ids in [0, {n})"))
        else:
            indegree = np.bincount(succ[succ >= 0], minlength=n)
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
    """Default (q, s): s = max(64, 6*ceil(n^(2/3))) (raised so ceil(n/q) nodes fit if q is
    given); q = ceil(n / c) with c = chunk_for(s)."""
    if s is None:
        s = max(64, _WORDS_PER_NODE * math.ceil(max(n, 1) ** (2 / 3)) + 2)
        if q is not None:
            s = max(s, _WORDS_PER_NODE * math.ceil(n / q) + 2)
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
