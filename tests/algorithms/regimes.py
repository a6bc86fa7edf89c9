"""The model's regimes for the algorithm tests: s = n^delta for delta = 1/2 and 2/3.

`memory_for(spec, n, delta)` is ceil(n^delta), or, when the algorithm's fixed per-machine
state does not fit in that few words (the sort, hop-k and connectivity need a few hundred
words), the least s above it that the algorithm's sizing accepts, found in steps of 10%. The
README's algorithm table lists which runs needed more than n^delta.
"""

from __future__ import annotations

import math

from mpcsim import ConfigError
from mpcsim.algorithms import AlgorithmSpec


def memory_for(spec: AlgorithmSpec, n: int, delta: float, **options: object) -> int:
    s = math.ceil(n ** delta - 1e-9)
    while True:
        try:
            spec.sizing(n, None, s, **options)
            return s
        except ConfigError:
            s = math.ceil(s * 1.1)
