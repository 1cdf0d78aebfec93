"""Streamlit glue: the Unlearn page's table of the open runs, and the command line of each.

The table leads with each split's accuracy before unlearning, after it and in the retrained
model, one cell a split (unlearn_core.views.run_table.shown_table); gaps, attacks and timings
are one toggle away.
"""

from __future__ import annotations

import streamlit as st

from unlearn_core.run.report import Report
from unlearn_core.views.run_table import shown_table


def results_section(reports: list[Report]) -> None:
    """The table, what its columns mean, and the commands that make the same runs."""
    detail = st.toggle(
        "All columns",
        key="results_detail",
        help="Gaps to the retrained model, membership-inference AUCs, time and speed-up.",
    )
    st.dataframe(shown_table(reports, detail), hide_index=True)
    st.caption(
        "Accuracy on each split: before unlearning → after it (in brackets, the model "
        "retrained without the forget set: the target, which a good method's 'after' matches). "
        "With all columns: gaps are after minus retrained in percentage points (0 is the "
        "target); MIA AUC is the loss attack on the forget set against unseen test images, "
        "0.5 when it cannot tell them apart; speed-up is retraining time over unlearning time. "
        "A blank is a value the run did not measure."
    )
    if not any(r.has_oracle for r in reports):
        st.info(
            "None of these runs retrained the oracle, so the 'retrained' columns are blank: "
            "tick **Also retrain the oracle** and run again."
        )
    commands = [r.command for r in reports if r.command]
    if commands:
        st.markdown(
            "**The same runs from a shell** (in the repository's folder; each writes "
            "its run folder under `cli-runs/` and stores the run once):"
        )
        st.code("\n".join(commands), language="bash", wrap_lines=True)
