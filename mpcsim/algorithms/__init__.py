"""MPC algorithms with sequential references and documented round bounds, and their registry.

ALGORITHMS maps each CLI name to an AlgorithmSpec (mpcsim.algorithms.spec): the program
factory, input generator, reference, checker, round bound and default sizing. One module per
algorithm, each defining its Program, `reference`, `round_bound`, `make_input` and `SPEC`:

- broadcast (Broadcast): machine 0's value to every machine, depth(q, b) + 1 rounds;
- allreduce (AllReduce): sum/prod/min/max onto every machine, 2*depth(q, b) + 1 rounds;
- prefix_sum (PrefixSum): global running totals of a chunked input, 2*ceil(log_b m) + 1 rounds.

To add an algorithm, write its module with a SPEC and list it in _SPECS below.
"""

from __future__ import annotations

from . import allreduce, broadcast, prefix_sum
from .allreduce import AllReduce
from .broadcast import Broadcast
from .prefix_sum import PrefixSum
from .spec import AlgorithmSpec

__all__ = ["ALGORITHMS", "AlgorithmSpec", "Broadcast", "AllReduce", "PrefixSum"]

_SPECS = (broadcast.SPEC, allreduce.SPEC, prefix_sum.SPEC)

ALGORITHMS: dict[str, AlgorithmSpec] = {spec.name: spec for spec in _SPECS}
