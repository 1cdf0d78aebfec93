"""Streamlit glue shared by app.py and every page: the current selection and the cached loads.

The session-state keys here are the contract between pages:
  st.session_state["checkpoint_path"]  str, the checkpoint every page works on
  st.session_state["dataset_name"]     str, the data set it was trained on (a LOADERS name)
Models come from `st.cache_resource` and are shared by every session: never change them in place
(`TrainedModel.copy_model()` first).
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from unlearn_core.checkpoint import checkpoint_dataset, load_checkpoint
from unlearn_core.data import ASSETS, ImageDataset, load_dataset
from unlearn_core.errors import UserError
from unlearn_core.training import TrainedModel
from unlearn_core.views.model_summary import model_summary

MODELS_DIR = ASSETS / "models"
DEMO_CHECKPOINT = MODELS_DIR / "demo_smallcnn.safetensors"


def known_checkpoints() -> list[str]:
    """The checkpoints shipped in assets/models (absolute paths, sorted)."""
    return sorted(str(p) for p in MODELS_DIR.glob("*.safetensors"))


def select_checkpoint(path: str) -> None:
    """Make `path` the current model for every page; its data set is the one it records."""
    st.session_state["checkpoint_path"] = str(path)
    st.session_state["dataset_name"] = checkpoint_dataset(path) or "demo"


def selection() -> tuple[str, str]:
    """(checkpoint_path, dataset_name) of this session; the demo model until someone chooses."""
    if "checkpoint_path" not in st.session_state:
        select_checkpoint(str(DEMO_CHECKPOINT))
    if "dataset_name" not in st.session_state:
        path = st.session_state["checkpoint_path"]
        st.session_state["dataset_name"] = checkpoint_dataset(path) or "demo"
    return st.session_state["checkpoint_path"], st.session_state["dataset_name"]


def _file_stamp(path: str) -> tuple[int, int] | None:
    """(mtime_ns, size), so a file replaced at the same path is loaded afresh; None if missing."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


@st.cache_resource(show_spinner="Loading the data set…")
def get_dataset(name: str) -> ImageDataset:
    """The data set by registry name; shared and read-only. Raises UserError."""
    return load_dataset(name)


def class_names(dataset_name: str) -> list[str] | None:
    """The data set's class names, or None (numbers) where the data set cannot be loaded."""
    try:
        return list(get_dataset(dataset_name).class_names)
    except UserError:
        return None


@st.cache_resource(show_spinner="Loading the model…")
def _load_model(path: str, dataset_name: str, stamp: tuple[int, int] | None):
    return load_checkpoint(path, get_dataset(dataset_name))


def get_model(path: str, dataset_name: str) -> tuple[TrainedModel, dict]:
    """(TrainedModel, checkpoint meta) for `path`, cached per path and file version; shared and
    read-only. Raises UserError for a missing, corrupt or mismatched checkpoint."""
    return _load_model(str(Path(path)), dataset_name, _file_stamp(path))


@st.cache_data(show_spinner="Measuring accuracy on the training and test sets…")
def get_summary(path: str, dataset_name: str, sha256: str) -> dict:
    """`unlearn_core.views.model_summary.model_summary` of the checkpoint, cached by its sha256."""
    trained, _ = get_model(path, dataset_name)
    return model_summary(trained, get_dataset(dataset_name))


def choice(label: str, options: dict[str, str], key: str) -> str:
    """A horizontal radio over `options` ({value: shown label}); returns the chosen value."""
    return st.radio(label, list(options), format_func=options.get, horizontal=True, key=key)
