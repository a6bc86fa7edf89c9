"""transformer_bridge: transformers as MPC jobs (the paper's Thm 3.4), MPC programs as
transformers (Thm 3.1), and their references.

    from transformer_bridge import compile_transformer, forward, load_gpt2
    model = load_gpt2("checkpoints/width4-depth2")   # HuggingFace folder, no torch
    hidden = forward(model, input_ids)                # dense numpy reference [batch, N, m]
    job = compile_transformer(model, seq_len=99, memory_words=20_000)
    hidden, result = job.run(input_ids)               # the same, as an MPC job

The other direction, an MPC round program compiled into a transformer whose attention routes
its messages: `compile_program` (subpackage mpc_to_transformer; `mpcsim compile` is
compile_command.py).

compiler.py orchestrates the passes: plan.py (transformer_to_plan), tree_program.py and
ring_program.py (plan_to_*_program), with blocks.py the token machines' shared work.

model.py defines the Transformer (per-token maps around attention), attention.py the
mergeable attention arithmetic, gpt2.py and checkpoint.py GPT-2 and its checkpoints.
Subpackages: tasks (the paper's tasks: generators, references, metrics) and constructions
(hand-built transformers, e.g. constructions.hopk_transformer); hopk_command.py is
`mpcsim hopk` and `mpcsim demo`.
"""

from .attention import AttentionSpec
from .checkpoint import CheckpointError, load_gpt2
from .compiler import Job, compile_transformer
from .gpt2 import random_gpt2
from .model import Layer, Transformer, forward
from .mpc_to_transformer import (CompiledProgram, CompileError, NotRepresentable, RoutingOverflow,
                                 compile_program)
from .plan import Plan, PlanError, transformer_to_plan

__all__ = [
    "AttentionSpec",
    "CheckpointError",
    "CompileError",
    "CompiledProgram",
    "Job",
    "Layer",
    "NotRepresentable",
    "Plan",
    "PlanError",
    "RoutingOverflow",
    "Transformer",
    "compile_program",
    "compile_transformer",
    "forward",
    "load_gpt2",
    "random_gpt2",
    "transformer_to_plan",
]
