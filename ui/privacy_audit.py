"""The Privacy page's audit: submit a privacy audit of the chosen run's request as a job, follow
it, and show its verdict and what it rests on, attacks with intervals, the relearning attack,
ROC bands, the per-sample epsilons and the forgotten samples that leak most.

The audit repeats the run's method and settings on N models trained by the checkpoint's recipe
(unlearn_core/privacy); it runs as a job, so the browser may close meanwhile.
"""

from __future__ import annotations

import streamlit as st

from ui.charts import plot
from ui.jobs import follow_jobs, live_jobs_like, submit
from ui.runs import run_store
from ui.state import DEMO_CHECKPOINT, get_dataset, get_model, selection
from unlearn_core.checkpoint import read_weights
from unlearn_core.errors import UserError
from unlearn_core.privacy.given_recipe import check_given_recipe
from unlearn_core.privacy.scores import INDISTINGUISHABLE_EPSILON, indistinguishable_share
from unlearn_core.privacy.spec import AuditSpec, check_margin
from unlearn_core.privacy.store import AuditStore
from unlearn_core.views.model_summary import image_tiles
from unlearn_core.views.privacy_audit import (
    attack_rows,
    audit_roc,
    epsilon_histogram,
    leaking_samples,
    relearn_note,
    relearn_rows,
    sample_rows,
    sample_scores,
    score_rows,
    verdict_rows,
)

DEFAULT_MODELS = 8  # the demo audit: about 10 minutes on 2 cores (BENCHMARKS.md)
RATE = st.column_config.NumberColumn(format="%.3f")
VERDICT_BOX = {"forgotten": st.success, "remembers": st.error, "inconclusive": st.warning}


def run_spec(
    report, models: int, attack_seeds: int, margin: float = 0.05, recipe: dict | None = None
) -> AuditSpec | None:
    """The audit of the run's request, method and settings on the current checkpoint (trained
    by `recipe` when given: a checkpoint without one); None (after saying why) when the current
    checkpoint is not the run's."""
    path, dataset = selection()
    meta = get_model(path, dataset)[1]
    if meta["sha256"] != report.checkpoints.original_sha256:
        st.info(
            "The audit retrains the run's checkpoint by its recipe: choose that checkpoint on "
            "**Model and data** first."
        )
        return None
    forget = report.forget
    request = {"classes": list(forget.classes)} if forget.classes else {"indices": forget.indices}
    return AuditSpec(
        checkpoint=path,
        checkpoint_sha256=meta["sha256"],
        method=report.method,
        forget=request,
        models=models,
        overrides=dict(report.config or {}),
        attack_seeds=attack_seeds,
        store_root=str(run_store().root.resolve()),
        margin=margin,
        dataset=dataset,
        recipe=recipe,
    )


def _recipe_fields() -> dict | None:
    """For a checkpoint that records no training recipe (an uploaded model), the auditor's
    account of how it was trained, prefilled from the demo checkpoint's recipe; None for a
    checkpoint that records its own. The audit's N models are trained by it."""
    path, dataset = selection()
    trained, meta = get_model(path, dataset)
    if meta.get("recipe_recorded", True):
        return None
    st.markdown(
        f"**How was this model trained?** {meta['file']} records no training recipe, and the "
        "audit trains its N models the same way: give the recipe (prefilled from the demo "
        "model's)."
    )
    demo = demo_recipe()
    left, middle, right = st.columns(3)
    values = {
        "dataset": dataset,
        "arch": trained.arch,
        "epochs": left.number_input("Epochs", 1, 10_000, demo["epochs"]),
        "lr": middle.number_input("Learning rate", 1e-6, 10.0, demo["lr"], format="%.4f"),
        "batch_size": right.number_input("Batch size", 1, 65_536, demo["batch_size"]),
        "weight_decay": left.number_input(
            "Weight decay", 0.0, 1.0, demo["weight_decay"], format="%.5f"
        ),
        "optimizer": middle.selectbox(
            "Optimizer", ["sgd", "adam"], ["sgd", "adam"].index(demo["optimizer"])
        ),
        "momentum": right.number_input("Momentum", 0.0, 0.999, demo["momentum"]),
    }
    return check_given_recipe(values, "the recipe")  # the inputs' bounds keep it in range


@st.cache_data(show_spinner=False)
def demo_recipe() -> dict:
    """The demo checkpoint's recorded recipe: what the recipe fields start from."""
    return read_weights(DEMO_CHECKPOINT)[1]["recipe"]


def audit_section(report, card_key: str) -> None:
    """Form, live job and latest result of this run's audit; a leaking sample's button opens
    it in the page's sample card (the number input under `card_key`)."""
    with st.form("audit_form"):
        left, right = st.columns(2)
        models = left.number_input(
            "Models (N)",
            min_value=4,
            max_value=64,
            value=DEFAULT_MODELS,
            help="Each is trained by the checkpoint's recipe with its own seed, then unlearned "
            "and retrained; trained once and reused by later audits of this checkpoint.",
        )
        seeds = right.number_input("SVC attack draws per model", 1, 10, 3)
        margin = left.number_input(
            "Equivalence margin on the AUC",
            value=0.05,
            step=0.01,
            format="%.2f",
            help="'Forgotten' needs U-LiRA's 95% interval within 0.5 ± this margin (and the "
            "original models told apart beyond it); a wider margin is a weaker claim.",
        )
        recipe = _recipe_fields()
        submitted = st.form_submit_button("Run the audit as a job")
    spec = run_spec(report, int(models), int(seeds), float(margin), recipe)
    if spec is None:
        return
    if submitted:
        try:
            check_margin(spec.margin)
            submit([spec], checked=False)
        except UserError as err:
            st.error(str(err))
    follow_jobs("audit", spec)
    _latest_result(spec, card_key, bool(live_jobs_like(spec)))


def _latest_result(spec: AuditSpec, card_key: str, live: bool) -> None:
    store = AuditStore(run_store().root)
    found = store.matching(spec.checkpoint_sha256, spec.method, spec.forget, spec.overrides)
    if not found and live:
        st.info("This run's audit is running (above); its verdict appears here when it ends.")
        return
    if not found:
        st.info(
            "No audit of this run yet. An audit trains N models by the checkpoint's recipe, "
            "unlearns and retrains each, and asks whether an attacker can tell the unlearned "
            "models from the retrained ones."
        )
        return
    audit_id, privacy = found[0]
    VERDICT_BOX[privacy["verdict"]](
        f"**{privacy['verdict'].capitalize()}**: {privacy['verdict_reason']}"
    )
    st.caption(
        f"Audit {audit_id}: {privacy['models']} models, {privacy['attack_seeds']} SVC draws each, "
        f"retrained by the {privacy['oracle_convention']} convention, "
        f"{privacy['seconds']['wall']:.0f} s."
    )
    st.dataframe(attack_rows(privacy), hide_index=True, column_config=_rates(attack_rows(privacy)))
    with st.expander("What the verdict rests on", expanded=privacy["verdict"] == "inconclusive"):
        st.dataframe(verdict_rows(privacy), hide_index=True)
    st.dataframe(score_rows(privacy), hide_index=True, column_config={"value": RATE})
    _relearn(privacy)
    plot(audit_roc(privacy))
    _leaking(privacy, card_key)


def _rates(rows: list[dict]) -> dict:
    numbers = ("AUC", "TPR at 1% FPR", "at 0.1%")  # the others are text ("–" where absent)
    return {k: RATE for k in numbers} if rows else {}


def _relearn(privacy: dict) -> None:
    note = relearn_note(privacy)
    if note is None:
        return
    st.markdown("**Relearning attack**: does fine-tuning on retained images bring it back?")
    beyond, sentence = note
    (st.warning if beyond else st.info)(sentence)
    st.dataframe(
        relearn_rows(privacy),
        hide_index=True,
        column_config={"forget accuracy regained": RATE, "forget accuracy after": RATE},
    )


def _leaking(privacy: dict, card_key: str) -> None:
    rows = sample_rows(privacy)
    if not rows:
        return
    st.markdown("**Which forgotten samples still leak**")
    share = indistinguishable_share(rows)
    st.markdown(
        f"{share:.0%} of the forget set ({len(rows)} samples) is indistinguishable at "
        f"ε ≤ {INDISTINGUISHABLE_EPSILON:g}: no threshold on a sample's confidence tells the "
        "unlearned models from the retrained ones with a better trade-off than that."
    )
    plot(epsilon_histogram(privacy))
    worst = leaking_samples(privacy)
    data = get_dataset(selection()[1])
    tiles, captions = image_tiles(data, "train", [r["index"] for r in worst], scale=3)
    # one column per sample, the image stretched to it: as one list, tiles took their
    # captions' widths and came out in different sizes
    for column, tile, caption, row in zip(
        st.columns(len(worst)), tiles, captions, worst, strict=True
    ):
        column.image(tile, caption=_tile_caption(caption, row), width="stretch")
        column.button(
            f"#{row['index']}",
            key=f"open-card-{row['index']}",
            help="Open this image in the sample card below",
            on_click=_open_card,
            args=(card_key, row["index"]),
        )
    plot(sample_scores(privacy, [r["index"] for r in worst]))


def _tile_caption(caption: str, row: dict) -> str:
    text = f"{caption} · ε {row['epsilon']:.2f}"
    if row.get("conf_unlearned") is not None:
        text += f" · p {row['conf_unlearned']:.2f} vs {row['conf_retrained']:.2f} retrained"
    return text


def _open_card(card_key: str, index: int) -> None:
    st.session_state[card_key] = index
