"""The result pages' run chooser: one or several of this session's open runs
(`st.session_state["open_runs"]`, see ui/runs.py), labelled by `run_label`.
With no run open it says where runs come from and returns nothing."""

from __future__ import annotations

import streamlit as st

from ui.runs import get_report, open_runs, run_label
from unlearn_core.errors import UserError
from unlearn_core.run.report import Report

NO_RUNS = (
    "No run is open in this session. Run an unlearning method on the **Unlearn** page, or "
    "reopen a stored run on the **Runs and audit record** page; it will appear here."
)


FOCUS = "focus_run"  # the run last chosen on any single-run page; in the address as ?run=


def choose_run(key: str, label: str = "Run") -> str | None:
    """One open run: this page's last choice, else the run last chosen on any page (kept in
    the address, so a reload shows the same run), else the newest; None, after an st.info,
    when none is open."""
    ids = open_runs()
    if not ids:
        st.info(NO_RUNS)
        return None
    if st.session_state.get(key) not in ids:
        focus = st.session_state.get(FOCUS)
        st.session_state[key] = focus if focus in ids else ids[-1]
    chosen = st.selectbox(label, ids, key=key, format_func=run_label)
    st.session_state[FOCUS] = chosen
    return chosen


def show_warnings(report: Report) -> None:
    """The run's warnings (report.json's `warnings`: what the method or pipeline flagged, such
    as noise that swamps the weights), on every page that shows the run."""
    for line in report.warnings:
        st.warning(f"This run warns: {line}")


def chosen_report(key: str) -> tuple[str, Report]:
    """choose_run, then its report; stops the page (after saying why) when no run is open
    or the run cannot be read."""
    run_id = choose_run(key)
    if run_id is None:
        st.stop()
    try:
        report = get_report(run_id)
    except UserError as err:
        st.error(str(err))
        st.stop()
    show_warnings(report)
    return run_id, report


def choose_runs(key: str, label: str = "Runs") -> list[str]:
    """Some open runs (all by default), oldest first; [] after an st.info when none is open."""
    ids = open_runs()
    if not ids:
        st.info(NO_RUNS)
        return []
    kept = [r for r in st.session_state.get(key, ids) if r in ids]
    st.session_state[key] = kept
    chosen = st.multiselect(label, ids, key=key, format_func=run_label)
    if not chosen:
        st.info("Choose at least one run above.")
    return [r for r in ids if r in chosen]
