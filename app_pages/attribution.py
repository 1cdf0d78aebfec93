"""Attribution: where the original, unlearned and retrained models look on chosen images."""

import streamlit as st

from ui.charts import plot
from ui.inspect_helpers import chosen_run_context
from unlearn_core.errors import UserError
from unlearn_core.metrics.attribution import KINDS, explain
from unlearn_core.request import parse_indices
from unlearn_core.views.figures import attribution_panel
from unlearn_core.views.inspect import (
    attribution_titles,
    conv_layers,
    default_indices,
    faithfulness_rows,
)

KIND_NAMES = {"gradcam": "GradCAM", "activation": "Activation map"}

st.title("Attribution")
st.subheader("What am I looking at")
st.markdown(
    "**GradCAM** (Selvaraju et al., ICCV 2017) colours the pixels that raise a class's logit, "
    "seen through one layer's activations; an **activation map** is that layer's mean channel "
    "(L-CODEC, Mehta et al., CVPR 2022, Fig. 8). UNSIR (Tarun et al., 2023, Fig. 6) shows "
    "them for images of a forgotten class: after unlearning the model should stop looking where "
    "it used to, as a model retrained without them does, and keep looking at retained images. "
    "The **difference** columns show what unlearning and retraining changed (blue: less, "
    "vermillion: more). The **deletion check** (Samek et al., 2017) removes the most-attributed "
    "pixels and measures the drop Δp in the target class's probability, beside the drop for as "
    "many random pixels: a map that shows what the model uses gives the larger drop."
)

run_id, report, data, request, models = chosen_run_context(
    "attribution_run",
    "This run has no retrained model (it ran without the oracle), so the maps show the "
    "original and the unlearned model only. Rerun it with the oracle (**Unlearn** page, or "
    "`--oracle` on the command line) to compare with retraining.",
)
layers = conv_layers(models["original"])
if not layers:
    st.info(
        f"`{report.arch}` has no convolutional layer, so it has no maps over the image: "
        "choose a convolutional model (smallcnn, allcnn, resnet18-cifar) on **Model and data**."
    )
    st.stop()

with st.form("attribution_form"):
    left, middle, right = st.columns(3)
    text = left.text_input(
        "Training indices",
        ", ".join(map(str, default_indices(request))),
        key=f"attribution_indices-{run_id}",  # per run: its own forgotten samples by default
        help="Positions in the training split; by default the first three forgotten samples "
        "and the first retained one.",
    )
    target = left.selectbox(
        "Target class",
        [None, *range(data.num_classes)],
        key="attribution_target",
        format_func=lambda c: "each sample's own class" if c is None else data.class_names[c],
        help="The class whose logit GradCAM explains and whose probability the deletion check "
        "watches.",
    )
    kind = middle.selectbox("Map", KINDS, key="attribution_kind", format_func=KIND_NAMES.get)
    fraction = middle.slider(
        "Share of pixels the deletion check removes",
        0.01,
        0.5,
        0.1,
        0.01,
        key="attribution_fraction",
    )
    layer = right.selectbox(
        "Layer",
        layers,
        index=len(layers) - 1,
        key=f"attribution_layer-{report.arch}",
        help="Convolutional layers; the last one sees the most abstract features.",
    )
    st.form_submit_button("Explain")

try:
    expl = explain(
        models,
        data,
        parse_indices(text),
        kind,
        layer=layer,
        target_class=target,
        fraction=fraction,
    )
except UserError as err:
    st.error(str(err))
    st.stop()

titles = attribution_titles(expl, list(data.class_names), request.forget_indices)
drops = {name: f["drop"].tolist() for name, f in expl.faithfulness.items()}
plot(attribution_panel(expl.images, expl.maps, expl.differences, titles, drops), width="content")

st.subheader("Deletion check")
st.caption(
    f"Means over the {len(expl.indices)} samples, {KIND_NAMES[kind]} of layer `{expl.layer}`, "
    f"the top {fraction:.0%} of pixels (or as many random ones) set to the data set's mean. "
    "Confidence and drops are probabilities of the target class."
)
st.dataframe(
    faithfulness_rows(expl),
    hide_index=True,
    column_config={
        key: st.column_config.NumberColumn(format="%.3f")
        for key in ("confidence", "drop, top pixels", "drop, random pixels")
    },
)
