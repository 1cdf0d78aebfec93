"""The "Privacy audit" section of a run's audit page (views/audit_page.py), from the privacy.json
that records/privacy_record.latest_audit found for the run."""

from __future__ import annotations

from unlearn_core.privacy.audit_result import AuditResult
from unlearn_core.views.privacy_audit import relearn_note, verdict_rows


def privacy_section(privacy: AuditResult | dict | None, table, escape, fmt) -> str:
    """The "Privacy audit" section: verdict and reason, one row per attack with its interval,
    and the challenge score, ToW and average gap. table, escape, fmt: the page's helpers."""
    if privacy is None:
        return (
            "<p>No privacy audit of this run's request in its store: run "
            "<code>privacy-audit</code> (or the Privacy page's audit) for a verdict.</p>"
        )
    audit = AuditResult.read(privacy)
    rows = []
    for name, attack in audit.model_attacks().items():
        low, high = attack.auc_ci
        rows.append(
            (
                name,
                fmt(attack.auc),
                f"[{fmt(low)}, {fmt(high)}]",
                fmt(attack.tpr_at_1pct_fpr),
                fmt(attack.tpr_at_0_1pct_fpr),
            )
        )
    challenge, tow, gap = audit.challenge, audit.tow, audit.avg_gap
    scores = [
        (
            "forgetting quality F",
            fmt(challenge.forgetting_quality),
            fmt(challenge.forgetting_quality_ci),
        ),
        ("final score", fmt(challenge.final_score), ""),
        *(
            (row["measure"], escape(row["value"]), escape(row["meaning"]))
            for row in verdict_rows(audit)[2:]  # the control, the difference, the power
        ),
        ("ToW", fmt(tow.mean), fmt([tow.ci_low, tow.ci_high])),
        ("average gap (SalUn)", fmt(gap.mean), fmt([gap.ci_low, gap.ci_high])),
    ]
    head = (
        f"<p><strong>{escape(audit.verdict)}</strong>: {escape(audit.verdict_reason)}"
        f"</p><p>Audit {escape(audit.audit_id or '')}: {audit.models} models "
        f"(seeds {escape(fmt(audit.seeds))}), retrained by the "
        f"{escape(audit.oracle_convention)} convention; equivalence margin "
        f"{escape(fmt(audit.margin))} on the AUC; the forget score F is the NeurIPS "
        "2023 official scorer's; its privacy.json is in this record.</p>"
    )
    attacks = table(("attack", "AUC", "95% interval", "TPR at 1% FPR", "TPR at 0.1% FPR"), rows)
    relearn = relearn_note(audit)
    tail = f"<p>{escape(relearn[1])}</p>" if relearn else ""
    return head + attacks + table(("measure", "value", "95% interval"), scores) + tail
