"""Verification: how far is the unlearned model from retraining, and can we tell without it?"""

from pathlib import Path

import streamlit as st

from ui.inspect_helpers import prefer_run
from ui.run_picker import choose_run
from ui.runs import get_report, run_store
from ui.state import get_dataset
from unlearn_core.data import dataset_names
from unlearn_core.errors import UserError
from unlearn_core.models import arch_names
from unlearn_core.request import parse_indices
from unlearn_core.run.study import run_study
from unlearn_core.training import Recipe
from unlearn_core.views.figures import error_scatter
from unlearn_core.views.inspect import verification_rows
from unlearn_core.views.study import (
    STUDY_JSON,
    grid_from_fields,
    list_studies,
    new_study_folder,
    parse_study,
    read_study,
    sd_gamma_groups,
    study_fit,
)

ERROR = st.column_config.NumberColumn(format="%.4g")

st.title("Verification")
st.subheader("What am I looking at")
st.markdown(
    'Thudi et al., "Unrolling SGD" (USENIX Security 2022). The **verification error** is the '
    "L2 distance between the unlearned weights and those of a model retrained without the "
    "forget set by the same recipe and data order (Sec. 4): it needs the retraining it is meant "
    "to save. The **unlearning error** (Eq. 9) estimates what **single-gradient** unlearning "
    "leaves behind from the training record alone: learning rate, steps, how far the weights "
    "moved and the Hessian's size along the way. The **study** (Sec. 8.3, Fig. 3) trains over a "
    "grid of recipes, measures both, and asks whether they correlate (the paper: Pearson r of "
    "0.88 to 0.99), and whether the SD loss (Eq. 10, weight γ) lowers the unlearning error."
)

st.subheader("This run")
prefer_run("verification_run", "single-gradient")
run_id = choose_run("verification_run")
report = None
if run_id is not None:
    try:
        report = get_report(run_id)
    except UserError as err:
        st.error(str(err))
if report is not None:
    cols = st.columns(3)
    if report["method"] != "single-gradient":
        st.info(
            f"The unlearning error estimates single-gradient unlearning; this is a "
            f"{report['method']} run. Open a single-gradient run to see it."
        )
    elif report["unlearning_error"] is None:
        st.info(
            "The checkpoint records no Hessian probes, so the unlearning error is unknown: train "
            "with --probe-every to record them."
        )
    else:
        terms = report["method_info"]["unlearning_error_terms"]
        cols[0].metric("Unlearning error (Eq. 9)", f"{report['unlearning_error']:.4g}")
        st.caption(
            f"From learning rate {terms['lr']}, {terms['steps']} SGD steps, weight change "
            f"‖w_t − w_0‖ = {terms['weight_change']:.4g} and mean Hessian norm "
            f"σ = {terms['sigma_avg']:.4g} over {terms['probes']} probes."
        )
    if report["verification_error"] is None:
        st.info(
            "The verification error needs the retrained model: rerun this run with the oracle "
            "(**Unlearn** page, or `--oracle`)."
        )
    else:
        cols[1].metric("Verification error", f"{report['verification_error']:.4g}")
        without = report.get("verification_error_without_update")
        if without is not None:
            cols[2].metric(
                "Without the update",
                f"{without:.4g}",
                help="The original model's distance to the retrained one: the gap before "
                "unlearning.",
            )
        rows = verification_rows(report.get("verification_error_per_layer"))
        if rows:
            st.dataframe(
                rows,
                hide_index=True,
                column_config={
                    "with update": ERROR,
                    "without update": ERROR,
                    "share removed": st.column_config.NumberColumn(format="percent"),
                },
            )

st.subheader("Study: is the unlearning error a proxy for the verification error?")
with st.form("study_form"):
    left, right = st.columns(2)
    dataset = left.selectbox("Data set", dataset_names(), key="study_dataset")
    arch = right.selectbox("Architecture", arch_names(), key="study_arch")
    gammas = left.text_input("SD-loss γ values", "0, 1", key="study_sd_gamma")
    epochs = right.text_input("Epochs values", "1, 2", key="study_epochs")
    lr = left.number_input("Learning rate", 1e-5, 1.0, 0.01, format="%g", key="study_lr")
    batch = right.number_input("Batch size", 1, 4096, 64, key="study_batch")
    forget = left.text_input("Forget indices", "0, 1", key="study_forget")
    probe_every = right.number_input(
        "Hessian probe every k steps", 1, 10_000, 25, key="study_probe_every"
    )
    submitted = st.form_submit_button("Run the study")
st.caption(
    "Every combination of the γ and epochs values is trained from scratch, unlearned by single "
    "gradient and retrained: three trainings a setting. Small data and models (digits, logreg) "
    "take seconds; the demo's smallcnn takes minutes a setting."
)
if submitted:
    try:
        grid = grid_from_fields({"sd_gamma": gammas, "epochs": epochs})
        base = Recipe(lr=lr, batch_size=int(batch), probe_every=int(probe_every))
        indices = parse_indices(forget)
        data = get_dataset(dataset)
        folder = new_study_folder(run_store().root)
        with st.status("Running the study…", expanded=True):
            bar = st.progress(0.0)
            run_study(
                arch,
                data,
                base,
                grid,
                indices,
                folder,
                progress=lambda fraction, phase: bar.progress(min(fraction, 1.0), text=phase),
            )
        st.session_state["study_choice"] = str(folder / STUDY_JSON)  # show the new one below
    except UserError as err:
        st.error(str(err))

st.subheader("Studies kept")
studies = [str(p) for p in list_studies(run_store().root)]
uploaded = st.file_uploader("…or a study.json from the command line", type="json")
study = None
try:
    if uploaded is not None:
        study = parse_study(uploaded.getvalue(), uploaded.name)
    elif studies:
        path = st.selectbox(
            "Study", studies, key="study_choice", format_func=lambda p: Path(p).parent.name
        )
        study = read_study(path)
    else:
        st.info(
            "No study kept yet: run one above, or upload the study.json of "
            "`python -m unlearn_core study ... --out DIR`."
        )
except UserError as err:
    st.error(str(err))

if study is not None:
    r, p = study.get("pearson_r"), study.get("p_value")
    cols = st.columns(4)
    cols[0].metric("Pearson r", f"{r:.3f}" if r is not None else "undefined")
    cols[1].metric("p-value", f"{p:.3g}" if p is not None else "undefined")
    cols[2].metric("Settings", len(study["rows"]))
    cols[3].metric("Data set, architecture", f"{study.get('dataset')}, {study.get('arch')}")
    fit = study_fit(study)
    if fit is None:
        st.info(
            "Fewer than two settings with distinct unlearning errors: no line to fit. Vary more "
            "values, or probe the Hessian more often."
        )
    else:
        st.plotly_chart(
            error_scatter(
                fit["x"], fit["y"], fit["slope"], fit["intercept"], fit["r"], fit["labels"]
            )
        )
    st.dataframe(study["rows"], hide_index=True)
    st.markdown("**SD loss against none**: means over the settings of each γ.")
    st.dataframe(
        sd_gamma_groups(study),
        hide_index=True,
        column_config={
            "test accuracy": st.column_config.NumberColumn(format="percent"),
            "unlearning error / none": st.column_config.NumberColumn(format="%.3f"),
        },
    )
