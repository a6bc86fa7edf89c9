"""The combining exchange's host books (label_exchange, "Order" and "Memory"): a host keeps one
bitmask word per id it passed up (g <= MASK_FAN), and each child still gets its answers in the
order it asked; the wide books (one word per request received) give the same transcript. (The
plan's estimate still counts g book words per popular id, as slack: connectivity_plan.)
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

import mpcsim
from mpcsim.algorithms import Connectivity, graphs, label_exchange
from mpcsim.algorithms.connectivity_plan import plan_for
from mpcsim.algorithms.label_exchange import MASK_FAN, LabelExchange, _bits


def test_bits_lists_every_set_bit_of_every_mask() -> None:
    rng = np.random.default_rng(0)
    masks = rng.integers(0, 1 << 62, size=200, dtype=np.int64)
    masks[:3] = [0, 1, (1 << 62) - 1]
    entry, digit = _bits(masks)
    want = [(i, d) for i, m in enumerate(masks.tolist()) for d in range(62) if m >> d & 1]
    assert sorted(zip(entry.tolist(), digit.tolist())) == want


def test_route_key_orders_each_hosts_next_hops_ascending() -> None:
    """On the ids a level-l host receives (digits 0..l-1 of hash(x) its own), route_key order
    sends to its next hops in ascending order (the premise of the "Order" proof)."""
    ex = LabelExchange.build(5000, 1000, 6, 3, 5, seed=7)
    x = np.arange(5000, dtype=np.int64)
    key = ex.route_key(x)
    assert np.unique(key).size == x.size  # a total order on ids
    host = np.zeros_like(x)  # every id asked by machine 0, and the hosts on its path
    for level in range(ex.depth + 1):
        host = ex.hop(host, x, level) if level else host
        for h in np.unique(host)[:5]:
            mine = x[host == h]
            mine = mine[np.argsort(key[host == h])]
            dests = ex.hop(np.full(mine.size, h), mine, level + 1)
            assert np.all(np.diff(dests) >= 0)


@pytest.mark.parametrize("graph", ["karate club", "cycles"])
def test_compact_and_wide_books_give_the_same_transcript(graph: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Forcing the wide books (MASK_FAN = 1) changes only what hosts keep: the same rounds,
    labels and words sent, and no more memory with the bitmasks."""
    if graph == "cycles":
        edges = graphs.cycles(512, np.random.default_rng(1), count=2)
        vertices, s = 512, 64
    else:
        edges = np.array(list(nx.karate_club_graph().edges()), dtype=np.int64)
        vertices, s = 34, 64
    plan = plan_for(len(edges), vertices, s, 1 << 40, 0, depth=2)
    assert plan.exchange.compact_books

    def run() -> mpcsim.Result:
        return mpcsim.run(Connectivity(num_vertices=vertices, depth=2), edges,
                          num_machines=plan.machines, memory_words=s, enforce=False)

    compact = run()
    monkeypatch.setattr(label_exchange, "MASK_FAN", 1)
    wide = run()
    assert [np.asarray(o).tolist() for o in compact.output] == \
        [np.asarray(o).tolist() for o in wide.output]
    assert compact.rounds == wide.rounds
    assert np.array_equal(compact.trace.sent_words, wide.trace.sent_words)
    assert np.all(compact.trace.peak_memory_words <= wide.trace.peak_memory_words)
    assert compact.trace.max_memory_words < wide.trace.max_memory_words
