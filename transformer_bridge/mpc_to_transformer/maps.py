"""The per-token maps of a compiled program: embed, each round layer's Q/K/V and post map, and
the readout. Each reads only its own token's row, position and (post) attention output; the
program's local computation runs inside `RoundPost` ("weights are code", as in the paper).

    embed(ids, pos)       token p < n_in: its input word, addressed (band 0) to the machines
                          the partition puts it on (template.py); token i < q: machine i,
                          whose key names itself
    RoundQKV(x, pos)      per head (band b, a range of its cells): query = residue code of
                          the token's own id (machines only), key = the row's KEY_b, value =
                          the row's CELL_b written into the token's cells (moduli.py)
    attention             hardmax, no mask: each machine averages its band-b senders' cells
    RoundPost(r)(x, a, p) machine i: read its inbox from a (rows.py), rebuild the machine (at
                          r = 0: its initial memory from the template and the input words it
                          received), run round r if it is runnable (round 0, not halted, or a
                          nonempty inbox), write state and outbox back
    readout(x, pos)       [is_machine, last_run, output data words, output shape codes]

Maps are module-level classes holding the program, plan and template, so the model pickles
(compile_transformer ships it to Ray actors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mpcsim import MaxRoundsExceeded, MemoryLimitExceeded, Program, UnsupportedValue, wire

from .codec import WORD_LIMIT, Refusal, decode, encode, pack, packed_columns, unpack
from .machine_step import INPUT, Message, State, step
from .moduli import cells_of, residue_code
from .plan import RoutingPlan
from .rows import clear_outbox, read_inbox, read_state, write_outbox, write_state
from .template import Template

__all__ = ["Context", "Embed", "RoundQKV", "RoundPost", "Readout", "OUTPUT_META"]

OUTPUT_META = 2  # readout columns before the output: is_machine, last_run


@dataclass(frozen=True, eq=False)
class Context:
    """What every map of one compiled program shares (the "weights")."""

    program: Program
    plan: RoutingPlan
    template: Template
    seed: int

    @property
    def output_width(self) -> int:
        return OUTPUT_META + self.plan.memory_words + self.plan.offsets["state_columns"]


@dataclass(frozen=True, eq=False)
class Embed:
    ctx: Context

    def __call__(self, ids: np.ndarray, pos: np.ndarray) -> np.ndarray:
        plan, template = self.ctx.plan, self.ctx.template
        x = np.zeros((len(pos), plan.row_width))  # [T, m]
        x[:, plan.offsets["last_run"]] = -1.0
        for t, p in enumerate(pos.tolist()):
            messages = []
            if p < template.n_in:
                word = int(ids[t])
                if abs(word) > WORD_LIMIT:
                    raise Refusal("", word, "a word must satisfy |w| <= 2^50 (WORD_LIMIT)"
                                  ).error(None, 0, f"input word {p}")
                messages = [Message(dest, k, INPUT, np.array([float(word)]), 1)
                            for k, dest in enumerate(template.sends[p])]
            write_outbox(x[t], p, messages, plan, 0, receives=p < plan.num_machines)
        return x


@dataclass(frozen=True, eq=False)
class RoundQKV:
    ctx: Context

    def __call__(self, x: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                 np.ndarray]:
        plan = self.ctx.plan
        h_count, t_count = plan.num_heads, len(pos)
        q = np.zeros((t_count, h_count, plan.key_dim))  # [T, H, dk]
        k = np.zeros((t_count, h_count, plan.key_dim))
        v = np.zeros((t_count, h_count, plan.value_dim))  # [T, H, dv]
        machines = pos < plan.num_machines
        for h, head in enumerate(plan.heads):
            band = plan.bands[head.band]
            key = plan.offsets[f"key{band.index}"]
            q[machines, h, :band.key_dim] = residue_code(pos[machines], band.key_moduli)
            k[:, h, :band.key_dim] = x[:, key:key + band.key_dim]
            w = band.cell_width
            cell = x[:, plan.offsets[f"cell{band.index}"]:][:, :w]  # [T, w]
            local = cells_of(pos, band.cell_moduli) - head.first_cell  # [T, K]
            for t, j in zip(*np.nonzero((local >= 0) & (local < head.cells))):
                v[t, h, local[t, j] * w:(local[t, j] + 1) * w] = cell[t]
        return q, k, v


@dataclass(frozen=True, eq=False)
class RoundPost:
    ctx: Context
    round_idx: int

    def __call__(self, x: np.ndarray, a: np.ndarray, pos: np.ndarray) -> np.ndarray:
        ctx, r = self.ctx, self.round_idx
        plan, off = ctx.plan, ctx.plan.offsets
        out = x.copy()
        # delivery first, for every token: mpcsim raises round r - 1's received / memory
        # caps before anything round r computes
        work = []
        for t, p in enumerate(pos.tolist()):
            if p >= plan.num_machines:
                clear_outbox(out[t], plan)
                continue
            inbox = read_inbox(a[t], p, plan, r - 1)  # [H, dv] -> messages to p
            if r == 0:
                state, inbox, runnable = self._initial(p, inbox), [], True
            else:
                state = read_state(x[t], plan)
                runnable = x[t, off["halted"]] == 0 or bool(inbox)
                _check_delivery(state, inbox, p, r - 1, plan.memory_words)
            work.append((t, p, state, inbox, runnable))
        for t, p, state, inbox, runnable in work:
            outbox: list[Message] = []
            if runnable:
                state, halted, outbox = step(ctx.program, p, r, plan.num_machines,
                                             plan.memory_words, ctx.seed, state, inbox,
                                             ctx.template.run_plan)
                out[t, off["last_run"]] = r
                out[t, off["halted"]] = float(halted)
            out[t, off["sent"]] = len(outbox)
            write_state(out[t], state, plan, p, r)
            write_outbox(out[t], p, outbox, plan, r, receives=True)
        return out

    def _initial(self, machine: int, received: list[tuple[int, Message]]) -> State:
        """Machine i's memory from the template: constants + the input words it received."""
        template = self.ctx.template
        codes = template.codes[machine]
        if codes is None:
            return State({}, None, None)
        words = {source: float(msg.payload[0]) for source, msg in received}
        data = template.constants[machine].copy()
        for at in np.flatnonzero(template.sources[machine] >= 0).tolist():
            data[at] = words[int(template.sources[machine][at])]
        memory, _, _ = decode(np.asarray(codes), data)
        return State(memory, None, None)


def _check_delivery(state: State, inbox: list[tuple[int, Message]], machine: int,
                    sent_round: int, cap: int) -> None:
    received = sum(msg.cost for _, msg in inbox)
    if received > cap:
        raise MemoryLimitExceeded(machine=machine, round_idx=sent_round, limit="received",
                                  words=received, cap=cap)
    held = state.words() + received
    if held > cap:
        raise MemoryLimitExceeded(machine=machine, round_idx=sent_round, limit="memory",
                                  words=held, cap=cap)


@dataclass(frozen=True, eq=False)
class Readout:
    ctx: Context

    def __call__(self, x: np.ndarray, pos: np.ndarray) -> np.ndarray:
        ctx = self.ctx
        plan, off = ctx.plan, ctx.plan.offsets
        s, columns = plan.memory_words, off["state_columns"]
        y = np.zeros((len(pos), ctx.output_width))  # [T, m_out]
        active = in_flight = 0
        for t, p in enumerate(pos.tolist()):
            if p >= plan.num_machines:
                continue
            active += x[t, off["halted"]] == 0
            in_flight += int(x[t, off["sent"]])
            output = read_state(x[t], plan).output
            try:
                output = wire.decode(wire.encode(output), writable=True)  # as mpcsim returns it
            except (TypeError, ValueError, OverflowError):
                found = wire.find_unencodable(output, "machine.output") or wire.Unencodable(
                    "machine.output", type(output).__name__, "")
                raise UnsupportedValue.found(p, plan.rounds - 1, "", found) from None
            try:
                codes, data = encode(output)
            except Refusal as exc:
                raise exc.error(p, plan.rounds - 1, "machine.output") from None
            y[t, 0], y[t, 1] = 1.0, x[t, off["last_run"]]
            y[t, OUTPUT_META:OUTPUT_META + len(data)] = data
            if packed_columns(len(codes)) > columns:
                raise Refusal("", f"{len(codes)} shape codes", "compile with "
                              f"state_shape_codes >= {len(codes)}").error(
                    p, plan.rounds - 1, "machine.output")
            y[t, OUTPUT_META + s:] = pack(codes, columns)
        if active or in_flight:
            raise MaxRoundsExceeded(max_rounds=plan.rounds, active_machines=int(active),
                                    messages_in_flight=in_flight)
        return y


def decode_outputs(y: np.ndarray, plan: RoutingPlan) -> list[Any]:
    """The machines' outputs from readout rows [N, m_out], as mpcsim.run returns them."""
    s = plan.memory_words
    outputs = []
    for row in y[:plan.num_machines]:
        value, _, _ = decode(unpack(row[OUTPUT_META + s:]), row[OUTPUT_META:OUTPUT_META + s])
        outputs.append(value)
    return outputs
