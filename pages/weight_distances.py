"""Weight distances: per layer, how far each run moved the weights from the original model and
how far they ended from the retrained one."""

import streamlit as st

from ui.run_picker import choose_runs
from ui.runs import get_report, run_label
from unlearn_core.errors import UserError
from unlearn_core.views.figures import layer_distance_bars

PER_ROW = 2  # charts side by side

st.title("Weight distances")
st.subheader("What am I looking at")
st.markdown(
    "For every parameter tensor, the L2 distance of the unlearned weights to the **original** "
    "model's (how much unlearning changed) and to the **retrained** model's, trained from "
    "scratch without the forget set (how far from the ideal it ended): the layer-wise analysis "
    "of UNSIR (Tarun, Chundawat, Mandal and Kankanhalli, *Fast Yet Effective Machine "
    "Unlearning*, 2023, Fig. 2). Summed over all tensors, the distance to the retrained model "
    "is the verification error of Thudi et al., *Unrolling SGD* (2022). A method that edits "
    "few weights, such as L-FOCI (Mehta et al., CVPR 2022), leaves most bars at zero."
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

for start in range(0, len(ids), PER_ROW):
    for column, run_id in zip(st.columns(PER_ROW), ids[start : start + PER_ROW], strict=False):
        with column:
            st.markdown(f"**{run_label(run_id)}**")
            try:
                report = get_report(run_id)
            except UserError as err:
                st.error(str(err))
                continue
            fig = layer_distance_bars(report.layer_distance or [], relative=relative, log=log)
            st.plotly_chart(fig, key=f"distance_{run_id}")
            if not report.has_oracle:
                st.info(
                    "No retrained model in this run, so only the distance to the original is "
                    "shown: rerun it on the **Unlearn** page with the oracle (retrain) switched on."
                )
