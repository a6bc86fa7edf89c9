"""The k-hop induction heads task (the paper's Def. 4.1): its reference, the paper's sequences in
the paper's token encoding (App. G; docs/paper.md), and the paper's error.

The reference works on any alphabet and length. For X = X_1 .. X_N (1-indexed, as in the
paper; stored 0-indexed in numpy, so X_i is x[i - 1]):

    find(i)  = max({0} U {j <= i : X_(j-1) = X_i})   one past the most recent earlier X_i
    find(0)  = 0                                      (0 means none, and absorbs)
    hop_k(X)_i = X_(find^k(i)) if find^k(i) != 0, else none;  hop_0 is the identity.

    >>> x = np.array([ord(c) for c in "baebcabebdea"])
    >>> "".join("~" if h < 0 else chr(h) for h in hop_k(x, 1))
    '~~~a~ecbe~bb'

The paper's encoding (its trained models; `mpcsim checkpoint convert`): a 100-letter string
over {a, b, c, d} with no letter twice in a row; input = [k] + string[:-2] (99 tokens), target
= [blank] + hop_k(string)[:-2]. Ids: k -> k (0..16), letters a..d -> 17..20, none -> 21,
blank -> 22. Target t (t >= 1) is hop_k of the letter at input position t, which depends on
input positions 1..t only, so targets are a function of the inputs (hop_targets).

The constructed transformer uses its own encoding (a start token first): see
transformer_bridge.constructions.hopk.
"""

from __future__ import annotations

import numpy as np

__all__ = ["find", "hop_positions", "hop_k", "random_strings", "paper_sequences",
           "hop_targets", "paper_error", "MAX_HOPS", "LETTERS", "LETTER_BASE", "NONE_ID",
           "BLANK_ID", "STRING_LENGTH", "SEQ_LEN"]

# The paper's encoding (App. G; docs/paper.md, "The experiment").
MAX_HOPS = 16  # hop-count tokens are ids 0..MAX_HOPS
LETTERS = 4  # a, b, c, d
LETTER_BASE = 17  # letter c (0-based) has id LETTER_BASE + c: a..d -> 17..20
NONE_ID = 21  # hop_k ran off the start
BLANK_ID = 22  # the target at the hop-count token
STRING_LENGTH = 100  # letters drawn per sequence; the last two are dropped
SEQ_LEN = STRING_LENGTH - 1  # tokens per input: [k] + string[:-2]


def find(x: np.ndarray) -> np.ndarray:
    """find for every position: int64 [..., N + 1] with entry i = find(i) (entry 0 is 0).

    x: symbols [..., N] (any integers; leading axes are independent sequences). Vectorised:
    a stable sort by symbol lines each position up behind the previous one with its symbol.
    """
    x = np.asarray(x)
    n = x.shape[-1]
    flat = x.reshape(int(np.prod(x.shape[:-1])), n)  # [sequences, N] (N may be 0)
    out = np.zeros((len(flat), n + 1), dtype=np.int64)
    for row, symbols in zip(out, flat):
        order = np.argsort(symbols, kind="stable")  # positions grouped by symbol, ascending
        same = symbols[order[1:]] == symbols[order[:-1]]
        # order[t + 1] (0-based p) follows order[t] (0-based p') with the same symbol:
        # 1-based, i = p + 1 and the latest earlier X_(j-1) = X_i is at j - 1 = p' + 1.
        row[order[1:][same] + 1] = order[:-1][same] + 2
    return out.reshape(*x.shape[:-1], n + 1)


def hop_positions(x: np.ndarray, k: int) -> np.ndarray:
    """find^k(i) for i = 0..N: int64 [..., N + 1] (by repeated squaring: O(N log k))."""
    if k < 0:
        raise ValueError(f"k={k}: the number of hops must be >= 0")
    step = find(x)
    result = np.broadcast_to(np.arange(step.shape[-1]), step.shape).copy()
    while k:
        if k & 1:
            result = np.take_along_axis(step, result, axis=-1)  # step o result
        step = np.take_along_axis(step, step, axis=-1)
        k >>= 1
    return result


def hop_k(x: np.ndarray, k: int, none: int = -1) -> np.ndarray:
    """hop_k(X)_i for i = 1..N: [..., N], X's symbols, or `none` where find^k(i) = 0."""
    x = np.asarray(x)
    at = hop_positions(x, k)[..., 1:]  # [..., N], 1-based positions, 0 = none
    padded = np.concatenate([np.full(x.shape[:-1] + (1,), none, dtype=x.dtype), x], axis=-1)
    return np.take_along_axis(padded, at, axis=-1)


def random_strings(count: int, length: int, alphabet: int,
                   rng: np.random.Generator) -> np.ndarray:
    """[count, length] symbols 0..alphabet-1, uniform, with no symbol twice in a row (each
    symbol after the first is uniform over the alphabet minus its predecessor)."""
    if alphabet < 2:
        raise ValueError(f"alphabet={alphabet}: needs >= 2 symbols to avoid repeats")
    first = rng.integers(0, alphabet, size=(count, 1))
    shifts = rng.integers(1, alphabet, size=(count, max(length - 1, 0)))
    return (np.cumsum(np.concatenate([first, shifts], axis=1), axis=1) % alphabet)[:, :length]


def paper_sequences(k: int, count: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`count` sequences of the paper's task with k hops: (inputs, targets), int64
    [count, 99] each, in the paper's ids (module docstring)."""
    if not 0 <= k <= MAX_HOPS:
        raise ValueError(f"k={k}: the paper's encoding has hop tokens 0..{MAX_HOPS}")
    letters = random_strings(count, STRING_LENGTH, LETTERS, rng)[:, :-2]  # [count, 98]
    inputs = np.concatenate([np.full((count, 1), k), letters + LETTER_BASE], axis=1)
    return inputs.astype(np.int64), hop_targets(inputs)


def hop_targets(inputs: np.ndarray) -> np.ndarray:
    """The paper's targets [..., 99] for inputs [..., 99] in its encoding (the hop count is
    the first token of each sequence). Raises ValueError for tokens outside the encoding."""
    inputs = np.asarray(inputs)
    hops, letters = inputs[..., 0], inputs[..., 1:]
    if ((hops < 0) | (hops > MAX_HOPS)).any() or ((letters < LETTER_BASE)
                                                  | (letters >= LETTER_BASE + LETTERS)).any():
        raise ValueError(f"not the paper's encoding: the first token must be a hop count "
                         f"0..{MAX_HOPS}, the others letters {LETTER_BASE}.."
                         f"{LETTER_BASE + LETTERS - 1}")
    flat_hops, flat_letters = hops.reshape(-1), letters.reshape(-1, letters.shape[-1])
    targets = np.empty((len(flat_hops), inputs.shape[-1]), dtype=np.int64)
    targets[:, 0] = BLANK_ID
    for row, k, symbols in zip(targets, flat_hops, flat_letters):
        row[1:] = hop_k(symbols, int(k), none=NONE_ID)
    return targets.reshape(inputs.shape)


def paper_error(predictions: np.ndarray, targets: np.ndarray) -> float:
    """The paper's metric: the fraction of wrong predictions (token ids, e.g. the argmax of the
    final hidden state) over positions whose target is a letter (id < NONE_ID); blank and none
    targets are ignored. NaN when no target is a letter."""
    predictions, targets = np.asarray(predictions), np.asarray(targets)
    if predictions.shape != targets.shape:
        raise ValueError(f"predictions {predictions.shape} and targets {targets.shape} differ "
                         f"in shape")
    scored = targets < NONE_ID
    if not scored.any():
        return float("nan")
    return float((predictions[scored] != targets[scored]).mean())
