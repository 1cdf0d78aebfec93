"""Privacy: can an attacker still tell the forgotten samples were trained on?"""

import streamlit as st

from ui.charts import plot
from ui.inspect_helpers import run_card, run_context, svc_spread
from ui.privacy_audit import audit_section
from ui.run_picker import chosen_report
from ui.state import selection
from unlearn_core.cli.run_commands import relearn_command
from unlearn_core.errors import UserError
from unlearn_core.views.figures import relearn_curves, roc_curves
from unlearn_core.views.inspect import (
    card_rows,
    mia_flag_notes,
    mia_rows,
    neighbour_lines,
    relearn_rows,
    svc_spread_rows,
)
from unlearn_core.views.model_summary import image_tiles

RATE = st.column_config.NumberColumn(format="%.3f")

st.title("Privacy")
st.markdown(
    "**Can an attacker still tell that the forgotten samples were trained on?** The audit "
    "answers over many models, as Hayes et al. (SaTML 2025) ask: N models are trained by the "
    "checkpoint's recipe, each is unlearned by this run's method and retrained without the "
    "forget set, and **U-LiRA**, a per-sample likelihood-ratio attack, tries to tell the "
    "unlearned models from the retrained ones. The **challenge score** (Triantafillou et al., "
    "2024) turns the same outputs into per-sample epsilons. Every number has a 95% interval, and "
    "a test that the original models pass too says *inconclusive*, never *forgotten*."
)

run_id, report = chosen_report("privacy_run")
CARD_KEY = f"card_index-{run_id}"
st.subheader("Privacy audit")
audit_section(report, CARD_KEY)

st.header("Quick look: this run's single models")
st.markdown(
    "**Membership inference** (Shokri et al., S&P 2017) on this run's one unlearned model: two "
    "attacks score the forget set (members) against unseen test images (non-members): the loss "
    "threshold (Yeom et al., 2018), and an SVC on the confidence in the true class (Jia et al., "
    "2023). One model and one attack draw: a quick look, not a verdict. ROC curves are on log "
    "axes because what matters is the TPR at a very low FPR (Carlini et al., S&P 2022). "
    "**Relearn time** (Tarun et al., UNSIR, 2023) counts the epochs of training on random "
    "samples until the forget set is recognised again."
)

st.subheader("Membership inference")
if not report.mia.present():
    st.info("This run records no membership inference (an older report): run it again.")
else:
    plot(roc_curves(report.mia, "Membership inference on the forget set"))
    st.dataframe(
        mia_rows(report.mia),
        hide_index=True,
        column_config={"AUC": RATE, "TPR at 1% FPR": RATE, "TPR at 0.1% FPR": RATE},
    )
    flags = report.mia_flags
    if flags is None:
        st.info(
            "Without a retrained model there is no target to compare the unlearned model's AUC "
            "with: rerun this run with the oracle to flag over- or under-unlearning."
        )
    else:
        for status, note in mia_flag_notes(flags):
            (st.success if status == "matches retrained" else st.warning)(note)
    st.caption(
        "The SVC's MIA-Efficacy on one model moves with which retained images it is fitted on: "
        "the spread over draws shows how much. A quick look at one model, never a verdict."
    )
    if st.button("Show the SVC's spread over 5 draws"):
        try:
            _, data, request, models = run_context(run_id)
            st.dataframe(
                svc_spread_rows(svc_spread(run_id, models, data, request)),
                hide_index=True,
                column_config={"MIA-Efficacy mean": RATE, "AUC mean": RATE},
            )
        except UserError as err:
            st.error(str(err))

st.subheader("Relearn time")
relearn = relearn_rows(report.relearn_time)
if relearn:
    plot(relearn_curves(report.relearn_time))
    st.dataframe(relearn, hide_index=True, column_config={"target forget accuracy": RATE})
else:
    st.info(
        "Relearn time was not measured for this run: it trains a copy of every model, so it is "
        "asked for explicitly. Run the same request from the command line with `--relearn`, "
        "then reopen the run on **Runs and audit record** (add the run's `--set` settings, "
        "listed in its report's `config`, if they differ from the defaults):"
    )
    st.code(relearn_command(report, selection()[0]), language="bash", wrap_lines=True)

st.subheader("One training sample")
st.caption(
    "Its loss, the confidence in its class, the prediction, a membership score (the share of "
    "unseen test images of its class with a higher loss: 0.5 is typical of unseen data, near 1 "
    "looks trained on) and its nearest retained neighbours in the penultimate layer, under each "
    "model. A forgotten sample should look like unseen data and drift from its old neighbours."
)
try:
    _, data, request, models = run_context(run_id)
    if CARD_KEY not in st.session_state:  # the audit's leaking samples may set it
        st.session_state[CARD_KEY] = int(request.forget_indices[0])
    index = st.number_input(
        "Training index",
        step=1,
        key=CARD_KEY,
        help="A position in the training split; by default the first forgotten sample.",
    )
    card = run_card(run_id, int(index), models, data, request)
except UserError as err:
    st.error(str(err))
    st.stop()

image_col, facts_col = st.columns([1, 4])
tiles, captions = image_tiles(data, "train", [card["index"]], scale=4)
image_col.image(tiles, caption=captions)
membership = "in the forget set" if card["in_forget_set"] else "retained"
facts_col.markdown(
    f"**#{card['index']} {card['class_name']}**, {membership}; neighbours drawn from the "
    f"{card['neighbour_pool']}."
)
facts_col.dataframe(
    card_rows(card, list(data.class_names)),
    hide_index=True,
    column_config={
        "loss": RATE,
        "confidence in true class": RATE,
        "membership score": RATE,
    },
)
facts_col.markdown(
    "**Nearest retained neighbours** (penultimate layer)\n"
    + "\n".join(f"- {line}" for line in neighbour_lines(card, list(data.class_names)))
)
