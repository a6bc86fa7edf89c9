"""plan_to_ring_program: the "ring" plan as a round program (ring attention).

T machines per sequence, machine i holding token block i. With R = T - 1 rounds per layer,
layer l starts at round l R: every machine computes Q, K, V and its diagonal state, keeps
Q, and sends [K, V, block] to machine i + 1 (mod T). At round l R + t (t = 1..R) machine i
holds block i - t (mod T): it merges it into its state if its mask lets it see that block,
and passes it on while some machine further along the ring still needs it (for a causal
mask, blocks stop at the last machine instead of wrapping). At t = R it finishes the layer
and starts the next one in the same round.
"""

from __future__ import annotations

import mpcsim


from .attention import mask_tile, merge, partial, visible_blocks
from .blocks import TAG_KV, BlockProgram
from .model import Transformer
from .plan import Plan

__all__ = ["RingProgram", "plan_to_ring_program"]


def plan_to_ring_program(model: Transformer, plan: Plan) -> RingProgram:
    return RingProgram(model, plan)


class RingProgram(BlockProgram):
    def __init__(self, model: Transformer, plan: Plan) -> None:
        super().__init__(model, plan)
        t, n = plan.blocks, plan.seq_len
        # needs[l][i, j]: machine i must see block j in layer l
        self.needs = [visible_blocks(layer.attention, n, plan.tile) for layer in model.layers]
        # last_hop[l][j]: how far block j travels in layer l (0: it stays home)
        self.last_hop = [
            [max((h for h in range(1, t) if needs[(j + h) % t, j]), default=0)
             for j in range(t)] for needs in self.needs]

    def round(self, machine: mpcsim.Machine) -> None:
        plan = self.plan
        seq, block = self.locate(machine.id)
        if plan.blocks == 1:
            return self.whole_sequence(machine)
        period = plan.rounds_per_layer
        r = machine.round_idx
        hop, layer = r % period, r // period
        if r == 0:
            self.embed(machine, block)
        else:
            self._receive(machine, seq, block, layer - (hop == 0), hop or period)
            if hop:
                return
            self.finish_layer(machine, block, layer - 1, machine.memory["state"])
            del machine.memory["q"]
        if layer == self.model.num_layers:
            return self.read_out(machine, block)
        q, k, v = self.start_layer(machine, block, layer)
        machine.memory["q"] = q
        if self.last_hop[layer][block] >= 1:
            machine.send(self._next(seq, block), [TAG_KV, k, v, block])

    def _receive(self, machine: mpcsim.Machine, seq: int, block: int, layer: int,
                 hop: int) -> None:
        memory = machine.memory
        for _, payload in machine.inbox:
            _, k, v, source = payload
            if self.needs[layer][block, source]:
                spec = self.model.layers[layer].attention
                visible = mask_tile(spec, self.positions(block), self.positions(source))
                memory["state"] = merge(memory["state"],
                                        partial(memory["q"], k, v, spec, visible), spec.kind)
            if hop < self.last_hop[layer][source]:
                machine.send(self._next(seq, block), payload)

    def _next(self, seq: int, block: int) -> int:
        return seq * self.per_seq + (block + 1) % self.plan.blocks


