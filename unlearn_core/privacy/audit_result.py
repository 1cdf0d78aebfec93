"""privacy.json as a typed object, for its readers: `AuditResult.from_dict(privacy)`.

The writer is privacy/audit.py (`summarise`) with privacy/scores.py; DESIGN.md fixes the keys.
Each block has a typed field per key a view reads; a key missing from an older file reads as
None (a missing block as one whose fields are None), so the views need no key checks. Every key
of the file, known or not, comes back out of `to_dict` in the file's own order and nothing is
added, so `AuditResult.from_dict(d).to_dict() == d` for any privacy.json, old or new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from unlearn_core.run.blocks import Block


@dataclass(frozen=True, kw_only=True)
class Attack(Block):
    """A membership attack: {"auc", "auc_ci", "tpr_at_1pct_fpr", "tpr_at_0_1pct_fpr",
    "per_sample", ...} (DESIGN.md's A), with the ROC band and the yardsticks where recorded."""

    auc: float | None = None
    auc_ci: list[float] | None = None  # [low, high], 95%
    tpr_at_1pct_fpr: float | None = None
    tpr_at_0_1pct_fpr: float | None = None
    per_sample: list[dict] | None = None  # U-LiRA: {"index", "auc", "unlearned", "retrained"}
    roc: dict | None = None  # {"fpr", "tpr", "tpr_low", "tpr_high"}
    retrained: dict | None = None  # a population attack's AUC on the retrained models
    original: dict | None = None  # ... and on the original models


@dataclass(frozen=True, kw_only=True)
class Relearn(Block):
    """attacks.relearn: forget accuracy regained by fine-tuning on retained images
    (privacy/relearn_attack.py); `unlearned` and `retrained` are {"recovery", "recovery_ci",
    "forget_acc_after", "forget_acc_after_ci", "per_model"}."""

    steps: int | None = None
    samples: int | None = None
    unlearned: dict | None = None
    retrained: dict | None = None
    gap: float | None = None
    gap_ci: list[float] | None = None
    beyond_retrained: bool | None = None


def _attacks(raw) -> dict[str, Attack | Relearn]:
    return {k: (Relearn if k == "relearn" else Attack).from_dict(v) for k, v in (raw or {}).items()}


@dataclass(frozen=True, kw_only=True)
class Challenge(Block):
    """The NeurIPS 2023 challenge's score (privacy/challenge.py)."""

    forgetting_quality: float | None = None  # F
    forgetting_quality_ci: list[float] | None = None
    original_forgetting_quality: float | None = None
    final_score: float | None = None  # F x RA ratio x TA ratio
    epsilons: list[float] | None = None  # per forget sample
    scoring_limit: float | None = None  # the epsilon from which a sample scores 0


@dataclass(frozen=True, kw_only=True)
class Interval(Block):
    """A mean over models with its 95% Student-t interval (metrics/summary_stats.py)."""

    mean: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True, kw_only=True)
class Difference(Block):
    """control.difference: U-LiRA's AUC, control minus unlearned, paired."""

    value: float | None = None
    ci: list[float] | None = None


@dataclass(frozen=True, kw_only=True)
class Control(Block):
    """The control: U-LiRA on the original models against the retrained ones."""

    _LOADERS: ClassVar = {"ulira": Attack.from_dict, "difference": Difference.from_dict}

    ulira: Attack = field(default_factory=Attack)
    difference: Difference = field(default_factory=Difference)

    def attack(self, name: str) -> Attack:
        """The control's result of attack `name` (fields None where it has none)."""
        return self.ulira if name == "ulira" else Attack.from_dict(self.extra.get(name))


@dataclass(frozen=True, kw_only=True)
class Power(Block):
    """How many models would settle the verdict (privacy/power.py)."""

    models_needed: int | None = None
    min_detectable_auc: float | None = None
    max_models_tried: int | None = None


@dataclass(frozen=True, kw_only=True)
class AuditResult(Block):
    """One privacy audit's privacy.json (see the module notes)."""

    _LOADERS: ClassVar = {
        "attacks": _attacks,
        "challenge": Challenge.from_dict,
        "tow": Interval.from_dict,
        "avg_gap": Interval.from_dict,
        "control": Control.from_dict,
        "power": Power.from_dict,
    }

    verdict: str | None = None  # "forgotten" | "remembers" | "inconclusive"
    verdict_reason: str | None = None
    margin: float | None = None  # the equivalence margin on the AUC
    models: int | None = None
    seeds: list[int] | None = None
    oracle_convention: str | None = None
    audit_id: str | None = None  # added by records/privacy_record.latest_audit
    attacks: dict[str, Attack | Relearn] = field(default_factory=dict)
    challenge: Challenge = field(default_factory=Challenge)
    tow: Interval = field(default_factory=Interval)
    avg_gap: Interval = field(default_factory=Interval)
    control: Control = field(default_factory=Control)
    power: Power = field(default_factory=Power)
    samples: list[dict] | None = None  # {"index", "epsilon", "ulira_score", "conf_*"}

    @classmethod
    def read(cls, privacy: AuditResult | dict) -> AuditResult:
        """`privacy` typed: an AuditResult as it is, a privacy.json dict through from_dict."""
        return privacy if isinstance(privacy, AuditResult) else cls.from_dict(privacy)

    def model_attacks(self) -> dict[str, Attack]:
        """The attacks that score membership with an AUC (U-LiRA, loss, SVC), without the
        relearning attack, which measures recovered accuracy instead."""
        return {k: a for k, a in self.attacks.items() if isinstance(a, Attack) and "auc" in a.keys}

    @property
    def ulira(self) -> Attack:
        """U-LiRA's attack (fields None in a file without it)."""
        return self.attacks.get("ulira") or Attack()

    @property
    def relearn(self) -> Relearn | None:
        """The relearning attack; None where it was not run (or its block is empty)."""
        found = self.attacks.get("relearn")
        return found if found is not None and found.keys else None
