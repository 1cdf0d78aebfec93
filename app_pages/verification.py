"""Verification: how far is the unlearned model from retraining, and can we tell without it?"""

import streamlit as st

from ui.compare import layer_labels
from ui.inspect_helpers import prefer_run
from ui.run_picker import choose_run
from ui.runs import get_report
from ui.study_panel import chosen_study, show_study, study_form
from unlearn_core.errors import UserError
from unlearn_core.metrics.verification_error import share_removed
from unlearn_core.views.inspect import overshoot_note, verification_rows

ERROR = st.column_config.NumberColumn(format="%.4g")

st.title("Verification")
st.subheader("What am I looking at")
st.markdown(
    'Thudi et al., "Unrolling SGD" (IEEE EuroS&P 2022). The **verification error** is the '
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
    cols = st.columns(4)
    if report.method != "single-gradient":
        st.info(
            f"The unlearning error estimates single-gradient unlearning; this is a "
            f"{report.method} run. Open a single-gradient run to see it."
        )
    elif report.unlearning_error is None:
        st.info(
            "The checkpoint records no Hessian probes, so the unlearning error is unknown: train "
            "with --probe-every to record them."
        )
    else:
        terms = (report.method_info or {})["unlearning_error_terms"]
        cols[0].metric("Unlearning error (Eq. 9)", f"{report.unlearning_error:.4g}")
        st.caption(
            f"From learning rate {terms['lr']}, {terms['steps']} SGD steps, weight change "
            f"‖w_t − w_0‖ = {terms['weight_change']:.4g} and mean Hessian norm "
            f"σ = {terms['sigma_avg']:.4g} over {terms['probes']} probes."
        )
    if report.verification_error is None:
        st.info(
            "The verification error needs the retrained model: rerun this run with the oracle "
            "(**Unlearn** page, or `--oracle`)."
        )
    else:
        cols[1].metric("Verification error", f"{report.verification_error:.4g}")
        without = report.verification_error_without_update
        if without is not None:
            cols[2].metric(
                "Without the update",
                f"{without:.4g}",
                help="The original model's distance to the retrained one: the gap before "
                "unlearning.",
            )
            share = share_removed(report.verification_error, without)
            cols[3].metric(
                "Share removed",
                "undefined" if share is None else f"{share:.1%}",
                help="1 − verification error / the one without the update; negative: the "
                "update made things worse than not updating.",
            )
        note = overshoot_note(report)
        if note:
            st.warning(note)
        labels = layer_labels((report.arch,), report.dataset)
        rows = verification_rows(report.verification_error_per_layer, labels)
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
            if any((r["share removed"] or 0) < 0 for r in rows):
                st.caption(
                    "A negative share: the update moved that layer farther from the retrained "
                    "weights than it was before unlearning."
                )

study_form()
study = chosen_study()
if study is not None:
    show_study(study)
