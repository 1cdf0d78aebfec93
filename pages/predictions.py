"""Predictions: where each run sends the forgotten samples, per-class test accuracy before and
after, and the confusion matrix of the unlearned (and retrained) model on the test split."""

import streamlit as st

from ui.run_picker import choose_runs
from ui.runs import get_report, get_run_model, run_label
from ui.state import get_dataset
from unlearn_core.errors import UserError
from unlearn_core.metrics.confusion import confusion_matrix
from unlearn_core.run.report import MODELS, metric
from unlearn_core.views.figures import per_class_accuracy, prediction_distribution
from unlearn_core.views.result_figures import confusion_heatmap


@st.cache_data(show_spinner="Classifying the test split…")
def confusion_on_test(run_id: str, which: str, dataset_name: str) -> list[list[int]]:
    """(C, C) counts of the run's `which` model on the test split; keyed by run id."""
    data = get_dataset(dataset_name)
    return confusion_matrix(get_run_model(run_id, data, which), data, "test").tolist()


st.title("Predictions")
st.subheader("What am I looking at")
st.markdown(
    "**Predictions on the forget set**: how each model classifies the samples it was asked to "
    "forget, beside the model retrained without them, the reference (UNSIR: Tarun, Chundawat, "
    "Mandal and Kankanhalli, *Fast Yet Effective Machine Unlearning*, 2023, Fig. 4). If the "
    "unlearned model piles them into one class that the retrained one does not, the forgetting "
    "itself is visible: the Streisand effect. **Per-class test accuracy** before and after shows "
    "what else was lost; the **confusion matrix** on the test split shows where a forgotten "
    "class's test images go (rows: true class, columns: predicted)."
)

ids = choose_runs("prediction_runs")
if not ids:
    st.stop()

for run_id, tab in zip(ids, st.tabs([run_label(r) for r in ids]), strict=True):
    with tab:
        try:
            report = get_report(run_id)
            data = get_dataset(report.dataset)
        except UserError as err:
            st.error(str(err))
            continue
        names, metrics = data.class_names, report.metrics
        st.plotly_chart(
            prediction_distribution(names, report.prediction_distribution.to_dict()),
            key=f"predictions_{run_id}",
        )
        if not report.has_oracle:
            st.info(
                "This run has no retrained model to compare with: rerun it on the **Unlearn** "
                "page with the oracle (retrain) switched on."
            )
        accuracies = {m: metric(getattr(metrics, m), "per_class_acc") for m in MODELS}
        st.plotly_chart(
            per_class_accuracy(names, accuracies, forgotten=report.forget.classes or []),
            key=f"per_class_{run_id}",
        )
        shown = ("unlearned", "retrained") if report.has_oracle else ("unlearned",)
        for which, column in zip(shown, st.columns(2), strict=False):
            with column:
                try:
                    counts = confusion_on_test(run_id, which, report.dataset)
                except UserError as err:
                    st.error(str(err))
                    continue
                title = f"Confusion matrix of the {which} model (test split)"
                st.plotly_chart(
                    confusion_heatmap(counts, names, title), key=f"confusion_{which}_{run_id}"
                )
