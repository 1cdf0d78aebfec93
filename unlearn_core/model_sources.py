"""The two other ways onto a model besides a stored checkpoint: train one here by a recorded
recipe, or import weights someone brings. Both leave a checkpoint in a folder the caller names
(the app: the run store's "models" folder, so they survive restarts beside the runs).

Uploaded weights are loaded by `checkpoint.load_checkpoint`, which never unpickles code
(`torch.load(weights_only=True)`), and kept as safetensors that record the architecture and data
set, so they reload without asking again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from unlearn_core.checkpoint import check_recipe, load_checkpoint, save_checkpoint, save_model
from unlearn_core.cli.commands import train_command
from unlearn_core.data import ImageDataset
from unlearn_core.errors import UserError
from unlearn_core.progress import Progress
from unlearn_core.training import Recipe, train

MAX_UPLOAD_MB = 200
SUFFIXES = (".safetensors", ".pt", ".pth")


def import_weights(file_name: str, payload: bytes, data: ImageDataset, arch: str, folder: Path):
    """Store uploaded weights in `folder` as a checkpoint every page can load; returns its path.

    One of our own checkpoints (it records its recipe) is kept byte for byte; other weights are
    re-saved as safetensors recording `arch` and `data`. UserError, with nothing left behind, for
    a file too large, of another type, holding pickled code, not fitting `arch`, or non-finite.
    """
    if len(payload) > MAX_UPLOAD_MB * 2**20:
        raise UserError(f"{file_name} is larger than {MAX_UPLOAD_MB} MB; refusing it.")
    name = Path(file_name).name  # never a path the browser chose
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise UserError(f"{name}: only .safetensors, .pt or .pth state dicts can be loaded.")
    digest = hashlib.sha256(payload).hexdigest()
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(name).stem)[:48] or "weights"
    target = folder / f"{stem}-{digest[:10]}.safetensors"
    folder.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=folder, prefix=".upload-"))  # hidden: never listed
    try:
        upload = scratch / f"{stem}{suffix}"  # error messages name the user's file
        upload.write_bytes(payload)
        trained, meta = load_checkpoint(upload, data, arch=arch)
        if meta["recipe_recorded"] and suffix == ".safetensors":
            os.chmod(upload, 0o644)
            os.replace(upload, target)
        else:
            source = {"source": name, "source_sha256": digest}
            save_model(
                trained.model, target, {"arch": trained.arch, "dataset": data.name, **source}
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def train_and_save(
    data: ImageDataset, arch: str, recipe: Recipe, folder: Path, progress: Progress | None = None
) -> Path:
    """Train by `recipe` (unlearn_core.training.train) and save the checkpoint in `folder`,
    with the command line that reproduces it; returns its path."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    path = Path(folder) / f"{data.name}-{arch}-seed{recipe.seed}-{stamp}.safetensors"
    check_recipe(recipe, "the recipe")
    trained = train(arch, data, recipe, progress=progress)
    options = {
        "dataset": data.name,
        "arch": arch,
        "epochs": recipe.epochs,
        "lr": recipe.lr,
        "batch-size": recipe.batch_size,
        "weight-decay": recipe.weight_decay,
        "seed": recipe.seed,
        "sd-gamma": recipe.sd_gamma,
        "out": path.name,
    }
    save_checkpoint(trained, path, extra={"command": train_command(options)})
    return path


TIMED_STEPS = 3  # SGD steps timed beyond the first batch, for the estimate


def estimate_training(data: ImageDataset, arch: str, recipe: Recipe) -> tuple[float, float]:
    """(estimated seconds for the whole recipe, measured seconds per SGD step) on this machine.

    Two one-epoch trainings on the recipe's first images, one batch and 1 + TIMED_STEPS
    batches: their difference over TIMED_STEPS is the cost of a step, and what is left of the
    shorter one is the per-epoch cost that does not grow with the data (the evaluation on the
    test split, the record of the epoch). The whole: epochs x (that + steps per epoch x a step).
    Hessian probes are not timed (the estimate trains without them)."""
    b = min(recipe.batch_size, data.train_y.numel())
    quick = dataclasses.replace(recipe, epochs=1, probe_every=0)
    seconds = []
    for batches in (1, 1 + TIMED_STEPS):
        n = min(b * batches, data.train_y.numel())
        part = dataclasses.replace(data, train_x=data.train_x[:n], train_y=data.train_y[:n])
        start = time.perf_counter()
        train(arch, part, quick, probes=False)
        seconds.append(time.perf_counter() - start)
    step = max(seconds[1] - seconds[0], 0.0) / TIMED_STEPS
    steps = -(-data.train_y.numel() // b)
    return recipe.epochs * (seconds[0] - step + steps * step), step
