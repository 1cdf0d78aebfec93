"""A run's privacy audit in its audit record: the newest audit of the run's checkpoint, method,
settings and forget set in the run's store (its section of the HTML page is
views/audit_privacy.py)."""

from __future__ import annotations

from pathlib import Path

from unlearn_core.errors import UserError
from unlearn_core.privacy.store import AuditStore
from unlearn_core.run.report import Report

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


SHOWN = {  # what views/audit_privacy.privacy_section reads, and its type
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
