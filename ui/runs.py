"""Streamlit glue for forget requests and stored runs, shared by the pages after "Model and data".

Session-state keys (the contract between pages; each browser tab has its own):
  st.session_state["forget"]     ForgetRequest.to_dict() of the request the "Forget request"
                                 page built ({"classes", "indices", "count"}, and "requester"
                                 and "request_date" when entered); absent until then
  st.session_state["open_runs"]  [run_id, ...]: the runs this session shows, newest last; the
                                 "Unlearn" page appends what it ran, "Runs" reopens stored ones
Finished runs live in the run store (unlearn_core.run.store, $UNLEARN_RUNS_DIR or ./runs), so a page
reload or a server restart loses none: `open_runs` only chooses which ones the pages show.
Reports (typed, unlearn_core.run.report.Report) and models read here are cached per run folder
and shared read-only.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import streamlit as st
from torch import nn

from unlearn_core.data import ImageDataset
from unlearn_core.errors import UserError
from unlearn_core.request import MAX_REQUESTER, ForgetRequest
from unlearn_core.run.audit import check_run_folder
from unlearn_core.run.report import Report
from unlearn_core.run.store import RunStore, load_run_model, read_report


def run_store() -> RunStore:
    """The run store of this server (read from the environment on every call, so tests can
    point it elsewhere)."""
    return RunStore()


def set_forget(request: ForgetRequest | None) -> None:
    """Record this session's forget request (None forgets it); a new request without a
    requester or date keeps those of the one it replaces (the same person changing their mind)."""
    if request is None:
        st.session_state.pop("forget", None)
        return
    before = st.session_state.get("forget") or {}
    if request.requester is None and request.request_date is None:
        request = request.with_origin(before.get("requester"), before.get("request_date"))
    st.session_state["forget"] = request.to_dict()


def origin_form(request: ForgetRequest) -> None:
    """Optional fields for who asked for the deletion and when, kept with this session's request
    (so in every run made from it, its report.json, request.json and audit record)."""
    with st.form("forget_origin_form"):
        left, right = st.columns(2)
        requester = left.text_input(
            "Requested by (optional)",
            value=request.requester or "",
            max_chars=MAX_REQUESTER,
            key="forget_requester",
            help="A name, an e-mail address or a ticket number; shown in the audit record.",
        )
        date = right.date_input(
            "Request date (optional)",
            value=dt.date.fromisoformat(request.request_date) if request.request_date else None,
            max_value=dt.date.today(),
            format="YYYY-MM-DD",
            key="forget_request_date",
        )
        submitted = st.form_submit_button("Save who asked and when")
    if not submitted:
        return
    try:
        dated = request.with_origin(requester, date.isoformat() if date else None)
    except UserError as err:
        st.error(f"{err} Nothing was saved.")
        return
    st.session_state["forget"] = dated.to_dict()
    st.success("Saved: every run of this request records who asked and when.")


def current_request(data: ImageDataset) -> ForgetRequest | None:
    """This session's request resolved against `data`; None if none was made. UserError if it
    does not fit `data` (for example after switching to a model with fewer classes)."""
    forget = st.session_state.get("forget")
    return ForgetRequest.from_dict(data, forget) if forget else None


def open_runs() -> list[str]:
    """Run ids this session shows that still exist in the store, oldest first."""
    store = run_store()
    ids = [r for r in st.session_state.get("open_runs", []) if (store.root / r).is_dir()]
    st.session_state["open_runs"] = ids
    return ids


def add_open_run(run_id: str) -> None:
    ids = [r for r in st.session_state.get("open_runs", []) if r != run_id]
    st.session_state["open_runs"] = [*ids, run_id]


def close_run(run_id: str) -> None:
    ids = st.session_state.get("open_runs", [])
    st.session_state["open_runs"] = [r for r in ids if r != run_id]


def _stamp(folder: Path) -> int:
    """The report's mtime: a run folder replaced under the same id is read afresh."""
    try:
        return os.stat(folder / "report.json").st_mtime_ns
    except OSError:
        return 0


@st.cache_data(show_spinner=False, max_entries=64)
def _report(folder: str, stamp: int) -> Report:
    return read_report(folder)


def get_report(run_id: str) -> Report:
    """The report of a stored run (cached). UserError if it is gone."""
    folder = run_store().path(run_id)
    return _report(str(folder), _stamp(folder))


@st.cache_resource(show_spinner="Loading the run's model…", max_entries=16)
def _model(folder: str, stamp: int, which: str, _data: ImageDataset) -> nn.Module:
    return load_run_model(folder, _data, which)


def get_run_model(run_id: str, data: ImageDataset, which: str = "unlearned") -> nn.Module:
    """The run's unlearned or retrained model (cached, shared, read-only: copy before changing).
    UserError if the run has no such model (a run without the oracle has no retrained one)."""
    folder = run_store().path(run_id)
    return _model(str(folder), _stamp(folder), which, data)


def audit_check(folder: str | Path) -> tuple[bool, str]:
    """(passed, message) of a run folder's integrity check (unlearn_core.run.integrity), for
    the page to show in green or red: a failure names the file at fault."""
    try:
        files = check_run_folder(folder)
    except UserError as err:
        return False, f"Integrity check failed: {err}"
    return True, f"All {len(files)} files of the run match its SHA256SUMS: {', '.join(files)}."


def table_rows(rows: list[dict], shown: list[str]) -> list[dict]:
    """The Runs page's table: one row per stored run; a corrupt one says so and why (its
    unreadable fields blank: a dataframe shows None as "None")."""
    return [
        {
            "run": r["run_id"],
            "created": (r["created"] or "")[:19].replace("T", " "),
            "method": r["method"] or "",
            "dataset": r["dataset"] or "",
            "architecture": r["arch"] or "",
            "forgets": r["forgets"] or "",
            "state": f"corrupt: {r['corrupt']}" if r.get("corrupt") else "ok",
            "open": r["run_id"] in shown,
        }
        for r in rows
    ]


def run_label(run_id: str) -> str:
    """A short human label: "unsir · classes 3 · 20261123-0130" (falls back to the id)."""
    try:
        report = get_report(run_id)
    except UserError:
        return run_id
    return f"{report.method} · {report.forget.label()} · {run_id[:15]}"


PICKERS = ("runs_choice", "compare_a", "compare_b")  # the Runs page's run pickers


def reset_confirmation() -> None:
    st.session_state["confirm_delete"] = False


def delete_run(run_id: str) -> None:
    """The Runs page's delete button: runs before the page is drawn, so the list no longer
    shows a deleted run; leaves its outcome in st.session_state["runs_message"]."""
    if not st.session_state.get("confirm_delete"):
        message = ("error", "Tick “I understand” first: nothing was deleted.")
    else:
        try:
            run_store().delete(run_id)
        except UserError as err:
            message = ("error", str(err))
        else:
            close_run(run_id)
            for key in PICKERS:  # their value may be the deleted run
                st.session_state.pop(key, None)
            message = ("success", f"Deleted run {run_id}.")
    reset_confirmation()
    st.session_state["runs_message"] = message
