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
from unlearn_core.data import dataset_names
from unlearn_core.errors import UserError
from unlearn_core.model_sources import MAX_UPLOAD_MB, SUFFIXES, import_weights, train_and_save
from unlearn_core.models import arch_names
from unlearn_core.training import Recipe

TRAINABLE = ("demo", "digits")  # the registry's data sets that load without a download
MESSAGE = "model_source_message"
ARCHS = arch_names()
DEFAULT_ARCH = ARCHS.index("smallcnn")


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
            path = train_and_save(
                get_dataset(dataset), arch, recipe, models_dir(), lambda f, p: bar.progress(f, p)
            )
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
