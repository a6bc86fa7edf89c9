"""plan_to_tree_program: the "tree" plan as a round program (schedule: transformer_bridge.plan).

Token machine i is the root of row heap i (its query block's tiles, in key order) and of
column heap i (its key block's tiles, in query order). A heap node at position p has the
children at positions b p + 1 .. b p + b and sits at depth heap_depth(p + 1, b). With
D = plan.depth and rho = round % 2D, in every layer:
- token machines start the layer at rho = 0 (and finish the previous one first);
- a node at row depth d gets Q at rho = d, a node at column depth d gets K/V at rho = d,
  and each forwards what it got to its children in the same round;
- a tile computes its partial state once it holds Q and K/V (by rho = D at the latest), and
  at rho = 2D - d (d its row depth) merges its children's states and sends the result up;
  since a tile's children are deeper, their states arrive exactly then.
"""

from __future__ import annotations

from typing import Any

import mpcsim

from .attention import PartialState, mask_tile, merge, partial
from .blocks import TAG_KV, TAG_Q, TAG_STATE, BlockProgram
from .model import Transformer
from .plan import Plan, heap_depth

__all__ = ["TreeProgram", "plan_to_tree_program"]


def plan_to_tree_program(model: Transformer, plan: Plan) -> TreeProgram:
    return TreeProgram(model, plan)


class TreeProgram(BlockProgram):
    def __init__(self, model: Transformer, plan: Plan) -> None:
        super().__init__(model, plan)
        blocks = plan.blocks
        # heaps as lists of local machine ids; position 0 is the token machine
        self.rows: list[list[int]] = [[i] for i in range(blocks)]
        self.cols: list[list[int]] = [[j] for j in range(blocks)]
        for k, (i, j) in enumerate(plan.tiles):  # tiles are sorted by (i, j)
            self.rows[i].append(blocks + k)
        for k, (i, j) in sorted(enumerate(plan.tiles), key=lambda kt: (kt[1][1], kt[1][0])):
            self.cols[j].append(blocks + k)
        self.row_pos = {m: p for heap in self.rows for p, m in enumerate(heap)}
        self.col_pos = {m: p for heap in self.cols for p, m in enumerate(heap)}

    def round(self, machine: mpcsim.Machine) -> None:
        seq, local = self.locate(machine.id)
        if local < self.plan.blocks:
            self.token_round(machine, seq, local)
        else:
            self.tile_round(machine, seq, local)

    # -- token machines -------------------------------------------------------------------

    def token_round(self, machine: mpcsim.Machine, seq: int, block: int) -> None:
        plan = self.plan
        if plan.blocks == 1:
            return self.whole_sequence(machine)
        period = 2 * plan.depth
        r = machine.round_idx
        if r == 0:
            self.embed(machine, block)
        elif r % period:
            return  # waiting for the row heap's states
        else:
            layer = r // period - 1
            state = self._merge_states(machine.memory["state"], machine.inbox, layer)
            self.finish_layer(machine, block, layer, state)
        layer = r // period
        if layer == self.model.num_layers:
            return self.read_out(machine, block)
        q, k, v = self.start_layer(machine, block, layer)
        base = seq * self.per_seq
        for child in self._children(self.rows[block], 0):
            machine.send(base + child, [TAG_Q, q])
        for child in self._children(self.cols[block], 0):
            machine.send(base + child, [TAG_KV, k, v])

    # -- inner-product machines -----------------------------------------------------------

    def tile_round(self, machine: mpcsim.Machine, seq: int, local: int) -> None:
        plan, memory = self.plan, machine.memory
        period = 2 * plan.depth
        rho, layer = machine.round_idx % period, machine.round_idx // period
        i, j = plan.tiles[local - plan.blocks]
        base = seq * self.per_seq
        row, col = self.rows[i], self.cols[j]
        row_pos, col_pos = self.row_pos[local], self.col_pos[local]
        states = []
        for _, payload in machine.inbox:
            if payload[0] == TAG_Q:
                memory["q"] = payload[1]
                for child in self._children(row, row_pos):
                    machine.send(base + child, payload)
            elif payload[0] == TAG_KV:
                memory["k"], memory["v"] = payload[1], payload[2]
                for child in self._children(col, col_pos):
                    machine.send(base + child, payload)
            else:
                states.append(payload)
        if "q" in memory and "k" in memory:
            spec = self.model.layers[layer].attention
            memory["state"] = partial(memory.pop("q"), memory.pop("k"), memory.pop("v"), spec,
                                      mask_tile(spec, self.positions(i), self.positions(j)))
        if rho == period - heap_depth(row_pos + 1, plan.fan_in):
            state = self._merge_states(memory.pop("state"), [(0, s) for s in states], layer)
            machine.send(base + row[(row_pos - 1) // plan.fan_in], [TAG_STATE, *state])
            machine.halt()  # until the next layer's Q or K/V arrives

    # -- shared ---------------------------------------------------------------------------

    def _children(self, heap: list[int], pos: int) -> list[int]:
        b = self.plan.fan_in
        return heap[b * pos + 1: b * pos + b + 1]

    def _merge_states(self, state: PartialState, inbox: list[tuple[int, Any]],
                      layer: int) -> PartialState:
        kind = self.model.layers[layer].attention.kind
        for _, payload in inbox:
            if payload[0] == TAG_STATE:
                state = merge(state, (payload[1], payload[2], payload[3]), kind)
        return state
