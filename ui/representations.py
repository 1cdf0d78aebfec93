"""Streamlit glue for the Representations page: the three views of
unlearn_core.metrics.representations, cached per run, current checkpoint and settings (the
models are the cached read-only ones of ui.inspect_helpers.run_context; nothing here changes
them)."""

from __future__ import annotations

import streamlit as st
from torch import nn

from unlearn_core.data import ImageDataset
from unlearn_core.metrics import representations as rep
from unlearn_core.request import ForgetRequest

VIEWS = {
    "embedding": "Embedding: where each image lands",
    "cka": "Layer similarity (CKA)",
    "probe": "Linear probe: is it still readable?",
}


@st.cache_data(show_spinner="Computing the view…", max_entries=32)
def compute_view(
    kind: str,
    run_id: str,
    original_sha256: str,
    settings: tuple,
    _models: dict[str, nn.Module | None],
    _data: ImageDataset,
    _request: ForgetRequest,
) -> dict:
    """One view's values for (run, original checkpoint, settings = (per_group, seed, layer,
    embedding method)). UserError for an empty sample or an unknown layer."""
    per_group, seed, layer, method = settings
    sample = rep.representation_sample(_data, _request, per_group, seed)
    if kind == "embedding":
        return rep.embedding_view(_models, _data, sample, layer=layer, seed=seed, method=method)
    if kind == "cka":
        return rep.layer_similarity(_models, _data, sample, [layer] if layer else None)
    return rep.probe_report(
        _models, _data, _request, sample, layer=layer or rep.PENULTIMATE, seed=seed
    )
