"""The audit record's opening verdict (run/verdict.py), on hand-built reports: one per case the
evidence can be in, including the two where it honestly cannot tell."""

from __future__ import annotations

import pytest

from unlearn_core.run.report import Report
from unlearn_core.run.verdict import accuracy_margin, verdict
from unlearn_core.views.audit_page import audit_html

N = 400  # forget-set size: margin(0.9, 0.9) = 2 * sqrt(0.18 / 400) + 1 / 400 = 0.0449


def attack(auc: float) -> dict:
    return {"auc": auc, "members": N, "nonmembers": N}


def report(original, unlearned, retrained, aucs=(0.5, 0.5, 0.5), **changes) -> Report:
    """A class request of N images; forget accuracies and loss-attack AUCs (original,
    unlearned, retrained); retrained None: no oracle."""
    accs = {"original": original, "unlearned": unlearned, "retrained": retrained}
    values = {
        "method": "unsir",
        "dataset": "demo",
        "arch": "smallcnn",
        "forget": {"classes": [3], "indices": list(range(N)), "count": N},
        "metrics": {k: None if v is None else {"forget_acc": v} for k, v in accs.items()},
        "mia": {
            k: None if accs[k] is None else {"loss": attack(a)}
            for k, a in zip(accs, aucs, strict=True)
        },
        **changes,
    }
    if retrained is not None:
        from unlearn_core.metrics.mia import mia_flags

        values["mia_flags"] = mia_flags(values["mia"])
    return Report.from_dict(values)


def test_the_margin_is_two_standard_errors_and_one_sample():
    assert accuracy_margin(0.9, 0.9, N) == pytest.approx(2 * (0.18 / N) ** 0.5 + 1 / N)
    assert accuracy_margin(0.0, 0.0, 100) == pytest.approx(0.01)


def test_matching_the_retrained_model_while_the_original_does_not_is_forgotten():
    v = verdict(report(0.95, 0.01, 0.0, aucs=(0.9, 0.5, 0.5)), class_names=list("abcd"))
    assert v.outcome == "forgotten"
    assert v.paragraph.startswith("Verdict: the evidence indicates the request was forgotten.")
    assert "classes 3 (d) of the demo training set (400 images)" in v.paragraph
    assert "by the method unsir" in v.paragraph and "1.0%" in v.paragraph


def test_no_oracle_is_inconclusive():
    v = verdict(report(0.95, 0.02, None))
    assert v.outcome == "inconclusive" and "--oracle" in v.paragraph


def test_an_original_that_would_pass_too_is_inconclusive():
    """Samples the original model never memorised: it already matches the retrained model."""
    v = verdict(report(0.86, 0.85, 0.86))
    assert v.outcome == "inconclusive" and "could not have failed" in v.paragraph


def test_a_model_still_right_on_the_forget_set_remembers():
    v = verdict(report(0.95, 0.6, 0.0, aucs=(0.9, 0.8, 0.5)))
    assert v.outcome == "remembers" and "membership attack" in v.paragraph


def test_over_unlearning_is_inconclusive_not_forgotten():
    v = verdict(report(0.95, 0.0, 0.86, aucs=(0.9, 0.5, 0.5)))
    assert v.outcome == "inconclusive" and "over-unlearning" in v.paragraph


@pytest.mark.parametrize(
    "run, audit, outcome",
    [
        ((0.95, 0.01, 0.0), "remembers", "remembers"),  # the audit over many models outweighs
        ((0.95, 0.01, None), "forgotten", "forgotten"),  # no oracle here: the audit decides
        ((0.95, 0.6, 0.0), "forgotten", "inconclusive"),  # the two disagree
        ((0.86, 0.85, 0.86), "inconclusive", "inconclusive"),  # neither can tell
    ],
)
def test_the_privacy_audit_is_weighed_in(run, audit, outcome):
    privacy = {"models": 8, "verdict": audit, "verdict_reason": "U-LiRA says so."}
    aucs = (0.5, 0.5, 0.5) if run[0] == run[2] else (0.9, 0.5, 0.5)
    v = verdict(report(*run, aucs=aucs), privacy)
    assert v.outcome == outcome and f"over 8 models says {audit}: U-LiRA says so." in v.paragraph


def test_the_verdict_opens_the_audit_page_with_who_asked():
    forget = {"classes": [3], "indices": [], "count": N, "requester": "<b>DPO</b>"}
    page = audit_html(report(0.95, 0.01, 0.0, aucs=(0.9, 0.5, 0.5), forget=forget))
    opening = page.split("<h1>", 1)[1].split("<h2>", 1)[0]
    assert 'class="verdict" data-outcome="forgotten"' in opening
    assert "requested by &lt;b&gt;DPO&lt;/b&gt;" in opening


def test_a_report_without_the_original_or_unlearned_numbers_is_inconclusive():
    assert verdict(report(None, 0.01, 0.0)).outcome == "inconclusive"
    assert verdict(report(0.95, None, 0.0)).outcome == "inconclusive"


def test_a_relearning_attack_beyond_the_retrained_models_is_said_beside_the_verdict():
    privacy = {"models": 8, "verdict": "remembers", "verdict_reason": "U-LiRA says so."}
    quiet = verdict(report(0.95, 0.01, 0.0), privacy).paragraph
    relearned = {**privacy, "attacks": {"relearn": {"beyond_retrained": True}}}
    loud = verdict(report(0.95, 0.01, 0.0), relearned).paragraph
    assert "relearning attack" not in quiet and "relearning attack" in loud
