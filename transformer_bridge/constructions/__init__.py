"""Transformers built by hand, with explicit weights and no training, that solve the paper's
tasks: the constructive side of its upper bounds. One module per construction:

- hopk: hopk_transformer(k, seq_len, alphabet_size), the log-depth k-hop induction-heads
  transformer (Thm 4.2), its pointer schedules and its own token encoding.

The tasks' references and generators are in transformer_bridge.tasks; compile a construction
into an MPC job with transformer_bridge.compile_transformer.
"""

from . import hopk
from .hopk import hopk_transformer

__all__ = ["hopk", "hopk_transformer"]
