"""The two other ways onto a model besides a stored checkpoint: train one here by a recorded
recipe, or import weights someone brings. Both leave a checkpoint in a folder the caller names
(the app: the run store's "models" folder, so they survive restarts beside the runs).

Uploaded weights are loaded by `checkpoint.load_checkpoint`, which never unpickles code
(`torch.load(weights_only=True)`), and kept as safetensors that record the architecture and data
set, so they reload without asking again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from unlearn_core.checkpoint import check_recipe, load_checkpoint, save_checkpoint, save_model
from unlearn_core.data import ImageDataset
from unlearn_core.device import default_device
from unlearn_core.errors import UserError
from unlearn_core.files import safe_stem
from unlearn_core.metrics.accuracy import accuracy
from unlearn_core.progress import Progress
from unlearn_core.specs.commands import train_command
from unlearn_core.training import Recipe, initial_model, make_optimizer, per_sample_loss, train

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
    stem = safe_stem(name, 48, "weights")
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


TIMED_STEPS = (5, 50)  # the fewest and most SGD steps timed for the estimate
TIMED_SECONDS = 0.5  # ... timing stops once this long has passed after the fewest


def estimate_training(data: ImageDataset, arch: str, recipe: Recipe) -> tuple[float, float]:
    """(estimated seconds for the whole recipe, measured seconds per SGD step) on this machine.

    Times steps of the recipe's optimiser on its first batch (after one untimed step: first
    calls allocate), at least TIMED_STEPS[0] and until TIMED_SECONDS have passed, and takes
    their median (a busy machine's stalls do not make the step); adds the test evaluation that
    training does after each epoch. The whole: epochs x (steps per epoch x a step + the
    evaluation). Hessian probes are not counted."""
    device = default_device()
    model = initial_model(arch, data, recipe.seed).to(device)
    optimizer = make_optimizer(model.parameters(), recipe)
    n = data.train_y.numel()
    images, labels = data.batch(torch.arange(min(recipe.batch_size, n)), device)
    times, began = [], time.perf_counter()
    while len(times) < TIMED_STEPS[1] + 1:
        start = time.perf_counter()
        optimizer.zero_grad()
        per_sample_loss(model(images), labels, recipe.sd_gamma).mean().backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
        if len(times) > TIMED_STEPS[0] and time.perf_counter() - began > TIMED_SECONDS:
            break
    step = statistics.median(times[1:])
    start = time.perf_counter()
    accuracy(model, data, "test")
    evaluation = time.perf_counter() - start
    return recipe.epochs * (-(-n // recipe.batch_size) * step + evaluation), step
