"""What the write-min exchanges share: NO_VALUE ("offers nothing") and the salted hash `mix`.

The exchanges themselves: mpcsim.algorithms.label_exchange (a combining butterfly in fleet
rounds: many machines read and write-min a table spread over all machines, and a popular
entry costs a host one request per child, not one per asker; connectivity uses it) and
mpcsim.algorithms.sort_exchange (the same by a sorting network, with deterministic memory).
The per-machine combining butterfly that lived here went with connectivity's fixed-phase plan.
"""

from __future__ import annotations

import numpy as np

__all__ = ["NO_VALUE", "mix"]

NO_VALUE = np.iinfo(np.int64).max  # "offers nothing" in a write-min


def mix(values: np.ndarray, salt: int) -> np.ndarray:
    """A splitmix64 hash of int64 values, salted: uint64 pseudo-random words."""
    z = values.astype(np.uint64) + np.uint64((salt * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019)
                                             % (1 << 64))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))
