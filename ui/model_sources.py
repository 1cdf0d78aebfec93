"""Streamlit glue for the two other ways onto "Model and data": train a model here by a recorded
recipe, or bring your own weights. Both store a checkpoint in the run store's "models" folder
(`models_dir()`, so they survive restarts beside the runs) and make it the current model of every
page; an error is one line and leaves the previous model selected.

Uploaded weights are loaded by `unlearn_core.checkpoint.load_checkpoint`, which never unpickles
code (`torch.load(weights_only=True)`), and kept as safetensors that record the architecture and
data set, so every page can reload them without asking again.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.runs import run_store
from ui.state import get_dataset, select_checkpoint
from unlearn_core.checkpoint import check_recipe
from unlearn_core.cli.model_sources import (
    MAX_UPLOAD_MB,
    SUFFIXES,
    estimate_training,
    import_weights,
    train_and_save,
)
from unlearn_core.data import ImageDataset, dataset_names
from unlearn_core.errors import UserError
from unlearn_core.models import arch_names
from unlearn_core.training import Recipe

TRAINABLE = ("demo", "digits")  # the registry's data sets that load without a download
MESSAGE = "model_source_message"
ARCHS = arch_names()
DEFAULT_ARCH = ARCHS.index("smallcnn")
MAX_TRAIN_SECONDS = 3600  # the page blocks while it trains: longer runs belong to the CLI


def models_dir() -> Path:
    return run_store().root.resolve() / "models"


def stored_models() -> list[str]:
    """Checkpoints trained or uploaded here (absolute paths, sorted)."""
    return sorted(str(p) for p in models_dir().glob("*.safetensors"))


def _code(text: str) -> str:
    """A file name or hash as inline code (backticks dropped: they would end it)."""
    return f"`{str(text).replace('`', '')[:80]}`"


def provenance_captions(meta: dict) -> list[str]:
    """The sidebar's lines on where the current model's file came from: its sha256 and, for
    weights re-saved on import, also the name and sha256 of the file as uploaded (the hash an
    auditor holding that file can check)."""
    stored = f"sha256 {_code(meta['sha256'][:12])}"
    source = meta.get("source_sha256")
    if not source or source == meta["sha256"]:
        return [stored]
    return [
        f"stored as {_code(meta.get('file', '?'))}, {stored}",
        f"uploaded as {_code(meta.get('source', '?'))}, sha256 {_code(source[:12])}",
    ]


def _select(path: Path, message: str) -> None:
    select_checkpoint(str(path))
    st.session_state[MESSAGE] = message
    st.rerun()


def show_message() -> None:
    """The note a model source left before its rerun (once)."""
    if message := st.session_state.pop(MESSAGE, None):
        st.success(message)


def train_form() -> None:
    """A recipe form; on submit, times a few steps, says how long training will take (refusing
    one longer than MAX_TRAIN_SECONDS), trains and selects the new checkpoint. Fields take any
    number: a setting out of range is one line on Train, not a red field that does nothing."""
    with st.form("train_form"):
        left, right = st.columns(2)
        dataset = left.selectbox("Data set", TRAINABLE, key="train_dataset")
        arch = right.selectbox("Architecture", ARCHS, index=DEFAULT_ARCH, key="train_arch")
        cols = st.columns(3)
        recipe = {
            "epochs": cols[0].number_input("Epochs", value=3, step=1, key="train_epochs"),
            "lr": cols[1].number_input(
                "Learning rate η", value=0.05, format="%.4f", key="train_lr"
            ),
            "batch_size": cols[2].number_input("Batch size b", value=64, step=1, key="train_batch"),
            "weight_decay": cols[0].number_input(
                "Weight decay λ", value=5e-4, format="%.5f", key="train_wd"
            ),
            "seed": cols[1].number_input("Seed", value=0, step=1, key="train_seed"),
            "sd_gamma": cols[2].number_input(
                "SD-loss γ", value=0.0, key="train_gamma", help="Thudi et al., Eq. 10; 0: none"
            ),
        }
        submitted = st.form_submit_button("Train", type="primary")
    if submitted:
        _train(get_dataset(dataset), arch, recipe)


def _train(data: ImageDataset, arch: str, settings: dict) -> None:
    try:
        recipe = check_recipe(Recipe(**settings), "the recipe")
        with st.spinner("Timing a few training steps…"):
            seconds, step = estimate_training(data, arch, recipe)
        about = f"about {duration(seconds)} here ({step * 1000:.0f} ms per step)"
        if seconds > MAX_TRAIN_SECONDS:
            raise UserError(
                f"training {recipe.epochs} epochs would take {about}; the browser trains for at "
                f"most {duration(MAX_TRAIN_SECONDS)}: use fewer epochs, or `train` from the "
                "command line."
            )
        with st.status(f"Training {arch} on {data.name}: {about}…") as status:
            bar = st.progress(0.0, text="starting")
            path = train_and_save(data, arch, recipe, models_dir(), lambda f, p: bar.progress(f, p))
            status.update(label="Trained", state="complete")
    except UserError as err:
        st.error(str(err))
        return
    _select(path, f"Trained {arch} on {data.name} and selected it: {path.name}.")


def duration(seconds: float) -> str:
    """ "40 s", "12 min", "3.5 h": a length of time as a person reads it."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


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
