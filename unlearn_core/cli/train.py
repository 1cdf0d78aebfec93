"""`python -m unlearn_core train ...`: train a model by a recorded recipe and save a checkpoint
with a JSON sidecar (the command, the final accuracies)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from unlearn_core.cli.commands import command_line
from unlearn_core.cli.options import TerminalProgress, add_probe_options, recipe_from_args
from unlearn_core.errors import UserError


def add_parsers(sub) -> None:
    train = sub.add_parser("train", help="train a model by a recorded recipe; save a checkpoint")
    train.add_argument("--dataset", default="demo")
    train.add_argument("--data-root", help="folder holding the data set's files")
    train.add_argument("--arch", default="smallcnn")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--lr", type=float, default=0.05)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--sd-gamma", type=float, default=0.0, help="SD-loss weight (Eq. 10)")
    train.add_argument("--weight-decay", type=float, default=5e-4)
    train.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    train.add_argument("--momentum", type=float, default=0.0)
    add_probe_options(train, every=200)
    train.add_argument("--out", required=True, help="checkpoint file (.safetensors)")
    train.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> None:
    from unlearn_core.checkpoint import save_checkpoint
    from unlearn_core.data import load_dataset
    from unlearn_core.training import train

    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise UserError(f"--out {out} must end in .safetensors.")
    recipe = recipe_from_args(args)
    data = load_dataset(args.dataset, args.data_root)
    trained = train(args.arch, data, recipe, progress=TerminalProgress())
    command = command_line(sys.argv[1:])
    digest = save_checkpoint(trained, out, extra={"command": command})
    final = trained.history[-1]
    sidecar = {"file": out.name, "sha256": digest, "command": command, **final}
    out.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    print(f"test accuracy {final['test_acc']:.4f}; wrote {out} (sha256 {digest})")
