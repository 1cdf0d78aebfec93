"""Streamlit glue for comparing runs: the open runs' reports by label (Predictions, Weight
distances), their confusion matrices on one colour scale, the Runs page's highlighted comparison
of two runs and its export of every open run at once."""

from __future__ import annotations

import streamlit as st

from ui.charts import plot
from ui.runs import get_report, get_run_model, open_runs, run_label
from ui.state import get_dataset, get_model, selection
from unlearn_core.errors import UserError
from unlearn_core.metrics.confusion import confusion_matrix
from unlearn_core.run.report import Report
from unlearn_core.training import initial_model
from unlearn_core.views.compare import compare_runs, highlight_differences, rows_csv
from unlearn_core.views.layer_names import parameter_labels
from unlearn_core.views.result_figures import confusion_heatmap
from unlearn_core.views.run_table import results_table

PER_ROW = 2  # confusion matrices side by side


def reports_by_label(ids: list[str]) -> dict[str, Report]:
    """run_label -> report of each run that reads and is on the first one's data set, oldest
    first; says which were left out and why."""
    reports: dict[str, Report] = {}
    for run_id in ids:
        try:
            reports[run_label(run_id)] = get_report(run_id)
        except UserError as err:
            st.error(str(err))
    datasets = list(dict.fromkeys(r.dataset for r in reports.values()))
    if len(datasets) < 2:
        return reports
    st.warning(
        f"These runs are on different data sets ({', '.join(datasets)}); only those on "
        f"{datasets[0]} are drawn together: choose the others on their own above."
    )
    return {k: r for k, r in reports.items() if r.dataset == datasets[0]}


def oracle_note(reports: dict[str, Report]) -> None:
    """Names the runs without a retrained model, the reference they lack."""
    missing = [label for label, r in reports.items() if not r.has_oracle]
    if missing:
        st.info(
            f"No retrained model in {'; '.join(missing)}, so it has no reference to compare "
            "with: rerun it on the **Unlearn** page with the oracle (retrain) switched on."
        )


@st.cache_data(show_spinner="Classifying the test split…")
def confusion_on_test(run_id: str, which: str, dataset_name: str) -> list[list[int]]:
    """(C, C) counts of the run's `which` model on the test split; keyed by run id."""
    data = get_dataset(dataset_name)
    return confusion_matrix(get_run_model(run_id, data, which), data, "test").tolist()


@st.cache_data(show_spinner="Classifying the test split…")
def _original_confusion(path: str, dataset_name: str, sha256: str) -> list[list[int]]:
    """(C, C) counts of the current (original) model on the test split; keyed by its sha256."""
    trained, _ = get_model(path, dataset_name)
    return confusion_matrix(trained.model, get_dataset(dataset_name), "test").tolist()


def _original(reports: dict[str, Report]) -> dict:
    """{("before unlearning", "original"): counts} when the current model is the runs'
    original (the run folders hold no copy of it), else {} and a note on how to get it."""
    path, dataset_name = selection()
    try:
        sha = get_model(path, dataset_name)[1]["sha256"]
    except UserError:
        return {}
    if not any(r.checkpoints.original_sha256 == sha for r in reports.values()):
        st.caption(
            "The original model's matrix is drawn when the current model is these runs' "
            "original: choose their checkpoint on **Model and data**."
        )
        return {}
    return {("before unlearning", "original"): _original_confusion(path, dataset_name, sha)}


def confusion_grid(reports: dict[str, Report], class_names: list[str]) -> None:
    """The original model's confusion matrix, then the unlearned (and retrained) model's of
    every run, PER_ROW a row, all on one colour scale so that their cells compare."""
    matrices = _original(reports)
    for label, report in reports.items():
        for which in ("unlearned", "retrained") if report.has_oracle else ("unlearned",):
            try:
                matrices[label, which] = confusion_on_test(report.run_id, which, report.dataset)
            except UserError as err:
                st.error(str(err))
    top = max((max(map(max, counts)) for counts in matrices.values()), default=1)
    items = list(matrices.items())
    for start in range(0, len(items), PER_ROW):
        row = items[start : start + PER_ROW]
        for column, ((label, which), counts) in zip(st.columns(len(row)), row, strict=True):
            with column:
                title = f"Confusion matrix of the {which} model<br>{label}"
                plot(confusion_heatmap(counts, class_names, title, zmax=top))


@st.cache_data(show_spinner=False)
def layer_labels(archs: tuple[str | None, ...], dataset_name: str) -> dict[str, str]:
    """views.layer_names.parameter_labels of each architecture (built untrained: names only);
    none for an architecture a report does not record or that cannot be built, so the bare
    names show."""
    labels: dict[str, str] = {}
    for arch in filter(None, archs):
        try:
            labels |= parameter_labels(initial_model(arch, get_dataset(dataset_name), 0))
        except UserError:
            continue
    return labels


def comparison_table(reports: dict[str, Report]) -> None:
    """Two (or more) runs side by side, the rows where they differ highlighted."""
    rows = compare_runs(reports)
    st.dataframe(highlight_differences(rows), hide_index=True)
    differing = sum(row["differs"] for row in rows)
    st.caption(f"Highlighted: the {differing} of {len(rows)} rows where the runs differ.")


def export_open_runs() -> None:
    """One CSV of the results table (views.run_table) of every open run (the format of every
    chart's camera button is chosen in the sidebar: app.py)."""
    reports = []
    for run_id in open_runs():
        try:
            reports.append(get_report(run_id))
        except UserError as err:
            st.error(str(err))
    if reports:
        st.download_button(
            f"Download the results of the {len(reports)} open run(s) (CSV)",
            data=rows_csv(results_table(reports)),
            file_name="open-runs.csv",
            mime="text/csv",
            key="download_open_runs",
            on_click="ignore",
        )
    else:
        st.caption("No run is open: open some above to download their results as one CSV.")
