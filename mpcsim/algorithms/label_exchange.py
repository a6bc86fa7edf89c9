"""A combining exchange in fleet rounds: many machines read, and write-with-min, the entries of
a table spread over all machines, and no machine is swamped by a popular entry.

The table has one entry per id x in 0..V-1 (for connectivity: a vertex's parent). Entry x lives
on machine owner(x) in slot slot(x), with owner(x), slot(x) = divmod(pi(x), c) for the bijection
pi(x) = (mult * x + add) mod P (P >= V prime, mult and add drawn from the seed): every owner has
exactly c slots (the last one fewer; ids >= V fill no slot anyone asks for), and popular ids,
which for connectivity are small ids (component minima), are spread over the owners instead
of piling on the first ones.

A request (x, v) means "tell me entry x, and offer v to its write-min" (v = NO_VALUE offers
nothing). Machine ids are D + 1 digits: D low digits in base g and a top digit (q = blocks *
g^D). Requests travel a butterfly: hop l (l = 1..D) goes to the machine whose digit l - 1 is
digit l - 1 of hash(x) (a splitmix64 hash salted by the seed) and whose other digits are the
sender's; hop D + 1 goes to owner(x). Every machine merges what it receives by x (keeping the
least offer), remembers who asked for what, and passes each x on once, so a level-l host sees x
at most once from each of its <= g children, and an owner at most once from each of the
q / g^D top blocks. D = 0: requests go straight to the owners.

Schedule of one exchange (tau = rounds since it started), LabelExchange.rounds = 2D + 2:
    tau 0          requesters send (x, v), merged per machine, to their first hop (`request`)
    tau l          level-l hosts merge and send up (`host_up`, l = 1..D)
    tau D + 1      owners merge, decide each entry's answer, reply down (`own`)
    tau 2D + 2 - l level-l hosts reply to their children in the order asked (`host_down`)
    tau 2D + 2     requesters read one answer per request (`answers`), which is tau 0 of the
                   next exchange
Every kernel is one numpy pass over a fleet (mpcsim.fleet): a machine's messages and memory
depend only on its own inbox and memory. Messages are (x, v) pairs back to back going up (2
words a pair) and answers going down (1 word each), never empty, and their first value is an
id >= 0, so a program may mix in control messages whose first value is negative (`split`).

Order (what lets a host forget the ids it passed up). Every sender, at every level, sends
its merged requests in the order of route_key(x) = (digit 0, .., digit D - 1 of hash(x),
pi(x)), digit 0 first; it is a total order on ids, as pi is a bijection. Claim: a child's
requests to a host are a subsequence of the ids that host passes up, in that order. Proof: a
level-l host receives only ids whose digits 0..l-1 of hash(x) are its own digits 0..l-1 (hop
l sets digit l - 1, and the sender at level l - 1 had digits 0..l-2 right by induction), so on
its ids route_key orders by digit l first, which is what its next hop replaces (or, at l = D,
by pi(x), whose quotient by c is the owner): its destinations come out ascending, one message
per destination, as one sort gives them. The ids it passes up are the distinct ids it
received, in route_key order; a child sent distinct ids (it merged them), in route_key order,
all of which the host passes up: a subset of a sorted list, in sorted order, is a
subsequence. Answers come back one per id passed up, in that order (each parent answers its
message in order, and the inbox is ordered by sender, ascending like the destinations), so
the host that knows which children asked for its i-th id hands child k the answers to the ids
whose mask has bit k, in order, and those are exactly child k's requests, in child k's order.
A requester (level 0) reads its answers the same way, recomputing its order from (who, x).

Memory per machine and exchange: a requester keeps nothing (it recomputes its request order
from the same data when the answers come); a level-l host keeps, from tau l to tau 2D + 2 - l,
one word per distinct id it passed up: the bitmask of its children's digits that asked for
it (g <= MASK_FAN = 62: a word is an int64, bits 0..61 of it); at wider fans it keeps one word
per request received instead (the child's digit above the id's index among those passed up),
so a popular id asked by all g children costs 1 word at g <= 62 and g words above; an owner
keeps nothing. Loads: a host's expected load is the mean number r of distinct requests per
machine (hash(x) spreads a machine's requests over its g hosts evenly; a popular x adds at most
one request per child, and one id passed up), an owner's likewise (pi spreads ids over
owners); `Connectivity` sizes c and g from these means (see its docstring).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np

from ..fleet import Fleet
from .combining import NO_VALUE, mix
from .segments import offsets_of

__all__ = ["LabelExchange", "Batch", "split", "NO_VALUE", "CONTROL", "MASK_FAN", "mix",
           "next_prime"]

CONTROL = -(1 << 62)  # a control message's first value is below this
_EMPTY = np.zeros(0, dtype=np.int64)
_CHILD = 1 << 32  # a wide host's book word: child digit * _CHILD + index passed up
MASK_FAN = 62  # the widest fan-in whose children fit one word's bitmask (bits 0..61 of an int64)


def next_prime(n: int) -> int:
    """The least prime >= max(n, 2) (trial division: n is at most a few billion here)."""
    n = max(n, 2)
    while any(n % d == 0 for d in range(2, math.isqrt(n) + 1)):
        n += 1
    return n


class Batch(NamedTuple):
    """Some messages of a fleet's inbox: message i went to dests[i] (ascending) from
    sources[i] and holds values[starts[i]:starts[i] + lens[i]]; values are back to back."""

    dests: np.ndarray
    sources: np.ndarray
    lens: np.ndarray
    values: np.ndarray

    @property
    def starts(self) -> np.ndarray:
        return np.cumsum(self.lens) - self.lens


def split(fleet: Fleet) -> tuple[Batch, Batch]:
    """(exchange messages, control messages) of the fleet's inbox: a control message's first
    value is below CONTROL (a request's is at least -V)."""
    inbox = fleet.inbox
    offsets = inbox.offsets
    lens = offsets[1:] - offsets[:-1]
    values = inbox.values.astype(np.int64, copy=False)
    if lens.size == 0:
        empty = Batch(_EMPTY, _EMPTY, _EMPTY, _EMPTY)
        return empty, empty
    control = values[offsets[:-1]] < CONTROL
    return _pick(inbox.dests, inbox.sources, lens, offsets, values, ~control), \
        _pick(inbox.dests, inbox.sources, lens, offsets, values, control)


def _pick(dests: np.ndarray, sources: np.ndarray, lens: np.ndarray, offsets: np.ndarray,
          values: np.ndarray, which: np.ndarray) -> Batch:
    if which.all():
        return Batch(dests, sources, lens, values)
    if not which.any():
        return Batch(_EMPTY, _EMPTY, _EMPTY, _EMPTY)
    keep = np.repeat(which, lens)
    return Batch(dests[which], sources[which], lens[which], values[keep])


@dataclass(frozen=True)
class LabelExchange:
    entries: int  # V: ids 0..V-1
    machines: int  # q = blocks * fan**depth
    fan: int  # g: the base of the D low digits
    depth: int  # D: host levels; 0 sends straight to the owners
    slots: int  # c: table slots per owner
    prime: int  # P >= V, prime; pi(x) = (mult * x + add) mod P
    mult: int
    add: int
    salt: int  # salts hash(x)

    @classmethod
    def build(cls, entries: int, machines: int, slots: int, depth: int, fan: int,
              seed: int) -> LabelExchange:
        """The exchange for ids 0..entries-1 on at least `machines` machines (rounded up to a
        multiple of fan^depth, and to enough owners for P / slots)."""
        prime = next_prime(max(entries, 2))
        rng = np.random.default_rng([seed, 0xC0FFEE])
        mult = int(rng.integers(1, prime))
        add = int(rng.integers(0, prime))
        block = fan ** depth
        owners = -(-prime // slots)
        q = max(machines, owners, 1)
        q = -(-q // block) * block
        return cls(entries, q, fan, depth, slots, prime, mult, add, seed)

    @property
    def rounds(self) -> int:
        """Rounds per exchange: 2D + 2."""
        return 2 * self.depth + 2

    @property
    def compact_books(self) -> bool:
        """Whether a host keeps one word per distinct id passed up (the bitmask of the children
        that asked; g <= MASK_FAN), not one per request received (child digit and index)."""
        return self.fan <= MASK_FAN

    @property
    def owners(self) -> int:
        """Machines 0..owners-1 hold slots."""
        return -(-self.prime // self.slots)

    def place(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(owner, slot) of each id."""
        y = (x * self.mult + self.add) % self.prime
        return y // self.slots, y % self.slots

    def ids_at(self, owner: np.ndarray, slot: np.ndarray) -> np.ndarray:
        """The id in each (owner, slot): pi^-1; values >= entries fill no real slot."""
        inverse = pow(self.mult, -1, self.prime)
        y = owner * self.slots + slot
        return ((y - self.add) % self.prime) * inverse % self.prime

    def slot_ids(self, machine: int) -> np.ndarray:
        """The ids in machine's slots, in slot order (ids >= V included: they are no vertex)."""
        lo = machine * self.slots
        count = max(0, min(self.slots, self.prime - lo))
        return self.ids_at(np.full(count, machine, dtype=np.int64),
                           np.arange(count, dtype=np.int64))

    def route_key(self, x: np.ndarray) -> np.ndarray:
        """Every sender's order of its requests: (digit 0, .., digit D - 1 of hash(x), pi(x)) as
        one int < g^D P, digit 0 most significant (module docstring, "Order")."""
        h = mix(x, self.salt)
        key = np.zeros(x.shape, dtype=np.int64)
        for level in range(self.depth):
            digit = h // np.uint64(self.fan ** level) % np.uint64(self.fan)
            key = key * self.fan + digit.astype(np.int64)
        return key * self.prime + (x * self.mult + self.add) % self.prime

    def hop(self, machines: np.ndarray, x: np.ndarray, level: int) -> np.ndarray:
        """Where machines send their requests for x at hop `level` (1..D + 1)."""
        if level > self.depth:
            return self.place(x)[0]
        unit = self.fan ** (level - 1)
        digit = (mix(x, self.salt) // np.uint64(unit) % np.uint64(self.fan)).astype(np.int64)
        return machines - (machines // unit % self.fan) * unit + digit * unit

    # -- the kernels, one per tau ---------------------------------------------------------------

    def request(self, fleet: Fleet, who: np.ndarray, x: np.ndarray, offers: np.ndarray) -> None:
        """tau 0: fleet machine who[i] asks for entry x[i], offering offers[i]."""
        _send_up(fleet, self, fleet.ids[who], x, offers, 1)

    def answers(self, batch: Batch, fleet: Fleet, who: np.ndarray, x: np.ndarray) -> np.ndarray:
        """tau 2D + 2: the answer to each request, given the same (who, x) as `request` had."""
        _, _, inverse, _ = _plan(self, fleet.ids[who], x, 1)
        merged = int(inverse.max()) + 1 if inverse.size else 0
        if batch.values.size != merged:
            raise AssertionError(f"{batch.values.size} answers for {merged} requests")
        return batch.values[inverse]

    def host_up(self, fleet: Fleet, batch: Batch, level: int) -> None:
        """tau = level: merge the children's requests and pass them up; remember who asked: per
        id passed up, the bitmask of the children's digits (`compact_books`), else per request
        received, the child's digit and the index of its id among those passed up."""
        if batch.dests.size == 0:
            return
        _, x, offers, count = _decode(batch)
        host = np.repeat(batch.dests, count)
        order, first, inverse, starts = _send_up(fleet, self, host, x, offers, level + 1)
        # children differ from the host in digit level - 1 only
        digit = np.repeat(batch.sources // self.fan ** (level - 1) % self.fan, count)
        if self.compact_books:  # a child sends an id once: the sum of its bits is their OR
            runs = np.flatnonzero(first)
            masks = np.add.reduceat(np.left_shift(1, digit, dtype=np.int64)[order], runs)
            _store(fleet, f"xi{level}", masks, fleet.index_of(host[order][runs]))
        else:
            at = fleet.index_of(host)
            _store(fleet, f"xi{level}", digit * _CHILD + inverse - starts[at], at)

    def own(self, fleet: Fleet, batch: Batch,
            decide: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> None:
        """tau D + 1: decide(fleet index, slot, least offer) of each distinct (owner, slot) asked
        for gives its answer (and may write the owner's memory); every request is answered."""
        if batch.dests.size == 0:
            return
        _, x, offers, count = _decode(batch)
        at = np.repeat(fleet.index_of(batch.dests), count)
        _, slot = self.place(x)
        key = at * self.slots + slot
        order = np.argsort(key, kind="stable")
        ordered = key[order]
        first = np.ones(ordered.size, dtype=bool)
        first[1:] = ordered[1:] != ordered[:-1]
        starts = np.flatnonzero(first)
        least = np.minimum.reduceat(offers[order], starts)
        unique = ordered[starts]
        answer = decide(unique // self.slots, unique % self.slots, least)
        inverse = np.empty(key.size, dtype=np.int64)
        inverse[order] = np.cumsum(first) - 1
        fleet.send_many(batch.dests, batch.sources, answer[inverse], offsets_of(count))

    def host_down(self, fleet: Fleet, batch: Batch, level: int) -> None:
        """tau = 2D + 2 - level: answers from above (one per id passed up, in that order) go to
        the children that asked, each child's in the order it asked (module docstring,
        "Order")."""
        book, offsets = fleet.gather(f"xi{level}", _EMPTY)
        if book.size:
            host = np.repeat(np.arange(len(fleet)), offsets[1:] - offsets[:-1])
            if self.compact_books:
                if batch.values.size != book.size:
                    raise AssertionError(f"{batch.values.size} answers for {book.size} ids")
                entry, digit = _bits(book)  # entry: index of the id passed up, digit: a child
                order = np.lexsort((entry, digit, host[entry]))
                entry, digit = entry[order], digit[order]
                answer, host = batch.values[entry], host[entry]
            else:
                got = np.zeros(len(fleet) + 1, dtype=np.int64)  # answers per host, from above
                np.add.at(got, fleet.index_of(batch.dests) + 1, batch.lens)
                digit, local = book // _CHILD, book % _CHILD
                answer = batch.values[np.cumsum(got)[host] + local]
            cut = np.ones(answer.size, dtype=bool)
            cut[1:] = (host[1:] != host[:-1]) | (digit[1:] != digit[:-1])
            heads = np.flatnonzero(cut)
            unit = self.fan ** (level - 1)
            base = fleet.ids[host[heads]]
            kids = base - (base // unit % self.fan) * unit + digit[heads] * unit
            fleet.send_many(base, kids, answer, np.append(heads, answer.size))
        _clear(fleet, f"xi{level}")


def _bits(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(i, d) for every bit d set in masks[i] (masks >= 0), lowest bits first."""
    entry = np.flatnonzero(masks)
    rest = masks[entry]
    entries, digits = [], []
    while entry.size:
        low = rest & -rest
        entries.append(entry)
        digits.append(np.frexp(low.astype(np.float64))[1].astype(np.int64) - 1)  # exact: 2^d
        rest = rest ^ low
        left = rest != 0
        entry, rest = entry[left], rest[left]
    if not entries:
        return _EMPTY, _EMPTY
    return np.concatenate(entries), np.concatenate(digits)


def _plan(ex: LabelExchange, machines: np.ndarray, x: np.ndarray, level: int
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Requests (machine, x) merged per machine, in send order (by machine, then
    `route_key(x)`, which orders each machine's next hops ascending: module docstring,
    "Order"): (order, first-of-run flags in that order, each request's index among the merged
    ones, dests of the merged ones)."""
    dests = ex.hop(machines, x, level)
    key = ex.route_key(x)
    span = ex.fan ** ex.depth * ex.prime
    if ex.machines * span < 1 << 62:  # one int64 key: a single sort
        order = np.argsort(machines * span + key, kind="stable")
    else:
        order = np.lexsort((key, machines))
    m, x_sorted = machines[order], x[order]
    first = np.ones(order.size, dtype=bool)
    if order.size > 1:
        first[1:] = (m[1:] != m[:-1]) | (x_sorted[1:] != x_sorted[:-1])
    inverse = np.empty(order.size, dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    return order, first, inverse, dests[order][first]


def _send_up(fleet: Fleet, ex: LabelExchange, machines: np.ndarray, x: np.ndarray,
             offers: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                      np.ndarray]:
    """Merge (machine, x) requests keeping the least offer, send one message per (machine,
    next hop). Returns _plan's results and each fleet machine's first merged index."""
    order, first, inverse, dests = _plan(ex, machines, x, level)
    runs = np.flatnonzero(first)
    sources = machines[order][runs]
    starts = np.searchsorted(fleet.index_of(sources), np.arange(len(fleet)))
    if runs.size:
        merged_offer = np.minimum.reduceat(offers[order], runs)
        values, widths = _encode(x[order][runs], merged_offer)
        cut = np.ones(runs.size, dtype=bool)
        cut[1:] = (sources[1:] != sources[:-1]) | (dests[1:] != dests[:-1])
        heads = np.flatnonzero(cut)
        ends = np.cumsum(widths)
        fleet.send_many(sources[heads], dests[heads], values,
                        np.append(ends[heads] - widths[heads], values.size))
    return order, first, inverse, starts


def _encode(x: np.ndarray, offers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Requests as words: x alone (1 word) when it offers nothing, else -(x + 1), offer."""
    widths = 1 + (offers != NO_VALUE)
    values = np.empty(int(widths.sum()), dtype=np.int64)
    at = np.cumsum(widths) - widths
    values[at] = np.where(widths == 2, -x - 1, x)
    values[at[widths == 2] + 1] = offers[widths == 2]
    return values, widths


def _decode(batch: Batch) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(message index, x, offer, requests per message) of a batch of encoded requests."""
    values = batch.values
    offer_at = np.zeros(values.size, dtype=bool)
    offer_at[1:] = values[:-1] < 0
    offer_at[batch.starts] = False
    heads = np.flatnonzero(~offer_at)
    first = values[heads]
    x = np.where(first < 0, -first - 1, first)
    offers = np.full(heads.size, NO_VALUE)
    has = first < 0
    offers[has] = values[heads[has] + 1]
    message = np.repeat(np.arange(batch.lens.size), batch.lens)[heads]
    count = np.bincount(message, minlength=batch.lens.size)
    return message, x, offers, count


def _store(fleet: Fleet, key: str, values: np.ndarray, at: np.ndarray) -> None:
    """memory[key] of fleet machine i = the values whose `at` is i (at ascending)."""
    counts = np.bincount(at, minlength=len(fleet)) if at.size else np.zeros(len(fleet), np.int64)
    fleet.scatter(key, values, offsets_of(counts))


def _clear(fleet: Fleet, key: str) -> None:
    """Forget memory[key] on every fleet machine (an empty array costs no words)."""
    fleet.scatter(key, _EMPTY, np.zeros(len(fleet) + 1, dtype=np.int64))
