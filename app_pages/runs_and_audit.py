"""Runs and audit record: every stored run, reopened, compared, exported for audit or deleted."""

import streamlit as st

from ui.audit_export import audit_downloads
from ui.compare import comparison_table, export_open_runs
from ui.record_check import record_check_form
from ui.runs import (
    add_open_run,
    audit_check,
    close_run,
    delete_run,
    get_report,
    open_runs,
    reset_confirmation,
    run_label,
    run_store,
    table_rows,
)
from ui.state import class_names
from unlearn_core.errors import UserError

st.title("Runs and audit record")
st.subheader("What am I looking at")
store = run_store()
st.markdown(
    f"Every run made on the **Unlearn** page or by `python -m unlearn_core unlearn` is kept in "
    f"the run store (`{store.root}`), so a reload or a restart loses none. Open any of them in "
    "the other pages, put two side by side, or export its **audit record**: the evidence a "
    "reviewer needs to check a deletion claim, in one self-contained HTML page and a zip with "
    "the weights and their sha256. It holds the checkpoints' hashes, the forget list, seed, "
    "configuration and recipe, the metrics of the original, unlearned and retrained models, "
    "the membership-inference attacks (Shokri et al., S&P 2017; Song and Mittal, USENIX "
    "Security 2021) and the verification error of Thudi et al. (“Unrolling SGD”, EuroS&P "
    "2022), whichever method ran: L-FOCI (Mehta et al., CVPR 2022), UNSIR (Tarun et al., "
    "2023) or single-gradient unlearning."
)
with st.expander("Verify an audit record someone sent you"):
    st.caption(
        "Checks its SHA256SUMS, then loads its weights on its data set here and recomputes the "
        "accuracies its report.json claims. That catches a slip, not a forger: weights changed "
        "so slightly that the accuracies hold, with SHA256SUMS and report.json's sha256 "
        "rewritten to match, pass every check. Only a signature closes that: a record signed "
        "with `audit --sign`, checked here or with `audit --verify --trusted-key` against a "
        "public key you trust, shows that no file changed since its holder signed it."
    )
    record_check_form()

message = st.session_state.pop("runs_message", None)
rows = store.list()
if not rows:
    if message:
        getattr(st, message[0])(message[1])
    st.info(
        "No stored runs yet: choose what to forget on **Forget request**, run a method on "
        "**Unlearn**, or run `python -m unlearn_core unlearn ... --out DIR` in a terminal."
    )
    st.stop()

shown = open_runs()
ids = [r["run_id"] for r in rows]
st.subheader(f"Stored runs ({len(rows)})")
st.dataframe(table_rows(rows, shown), hide_index=True)
corrupt = [r for r in rows if r["corrupt"]]
if corrupt:
    st.error(
        f"{len(corrupt)} stored run(s) cannot be read and are listed as corrupt: "
        + "; ".join(f"{r['run_id']}: {r['corrupt']}" for r in corrupt)
    )

run_id = st.selectbox(
    "Run", ids, key="runs_choice", format_func=run_label, on_change=reset_confirmation
)
opened, export, delete = st.tabs(["Open", "Audit record", "Delete"])
with opened:
    if run_id in shown:
        st.caption("The other pages show this run.")
        st.button("Close it in the other pages", on_click=close_run, args=(run_id,))
    else:
        st.caption("The other pages do not show this run yet.")
        st.button("Open it in the other pages", on_click=add_open_run, args=(run_id,))
    st.caption(
        "Shown in the other pages: " + (", ".join(map(run_label, shown)) if shown else "none")
    )

with export:
    folder = store.path(run_id)
    passed, verdict = audit_check(folder)
    if not passed:  # red, naming the file; no record is offered
        st.error(verdict)
    else:
        st.success(verdict)
        report = get_report(run_id)
        audit_downloads(run_id, folder, report, class_names(report.dataset))
        st.caption(
            "The zip holds report.json, model.safetensors, retrained.safetensors (runs with the "
            "oracle), request.json, audit.html and SHA256SUMS: check it with `python -m "
            "unlearn_core audit --verify record.zip` (or `sha256sum -c SHA256SUMS`). The same "
            f"record from a terminal: `python -m unlearn_core audit --run {folder} --out "
            "record.zip`."
        )

with delete:
    st.checkbox(
        "I understand that this deletes the selected run, its report and its models for good",
        key="confirm_delete",
    )
    st.button("Delete run", key="delete_run", type="primary", on_click=delete_run, args=(run_id,))
if message:
    getattr(st, message[0])(message[1])

st.subheader("Compare two runs")
if len(ids) < 2:
    st.info("Only one stored run: run another method or request on **Unlearn** to compare.")
else:
    left, right = st.columns(2)
    a = left.selectbox("First run", ids, index=0, key="compare_a", format_func=run_label)
    b = right.selectbox("Second run", ids, index=1, key="compare_b", format_func=run_label)
    try:
        reports = {f"A: {run_label(a)}": get_report(a), f"B: {run_label(b)}": get_report(b)}
    except UserError as err:
        st.error(str(err))
    else:
        comparison_table(reports)

st.subheader("Export the open runs")
export_open_runs()
