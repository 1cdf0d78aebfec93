"""`python -m unlearn_core train ...`: train a model by a recorded recipe and save a checkpoint
with a JSON sidecar (the command, the final accuracies)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from unlearn_core.cli.options import (
    TerminalProgress,
    add_probe_options,
    add_reproducible_options,
    recipe_from_args,
    seed,
)
from unlearn_core.errors import UserError
from unlearn_core.specs.commands import command_line


def add_parsers(sub) -> None:
    train = sub.add_parser("train", help="train a model by a recorded recipe; save a checkpoint")
    train.add_argument("--dataset", default="demo", help="data set: demo, fashion-mnist, ...")
    train.add_argument("--data-root", help="folder holding the data set's files")
    train.add_argument("--arch", default="smallcnn", help="architecture (default smallcnn)")
    train.add_argument("--epochs", type=int, default=10, help="passes over the data (default 10)")
    train.add_argument("--lr", type=float, default=0.05, help="learning rate (default 0.05)")
    train.add_argument("--batch-size", type=int, default=64, help="images per step (default 64)")
    train.add_argument("--seed", type=seed, default=0, help="seeds w_0 and the data order")
    train.add_argument(
        "--sd-gamma",
        type=float,
        default=0.0,
        help="SD-loss weight gamma (Eq. 10 as printed; the authors' code is 10x weaker per gamma)",
    )
    train.add_argument("--weight-decay", type=float, default=5e-4, help="L2 coefficient")
    train.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd", help="default sgd")
    train.add_argument("--momentum", type=float, default=0.0, help="SGD momentum (default 0)")
    add_probe_options(train, every=200)
    add_reproducible_options(train)
    train.add_argument("--out", required=True, help="checkpoint file (.safetensors)")
    train.set_defaults(run=run_train)


def _check_out(out: Path) -> Path:
    """UserError, before any training, for an --out that cannot receive a checkpoint."""
    if out.suffix != ".safetensors":
        raise UserError(f"--out {out} must end in .safetensors.")
    if out.is_dir() or out.with_suffix(".json").is_dir():
        raise UserError(f"--out {out} (or its .json record) is a folder; name a file.")
    above = next((p for p in out.parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise UserError(f"--out {out} lies below {above}, which is not a folder.")
    if above is not None and not os.access(above, os.W_OK):
        raise UserError(f"--out {out}: {above} is not writable.")
    return out


def run_train(args: argparse.Namespace) -> None:
    from unlearn_core.files import out_lock

    out = _check_out(Path(args.out))
    with out_lock(out):  # a second train to the same --out is refused, not overwritten
        _train(args, out)


def _train(args: argparse.Namespace, out: Path) -> None:
    from unlearn_core.checkpoint import check_recipe, save_checkpoint
    from unlearn_core.data import load_dataset
    from unlearn_core.files import write_bytes_atomic, writing
    from unlearn_core.run.memory import check_batch_memory
    from unlearn_core.run.reproducible import environment
    from unlearn_core.torch_utils import weights_sha256
    from unlearn_core.training import train

    recipe = check_recipe(recipe_from_args(args), "train")
    data = load_dataset(args.dataset, args.data_root)
    check_batch_memory(args.arch, data, recipe.batch_size, "--batch-size")
    trained = train(args.arch, data, recipe, progress=TerminalProgress())
    final = trained.history[-1]
    if not all(math.isfinite(v) for v in final.values() if isinstance(v, float)):
        raise UserError("training diverged (NaN or infinite loss); lower --lr. Nothing written.")
    command = command_line(sys.argv[1:])
    # what a bitwise rebuild needs and what it must give (the file's own hash covers metadata)
    env = {
        "weights_sha256": weights_sha256(trained.model.state_dict()),
        "environment": environment(),
    }
    with writing(out):  # a full disk, a read-only folder: one line naming it
        digest = save_checkpoint(trained, out, extra={"command": command})
        sidecar = {"file": out.name, "sha256": digest, "command": command, **final, **env}
        text = json.dumps(sidecar, indent=2, allow_nan=False) + "\n"
        write_bytes_atomic(out.with_suffix(".json"), text.encode())
    print(f"test accuracy {final['test_acc']:.4f}; wrote {out} (sha256 {digest})")
