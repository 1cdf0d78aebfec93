"""privacy/audit_result.py: privacy.json typed for its readers; every key of the file, known or
not, comes back out in its order, and an older file (no margin, power, control, samples or
relearning) opens with those fields None and the views show "–"."""

import json

from unlearn_core.privacy.audit_result import Attack, AuditResult, Relearn
from unlearn_core.views.privacy_audit import (
    attack_rows,
    relearn_note,
    sample_rows,
    score_rows,
    verdict_rows,
)

ULIRA = {
    "auc": 0.62,
    "auc_ci": [0.55, 0.69],
    "tpr_at_1pct_fpr": 0.04,
    "tpr_at_0_1pct_fpr": 0.01,
    "per_sample": [{"index": 7, "auc": 0.7, "unlearned": [1.0], "retrained": [0.2]}],
    "roc": {"fpr": [0.0, 1.0], "tpr": [0.0, 1.0], "tpr_low": [0, 1], "tpr_high": [0, 1]},
}
LOSS = {
    "auc": 0.51,
    "auc_ci": [0.49, 0.53],
    "tpr_at_1pct_fpr": 0.01,
    "tpr_at_0_1pct_fpr": 0.0,
    "per_sample": [],
    "retrained": {"auc": 0.5},
    "original": {"auc": 0.6},
    "a_key_from_a_newer_version": [1, 2],
}
RELEARN = {
    "steps": 20,
    "samples": 256,
    "unlearned": {
        "recovery": 0.3,
        "recovery_ci": [0.2, 0.4],
        "forget_acc_after": 0.8,
        "forget_acc_after_ci": [0.7, 0.9],
        "per_model": [0.3, 0.3],
    },
    "retrained": {
        "recovery": 0.1,
        "recovery_ci": [0.0, 0.2],
        "forget_acc_after": 0.6,
        "forget_acc_after_ci": [0.5, 0.7],
        "per_model": [0.1, 0.1],
    },
    "gap": 0.2,
    "gap_ci": [0.1, 0.3],
    "beyond_retrained": True,
}
NEW = {
    "verdict": "remembers",
    "verdict_reason": "U-LiRA tells them apart.",
    "margin": 0.05,
    "power": {
        "models_needed": 16,
        "min_detectable_auc": 0.58,
        "power": 0.8,
        "max_models_tried": 256,
    },
    "attacks": {"ulira": ULIRA, "loss": LOSS, "relearn": RELEARN},
    "challenge": {
        "forgetting_quality": 0.4,
        "final_score": 0.38,
        "epsilons": [2.0],
        "official": {"forget_score": 0.4, "epsilons": [2.0]},
        "scoring_limit": 2.0,
    },
    "samples": [
        {
            "index": 7,
            "epsilon": 2.0,
            "ulira_score": 0.7,
            "conf_unlearned": 0.9,
            "conf_retrained": 0.4,
        }
    ],
    "control": {"ulira": {**ULIRA, "auc": 0.8}, "difference": {"value": 0.18, "ci": [0.1, 0.2]}},
    "models": 2,
    "method": "finetune",
    "forget": {"classes": [], "indices": [7]},
    "tow": {"mean": 0.9, "std": 0.01, "ci_low": 0.85, "ci_high": 0.95, "per_model": [0.9, 0.9]},
    "avg_gap": {"mean": 0.05, "std": None, "ci_low": None, "ci_high": None, "per_model": [0.05]},
    "seeds": [0, 1],
    "oracle_convention": "standard",
    "seconds": {"wall": 1.0},
}
# written before the paired verdict: no margin, power, control, samples or relearning attack
OLD = {k: v for k, v in NEW.items() if k not in ("margin", "power", "control", "samples")}
OLD["attacks"] = {"ulira": ULIRA, "loss": LOSS}


def test_every_key_comes_back_in_its_order():
    for privacy in (NEW, OLD, {"method": None, "attacks": {"ulira": ULIRA}}):
        again = AuditResult.from_dict(json.loads(json.dumps(privacy))).to_dict()
        assert json.dumps(again) == json.dumps(privacy)


def test_fields_read_as_attributes():
    audit = AuditResult.from_dict(NEW)
    assert isinstance(audit.attacks["loss"], Attack) and isinstance(audit.relearn, Relearn)
    assert audit.ulira.auc_ci == [0.55, 0.69] and audit.control.ulira.auc == 0.8
    assert audit.power.models_needed == 16 and audit.tow.ci_high == 0.95
    assert list(audit.model_attacks()) == ["ulira", "loss"]
    assert AuditResult.read(audit) is audit


def test_an_older_file_opens_with_dashes_where_it_has_no_value():
    audit = AuditResult.from_dict(OLD)
    assert audit.margin is None and audit.power.models_needed is None and audit.relearn is None
    assert audit.control.ulira.auc_ci is None and audit.control.attack("loss").auc is None
    values = [row["value"] for row in verdict_rows(OLD)]
    assert values[0] == "–" and values[2:5] == ["–", "–", "–"]
    assert relearn_note(OLD) is None
    assert sample_rows(OLD)[0]["epsilon"] == 2.0  # rebuilt from U-LiRA's and the challenge's


def test_the_views_read_the_typed_and_the_plain_file_alike():
    typed = AuditResult.from_dict(NEW)
    assert attack_rows(typed) == attack_rows(NEW)
    assert attack_rows(NEW)[1]["original AUC"] == "0.600"  # the loss attack's own yardstick
    assert score_rows(typed)[3]["95% interval"] == "–"  # one model: no interval
    assert relearn_note(NEW)[0] is True
