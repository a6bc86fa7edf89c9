"""MPC algorithms with sequential references and documented round bounds, and their registry.

ALGORITHMS maps each CLI name to an AlgorithmSpec (mpcsim.algorithms.spec): the program
factory, input generator, reference, checker, round bound and default sizing. One module per
algorithm, each defining its Program, `reference`, `round_bound`, `make_input` and `SPEC`:

- broadcast (Broadcast): machine 0's value to every machine, depth(q, b) + 1 rounds;
- allreduce (AllReduce): sum/prod/min/max onto every machine, 2*depth(q, b) + 1 rounds;
- prefix_sum (PrefixSum): global running totals of a chunked input, 2*ceil(log_b m) + 1 rounds;
- segmented_prefix_sum (SegmentedPrefixSum): running totals restarting at flagged rows, same;
- sort (SampleSort): stable sample sort of keys or records, O(1/delta) levels, or a bitonic
  network of machines where that bound is lower (small s; sort_plan chooses);
- list_ranking (ListRanking): distance to the end of each list, 2*ceil(log2 n) + 1 rounds;
- hopk (HopK): k-hop induction heads, a sort then pointer doubling, O(1/delta + log k) rounds;
- connectivity (Connectivity, connected_components): components by hooking, shortcutting and
  edge contraction through a combining exchange (label_exchange), O(log n) exchanges measured;

Building blocks used by these: tree (b-ary trees over machine ids), scan (the aligned-tree
scan both prefix sums are instances of), sort_levels, sort_tree_steps, split_tree,
sort_network and sort_plan (the sort's levels as fleet rounds, their traffic over the
per-segment trees, the trees, its small-memory bitonic network, and the plan choosing between
them), segments (segmented numpy steps of the sort's rounds),
barrier (a common start round after a stage of varying length), label_exchange (reads and
write-mins of a table through combining trees, as fleet kernels; combining holds what it shares
with sort_exchange), connectivity_plan (connectivity's sizing and round bound), graphs (input
generators, edge files and the union-find reference), payload (message shapes).

To add an algorithm, write its module with a SPEC and list it in _SPECS below.
"""

from __future__ import annotations

from . import (allreduce, broadcast, connectivity, hopk, list_ranking, prefix_sum,
               segmented_prefix_sum, sort)
from .allreduce import AllReduce
from .broadcast import Broadcast
from .connectivity import Components, Connectivity, connected_components
from .hopk import HopK
from .list_ranking import ListRanking
from .prefix_sum import PrefixSum
from .segmented_prefix_sum import SegmentedPrefixSum
from .sort import SampleSort
from .spec import AlgorithmSpec, Option

__all__ = ["ALGORITHMS", "AlgorithmSpec", "Option", "Broadcast", "AllReduce", "PrefixSum",
           "SegmentedPrefixSum", "SampleSort", "ListRanking", "HopK", "Connectivity",
           "Components", "connected_components"]

_SPECS = (broadcast.SPEC, allreduce.SPEC, prefix_sum.SPEC, segmented_prefix_sum.SPEC,
          sort.SPEC, list_ranking.SPEC, hopk.SPEC, connectivity.SPEC)

ALGORITHMS: dict[str, AlgorithmSpec] = {spec.name: spec for spec in _SPECS}
