"""Streamlit glue: the first page's "start here" (what the app is for, the path through it) and
the button that opens the stored demo run (unlearn_core.run.demo_run) at once."""

from __future__ import annotations

import streamlit as st

from ui.runs import add_open_run, open_runs, run_store, set_forget
from ui.state import DEMO_CHECKPOINT, get_dataset, select_checkpoint
from unlearn_core.errors import UserError
from unlearn_core.request import ForgetRequest
from unlearn_core.run.demo_run import install_demo_run

INTRO = """
**Machine unlearning** makes a trained model behave as if it had never seen part of its
training data (a whole class, or single images) without training it again from scratch. The
yardstick is the model **retrained** without that data: an unlearning method should end where
the retrain ends, in a fraction of its time.

This workbench answers three questions about a model and a deletion request:
1. **Did it forget?** Accuracy on the forgotten data and membership-inference attacks, beside
   the retrained model's.
2. **What did forgetting cost?** Accuracy on what it should keep, on unseen test images, and
   the time taken.
3. **Would an auditor accept it?** Attacks over many models with intervals (Privacy), and a
   signed-off record of the run (Runs and audit record).

The path, in the sidebar's order: **Model and data** (this page: choose or train a model) →
**Forget request** (a class or samples) → **Unlearn** (run methods, with the retrain) →
**Inspect a run** (predictions, weights, slices, attribution, representations, verification) →
**Audit** (privacy audit and audit record).
"""


def start_here() -> None:
    """The introduction, open until a run is open, and the demo-run button."""
    with st.expander("Start here: what this app is for", expanded=not open_runs()):
        st.markdown(INTRO)
        st.button(
            "Open the stored demo run: UNSIR forgetting class 3 (Dress), with the retrained model",
            key="open_demo_run",
            on_click=open_demo_run,
            help="A run made by `bash scripts/build_demo_run.sh` and shipped with the app: it "
            "opens at once, with every page's results, instead of waiting for a retrain.",
        )
        if message := st.session_state.pop("demo_run_message", None):
            st.error(message)
    if st.session_state.pop("go_to_results", False):  # a callback cannot switch pages
        st.switch_page("app_pages/unlearn.py")


def open_demo_run() -> None:
    """Install the demo run in the store, make its model, request and run this session's, and
    go to the Unlearn page's results. A failure is one line on this page."""
    try:
        report = install_demo_run(run_store())
        select_checkpoint(str(DEMO_CHECKPOINT))
        set_forget(ForgetRequest.from_dict(get_dataset("demo"), report.forget.to_dict()))
    except UserError as err:
        st.session_state["demo_run_message"] = str(err)
        return
    add_open_run(report.run_id)
    st.session_state["go_to_results"] = True
