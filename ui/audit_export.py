"""Streamlit glue: the Runs page's audit record downloads, built once on request.

The files are built when asked (the zip holds the weights, the page embeds plotly.js: seconds)
and then kept in the session as bytes, so each button serves one fixed file. A button whose data
is built on click (a callable) lost its file whenever the jobs panel reran while a job was live:
the download was cancelled in 5 of 9 tries (issue 24, item 7).

Session-state key: st.session_state["audit_files"], (run id, report stamp, zip, html).
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from unlearn_core.records.privacy_record import latest_audit
from unlearn_core.run.report import Report
from unlearn_core.views.audit_page import audit_html
from unlearn_core.views.audit_record import audit_record_bytes

PREPARED = "audit_files"


def _stamp(folder: Path) -> int:
    return os.stat(folder / "report.json").st_mtime_ns


def audit_downloads(run_id: str, folder: Path, report: Report, names: list[str] | None) -> None:
    """A button that builds the audit record of `run_id`, then its two downloads."""
    wanted = (run_id, _stamp(folder))
    prepared = st.session_state.get(PREPARED)
    if not prepared or prepared[:2] != wanted:
        if not st.button("Prepare the audit record", key="prepare_audit"):
            st.caption("Builds the zip (with the weights) and the HTML page: a few seconds.")
            return
        with st.spinner("Building the audit record…"):
            zipped = audit_record_bytes(folder, names)
            page = audit_html(report, class_names=names, privacy=latest_audit(folder, report))
        prepared = st.session_state[PREPARED] = (*wanted, zipped, page)
    files = (("record (zip)", prepared[2], "zip", "application/zip"),
             ("page (HTML)", prepared[3], "html", "text/html"))  # fmt: skip
    for column, (what, data, suffix, mime) in zip(st.columns(2), files, strict=True):
        column.download_button(
            f"Download the audit {what}",
            data=data,
            file_name=f"{run_id}-audit.{suffix}",
            mime=mime,
            key=f"download_{suffix}",
            on_click="ignore",
        )
