"""The model's regimes for the algorithm tests: s = n^delta for delta = 1/2 and 2/3.

`memory_for(n, delta)` is ceil(n^delta) words, exactly: the caps tests run every algorithm
at the s the issue names, never at an s raised to what the algorithm happens to need.
"""

from __future__ import annotations

import math


def memory_for(n: int, delta: float) -> int:
    return math.ceil(n ** delta - 1e-9)
