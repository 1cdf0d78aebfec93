"""Representations: what the features of the original, unlearned and retrained models still
know about the forgotten data."""

import streamlit as st

from ui.charts import plot
from ui.inspect_helpers import chosen_run_context
from ui.representations import INLINE_MAX, VIEWS, embedding_as_job, view_values
from ui.state import get_model, selection
from unlearn_core.errors import UserError
from unlearn_core.metrics.representations import PENULTIMATE, feature_layers
from unlearn_core.views.representations import cka_lines, embedding_panels, probe_bars

NOTES = {
    "embedding": "Each panel places the same images by one model's features, on **shared "
    "axes**: one UMAP (McInnes et al., 2018) is fitted on the union of the three models' "
    "features, so a position means the same in every panel. Colours are classes; crosses are "
    "the forgotten images. After forgetting a class, its crosses should leave their old "
    "cluster in the unlearned panel, as they do in the retrained one.",
    "cka": "Linear CKA (Kornblith et al., ICML 2019) compares two models' activations of a "
    "layer on the same images: 1 means the same representation up to rotation and scale. "
    "Solid lines use the forgotten images, dotted ones retained images. Unlearning that only "
    "touches the last layers keeps the early layers at 1 with the original; a retrained model "
    "differs everywhere, since it started again from the same seed without the forget set.",
    "probe": "A logistic regression is trained on one set of each model's features and tested "
    "on held-out images: can it still tell the forgotten class from the rest (a class "
    "request) or forgotten training images from unseen ones (a sample request)? Outputs can "
    "forget while features remember ('Are We Truly Forgetting?', 2025): when the unlearned "
    "model's probe beats the retrained model's interval, the information is still in its "
    "features.",
}

st.title("Representations")
run_id, report, data, request, models = chosen_run_context(
    "representations_run",
    "This run has no retrained model, so there is no yardstick: rerun it with the oracle "
    "to compare with retraining.",
)

kind = st.radio("View", list(VIEWS), format_func=VIEWS.get, horizontal=True, key="rep_view")
st.subheader("What am I looking at")
st.markdown(NOTES[kind])
with st.form("representations_form"):
    left, middle, right = st.columns(3)
    per_group = left.number_input(
        "Images per group (forget, retain, test)",
        min_value=0,  # 0 is refused by the core with its reason, like any bad setting
        max_value=5000,
        value=100,
        key="rep_per_group",
        help="A class-balanced sample of each group; 100 takes seconds on the demo, 2 cores.",
    )
    seed = middle.number_input("Seed", 0, 2**31 - 1, 0, key="rep_seed")
    layers = feature_layers(models["original"])
    layer = right.selectbox(
        "Layer",
        ["all layers", *layers] if kind == "cka" else [PENULTIMATE, *layers[:-1]],
        key=f"rep_layer_{kind}",
        accept_new_options=True,  # any module name of the model, typed
        help="Penultimate: the input of the last linear layer, what the classifier reads. "
        "Type any module name of the model for another layer.",
    )
    method = left.radio("Map", ["umap", "pca"], horizontal=True, key="rep_method")
    st.form_submit_button("Show")

layer = None if layer == "all layers" else layer
sha = get_model(*selection())[1]["sha256"]
settings = (int(per_group), int(seed), layer, method)
try:
    if kind == "embedding" and per_group > INLINE_MAX:
        values = embedding_as_job(run_id, selection()[0], sha, settings)
        if values is None:
            st.stop()
    else:
        values = view_values(kind, run_id, sha, settings, models, data, request)
except UserError as err:
    st.error(str(err))
    st.stop()

if kind == "embedding":
    if values["reason"]:
        st.warning(f"PCA instead of UMAP: {values['reason']}.")
    plot(embedding_panels(values, list(data.class_names)))
elif kind == "cka":
    plot(cka_lines(values))
else:
    plot(probe_bars(values))
    if values["flag"]:
        st.warning("The unlearned model's features still encode what was forgotten.")
    elif values["flag"] is False:
        st.success("The unlearned model's probe is within the retrained model's interval.")
