"""Unlearn: run one or several methods on the current forget request and compare the results."""

import streamlit as st

from ui.jobs import REPRODUCIBLE_KEY, method_specs, show_my_jobs, submit
from ui.method_form import changed_settings, method_choice, setting_inputs
from ui.results import results_section
from ui.runs import current_request, get_report, open_runs
from ui.state import get_dataset, get_model, selection
from unlearn_core.engine.runner import SharedInputs
from unlearn_core.errors import UserError
from unlearn_core.methods import all_methods
from unlearn_core.request import parse_indices

st.title("Unlearn")
st.subheader("What am I looking at")
st.markdown(
    "Each method turns the trained model into one that should behave as if it had never seen the "
    "forget set: L-FOCI's Newton step on selected slices (Mehta et al., CVPR 2022), UNSIR's "
    "error-maximising noise with impair and repair (Tarun et al., 2023), the single-gradient "
    "update of *Unrolling SGD* (Thudi et al., 2022), and the fine-tuning baselines those papers "
    "compare with. The yardstick is the **retrained** model, trained by the same recipe and "
    "data order without the forget set: a method is good when its accuracies and its membership "
    "inference AUC (the loss attack of Yeom et al., 2018, after Shokri et al., 2017) match the "
    "retrained model's, and it gets there faster than retraining."
)

path, dataset_name = selection()
try:
    data = get_dataset(dataset_name)
    trained, meta = get_model(path, dataset_name)  # shared: unlearn_model only reads it
    request = current_request(data)
except UserError as err:
    st.error(str(err))
    st.stop()
if request is None:
    st.info("No forget request yet: make one on the **Forget request** page, then come back.")
    st.stop()

forget = st.session_state["forget"]
if request.classes:
    names = ", ".join(f"{c} ({data.class_names[c]})" for c in request.classes)
    st.markdown(f"Forgetting classes **{names}**: {request.count:,} training images.")
else:
    st.markdown(f"Forgetting **{request.count:,} training samples**.")
st.caption(f"{request.retain_indices.numel():,} training images are retained.")

METHODS = all_methods()  # the plug-ins' too
usable = [name for name, spec in METHODS.items() if request.kind in spec.requests]
for name, spec in METHODS.items():
    if name not in usable:
        st.caption(
            f"`{name}` is not offered: it forgets {' or '.join(spec.requests)} only, and this "
            f"request is by {request.kind}. Change the request to use it."
        )
chosen = method_choice(usable)

if chosen:
    with st.form("unlearn_form"):
        values = {}
        for name in chosen:
            with st.expander(f"`{name}` settings", expanded=len(chosen) == 1):
                st.markdown(METHODS[name].card)
                st.caption("Defaults are the paper's values (or the demo's, where they differ).")
                values[name] = setting_inputs(METHODS[name], f"unlearn_{name}")
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        oracle = left.checkbox(
            "Also retrain the oracle",
            value=False,
            key="unlearn_oracle",
            help="Retrains the model from scratch without the forget set, by its recorded recipe "
            "and data order: a full training run (minutes on a CPU), done once and shared by "
            "every method and seed of this request. Without it the table has no retrained "
            "accuracies, gaps or speed-up.",
        )
        seeds = right.text_input(
            "Seeds", "0", key="unlearn_seeds", help="Several (0, 1, 2) make a sweep with intervals."
        )
        submitted = st.form_submit_button("Run", type="primary", key="unlearn_run")

    if submitted:
        try:
            settings = {name: changed_settings(METHODS[name], values[name]) for name in chosen}
            specs, errors = method_specs(
                path,
                meta,
                dataset_name,
                forget,
                settings,
                oracle,
                parse_indices(seeds),  # comma-separated whole numbers, as indices are
                reproducible=st.session_state.get(REPRODUCIBLE_KEY, False),
            )
        except UserError as err:
            specs, errors = [], [str(err)]
        for line in errors:
            st.error(line)
        if specs:
            submit(specs, SharedInputs(data, trained, meta))
            st.success(
                f"Submitted {len(specs)} job(s); they run in the background (the jobs panel in "
                "the sidebar shows them) and open here when done, with the command line that "
                "makes each. Closing this tab stops nothing."
            )
else:
    st.info("Choose at least one method above to see its settings and run it.")

show_my_jobs()
st.subheader("Results of the open runs")
try:
    reports = [get_report(run_id) for run_id in open_runs()]
except UserError as err:
    st.error(str(err))
    st.stop()
if not reports:
    st.info("No runs open yet: run a method above (or reopen one on the Runs page).")
    st.stop()
results_section(reports)
