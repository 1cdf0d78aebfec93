"""What the Privacy page and the audit record show of a privacy audit (privacy.json): the
verdict, one row per attack with its interval, ROC curves with bootstrap bands, and the
forgotten samples an attacker singles out most."""

from __future__ import annotations

import plotly.graph_objects as go

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


def attack_rows(privacy: dict) -> list[dict]:
    """One row per attack: AUC with its 95% interval and TPRs at low FPR for the unlearned
    models; for population attacks also the retrained and original models' AUCs, the yardsticks
    (U-LiRA's AUC is itself unlearned against retrained: 0.5 is the target)."""
    rows = []
    for key, attack in privacy["attacks"].items():
        original = attack.get("original") or privacy.get("control", {}).get(key) or {}
        rows.append(
            {
                "attack": ATTACK_NAMES.get(key, key),
                "AUC": attack["auc"],
                "95% interval": _interval(attack["auc_ci"]),
                "TPR at 1% FPR": attack["tpr_at_1pct_fpr"],
                "TPR at 0.1% FPR": attack["tpr_at_0_1pct_fpr"],
                "retrained models' AUC": (attack.get("retrained") or {}).get("auc"),
                "original models' AUC": original.get("auc"),
            }
        )
    return rows


def score_rows(privacy: dict) -> list[dict]:
    """The challenge score, ToW and SalUn's average gap, each with its interval."""
    challenge = privacy["challenge"]
    return [
        {
            "measure": "forgetting quality F (challenge)",
            "value": challenge["forgetting_quality"],
            "95% interval": _interval(challenge.get("forgetting_quality_ci")),
            "original models": _number(challenge.get("original_forgetting_quality")),
        },
        {
            "measure": "final score F x RA ratio x TA ratio",
            "value": challenge["final_score"],
            "95% interval": "–",
            "original models": "–",
        },
        {
            "measure": "ToW (1 is the retrained model)",
            "value": privacy["tow"]["mean"],
            "95% interval": _interval([privacy["tow"]["ci_low"], privacy["tow"]["ci_high"]]),
            "original models": "–",
        },
        {
            "measure": "SalUn's average gap (0 is the retrained model)",
            "value": privacy["avg_gap"]["mean"],
            "95% interval": _interval(
                [privacy["avg_gap"]["ci_low"], privacy["avg_gap"]["ci_high"]]
            ),
            "original models": "–",
        },
    ]


def audit_roc(privacy: dict) -> go.Figure:
    """U-LiRA's ROC (unlearned against retrained models) and the control's (original against
    retrained), on log axes, each with its pointwise 95% bootstrap band."""
    fig = go.Figure()
    fig.add_scatter(x=[1e-3, 1], y=[1e-3, 1], mode="lines", name="chance", line={"dash": "dot"})
    curves = {"unlearned": privacy["attacks"]["ulira"], "original": privacy["control"]["ulira"]}
    for model, attack in curves.items():
        roc, colour = attack.get("roc"), MODEL_COLOURS[model]
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
            name=f"{model} vs retrained (AUC {attack['auc']:.3f})",
        )
    fig.update_xaxes(title_text="False positive rate (log scale)", **log_axis([-3, 0], False))
    fig.update_yaxes(title_text="True positive rate (log scale)", **log_axis([-3, 0.02], False))
    return styled(fig, "U-LiRA: can an attacker tell these models from retrained ones?")


def _translucent(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, 0.2)"


def exposed_samples(privacy: dict, count: int = 8) -> list[dict]:
    """The forgotten samples U-LiRA tells apart best (highest per-sample AUC over models)."""
    rows = [r for r in privacy["attacks"]["ulira"]["per_sample"] if r["auc"] is not None]
    return sorted(rows, key=lambda r: (-r["auc"], r["index"]))[:count]


def sample_scores(rows: list[dict]) -> go.Figure:
    """Each exposed sample's U-LiRA score under every unlearned and every retrained model: the
    further apart the two clouds, the better an attacker tells them apart."""
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
