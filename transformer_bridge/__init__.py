"""transformer_bridge: transformers as MPC jobs (the paper's Thm 3.4) and their references.

    from transformer_bridge import compile_transformer, forward, load_gpt2
    model = load_gpt2("checkpoints/width4-depth2")   # HuggingFace folder, no torch
    hidden = forward(model, input_ids)                # dense numpy reference [batch, N, m]
    job = compile_transformer(model, seq_len=99, memory_words=20_000)
    hidden, result = job.run(input_ids)               # the same, as an MPC job

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
from .plan import Plan, PlanError, transformer_to_plan

__all__ = [
    "AttentionSpec",
    "CheckpointError",
    "Job",
    "Layer",
    "Plan",
    "PlanError",
    "Transformer",
    "compile_transformer",
    "forward",
    "load_gpt2",
    "random_gpt2",
    "transformer_to_plan",
]
