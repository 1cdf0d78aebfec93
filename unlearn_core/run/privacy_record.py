"""A run's privacy audit in its audit record: the newest audit of the run's checkpoint, method,
settings and forget set in the run's store, and its section of the HTML page."""

from __future__ import annotations

from pathlib import Path

from unlearn_core.errors import UserError
from unlearn_core.privacy.store import AuditStore
from unlearn_core.run.report import Report
from unlearn_core.views.privacy_audit import model_attacks, relearn_note, verdict_rows

PRIVACY_FILE = "privacy.json"


def latest_audit(run_folder: str | Path, report: Report) -> dict | None:
    """privacy.json of the newest matching audit in the run's store (the folder above the run),
    with its id under "audit_id"; None when there is none."""
    forget = report.forget
    request = {"classes": forget.classes} if forget.classes else {"indices": forget.indices}
    found = AuditStore(Path(run_folder).resolve().parent).matching(
        report.checkpoints.original_sha256, report.method, request, report.config
    )
    if not found:
        return None
    audit_id, privacy = found[0]
    missing = [key for key, kind in SHOWN.items() if not isinstance(privacy.get(key), kind)]
    missing += [
        f"{block}.{key}"
        for block, keys in NESTED.items()
        if block not in missing
        for key in keys
        if key not in privacy[block]
    ]
    attacks = privacy.get("attacks") or {}
    if missing or not all(_attack_shown(a) for a in attacks.values()):
        what = f"lacks {missing[0]!r}" if missing else "has a malformed attack"
        raise UserError(
            f"the privacy audit {audit_id} of this run in the store {what}; remove it or rerun "
            "privacy-audit."
        )
    return {**privacy, "audit_id": audit_id}


SHOWN = {  # what privacy_section reads, and its type
    "attacks": dict,
    "challenge": dict,
    "tow": dict,
    "avg_gap": dict,
    "verdict": str,
    "verdict_reason": str,
    "models": int,
    "seeds": list,
    "oracle_convention": str,
}


NESTED = {
    "challenge": ("forgetting_quality", "final_score"),
    "tow": ("mean", "ci_low", "ci_high"),
    "avg_gap": ("mean", "ci_low", "ci_high"),
}


def _attack_shown(attack) -> bool:
    keys = ("auc", "tpr_at_1pct_fpr", "tpr_at_0_1pct_fpr")
    interval = attack.get("auc_ci") if isinstance(attack, dict) else None
    return isinstance(interval, list) and len(interval) == 2 and all(k in attack for k in keys)


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
