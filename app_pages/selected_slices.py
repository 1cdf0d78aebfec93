"""Selected slices: which units and channels L-FOCI chose to update, and how far they moved."""

import streamlit as st

from ui.charts import plot
from ui.run_picker import chosen_report
from ui.runs import get_report, get_run_model, open_runs, run_label
from ui.state import get_dataset, get_model, selection
from unlearn_core.errors import UserError
from unlearn_core.metrics.slice_movement import (
    foci_steps,
    selection_comparison,
    selection_counterpart,
    slice_movement,
    slice_widths,
)
from unlearn_core.views.figures import selected_slices_map
from unlearn_core.views.result_figures import codec_steps, slice_movement_bars


@st.cache_data(show_spinner="Comparing the slices' weights…")
def movement(run_id: str, checkpoint: str, dataset_name: str, sha256: str) -> list[dict]:
    """slice_movement of the run against the checkpoint it was made from (keyed by its sha)."""
    data = get_dataset(dataset_name)
    original, _ = get_model(checkpoint, dataset_name)
    report = get_report(run_id)
    return slice_movement(original.model, get_run_model(run_id, data), report.selected_slices)


st.title("Selected slices")
st.subheader("What am I looking at")
st.markdown(
    "L-FOCI (Mehta, Pal, Singh and Ravi, *Deep Unlearning via Randomized Conditionally "
    "Independent Hessians*, CVPR 2022) perturbs the samples to forget, and selects by L-FOCI "
    "the **slices** (a Linear layer's output unit or a Conv2d layer's channel, with its weight "
    "row and bias) whose activations explain the loss; its Newton step then changes only those "
    "slices. Below: where they lie in the network, the CODEC value that admitted each one, how "
    "far each slice's weights moved, and whether this choice beats as many slices drawn at "
    "random (the paper's Fig. 5)."
)

run_id, report = chosen_report("slices_run")
if report.method != "lfoci":
    st.info(
        f"This is a `{report.method}` run: only L-FOCI selects slices. Choose an L-FOCI run "
        "above, or run method `lfoci` on the **Unlearn** page."
    )
    st.stop()
slices = report.selected_slices
info = report.method_info or {}
selection_setting = (report.config or {}).get("selection")
if not slices:
    st.info(
        "This run selected no slice (selection=full updates every parameter, or no activation "
        "explained the loss): see the **Weight distances** page for what moved."
    )
    st.stop()

cols = st.columns(3)
cols[0].metric("Slices selected", len(slices))
cols[1].metric("Slices in the network", info.get("slices_available", "—"))
cols[2].metric("Selection", info.get("selection", selection_setting))

try:
    data = get_dataset(report.dataset)
    unlearned = get_run_model(run_id, data)
except UserError as err:
    st.error(str(err))
else:
    plot(selected_slices_map(slices, slice_widths(unlearned)), key="slices_map")

steps = foci_steps(info)
if steps:
    plot(codec_steps(steps), key="codec_steps")
    if selection_setting == "random":
        st.caption("The CODEC values are L-FOCI's; this run then updated random slices instead.")
else:
    st.info("This run records no FOCI steps.")

st.subheader("How far each slice moved")
path, dataset_name = selection()
try:
    _, meta = get_model(path, dataset_name)
    original_sha256 = report.checkpoints.original_sha256 or ""
    started_from = (original_sha256, report.dataset)
    if (meta["sha256"], dataset_name) != started_from:
        st.info(
            "The current model is not the one this run started from, so its slices cannot be "
            "compared: choose that checkpoint (sha256 "
            f"`{original_sha256[:12]}`) on the **Model and data** page."
        )
    else:
        rows = movement(run_id, path, dataset_name, meta["sha256"])
        relative = st.toggle("Relative to the slice's original norm", key="slices_relative")
        plot(slice_movement_bars(rows, relative), key="slices_movement")
        st.dataframe(
            rows,
            hide_index=True,
            column_config={
                "score": st.column_config.NumberColumn("CODEC T", format="%.4f"),
                "moved": st.column_config.NumberColumn("moved (L2)", format="%.4g"),
                "moved_relative": st.column_config.NumberColumn("moved (relative)", format="%.3g"),
            },
        )
except UserError as err:
    st.error(str(err))

st.subheader("L-FOCI against a random selection")
others = {}
for open_id in open_runs():
    if open_id != run_id:
        try:
            others[open_id] = get_report(open_id).to_dict()
        except UserError:
            continue  # a run deleted meanwhile: nothing to compare with
counterpart = selection_counterpart(report.to_dict(), others)  # metrics/ reads the dicts
if counterpart is None:
    other = "lfoci" if selection_setting == "random" else "random"
    st.info(
        "No run to compare with is open. On the **Unlearn** page, run `lfoci` on the same "
        f"forget request with the setting `selection` = `{other}` (`random` updates as many "
        "slices, drawn at random), then come back: the two runs are compared here."
    )
else:
    st.caption(f"Compared with {run_label(counterpart)}: the unlearned models' metrics.")
    st.dataframe(selection_comparison(report.to_dict(), others[counterpart]), hide_index=True)
