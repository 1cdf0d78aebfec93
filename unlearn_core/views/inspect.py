"""Plain rows and messages for the app's Attribution, Privacy and Verification pages, made from
a run's Report, an `attribution.Explanation` or a `sample_card` card, so that a page only draws
them. Nothing here runs a model; every function is usable (and tested) without streamlit.
"""

from __future__ import annotations

import torch
from torch import nn

from unlearn_core.metrics.attribution import Explanation, faithfulness_summary
from unlearn_core.request import ForgetRequest
from unlearn_core.run.report import PerModel, Report
from unlearn_core.run.report_blocks import (
    LayerVerification,
    MembershipAttacks,
    MiaFlags,
    RelearnTime,
)

ATTACKS = {"loss": "loss threshold (Yeom et al.)", "svc": "SVC on confidence (Jia et al.)"}


def default_indices(request: ForgetRequest, forgotten: int = 3) -> list[int]:
    """The first `forgotten` indices of the forget set and the first retained one: what the
    attribution page explains until someone types others."""
    chosen = request.forget_indices[:forgotten].tolist()
    return chosen + request.retain_indices[:1].tolist()


def conv_layers(model: nn.Module) -> list[str]:
    """Qualified names of the model's nn.Conv2d modules, in `named_modules()` order (the last is
    attribution.find_layer's default)."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def attribution_titles(
    expl: Explanation, class_names: list[str], forget: torch.Tensor
) -> list[str]:
    """One caption per explained sample: "#12 Dress, forgotten" (or "retained"), plus the target
    class when it is not the sample's own. forget: (k,) the run's forget indices."""
    gone = set(forget.tolist())
    titles = []
    for index, label, target in zip(
        expl.indices, expl.labels.tolist(), expl.targets.tolist(), strict=True
    ):
        title = f"#{index} {class_names[label]}, {'forgotten' if index in gone else 'retained'}"
        if target != label:
            title += f" (target {class_names[target]})"
        titles.append(title)
    return titles


def faithfulness_rows(expl: Explanation) -> list[dict]:
    """Per model, the deletion check averaged over the samples: mean confidence in the target
    class, mean drop when the top `fraction` of pixels is removed, the same for random pixels,
    and whether the map beats the random pixels (a faithful map does)."""
    rows = []
    for model, s in faithfulness_summary(expl).items():
        rows.append(
            {
                "model": model,
                "confidence": sum(s["confidence"]) / len(s["confidence"]),
                "drop, top pixels": s["mean_drop"],
                "drop, random pixels": s["mean_random_drop"],
                "map beats random": s["mean_drop"] > s["mean_random_drop"],
            }
        )
    return rows


def mia_rows(mia: PerModel[MembershipAttacks]) -> list[dict]:
    """A report's `mia` block as a row per (model, attack): AUC, TPR at 1% and 0.1% FPR and
    the sample counts; models or attacks without a result are left out."""
    rows = []
    for model, attacks in mia.present().items():
        for attack, s in attacks.present().items():
            rows.append(
                {
                    "model": model,
                    "attack": ATTACKS.get(attack, attack),
                    "AUC": s.auc,
                    "TPR at 1% FPR": s.tpr_at_1pct_fpr,
                    "TPR at 0.1% FPR": s.tpr_at_0_1pct_fpr,
                    "members": s.members,
                    "non-members": s.nonmembers,
                }
            )
    return rows


def svc_spread_rows(spread: dict[str, list[dict]]) -> list[dict]:
    """metrics.mia.svc_over_draws as a row per model: the SVC's MIA-Efficacy and AUC, their
    mean and range over the draws."""
    rows = []
    for model, runs in spread.items():
        row = {"model": model, "draws": len(runs)}
        for key, label in (("efficacy", "MIA-Efficacy"), ("auc", "AUC")):
            values = [r[key] for r in runs if r[key] is not None]
            row[f"{label} mean"] = sum(values) / len(values) if values else None
            row[f"{label} range"] = f"{min(values):.3f} – {max(values):.3f}" if values else "–"
        rows.append(row)
    return rows


def mia_flag_notes(flags: MiaFlags) -> list[tuple[str, str]]:
    """A report's `mia_flags` -> [(status, sentence)], one per attack with a flag; status is
    "over-unlearning", "under-unlearning" or "matches retrained"."""
    notes = []
    for attack, flag in flags.present().items():
        name = ATTACKS.get(attack, attack)
        gap, margin = flag.gap, flag.margin
        if flag.status == "over-unlearning":
            text = (
                f"Over-unlearning ({name}): the unlearned model's AUC is {-gap:.3f} below the "
                f"retrained model's (noise margin ±{margin:.3f}). The forget set now looks *less* "
                "like training data than after retraining, which itself tells an attacker it "
                "was removed."
            )
        elif flag.status == "under-unlearning":
            text = (
                f"Under-unlearning ({name}): the unlearned model's AUC is {gap:.3f} above the "
                f"retrained model's (noise margin ±{margin:.3f}): the forget set still looks "
                "like training data."
            )
        else:
            text = (
                f"Matches retrained ({name}): AUC gap {gap:+.3f} within the noise margin "
                f"±{margin:.3f}."
            )
        notes.append((flag.status, text))
    return notes


def relearn_rows(relearn: PerModel[RelearnTime]) -> list[dict]:
    """A report's `relearn_time` as a row per measured model: epochs to regain the original
    forget accuracy ("more than N" when the cap was hit), the target and the budget."""
    rows = []
    for model, r in relearn.present().items():
        epochs = str(r.epochs) if r.epochs is not None else f"more than {r.more_than}"
        rows.append(
            {
                "model": model,
                "epochs to relearn": epochs,
                "target forget accuracy": r.target_forget_acc,
                "samples per epoch": r.samples_per_epoch,
                "max epochs": r.max_epochs,
            }
        )
    return rows


def card_rows(card: dict, class_names: list[str]) -> list[dict]:
    """A sample_card as a row per model: loss, confidence in the true class, the prediction and
    the membership score (the neighbours are neighbour_lines: as a column they made the table
    scroll sideways at 1280 px)."""
    rows = []
    for model, m in card["models"].items():
        if m is None:
            continue
        rows.append(
            {
                "model": model,
                "loss": m["loss"],
                "confidence in true class": m["confidence"],
                "predicted": f"{m['predicted_class_name']} ({m['predicted_confidence']:.0%})",
                "membership score": m["membership_score"],
            }
        )
    return rows


def neighbour_lines(card: dict, class_names: list[str]) -> list[str]:
    """Per model, its nearest retained neighbours of the sample: "original: #12 Shirt, ..."."""
    return [
        f"{model}: "
        + ", ".join(f"#{n['index']} {class_names[n['label']]}" for n in m["neighbours"])
        for model, m in card["models"].items()
        if m is not None
    ]


def verification_rows(
    per_layer: list[LayerVerification] | None, labels: dict[str, str] | None = None
) -> list[dict]:
    """report.json's `verification_error_per_layer` with each layer's share_removed; labels: a
    name per parameter (views.layer_names), else the bare one."""
    return [
        {
            "layer": (labels or {}).get(r.layer, r.layer),
            "with update": r.with_update,
            "without update": r.without_update,
            "share removed": r.share_removed,
        }
        for r in per_layer or []
    ]


SINGLE_GRADIENT_OVERSHOOT = (
    "The single gradient step overshot: the model is outside the near-linear regime of the "
    "paper's Taylor expansion around w_0 (Unrolling SGD, Sec. 5, Eq. 4), where the Hessian terms "
    "the step leaves out (what the unlearning error, Eq. 9, estimates) outweigh the first-order "
    "term it removes. To get back into it, train with a smaller learning rate or fewer SGD steps "
    "since the forgotten points were seen (fine-tune briefly from a good w_0), or try the SD loss "
    "(Eq. 10), which the paper proposes to lower the unlearning error; the study below measures "
    "where the regime ends. Until then this model is not unlearned: use another method."
)
STANDARD_ORACLE = (
    " This run's retrain is the standard one, not single-gradient's own target: rerun with "
    "`--oracle-convention replay` before reading the share."
)


def overshoot_note(report: Report) -> str | None:
    """A plain reading of a verification error above the one without the update (a negative
    share removed: the update made things worse than not updating); None when the update removed
    a share, or without both errors."""
    after, before = report.verification_error, report.verification_error_without_update
    if after is None or before is None or after <= before:
        return None
    head = (
        f"**The update made things worse than not updating.** The unlearned weights are "
        f"{after:.4g} from the retrained ones; the original's were {before:.4g}. "
    )
    if report.method == "single-gradient":
        replay = report.oracle_convention == "replay"
        return head + SINGLE_GRADIENT_OVERSHOOT + ("" if replay else STANDARD_ORACLE)
    return head + (
        f"{report.method} does not aim at the retrained weights, only at the retrained model's "
        "behaviour, so its weights may move away from them while its outputs come closer: judge "
        "it by the accuracy gaps (Unlearn page) and the privacy audit, not by this distance."
    )
