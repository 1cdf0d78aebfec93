"""What the Privacy page and the audit record show of a privacy audit (privacy.json): the
verdict and what it rests on (margin, paired intervals, the models that would settle it), one
row per attack with its interval, the relearning attack, ROC curves with bootstrap bands, the
per-sample epsilons and the forgotten samples that leak most.

Each builder takes privacy.json typed (privacy/audit_result.AuditResult) or as its dict, and
reads it through attributes; a key an older file lacks reads as None and shows as "–"."""

from __future__ import annotations

import plotly.graph_objects as go

from unlearn_core.privacy.audit_result import AuditResult
from unlearn_core.views.figures import MODEL_COLOURS, log_axis, styled

ATTACK_NAMES = {
    "ulira": "U-LiRA (per sample, over models)",
    "loss": "loss threshold (population)",
    "svc": "SVC on confidence (population)",
}


def _interval(pair) -> str:
    if not pair or pair[0] is None:
        return "–"
    return f"[{pair[0]:.3f}, {pair[1]:.3f}]"


def _number(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def verdict_rows(privacy: AuditResult | dict) -> list[dict]:
    """What the verdict rests on: the margin, the three paired intervals and the power
    estimate ("–" where an older privacy.json has no such key)."""
    audit = AuditResult.read(privacy)
    power, needed = audit.power, audit.power.models_needed
    return [
        {
            "measure": "equivalence margin on the AUC",
            "value": _number(audit.margin),
            "meaning": "'forgotten' needs U-LiRA's interval within 0.5 ± margin",
        },
        {
            "measure": "U-LiRA AUC, unlearned vs retrained",
            "value": _interval(audit.ulira.auc_ci),
            "meaning": "0.5: chance",
        },
        {
            "measure": "U-LiRA AUC, original vs retrained (control)",
            "value": _interval(audit.control.ulira.auc_ci),
            "meaning": "must lie above 0.5 + margin, or the test could not fail",
        },
        {
            "measure": "paired difference, control - unlearned",
            "value": _interval(audit.control.difference.ci),
            "meaning": "above 0: the method moved the models towards the retrained ones",
        },
        {
            "measure": "models that would settle it (80% power)",
            "value": "–" if needed is None else str(needed),
            "meaning": "simulated from the measured effects, up to "
            f"{'–' if power.max_models_tried is None else power.max_models_tried}",
        },
        {
            "measure": "smallest AUC these models detect",
            "value": _number(power.min_detectable_auc),
            "meaning": "as 'remembers', with 80% power",
        },
    ]


def relearn_rows(privacy: AuditResult | dict) -> list[dict]:
    """The relearning attack: per role, the forget accuracy after fine-tuning on retained
    images and how much of it was regained, each with its 95% interval over models; [] when it
    was not run."""
    relearn = AuditResult.read(privacy).relearn
    if relearn is None:
        return []
    return [
        {
            "models": f"{role} ({len(side['per_model'])})",
            "forget accuracy after": side["forget_acc_after"],
            "95% interval": _interval(side.get("forget_acc_after_ci")),
            "forget accuracy regained": side["recovery"],
            "regained, 95% interval": _interval(side["recovery_ci"]),
        }
        for role, side in (("unlearned", relearn.unlearned), ("retrained", relearn.retrained))
    ]


def relearn_note(privacy: AuditResult | dict) -> tuple[bool, str] | None:
    """(beyond the retrained models?, one sentence) for the relearning attack; None if not run."""
    relearn = AuditResult.read(privacy).relearn
    if relearn is None:
        return None
    steps, samples = relearn.steps, relearn.samples
    gap = f"{relearn.gap:+.3f} {_interval(relearn.gap_ci)}"
    if relearn.beyond_retrained:
        return True, (
            f"After {steps} steps of fine-tuning on {samples} retained images the unlearned "
            f"models' forget accuracy ends above the retrained models' interval (gap {gap}): "
            f"what they were asked to forget was hidden, not removed."
        )
    return False, (
        f"After {steps} steps of fine-tuning on {samples} retained images the unlearned models' "
        f"forget accuracy ends no higher than the retrained models' (gap {gap})."
    )


def sample_rows(privacy: AuditResult | dict) -> list[dict]:
    """privacy.json's `samples`; for an older file without them, rebuilt from U-LiRA's
    per-sample AUCs and the challenge's epsilons (confidences unknown)."""
    audit = AuditResult.read(privacy)
    if audit.samples:
        return audit.samples
    epsilons = audit.challenge.epsilons or []
    return [
        {
            "index": r["index"],
            "epsilon": e,
            "ulira_score": r["auc"],
            "conf_unlearned": None,
            "conf_retrained": None,
        }
        for r, e in zip(audit.ulira.per_sample or [], epsilons, strict=False)
    ]


def leaking_samples(privacy: AuditResult | dict, count: int = 8) -> list[dict]:
    """The forgotten samples that leak most: largest epsilon, then largest U-LiRA AUC."""
    return sorted(
        sample_rows(privacy),
        key=lambda r: (-r["epsilon"], -(r["ulira_score"] or 0.0), r["index"]),
    )[:count]


def epsilon_histogram(privacy: AuditResult | dict) -> go.Figure:
    """How many forgotten samples have each epsilon (bins of 0.5, the challenge's buckets);
    the dotted line is epsilon = 1, the dashed one where N models stop scoring."""
    audit = AuditResult.read(privacy)
    epsilons = [r["epsilon"] for r in sample_rows(audit)]
    fig = go.Figure()
    fig.add_histogram(
        x=epsilons,
        xbins={"start": 0, "size": 0.5},
        marker_color=MODEL_COLOURS["unlearned"],
        name="forgotten samples",
    )
    fig.add_vline(x=1.0, line_dash="dot", annotation_text="ε = 1")
    limit = audit.challenge.scoring_limit
    if limit:
        fig.add_vline(x=limit, line_dash="dash", annotation_text=f"scores 0 from {limit:g}")
    fig.update_xaxes(title_text="per-sample ε (unlearned vs retrained models, δ = 1e-5)")
    fig.update_yaxes(title_text="forgotten samples")
    return styled(fig, "Per-sample ε: 0 means no threshold tells the models apart")


def attack_rows(privacy: AuditResult | dict) -> list[dict]:
    """One row per attack: AUC with its 95% interval and TPRs at low FPR for the unlearned
    models; for population attacks also the retrained and original models' AUCs, the yardsticks
    (U-LiRA's AUC is itself unlearned against retrained: 0.5 is the target; "–" where an attack
    has no such yardstick). Short columns: the table fits a 1280 px window."""
    audit, rows = AuditResult.read(privacy), []
    for key, attack in audit.model_attacks().items():
        original = attack.original or audit.control.attack(key).to_dict()
        rows.append(
            {
                "attack": ATTACK_NAMES.get(key, key),
                "AUC": attack.auc,
                "95% interval": _interval(attack.auc_ci),
                "TPR at 1% FPR": attack.tpr_at_1pct_fpr,
                "at 0.1%": attack.tpr_at_0_1pct_fpr,
                "retrained AUC": _number((attack.retrained or {}).get("auc")),
                "original AUC": _number(original.get("auc")),
            }
        )
    return rows


def score_rows(privacy: AuditResult | dict) -> list[dict]:
    """The challenge score, ToW and SalUn's average gap, each with its interval."""
    audit = AuditResult.read(privacy)
    challenge, tow, gap = audit.challenge, audit.tow, audit.avg_gap
    return [
        {
            "measure": "forget score F (NeurIPS 2023 official scorer)",
            "value": challenge.forgetting_quality,
            "95% interval": _interval(challenge.forgetting_quality_ci),
            "original models": _number(challenge.original_forgetting_quality),
        },
        {
            "measure": "final score F x RA ratio x TA ratio",
            "value": challenge.final_score,
            "95% interval": "–",
            "original models": "–",
        },
        {
            "measure": "ToW (1 is the retrained model)",
            "value": tow.mean,
            "95% interval": _interval([tow.ci_low, tow.ci_high]),
            "original models": "–",
        },
        {
            "measure": "SalUn's average gap (0 is the retrained model)",
            "value": gap.mean,
            "95% interval": _interval([gap.ci_low, gap.ci_high]),
            "original models": "–",
        },
    ]


def audit_roc(privacy: AuditResult | dict) -> go.Figure:
    """U-LiRA's ROC (unlearned against retrained models) and the control's (original against
    retrained), on log axes, each with its pointwise 95% bootstrap band."""
    fig = go.Figure()
    fig.add_scatter(x=[1e-3, 1], y=[1e-3, 1], mode="lines", name="chance", line={"dash": "dot"})
    audit = AuditResult.read(privacy)
    for model, attack in (("unlearned", audit.ulira), ("original", audit.control.ulira)):
        roc, colour = attack.roc, MODEL_COLOURS[model]
        if not roc:
            continue
        for edge, fill in (("tpr_high", None), ("tpr_low", "tonexty")):  # the band between
            fig.add_scatter(
                x=roc["fpr"],
                y=roc[edge],
                mode="lines",
                line={"width": 0},
                fill=fill,
                fillcolor=_translucent(colour),
                showlegend=False,
                hoverinfo="skip",
            )
        fig.add_scatter(
            x=roc["fpr"],
            y=roc["tpr"],
            mode="lines",
            line={"color": colour, "width": 3},
            name=f"{model} vs retrained (AUC {attack.auc:.3f})",
        )
    fig.update_xaxes(title_text="False positive rate (log scale)", **log_axis([-3, 0], False))
    fig.update_yaxes(title_text="True positive rate (log scale)", **log_axis([-3, 0.02], False))
    return styled(fig, "U-LiRA: can an attacker tell these models from retrained ones?")


def _translucent(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, 0.2)"


def sample_scores(privacy: AuditResult | dict, indices: list[int]) -> go.Figure:
    """Each of these forgotten samples' U-LiRA score under every unlearned and every retrained
    model: the further apart the two clouds, the better an attacker tells them apart."""
    by_index = {r["index"]: r for r in AuditResult.read(privacy).ulira.per_sample or []}
    rows = [by_index[i] for i in indices if i in by_index]
    fig = go.Figure()
    for role in ("unlearned", "retrained"):
        xs = [f"#{r['index']}" for r in rows for _ in r[role]]
        ys = [v for r in rows for v in r[role]]
        fig.add_scatter(
            x=xs,
            y=ys,
            mode="markers",
            name=f"{role} models",
            marker={"color": MODEL_COLOURS[role], "size": 9, "opacity": 0.7},
        )
    fig.update_yaxes(title_text="U-LiRA score (log likelihood ratio)")
    return styled(fig, "Most exposed forgotten samples, per model")
