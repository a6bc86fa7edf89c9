"""How the algorithms shape message payloads for speed, without changing their words.

A numpy array travels out of band (mpcsim.wire): cheap per element, but a few microseconds of
framing per array. Pointer-jumping and combining programs send many tiny arrays (a machine's
requests spread over hundreds of owners), so `packed` turns a short array into a list, which
msgpack encodes natively, at the same word count (mpcsim.words counts list items as words).
Receivers take either form with np.asarray.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["packed", "LIST_MAX"]

LIST_MAX = 64  # arrays up to this many elements go as lists


def packed(values: np.ndarray) -> Any:
    """`values` as a list if it is short (<= LIST_MAX elements), else the array itself."""
    return values.tolist() if values.size <= LIST_MAX else values
