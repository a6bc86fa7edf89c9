"""Tasks the paper studies, as data: generators in the paper's encodings, sequential
references and the paper's metrics. One module per task:

- hopk: the k-hop induction heads task (Def. 4.1, App. G): find, hop_k, the paper's
  sequences and error.

Transformers that solve a task are in transformer_bridge.constructions; running them (or
trained checkpoints) as MPC jobs is transformer_bridge.compiler.
"""

from . import hopk

__all__ = ["hopk"]
