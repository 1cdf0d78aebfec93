"""Predictions: where each open run sends the forgotten samples and its per-class test accuracy,
every run on one figure, and the confusion matrices of the original, unlearned (and retrained)
models on the test split on one colour scale."""

import streamlit as st

from ui.charts import plot
from ui.compare import confusion_grid, oracle_note, reports_by_label
from ui.run_picker import choose_runs
from ui.state import get_dataset
from unlearn_core.errors import UserError
from unlearn_core.run.report import MODELS, metric
from unlearn_core.views.compare import runs_per_class_accuracy, runs_prediction_distribution

st.title("Predictions")
st.subheader("What am I looking at")
st.markdown(
    "**Predictions on the forget set**: how each model classifies the samples it was asked to "
    "forget, beside the model retrained without them, the reference (UNSIR: Tarun, Chundawat, "
    "Mandal and Kankanhalli, *Fast Yet Effective Machine Unlearning*, 2023, Fig. 4). If the "
    "unlearned model piles them into one class that the retrained one does not, the forgetting "
    "itself is visible: the Streisand effect. **Per-class test accuracy** before and after shows "
    "what else was lost; the **confusion matrix** on the test split shows where a forgotten "
    "class's test images go (rows: true class, columns: predicted). Every open run has one "
    "colour in both charts, beside the original (sky blue) and the retrained model (green)."
)

ids = choose_runs("prediction_runs")
if not ids:
    st.stop()
reports = reports_by_label(ids)
if not reports:
    st.stop()
try:
    names = list(get_dataset(next(iter(reports.values())).dataset).class_names)
except UserError as err:
    st.error(str(err))
    st.stop()

counts = {label: r.prediction_distribution.to_dict() for label, r in reports.items()}
plot(runs_prediction_distribution(names, counts), key="predictions")
oracle_note(reports)
accuracies = {
    label: {m: metric(getattr(r.metrics, m), "per_class_acc") for m in MODELS}
    for label, r in reports.items()
}
forgotten = sorted({c for r in reports.values() for c in r.forget.classes or []})
plot(runs_per_class_accuracy(names, accuracies, forgotten), key="per_class")

st.subheader("Confusion matrices on the test split")
st.caption(
    "Rows: true class, columns: predicted; one colour scale for all of them. The original "
    "model's comes first: where its row for a forgotten class is a bright diagonal cell, the "
    "unlearned model's should send those images elsewhere, as the retrained one does."
)
confusion_grid(reports, names)
