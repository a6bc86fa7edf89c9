"""What every compiled round program shares: token blocks, sequences in a batch, and the
per-token work of a token machine (embed, start a layer, finish a layer, read out).

Machines of a batch: sequence s owns machine ids [s P, (s + 1) P), P = plan.machines; within a
sequence, ids 0..T-1 are token machines (block i holds tokens [i B, (i + 1) B)) and the rest
are the strategy's other machines.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import mpcsim

from .attention import PartialState, finish, mask_tile, partial
from .model import Transformer
from .plan import Plan

__all__ = ["BlockProgram", "TAG_Q", "TAG_KV", "TAG_STATE"]

TAG_Q, TAG_KV, TAG_STATE = 0, 1, 2  # the first word of every message says what it carries


class BlockProgram(mpcsim.Program):
    """Base of the compiled programs: the batch layout and the token machine's own work."""

    def __init__(self, model: Transformer, plan: Plan) -> None:
        self.model = model
        self.plan = plan
        self.per_seq = plan.machines

    # -- layout ---------------------------------------------------------------------------

    def positions(self, block: int) -> np.ndarray:
        tile, n = self.plan.tile, self.plan.seq_len
        return np.arange(block * tile, min((block + 1) * tile, n))

    def locate(self, machine_id: int) -> tuple[int, int]:
        """(sequence, local id) of a machine."""
        return divmod(machine_id, self.per_seq)

    def partition(self, inputs: Any, num_machines: int,
                  memory_words: int) -> dict[int, dict[str, Any]]:
        ids = np.asarray(inputs)
        return {seq * self.per_seq + block: {"ids": ids[seq, self.positions(block)]}
                for seq in range(ids.shape[0]) for block in range(self.plan.blocks)}

    # -- a token machine's per-token work -------------------------------------------------

    def embed(self, machine: mpcsim.Machine, block: int) -> None:
        memory = machine.memory
        ids = memory.pop("ids")
        memory["x"] = np.asarray(self.model.embed(ids, self.positions(block)),
                                 dtype=self.model.dtype)

    def start_layer(self, machine: mpcsim.Machine, block: int,
                    layer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Q, K, V of this block for `layer`, with the diagonal tile's state kept in memory."""
        pos = self.positions(block)
        spec = self.model.layers[layer].attention
        q, k, v = self.model.layers[layer].qkv(machine.memory["x"], pos)
        machine.memory["state"] = partial(q, k, v, spec, mask_tile(spec, pos, pos))
        return q, k, v

    def finish_layer(self, machine: mpcsim.Machine, block: int, layer: int,
                     state: PartialState) -> None:
        memory = machine.memory
        memory["x"] = np.asarray(
            self.model.layers[layer].post(memory["x"], finish(state), self.positions(block)),
            dtype=self.model.dtype)
        del memory["state"]

    def read_out(self, machine: mpcsim.Machine, block: int) -> None:
        x = machine.memory.pop("x")
        readout = self.model.readout
        machine.output = x if readout is None else np.asarray(
            readout(x, self.positions(block)), dtype=self.model.dtype)
        machine.halt()

    def whole_sequence(self, machine: mpcsim.Machine) -> None:
        """T = 1: one machine runs every layer in one round."""
        self.embed(machine, 0)
        for layer in range(self.model.num_layers):
            self.start_layer(machine, 0, layer)
            self.finish_layer(machine, 0, layer, machine.memory["state"])
        self.read_out(machine, 0)
