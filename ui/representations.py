"""Streamlit glue for the Representations page: the three views of
unlearn_core.metrics.representations, cached per run, current checkpoint and settings (the
models are the cached read-only ones of ui.inspect_helpers.run_context; nothing here changes
them)."""

from __future__ import annotations

import streamlit as st
from torch import nn

from ui.jobs import follow_jobs, submit
from ui.runs import run_store
from unlearn_core.data import ImageDataset
from unlearn_core.errors import UserError
from unlearn_core.metrics import representations as rep
from unlearn_core.request import ForgetRequest
from unlearn_core.run.embedding_job import EmbeddingSpec, EmbeddingStore

INLINE_MAX = 300  # images per group the page embeds itself; more run as a job (UMAP: minutes)
VIEWS = {
    "embedding": "Embedding: where each image lands",
    "cka": "Layer similarity (CKA)",
    "probe": "Linear probe: is it still readable?",
}


def what_is_computed(kind: str, per_group: int, models: dict) -> str:
    """The spinner's line for a view: what is being computed and how long it may take (the
    first view took 57 s on 2 busy cores with only "Computing the view…" to read)."""
    names = [name for name, model in models.items() if model is not None]
    images = f"{per_group} images from each of forget, retain and test"
    features = f"the features of the {', '.join(names)} models on {images}"
    if kind == "embedding":
        return (
            f"Computing {features}, then fitting one 2-D map on all {len(names) * 3 * per_group} "
            "points. The first UMAP map of this server also compiles UMAP: about a minute on 2 "
            "cores; later ones take seconds."
        )
    if kind == "cka":
        return f"Computing {features} at every layer, then the CKA of each pair of models."
    return f"Computing {features}, then training a logistic-regression probe on each model's."


def view_values(kind: str, run_id: str, sha256: str, settings: tuple, models, data, request):
    """compute_view under a spinner that says what it computes and shows the time taken."""
    with st.spinner(what_is_computed(kind, settings[0], models), show_time=True):
        return compute_view(kind, run_id, sha256, settings, models, data, request)


@st.cache_data(show_spinner=False, max_entries=32)
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


def embedding_as_job(run_id: str, checkpoint: str, sha256: str, settings: tuple) -> dict | None:
    """The embedding of a sample too large for the page: the stored result of its job when
    there is one; otherwise the job's progress, or a button that submits it. None until done."""
    per_group, seed, layer, method = settings
    root = run_store().root.resolve()
    spec = EmbeddingSpec(run_id, str(root), checkpoint, sha256, per_group, seed, layer, method)
    values = EmbeddingStore(root).get(spec)
    if values is not None:
        return values
    st.info(
        f"{per_group} images per group is more than this page embeds itself ({INLINE_MAX}): "
        "the embedding runs as a job, which goes on if you close the tab, and shows here when "
        "it is done."
    )
    follow_jobs("embedding", spec)
    if st.button("Compute the embedding as a job", key=f"embed-{spec.key}"):
        try:
            submit([spec], checked=False)
            st.rerun()
        except UserError as err:
            st.error(str(err))
    return None
