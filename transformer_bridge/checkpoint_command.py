"""`mpcsim checkpoint convert`: the authors' PyTorch checkpoints as HuggingFace folders.

    mpcsim checkpoint convert model_100000.pt config.yaml checkpoints/width4-depth2

The conversion is transformer_bridge.torch_checkpoint (no torch; the pickle is read with an
allowlist and never runs code). mpcsim.cli registers configure and handle, importing this module
only when the command is used; exit codes are mpcsim.cli's: 0 converted, 2 an error (message on
stderr: e.g. a pickle naming a forbidden global, or tensors that do not match the config).
"""

from __future__ import annotations

import argparse
import json

from mpcsim.console import EXIT_OK

from .checkpoint import load_gpt2
from .torch_checkpoint import torch_to_folder

__all__ = ["configure", "handle"]


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    convert = actions.add_parser(
        "convert", help="convert an authors' model_*.pt and its config.yaml into a folder "
                        "that `mpcsim transformer` and `mpcsim hopk eval` read",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Convert a PyTorch checkpoint of the paper's authors into OUT_DIR:\n"
                    "config.json, model.safetensors and task.json. The authors publish them\n"
                    "in https://github.com/chsanford/hop-induction-heads as\n"
                    "models/induction_hops_full_seq/<run>/model_100000.pt and config.yaml.\n"
                    "torch is not needed, and the pickle is read with an allowlist (tensor\n"
                    "rebuilds, storages, OrderedDict): any other global is refused before\n"
                    "anything in the file runs.")
    convert.add_argument("model", metavar="MODEL.pt", help="the torch.save file of a state dict")
    convert.add_argument("config", metavar="CONFIG.yaml", help="the run's config.yaml")
    convert.add_argument("out_dir", metavar="OUT_DIR",
                         help="the folder to write (created if needed; files are overwritten)")
    convert.add_argument("--json", action="store_true", help="print one JSON object")


def handle(args: argparse.Namespace) -> int:
    out = torch_to_folder(args.model, args.config, args.out_dir)
    model = load_gpt2(out)  # proves the folder loads
    report = {"out_dir": str(out), "files": sorted(p.name for p in out.iterdir() if p.is_file()),
              "layers": model.num_layers, "heads": model.layers[0].attention.num_heads,
              "width": model.width}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"wrote {out}: {', '.join(report['files'])} ({report['layers']} layers, "
              f"{report['heads']} heads, width {report['width']})\n"
              f"run it: mpcsim hopk eval --model {out}")
    return EXIT_OK
