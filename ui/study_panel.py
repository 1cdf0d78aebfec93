"""The Verification page's study panel (Thudi et al., "Unrolling SGD", Sec. 8.3, Fig. 3): a form
that runs a study over a grid of recipes into the run store, a chooser over the kept studies (or
an uploaded study.json) and the study's correlation, fit and tables."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.charts import plot
from ui.runs import run_store
from ui.state import get_dataset
from unlearn_core.data import dataset_names
from unlearn_core.errors import UserError
from unlearn_core.models import arch_names
from unlearn_core.request import parse_indices
from unlearn_core.run.study import run_study
from unlearn_core.training import Recipe
from unlearn_core.views.figures import error_scatter
from unlearn_core.views.study import (
    DEFAULT_LR,
    REGIME_END_LR,
    STUDY_JSON,
    grid_from_fields,
    list_studies,
    new_study_folder,
    overshot_settings,
    parse_study,
    read_study,
    sd_gamma_groups,
    study_fit,
    study_rows,
)


def study_form() -> None:
    """The study's settings; on submit, run it and make it the study shown below."""
    st.subheader("Study: is the unlearning error a proxy for the verification error?")
    with st.form("study_form"):
        left, right = st.columns(2)
        dataset = left.selectbox("Data set", dataset_names(), key="study_dataset")
        arch = right.selectbox("Architecture", arch_names(), key="study_arch")
        gammas = left.text_input("SD-loss γ values", "0, 1", key="study_sd_gamma")
        epochs = right.text_input("Epochs values", "1, 2", key="study_epochs")
        lr = left.number_input("Learning rate", 1e-5, 1.0, DEFAULT_LR, format="%g", key="study_lr")
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
    st.caption(
        f"Single-gradient is close to retraining only in a near-linear regime (Sec. 5). On the "
        f"demo data with logreg and these defaults, every setting's share removed is positive "
        f"(0.40 to 0.88) at lr {DEFAULT_LR:g}; the regime ends at lr {REGIME_END_LR:g}, where "
        f"the share turns negative (γ = 1, 2 epochs first; every setting from lr 0.001 on)."
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


def chosen_study() -> dict | None:
    """The study to show: an uploaded study.json, else the one chosen among those kept."""
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
    return study


def show_study(study: dict) -> None:
    """A study's Pearson r, the fitted line over its settings and its tables."""
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
        plot(
            error_scatter(
                fit["x"], fit["y"], fit["slope"], fit["intercept"], fit["r"], fit["labels"]
            )
        )
    overshot = overshot_settings(study)
    if overshot:
        st.warning(
            f"Share removed negative in {len(overshot)} of {len(study['rows'])} settings "
            f"({'; '.join(overshot)}): there single-gradient's step made the model farther from "
            "the retrained one than not updating. These settings are outside its near-linear "
            "regime: lower the learning rate or the epochs until the share is positive."
        )
    st.dataframe(
        study_rows(study),
        hide_index=True,
        column_config={"share_removed": st.column_config.NumberColumn(format="percent")},
    )
    st.markdown("**SD loss against none**: means over the settings of each γ.")
    st.dataframe(
        sd_gamma_groups(study),
        hide_index=True,
        column_config={
            "test accuracy": st.column_config.NumberColumn(format="percent"),
            "unlearning error / none": st.column_config.NumberColumn(format="%.3f"),
        },
    )
