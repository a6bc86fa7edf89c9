"""compile_program: the orchestrator. round program -> template + plan -> transformer.

    model = compile_program(program, n_in=64, num_machines=16, memory_words=8, rounds=R)
    model.forward(inputs)             # == mpcsim.run(program, inputs, ...).output
    y = forward(model, model.ids(inputs))   # the plain dense forward: readout rows [N, m_out]
    model.outputs(y)                  # the same outputs, decoded from y
    print(model.plan.describe())      # L, H, m, N next to the theorem's bounds, head bands

Passes: partition_to_template (template.py) turns the program's input placement into a
fixed routing of input words; program_to_plan (plan.py) sizes the bands, heads and row
fields; the maps (maps.py) are the per-token functions of the resulting Transformer, whose
attention layers (hardmax, no mask) move every message. The result is a
transformer_bridge.Transformer, so transformer_bridge.forward runs it densely and
compile_transformer turns it back into an MPC job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from mpcsim import FunctionProgram, Machine, Program

from ..attention import AttentionSpec
from ..model import Layer, Transformer, forward
from .codec import WORD_LIMIT, NotRepresentable
from .maps import Context, Embed, Readout, RoundPost, RoundQKV, decode_outputs
from .plan import CompileError, RoutingPlan, program_to_plan
from .template import InputSpec, Template, partition_to_template

__all__ = ["compile_program", "CompiledProgram", "MESSAGE_SHAPE_CODES"]

MESSAGE_SHAPE_CODES = 8  # default shape codes per message (e.g. [TAG, array] needs 7)


def _default_state_codes(memory_words: int) -> int:
    return 64 + 4 * memory_words


@dataclass(frozen=True)
class CompiledProgram(Transformer):
    """A Transformer computing an MPC round program; ids(), outputs() and forward() speak
    the program's terms (inputs and per-machine outputs)."""

    plan: RoutingPlan | None = None
    template: Template | None = None

    @property
    def seq_len(self) -> int:
        """N: tokens per sequence (max(n_in, q))."""
        assert self.plan is not None
        return self.plan.num_tokens

    def ids(self, inputs: Any) -> np.ndarray:
        """Token ids [N] for the program's input (n_in integer words; zeros after them).
        Raises NotRepresentable for a non-integral word or one beyond WORD_LIMIT."""
        assert self.plan is not None and self.template is not None
        words = np.asarray(inputs)
        if words.size != self.template.n_in:
            raise ValueError(f"the program was compiled for {self.template.n_in} input words "
                             f"(shape {self.template.inputs.shape}), got {words.size}")
        flat = words.reshape(-1)
        bad = np.zeros(flat.size, dtype=bool)
        if flat.dtype.kind not in "biu":
            bad = ~np.isfinite(flat) | (flat != np.rint(flat))
        bad |= np.abs(np.where(bad, 0, flat).astype(np.float64)) > WORD_LIMIT
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            raise NotRepresentable(machine=None, round_idx=0, where=f"input word {at}",
                                   value=repr(flat[at]), reason="input words must be integers "
                                   "with |w| <= 2^50 (token ids)")
        ids = np.zeros(self.plan.num_tokens, dtype=np.int64)
        ids[:flat.size] = flat.astype(np.int64)
        return ids

    def outputs(self, y: np.ndarray) -> list[Any]:
        """Per-machine outputs from readout rows [N, m_out], as mpcsim.run's result.output."""
        assert self.plan is not None
        return decode_outputs(np.asarray(y), self.plan)

    def rounds_used(self, y: np.ndarray) -> int:
        """The rounds the simulated run took (mpcsim's result.rounds): 1 + the last round in
        which any machine ran."""
        return 1 + int(np.asarray(y)[:, 1].max())

    def forward(self, inputs: Any) -> list[Any]:
        """The dense forward on the program's input: every machine's output."""
        return self.outputs(forward(self, self.ids(inputs)))


def compile_program(program: Program | Callable[[Machine], None], n_in: int | None = None, *,
                    num_machines: int, memory_words: int, rounds: int,
                    input_shape: tuple[int, ...] | None = None, input_type: str = "int64",
                    seed: int = 0,
                    probe: Callable[[int, np.random.Generator], Any] | None = None,
                    message_shape_codes: int = MESSAGE_SHAPE_CODES,
                    state_shape_codes: int | None = None) -> CompiledProgram:
    """Compile `program` for inputs of n_in integer words (or input_shape) on num_machines
    machines of memory_words words, simulating `rounds` rounds (Thm 3.1; module docstring).
    The program's input is the n_in words as a numpy array of input_type (default int64) in
    input_shape, or a Python list of ints for input_type="list".

    The model computes what mpcsim.run(program, inputs, num_machines=..., memory_words=...,
    seed=seed) returns, for any input on which the run ends within `rounds` rounds (else the
    forward raises MaxRoundsExceeded, as mpcsim.run(max_rounds=rounds) does) and every word
    is representable (else NotRepresentable names the value, machine and round). The
    program's partition must be an oblivious placement of input words (template.py); `probe`
    draws valid inputs for checking that. message_shape_codes / state_shape_codes bound the
    structure (types, shapes, names) of a message and of a machine's state (codec.py).
    Raises CompileError listing every problem.
    """
    if not isinstance(program, Program):
        if not callable(program):
            raise TypeError(f"program must be an mpcsim.Program or a function, got {program!r}")
        program = FunctionProgram(program)
    if input_shape is None:
        if n_in is None:
            raise CompileError(problems=[("n_in", None, "give n_in or input_shape")])
        input_shape = (n_in,)
    inputs = InputSpec(tuple(int(d) for d in input_shape), str(np.dtype(input_type))
                       if input_type != "list" else "list")
    n_in = inputs.size
    plan = program_to_plan(n_in, num_machines, memory_words, rounds, message_shape_codes,
                           state_shape_codes if state_shape_codes is not None
                           else _default_state_codes(memory_words))
    # the input placement and the partition's plan (SampleSort's), and the program's copy
    template, program = partition_to_template(program, inputs, num_machines, memory_words,
                                              seed, probe)
    return plan_to_transformer(program, plan, template, seed)


def plan_to_transformer(program: Program, plan: RoutingPlan, template: Template,
                        seed: int) -> CompiledProgram:
    ctx = Context(program, plan, template, seed)
    spec = AttentionSpec(num_heads=plan.num_heads, key_dim=plan.key_dim,
                         value_dim=plan.value_dim, kind="hardmax", scale=1.0, mask=None)
    qkv = RoundQKV(ctx)
    layers = tuple(Layer(attention=spec, qkv=qkv, post=RoundPost(ctx, r))
                   for r in range(plan.rounds))
    name = (f"compile_program({type(program).__name__}, N={plan.num_tokens}, "
            f"q={plan.num_machines}, s={plan.memory_words}, R={plan.rounds})")
    return CompiledProgram(width=plan.row_width, embed=Embed(ctx), layers=layers,
                           readout=Readout(ctx), out_width=ctx.output_width,
                           max_positions=plan.num_tokens, vocab_size=None, name=name,
                           plan=plan, template=template)
