"""compile_transformer: the orchestrator. transformer -> plan -> round program -> MPC job.

    job = compile_transformer(model, seq_len=64, memory_words=20_000)
    print(job.plan.describe())
    hidden, result = job.run(input_ids, backend="local")   # hidden: [batch, N, m_out]

Passes: transformer_to_plan (transformer_bridge.plan) chooses tile, fan-in and machines under
the cap; plan_to_tree_program / plan_to_ring_program (tree_program.py, ring_program.py)
turn the plan into an mpcsim.Program; Job.run submits it with mpcsim.run, caps enforced, and
checks that the measured rounds equal the plan's.

Weights are part of the round program (code), as the paper treats per-token maps as
arbitrary functions: memory_words counts data only (token ids, activations, Q/K/V, partial
attention states, messages), never the weights.
"""

from __future__ import annotations

import importlib

from dataclasses import dataclass
from typing import Any

import numpy as np

import mpcsim

from .blocks import BlockProgram
from .model import Transformer
from .plan import Plan, schedule_named, transformer_to_plan

__all__ = ["compile_transformer", "Job", "plan_to_program"]


def plan_to_program(model: Transformer, plan: Plan) -> BlockProgram:
    """The round program of `plan`, built by its schedule's plan_to_*_program."""
    module, function = schedule_named(plan.strategy).to_program.split(":")
    return getattr(importlib.import_module(module), function)(model, plan)


@dataclass(frozen=True)
class Job:
    model: Transformer
    plan: Plan

    @property
    def program(self) -> BlockProgram:
        return plan_to_program(self.model, self.plan)

    def run(self, input_ids: Any, backend: str = "local",
            **run_options: Any) -> tuple[np.ndarray, mpcsim.Result]:
        """Run the forward pass on token ids [batch, N] (or [N]) as an MPC job.

        Returns (outputs [batch, N, m_out] in the model's dtype, the mpcsim Result). Options
        are mpcsim.run's (address, num_workers, seed, max_rounds, progress); caps are
        enforced unless enforce=False is passed. Raises ValueError for ids of the wrong
        shape, mpcsim errors from the run.
        """
        ids = np.asarray(input_ids)
        single = ids.ndim == 1
        ids = np.atleast_2d(ids)
        if ids.ndim != 2 or ids.shape[1] != self.plan.seq_len:
            raise ValueError(f"input_ids of shape {np.shape(input_ids)}: this job was compiled "
                             f"for [batch, {self.plan.seq_len}] token ids")
        self.model.check_ids(ids)
        run_options.setdefault("max_rounds", self.plan.total_rounds + 1)
        result = mpcsim.run(self.program, ids, num_machines=self.plan.machines * len(ids),
                            memory_words=self.plan.memory_words, backend=backend,
                            **run_options)
        if result.rounds != self.plan.total_rounds:  # the schedule is static: a bug if not
            raise RuntimeError(f"the run took {result.rounds} rounds, the plan "
                               f"{self.plan.total_rounds}: {self.plan.describe()}")
        blocks = self.plan.blocks
        out = np.stack([np.concatenate(result.output[s * self.plan.machines:
                                                     s * self.plan.machines + blocks])
                        for s in range(len(ids))])
        return (out[0] if single else out), result


def compile_transformer(model: Transformer, seq_len: int, memory_words: int,
                        strategy: str = "tree", fan_in: int | None = None,
                        tile: int | None = None) -> Job:
    """Compile `model` for sequences of seq_len tokens under memory_words per machine.

    strategy "tree" (Theorem 3.4 with B x B tiles: 2D rounds per layer, D the deepest b-ary
    fan-out heap) or "ring" (T - 1 rounds per layer); tile (B) and fan_in (b) default to the
    largest that fit. Raises transformer_bridge.PlanError, stating the minimum memory_words,
    when nothing fits. See transformer_bridge.plan for the schedule and the word bounds.
    """
    return Job(model, transformer_to_plan(model, seq_len, memory_words, strategy=strategy,
                                          fan_in=fan_in, tile=tile))
