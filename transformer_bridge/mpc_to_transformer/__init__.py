"""MPC -> transformer (the paper's Thm 3.1): compile an mpcsim round program into a
transformer_bridge.Transformer whose attention layers move the program's messages.

    from transformer_bridge import compile_program
    model = compile_program(program, n_in=64, num_machines=16, memory_words=8, rounds=R)
    model.forward(inputs) == mpcsim.run(program, inputs, num_machines=16,
                                        memory_words=8).output

compiler.py orchestrates the passes: template.py (partition_to_template: the input placement
as a fixed routing), plan.py (program_to_plan: bands, heads, row layout, bounds) and maps.py
(the per-token maps). codec.py defines how values sit in a row as words, moduli.py the
residue codes that make routing exact, rows.py reads and writes the row fields, and
machine_step.py runs one real round of the program on a rebuilt mpcsim Machine.
For the other direction (a transformer as an MPC job) see transformer_bridge.compiler.
"""

from .codec import WORD_LIMIT, NotRepresentable
from .compiler import CompiledProgram, compile_program
from .plan import Band, CompileError, Head, RoutingPlan
from .rows import RoutingOverflow

__all__ = ["compile_program", "CompiledProgram", "RoutingPlan", "Band", "Head", "CompileError",
           "NotRepresentable", "RoutingOverflow", "WORD_LIMIT"]
