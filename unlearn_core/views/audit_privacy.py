"""The "Privacy audit" section of a run's audit page (views/audit_page.py), from the privacy.json
that run/privacy_record.latest_audit found for the run."""

from __future__ import annotations

from unlearn_core.views.privacy_audit import model_attacks, relearn_note, verdict_rows


def privacy_section(privacy: dict | None, table, escape, fmt) -> str:
    """The "Privacy audit" section: verdict and reason, one row per attack with its interval,
    and the challenge score, ToW and average gap. table, escape, fmt: the page's helpers."""
    if privacy is None:
        return (
            "<p>No privacy audit of this run's request in its store: run "
            "<code>privacy-audit</code> (or the Privacy page's audit) for a verdict.</p>"
        )
    rows = []
    for name, attack in model_attacks(privacy).items():
        low, high = attack["auc_ci"]
        rows.append(
            (
                name,
                fmt(attack["auc"]),
                f"[{fmt(low)}, {fmt(high)}]",
                fmt(attack["tpr_at_1pct_fpr"]),
                fmt(attack["tpr_at_0_1pct_fpr"]),
            )
        )
    challenge, tow, gap = privacy["challenge"], privacy["tow"], privacy["avg_gap"]
    scores = [
        (
            "forgetting quality F",
            fmt(challenge["forgetting_quality"]),
            fmt(challenge.get("forgetting_quality_ci")),
        ),
        ("final score", fmt(challenge["final_score"]), ""),
        *(
            (row["measure"], escape(row["value"]), escape(row["meaning"]))
            for row in verdict_rows(privacy)[2:]  # the control, the difference, the power
        ),
        ("ToW", fmt(tow["mean"]), fmt([tow["ci_low"], tow["ci_high"]])),
        ("average gap (SalUn)", fmt(gap["mean"]), fmt([gap["ci_low"], gap["ci_high"]])),
    ]
    head = (
        f"<p><strong>{escape(privacy['verdict'])}</strong>: {escape(privacy['verdict_reason'])}"
        f"</p><p>Audit {escape(privacy.get('audit_id', ''))}: {privacy['models']} models "
        f"(seeds {escape(fmt(privacy['seeds']))}), retrained by the "
        f"{escape(privacy['oracle_convention'])} convention; equivalence margin "
        f"{escape(fmt(privacy.get('margin')))} on the AUC; the forget score F is the NeurIPS "
        "2023 official scorer's; its privacy.json is in this record.</p>"
    )
    attacks = table(("attack", "AUC", "95% interval", "TPR at 1% FPR", "TPR at 0.1% FPR"), rows)
    relearn = relearn_note(privacy)
    tail = f"<p>{escape(relearn[1])}</p>" if relearn else ""
    return head + attacks + table(("measure", "value", "95% interval"), scores) + tail
