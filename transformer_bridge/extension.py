"""transformer_bridge's part of mpcsim: its CLI commands and bench steps, registered with
mpcsim.extensions through the entry point in pyproject.toml ("mpcsim.extensions").

Light on purpose: `mpcsim --help` runs `register`, and every command's module (command.py,
hopk_command.py, compile_command.py, checkpoint_command.py) and the bench measurements
(bench_steps.py) are imported only when used.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any, Callable

from mpcsim.extensions import Command, add_bench_steps, add_command

__all__ = ["register"]


def register() -> None:
    """Add the bridge's commands and bench steps to mpcsim (called once by mpcsim)."""
    add_command(Command("transformer", "run a GPT-2 checkpoint's forward pass as an MPC job, "
                        "compare it with the dense forward", *_lazy("command")))
    add_command(Command("hopk", "k-hop induction heads as MPC jobs: the constructed "
                        "transformer (run) or trained checkpoints' per-k error (eval)",
                        *_lazy("hopk_command")))
    add_command(Command("demo", "run the constructed hop_k transformer as an MPC job and "
                        "compare it with MPC pointer doubling (no files needed)",
                        *_lazy("hopk_command", "configure_demo", "handle_demo")))
    add_command(Command("compile", "compile an algorithm into a transformer (attention routes "
                        "its messages), check its forward against mpcsim.run",
                        *_lazy("compile_command")))
    add_command(Command("checkpoint", "convert the paper authors' PyTorch checkpoints (.pt + "
                        "config.yaml) into folders `mpcsim transformer` and `mpcsim hopk eval` "
                        "read, without torch", *_lazy("checkpoint_command")))
    add_bench_steps(_lazy_steps("ratio_steps"), phase="ratios")
    add_bench_steps(_lazy_steps("sweep_steps"), phase="sweeps")


def _lazy(module: str, configure: str = "configure", handle: str = "handle"
          ) -> tuple[Callable[[argparse.ArgumentParser], None],
                     Callable[[argparse.Namespace], int]]:
    """A command's configure and handle, importing transformer_bridge.`module` when called."""

    def call(name: str) -> Callable[[Any], Any]:
        def run(arg: Any) -> Any:
            return getattr(importlib.import_module(f"transformer_bridge.{module}"), name)(arg)
        return run

    return call(configure), call(handle)


def _lazy_steps(name: str) -> Callable[..., Any]:
    def steps(*args: Any) -> Any:
        from . import bench_steps

        return getattr(bench_steps, name)(*args)
    return steps
