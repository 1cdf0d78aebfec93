"""The audit record's opening paragraph: what was asked to be forgotten, by which method, and
whether the evidence shows forgetting, in plain words and from the report's numbers alone.

The evidence is read against the model retrained without the forget set (the oracle), never
against zero: a good unlearned model matches the retrained one (Tarun et al., 2023; Thudi et
al., EuroS&P 2022). A test that the original, never-unlearned model would pass as well proves
nothing, so then the verdict is "inconclusive", as privacy/verdict.py does for U-LiRA. The
privacy audit over many models (privacy_record.latest_audit), when there is one, outweighs this
run's single models: its "remembers" stands, and its "forgotten" stands unless this run's own
numbers say the model remembers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from unlearn_core.metrics.mia import mia_flags
from unlearn_core.run.report import PerModel, Report, read_mia_flags
from unlearn_core.run.report_blocks import MiaFlags

Z = 2.0  # standard errors: the same z as metrics.mia.mia_flags
OUTCOMES = ("forgotten", "remembers", "inconclusive")  # privacy/verdict.py's words


@dataclass(frozen=True)
class Verdict:
    outcome: str  # one of OUTCOMES
    paragraph: str  # plain text, one paragraph


def accuracy_margin(a: float, b: float, n: int) -> float:
    """How far two accuracies over the same n samples may lie apart and still count as alike:
    Z binomial standard errors of their difference (taken as independent: they share the
    samples, so this overstates the noise) plus one sample's worth, 1/n, so that 0 and 0.01 on
    a hundred images are not called different."""
    return Z * math.sqrt((a * (1 - a) + b * (1 - b)) / n) + 1 / n


def _statuses(flags: MiaFlags | None) -> set[str]:
    """The attacks' statuses ("matches retrained", "under-unlearning", "over-unlearning")."""
    return {f.status for f in flags.present().values()} if flags is not None else set()


def _run_evidence(report: Report) -> tuple[str, str]:
    """(outcome, sentence) from this run's single models: forget accuracy and the membership
    attacks of the unlearned and of the original model, each against the retrained model."""
    m, n = report.metrics, report.forget.count or 0
    u, r = (getattr(m.unlearned, "forget_acc", None), getattr(m.retrained, "forget_acc", None))
    if not (_finite(u) and _finite(r)) or not n:  # NaN compares false: it must not pass
        return "inconclusive", (
            "This run has no retrained model to compare with (rerun it with --oracle), so its "
            "numbers alone cannot show forgetting."
        )
    margin = accuracy_margin(u, r, n)
    o = getattr(m.original, "forget_acc", None)
    original = "not measured" if o is None else f"{o:.1%}"
    attacks = _statuses(report.mia_flags)
    accuracy = (
        f"its forget accuracy is {u:.1%} against the retrained model's {r:.1%} "
        f"(alike within {margin:.1%})"
    )
    if u - r > margin or "under-unlearning" in attacks:
        attack = ""
        if "under-unlearning" in attacks:
            attack = " and a membership attack still tells the forget set apart"
        return "remembers", (
            f"The unlearned model still behaves as if trained on it: {accuracy}{attack}."
        )
    if r - u > margin or "over-unlearning" in attacks:
        return "inconclusive", (
            f"The unlearned model differs from the retrained one the other way: {accuracy}, or "
            "an attack finds the forget set less familiar than after retraining (over-unlearning, "
            "which an attacker can also see)."
        )
    if _original_passes(report, n):
        return "inconclusive", (
            f"The unlearned model matches the retrained one ({accuracy}), but so does the "
            f"original, never-unlearned model ({original}), so these tests could "
            "not have failed: they cannot tell forgetting from never having memorised."
        )
    return "forgotten", (
        f"The unlearned model matches the retrained one: {accuracy}, the membership attacks "
        "cannot tell them apart, and the original model could be told apart "
        f"(forget accuracy {original})."
    )


def _finite(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _original_passes(report: Report, n: int) -> bool:
    """Whether the original model would pass the same tests against the retrained one."""
    o, r = report.metrics.original, report.metrics.retrained
    if o is None or not _finite(o.forget_acc):
        return True  # no control: nothing shows the tests can fail
    if abs(o.forget_acc - r.forget_acc) > accuracy_margin(o.forget_acc, r.forget_acc, n):
        return False
    mia = report.mia
    if mia.original is None or mia.retrained is None:
        return True
    pair = PerModel(unlearned=mia.original, retrained=mia.retrained)
    control = read_mia_flags(mia_flags(pair.to_dict()))
    return _statuses(control) <= {"matches retrained"}


def _privacy_sentence(privacy: dict | None) -> str:
    if privacy is None:
        return "No privacy audit over many models was run for this request."
    relearn = (privacy.get("attacks") or {}).get("relearn") or {}
    beyond = (
        " Beside it, the relearning attack: fine-tuning on retained images brings back more "
        "forget accuracy than in the retrained models."
        if relearn.get("beyond_retrained")
        else ""
    )
    return (
        f"The privacy audit over {privacy.get('models')} models says "
        f"{privacy.get('verdict')}: {privacy.get('verdict_reason')}{beyond}"
    )


def _combine(run: str, privacy: dict | None) -> str:
    audit = (privacy or {}).get("verdict")
    if audit == "remembers":
        return "remembers"
    if audit == "forgotten":
        return "inconclusive" if run == "remembers" else "forgotten"
    return run


WORDS = {
    "forgotten": "the evidence indicates the request was forgotten",
    "remembers": "the evidence indicates the model still remembers what it was asked to forget",
    "inconclusive": "inconclusive, the evidence cannot tell whether the request was forgotten",
}


def verdict(
    report: Report, privacy: dict | None = None, class_names: list[str] | None = None
) -> Verdict:
    """The audit record's verdict on `report` (and its privacy audit, privacy.json's dict)."""
    forget = report.forget
    asked = f"{forget.label(class_names)} of the {report.dataset} training set"
    if forget.classes:
        asked += f" ({forget.count} images)"
    who = f", requested by {forget.requester}" if forget.requester else ""
    when = f" on {forget.request_date}" if forget.request_date else ""
    run_outcome, run_sentence = _run_evidence(report)
    outcome = _combine(run_outcome, privacy)
    paragraph = (
        f"Verdict: {WORDS[outcome]}. The model {report.arch} was asked to forget {asked}{who}"
        f"{when}, by the method {report.method}. {run_sentence} {_privacy_sentence(privacy)}"
    )
    return Verdict(outcome, paragraph)
