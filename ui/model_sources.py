"""Streamlit glue for the two other ways onto "Model and data": train a model here by a recorded
recipe, or bring your own weights. Both store a checkpoint in the run store's "models" folder
(`models_dir()`, so they survive restarts beside the runs) and make it the current model of every
page; an error is one line and leaves the previous model selected.

Uploaded weights are loaded by `unlearn_core.checkpoint.load_checkpoint`, which never unpickles
code (`torch.load(weights_only=True)`), and kept as safetensors that record the architecture and
data set, so every page can reload them without asking again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

import streamlit as st

from ui.runs import run_store
from ui.state import get_dataset, select_checkpoint
from unlearn_core.checkpoint import load_checkpoint, save_checkpoint, save_model
from unlearn_core.cli.commands import train_command
from unlearn_core.data import ImageDataset, dataset_names
from unlearn_core.errors import UserError
from unlearn_core.models import arch_names
from unlearn_core.training import Recipe, train

MAX_UPLOAD_MB = 200
TRAINABLE = ("demo", "digits")  # the registry's data sets that load without a download
SUFFIXES = (".safetensors", ".pt", ".pth")
MESSAGE = "model_source_message"
ARCHS = arch_names()
DEFAULT_ARCH = ARCHS.index("smallcnn")


def models_dir() -> Path:
    return run_store().root.resolve() / "models"


def stored_models() -> list[str]:
    """Checkpoints trained or uploaded here (absolute paths, sorted)."""
    return sorted(str(p) for p in models_dir().glob("*.safetensors"))


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


def train_and_save(dataset_name: str, arch: str, recipe: Recipe, progress) -> Path:
    """Train by `recipe` (unlearn_core.training.train) and save the checkpoint in models_dir(),
    with the command line that reproduces it; returns its path."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    path = models_dir() / f"{dataset_name}-{arch}-seed{recipe.seed}-{stamp}.safetensors"
    trained = train(arch, get_dataset(dataset_name), recipe, progress=progress)
    options = {
        "dataset": dataset_name,
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


def _select(path: Path, message: str) -> None:
    select_checkpoint(str(path))
    st.session_state[MESSAGE] = message
    st.rerun()


def show_message() -> None:
    """The note a model source left before its rerun (once)."""
    if message := st.session_state.pop(MESSAGE, None):
        st.success(message)


def train_form() -> None:
    """A recipe form; trains on submit and selects the new checkpoint."""
    with st.form("train_form"):
        left, right = st.columns(2)
        dataset = left.selectbox("Data set", TRAINABLE, key="train_dataset")
        arch = right.selectbox("Architecture", ARCHS, index=DEFAULT_ARCH, key="train_arch")
        cols = st.columns(3)
        epochs = cols[0].number_input("Epochs", 1, 500, 3, key="train_epochs")
        lr = cols[1].number_input(
            "Learning rate η", 1e-5, 10.0, 0.05, format="%.4f", key="train_lr"
        )
        batch = cols[2].number_input("Batch size b", 1, 8192, 64, key="train_batch")
        decay = cols[0].number_input(
            "Weight decay λ", 0.0, 1.0, 5e-4, format="%.5f", key="train_wd"
        )
        seed = cols[1].number_input("Seed", 0, 2**31 - 1, 0, key="train_seed")
        gamma = cols[2].number_input(
            "SD-loss γ", 0.0, 10.0, 0.0, key="train_gamma", help="Thudi et al., Eq. 10; 0: none"
        )
        submitted = st.form_submit_button("Train", type="primary")
    if not submitted:
        return
    try:
        with st.status(f"Training {arch} on {dataset}…") as status:
            bar = st.progress(0.0, text="starting")
            recipe = Recipe(
                lr=lr,
                batch_size=batch,
                epochs=epochs,
                weight_decay=decay,
                seed=seed,
                sd_gamma=gamma,
            )
            path = train_and_save(dataset, arch, recipe, lambda f, phase: bar.progress(f, phase))
            status.update(label="Trained", state="complete")
    except UserError as err:
        st.error(str(err))
        return
    _select(path, f"Trained {arch} on {dataset} and selected it: {path.name}.")


def upload_form() -> None:
    """An upload form for weights; loads them safely on submit and selects them."""
    with st.form("upload_form", clear_on_submit=True):
        upload = st.file_uploader(
            f"Weights: .safetensors, or a state-dict .pt/.pth (at most {MAX_UPLOAD_MB} MB)",
            type=[s.lstrip(".") for s in SUFFIXES],
            max_upload_size=MAX_UPLOAD_MB,
            key="upload_file",
        )
        left, right = st.columns(2)
        dataset = left.selectbox("Data set it was trained on", dataset_names(), key="upload_data")
        arch = right.selectbox("Architecture", ARCHS, index=DEFAULT_ARCH, key="upload_arch")
        submitted = st.form_submit_button("Load these weights")
    if not submitted:
        return
    if upload is None:
        st.error("Choose a weights file first; the current model stays selected.")
        return
    try:
        data = get_dataset(dataset)
        path = import_weights(upload.name, upload.getvalue(), data, arch, models_dir())
    except UserError as err:
        st.error(str(err))
        return
    _select(path, f"Loaded {upload.name} as {arch} on {dataset} and selected it.")
