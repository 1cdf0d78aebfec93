"""report.json's measured blocks, typed for their readers (run/report.py's fields).

Each is a `Block` (run/blocks.py): a field per key its writer in metrics/ writes, a key missing
from an older report reading as None, and every key of the file, known or not, written back in
its order with none added, so `Report.from_dict(d).to_dict() == d` for any run, old or new.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from unlearn_core.metrics.verification_error import share_removed
from unlearn_core.run.blocks import Block, optional


@dataclass(frozen=True, kw_only=True)
class Roc(Block):
    """An attack's ROC curve, corners only: fpr (p,) and tpr (p,), from (0, 0) to (1, 1)."""

    fpr: list[float] | None = None
    tpr: list[float] | None = None


@dataclass(frozen=True, kw_only=True)
class AttackSummary(Block):
    """One membership attack on one model (metrics.mia.attack_summary, svc_attack): {auc,
    tpr_at_1pct_fpr, tpr_at_0_1pct_fpr, members, nonmembers, roc} and, for the SVC, {efficacy,
    fit_members, fit_nonmembers}."""

    _LOADERS: ClassVar = {"roc": optional(Roc.from_dict)}

    auc: float | None = None
    tpr_at_1pct_fpr: float | None = None
    tpr_at_0_1pct_fpr: float | None = None
    members: int | None = None  # forget samples scored
    nonmembers: int | None = None  # test samples scored
    roc: Roc | None = None  # None when a side is empty
    efficacy: float | None = None  # SVC: share of members predicted non-members (Jia et al.)
    fit_members: int | None = None  # SVC: retain samples it was fitted on
    fit_nonmembers: int | None = None  # SVC: test samples it was fitted on


ATTACK_NAMES = ("loss", "svc")  # the single-model attacks of metrics.mia, in report order


@dataclass(frozen=True, kw_only=True)
class _ByAttack(Block):
    """A block with one field per attack of ATTACK_NAMES (None where the attack has none)."""

    def present(self) -> dict:
        """attack name -> its value, for the attacks that have one, in ATTACK_NAMES order."""
        found = {name: getattr(self, name) for name in ATTACK_NAMES}
        return {name: value for name, value in found.items() if value is not None}


@dataclass(frozen=True, kw_only=True)
class MembershipAttacks(_ByAttack):
    """One model's `mia` entry (metrics.mia.membership_inference): {"loss": A, "svc": A | null}."""

    _LOADERS: ClassVar = {
        "loss": optional(AttackSummary.from_dict),
        "svc": optional(AttackSummary.from_dict),
    }

    loss: AttackSummary | None = None  # loss threshold (Yeom et al., 2018)
    svc: AttackSummary | None = None  # SVC on confidences (Jia et al., 2023); None: not fitted


@dataclass(frozen=True, kw_only=True)
class MiaFlag(Block):
    """How the unlearned model's AUC compares with the retrained model's (metrics.mia.mia_flags)."""

    status: str | None = None  # "over-unlearning" | "under-unlearning" | "matches retrained"
    gap: float | None = None  # AUC, unlearned - retrained
    margin: float | None = None  # z standard errors (Hanley and McNeil)


@dataclass(frozen=True, kw_only=True)
class MiaFlags(_ByAttack):
    """report.json's `mia_flags`: {"loss": F | null, "svc": F | null} (F: MiaFlag)."""

    _LOADERS: ClassVar = {"loss": optional(MiaFlag.from_dict), "svc": optional(MiaFlag.from_dict)}

    loss: MiaFlag | None = None
    svc: MiaFlag | None = None


@dataclass(frozen=True, kw_only=True)
class RelearnTime(Block):
    """One model's `relearn_time` entry (metrics.relearn.relearn_time): epochs of training on
    random samples until the forget accuracy is back at the original's."""

    epochs: int | None = None  # None when the cap was hit first
    more_than: int | None = None  # the cap, when it was hit; None otherwise
    target_forget_acc: float | None = None  # the original model's forget accuracy
    forget_acc_per_epoch: list[float] | None = None  # (epochs + 1,), before any epoch first
    samples_per_epoch: int | None = None
    max_epochs: int | None = None
    seed: int | None = None


@dataclass(frozen=True, kw_only=True)
class LayerDistance(Block):
    """One row of `layer_distance` (metrics.distance.layer_distance): a parameter tensor's L2
    distance from the unlearned weights to the original's and to the retrained model's (None
    without the oracle), absolute and relative (||w - w_ref|| / ||w_ref||)."""

    layer: str | None = None  # the parameter's name, e.g. "0.weight"
    to_original: float | None = None
    to_retrained: float | None = None
    to_original_relative: float | None = None
    to_retrained_relative: float | None = None

    def distance(self, reference: str, relative: bool = False) -> float | None:
        """The distance to `reference` ("original" or "retrained"), relative or in weight units."""
        if reference == "original":
            return self.to_original_relative if relative else self.to_original
        return self.to_retrained_relative if relative else self.to_retrained


@dataclass(frozen=True, kw_only=True)
class LayerVerification(Block):
    """One row of `verification_error_per_layer` (metrics.verification_error): a parameter
    tensor's share of the verification error (Thudi et al., Unrolling SGD), the L2 distance to
    the retrained weights with the update (unlearned) and without it (original)."""

    layer: str | None = None
    with_update: float | None = None
    without_update: float | None = None

    @property
    def share_removed(self) -> float | None:
        """metrics.verification_error.share_removed of this layer; None where either distance
        is missing."""
        if self.with_update is None or self.without_update is None:
            return None
        return share_removed(self.with_update, self.without_update)


@dataclass(frozen=True, kw_only=True)
class JobInfo(Block):
    """report.json's `job` for a run made as a job (engine/kinds/unlearn.py); null otherwise."""

    id: str | None = None  # the job's id in the store
    sweep_id: str | None = None  # the sweep it belongs to, if any
    executor: str | None = None  # "inline" | "ray"
    node: str | None = None  # the host it ran on
    threads: int | None = None  # torch threads it ran at
    seconds: float | None = None  # the job's wall-clock time, oracle wait included


@dataclass(frozen=True, kw_only=True)
class RiskScores(Block):
    """One model's privacy risk scores on the forget set (metrics.privacy_risk, Song and
    Mittal, 2021): each sample's posterior probability of being a member, and their mean."""

    mean: float | None = None
    scores: list[float] | None = None  # (k,) one per forget sample


@dataclass(frozen=True, kw_only=True)
class Shadow(Block):
    """The shadow model the risk scores are fitted on: whether it came from the cache, its
    member and non-member counts and the histograms' bins per class."""

    cached: bool | None = None
    members: int | None = None
    nonmembers: int | None = None
    num_bins: int | None = None


@dataclass(frozen=True, kw_only=True)
class PrivacyRisk(Block):
    """report.json's `privacy_risk` (metrics.privacy_risk.privacy_risk), when asked for:
    {original, unlearned, retrained: RiskScores | null, shadow: Shadow}."""

    _LOADERS: ClassVar = {
        "original": optional(RiskScores.from_dict),
        "unlearned": optional(RiskScores.from_dict),
        "retrained": optional(RiskScores.from_dict),
        "shadow": optional(Shadow.from_dict),
    }

    original: RiskScores | None = None
    unlearned: RiskScores | None = None
    retrained: RiskScores | None = None  # None without the oracle
    shadow: Shadow | None = None
