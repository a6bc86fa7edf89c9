"""program_to_plan: the shape of the transformer that simulates an R-round program (Thm 3.1).

Tokens: N = max(n_in, q). Token i < q is machine i; token p < n_in holds input word p.
Layers: one per round. Layer r's attention delivers the messages of round r - 1 (for r = 0:
the input words, to the machines the program's partition puts them on); its per-token map
then runs round r of the real program on the machine rebuilt from the token's row. So
L = R (the theorem allows R + 1: its extra layer gathers outputs onto the first tokens; an
mpcsim result keeps each machine's output on its machine, which is where it already is).

Message-size bands (the theorem's heads). A message costs w = max(1, words) words; band b
carries 2^b <= w < 2^(b+1), for b = 0 .. floor(log2 s): B = floor(log2 s) + 1 bands, which is
O(log log N) for s = N^delta. Since a machine sends and receives at most s words a round:

    a sender has at most m_b = floor(s / 2^b) band-b messages (so <= m_b destinations),
    a receiver has at most c_b = floor(s / 2^b) band-b senders.

Each band is routed by hardmax heads (routing.py) whose queries and keys are residue codes
(moduli.py): machine j's query is its own id; a sender's key is the set of its band-b
destinations plus itself (<= m_b + 1 ids, so key moduli separate sets of m_b + 1), so j's
maximisers are exactly its band-b senders and itself. The value of a sender is its band-b
outbox, written into one cell per modulus of the cell moduli (separating c_b others), so
each of the <= c_b + 1 maximisers is alone in some cell. A band whose cells make a value
much wider than the others' is split over several heads (each carrying a range of the
band's cells, all with the band's queries and keys), so heads have similar widths.

Row layout (float64 columns of the residual stream, per token):
    META       last_run (last round the machine ran, -1 before any), halted (0/1), sent
               (messages it sent in that round)
    STATE      s data words + packed shape codes: (memory, output, rng state)   (codec.py)
    per band b KEY_b  the key code of the band-b destinations (+ self)
               CELL_b one cell: [1, id, id^2, s data words, packed message codes]
Width: m = max(row, H * key_dim, H * value_dim), the width a standard transformer with these
heads would need (the heads' outputs concatenated); reported next to s^4 log2 N.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mpcsim import MPCError

from .codec import CODE_LIMIT, packed_columns
from .moduli import separating_moduli

__all__ = ["Band", "Head", "RoutingPlan", "program_to_plan", "CompileError", "HEADER_CODES",
           "CELL_HEADER"]

HEADER_CODES = 4  # per message: destination, send index, kind, length (column rows)
CELL_HEADER = 3  # count, sender id, id^2 (the checksum that tells a clean cell)


class CompileError(MPCError, ValueError):
    """The program cannot be compiled with these settings; `problems` lists every one."""

    problems: list[tuple[str, object, str]]

    def _message(self) -> str:
        lines = [f"  {name}={value!r}: {rule}" for name, value, rule in self.problems]
        return "cannot compile the program:\n" + "\n".join(lines)


@dataclass(frozen=True)
class Band:
    index: int  # b
    min_words: int  # 2^b
    max_words: int  # min(2^(b+1) - 1, s)
    max_messages: int  # m_b: band-b messages per sender and round
    max_senders: int  # c_b: band-b senders per receiver and round
    key_moduli: tuple[int, ...]  # separate sets of m_b + 1 ids (destinations + self)
    cell_moduli: tuple[int, ...]  # isolate each of c_b + 1 maximisers in some cell
    message_codes: int  # shape-code capacity of a sender's band-b outbox
    cell_width: int  # columns of one cell

    @property
    def key_dim(self) -> int:
        return sum(self.key_moduli)

    @property
    def cells(self) -> int:
        return sum(self.cell_moduli)

    @property
    def code_columns(self) -> int:
        return packed_columns(self.message_codes)


@dataclass(frozen=True)
class Head:
    band: int  # the band this head carries
    first_cell: int  # its range of the band's cells
    cells: int

    def describe(self, plan: RoutingPlan) -> str:
        b = plan.bands[self.band]
        if b.min_words == b.max_words:
            size = "1 word" if b.min_words == 1 else f"{b.min_words} words"
        else:
            size = f"{b.min_words}..{b.max_words} words"
        return (f"band {b.index} (messages of {size}): cells {self.first_cell}.."
                f"{self.first_cell + self.cells - 1} of {b.cells}")


@dataclass(frozen=True)
class RoutingPlan:
    n_in: int  # input words
    num_machines: int  # q
    memory_words: int  # s
    rounds: int  # R
    num_tokens: int  # N = max(n_in, q)
    bands: tuple[Band, ...]
    heads: tuple[Head, ...]
    state_codes: int  # shape-code capacity of a machine's state (memory, output, rng)
    key_dim: int  # dk of every head (the widest band's key code; others zero-padded)
    value_dim: int  # dv of every head (the widest head's cells)
    offsets: dict[str, int] = field(compare=False)  # first column of each row field
    row_width: int = 0

    # -- the numbers the theorem talks about -------------------------------------------

    @property
    def num_layers(self) -> int:
        return self.rounds

    @property
    def num_heads(self) -> int:
        return len(self.heads)

    @property
    def width(self) -> int:
        """m: max(row, H * key_dim, H * value_dim)."""
        h = self.num_heads
        return max(self.row_width, h * self.key_dim, h * self.value_dim)

    @property
    def width_unit(self) -> float:
        """s^4 log2 N: the theorem's width bound without its constant."""
        return self.memory_words ** 4 * math.log2(max(self.num_tokens, 2))

    def bounds(self) -> dict[str, object]:
        """The theorem's bounds next to the measured L, H, m, N."""
        return {"L": self.num_layers, "L_bound": self.rounds + 1,
                "H": self.num_heads, "bands": len(self.bands),
                "H_bound": "O(log log N): one band per message size 2^b <= s, "
                           f"floor(log2 s) + 1 = {len(self.bands)}",
                "m": self.width, "m_unit": self.width_unit,
                "m_over_unit": self.width / self.width_unit,
                "N": self.num_tokens, "row_width": self.row_width,
                "key_dim": self.key_dim, "value_dim": self.value_dim}

    def describe(self) -> str:
        lines = [f"N = {self.num_tokens} tokens ({self.num_machines} machines, {self.n_in} "
                 f"input words), s = {self.memory_words} words, R = {self.rounds} rounds",
                 f"L = {self.num_layers} layers (bound R + 1 = {self.rounds + 1}), "
                 f"H = {self.num_heads} heads over {len(self.bands)} bands, "
                 f"m = {self.width} (row {self.row_width}, key_dim {self.key_dim}, "
                 f"value_dim {self.value_dim}); s^4 log2 N = {self.width_unit:.0f}, "
                 f"m / (s^4 log2 N) = {self.width / self.width_unit:.3f}"]
        lines += [f"  head {h}: {head.describe(self)}" for h, head in enumerate(self.heads)]
        return "\n".join(lines)


def program_to_plan(n_in: int, num_machines: int, memory_words: int, rounds: int,
                    message_shape_codes: int, state_shape_codes: int) -> RoutingPlan:
    """The plan for a program of `rounds` rounds on q machines of s words (module docstring).
    Raises CompileError listing every invalid setting."""
    problems: list[tuple[str, object, str]] = []
    for name, value, low in (("n_in", n_in, 0), ("num_machines", num_machines, 1),
                             ("memory_words", memory_words, 1), ("rounds", rounds, 1),
                             ("message_shape_codes", message_shape_codes, 1),
                             ("state_shape_codes", state_shape_codes, 1)):
        if type(value) is not int or value < low:
            problems.append((name, value, f"must be an int >= {low}"))
    if not problems and max(n_in, num_machines) >= CODE_LIMIT:
        problems.append(("num_machines", num_machines, f"N = max(n_in, q) must be below "
                                                       f"{CODE_LIMIT} (ids are shape codes)"))
    if not problems and CODE_LIMIT <= max(state_shape_codes, memory_words
                                          * (HEADER_CODES + message_shape_codes)):
        problems.append(("state_shape_codes", state_shape_codes, "shape-code capacities "
                         f"(state, and s * ({HEADER_CODES} + message_shape_codes)) must stay "
                         f"below {CODE_LIMIT}"))
    if problems:
        raise CompileError(problems=problems)
    s, n = memory_words, max(n_in, num_machines)
    bands = []
    for b in range(s.bit_length()):
        per = s >> b
        codes = per * (HEADER_CODES + message_shape_codes)
        bands.append(Band(index=b, min_words=1 << b, max_words=min((2 << b) - 1, s),
                          max_messages=per, max_senders=per,
                          key_moduli=separating_moduli(n, per + 1),
                          cell_moduli=separating_moduli(n, per), message_codes=codes,
                          cell_width=CELL_HEADER + s + packed_columns(codes)))
    heads = _balanced_heads(bands)
    offsets, width = _row_layout(bands, s, packed_columns(state_shape_codes))
    return RoutingPlan(n_in=n_in, num_machines=num_machines, memory_words=s, rounds=rounds,
                       num_tokens=n, bands=tuple(bands), heads=heads,
                       state_codes=state_shape_codes,
                       key_dim=max(b.key_dim for b in bands),
                       value_dim=max(h.cells * bands[h.band].cell_width for h in heads),
                       offsets=offsets, row_width=width)


def _balanced_heads(bands: list[Band]) -> tuple[Head, ...]:
    """Split each band's cells over heads of about the average band's value width."""
    total = sum(b.cells * b.cell_width for b in bands)
    target = max(max(b.cell_width for b in bands), -(-total // len(bands)))
    heads = []
    for b in bands:
        count = -(-(b.cells * b.cell_width) // target)
        per = -(-b.cells // count)
        for first in range(0, b.cells, per):
            heads.append(Head(band=b.index, first_cell=first, cells=min(per, b.cells - first)))
    return tuple(heads)


def _row_layout(bands: list[Band], s: int, state_columns: int) -> tuple[dict[str, int], int]:
    offsets = {"last_run": 0, "halted": 1, "sent": 2, "state_data": 3, "state_codes": 3 + s}
    at = 3 + s + state_columns
    for b in bands:
        offsets[f"key{b.index}"] = at
        at += b.key_dim
        offsets[f"cell{b.index}"] = at
        at += b.cell_width
    offsets["state_columns"] = state_columns
    return offsets, at
