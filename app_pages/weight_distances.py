"""Weight distances: per layer, how far each open run moved the weights from the original model
and how far they ended from the retrained one, every run on one distance axis."""

import streamlit as st

from ui.charts import plot
from ui.compare import layer_labels, oracle_note, reports_by_label
from ui.run_picker import choose_runs
from unlearn_core.views.compare import runs_layer_distance

st.title("Weight distances")
st.subheader("What am I looking at")
st.markdown(
    "For every parameter tensor, the L2 distance of the unlearned weights to the **original** "
    "model's (how much unlearning changed) and to the **retrained** model's, trained from "
    "scratch without the forget set (how far from the ideal it ended): the layer-wise analysis "
    "of UNSIR (Tarun, Chundawat, Mandal and Kankanhalli, *Fast Yet Effective Machine "
    "Unlearning*, 2023, Fig. 2). Summed over all tensors, the distance to the retrained model "
    "is the verification error of Thudi et al., *Unrolling SGD* (2022). A method that edits "
    "few weights, such as L-FOCI (Mehta et al., CVPR 2022), leaves most bars at zero. Each "
    "open run has one colour; the two panels share their distance axis."
)

ids = choose_runs("distance_runs")
if not ids:
    st.stop()
left, right = st.columns(2)
relative = left.toggle(
    "Relative distance",
    key="distance_relative",
    help="||w - w_ref|| / ||w_ref||: comparable across tensors of different sizes.",
)
log = right.toggle(
    "Logarithmic axis",
    value=True,
    key="distance_log",
    help="Small and large changes on one axis; untouched tensors (distance 0) fall off it.",
)

reports = reports_by_label(ids)
rows = {label: r.layer_distance or [] for label, r in reports.items()}
if rows:
    first = next(iter(reports.values()))
    labels = layer_labels(tuple(dict.fromkeys(r.arch for r in reports.values())), first.dataset)
    plot(runs_layer_distance(rows, relative, log, labels), key="distances")
    oracle_note(reports)
