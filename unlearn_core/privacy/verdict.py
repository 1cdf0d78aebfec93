"""The audit's verdict: an equivalence test on U-LiRA's AUC, paired with a control that must
be able to fail (Hayes et al., SaTML 2025: U-LiRA; Schuirmann 1987: two one-sided tests).

Three AUCs come from the same bootstrap draws (privacy/paired.py): U-LiRA telling the unlearned
models from the retrained ones, the control telling the original models from the retrained
ones, and their paired difference (control - unlearned). With a margin delta on the AUC:

- "forgotten" only when the unlearned models' 95% interval lies inside [0.5 - delta,
  0.5 + delta] (two one-sided tests at 2.5% each: the AUC is within delta of chance), the
  control's lies above 0.5 + delta (the attack can tell a model that did not forget) and the
  paired difference's lies above 0 (the method moved the models towards the retrained ones).
  A method that returns the original models has a difference of exactly 0 on every draw, so
  it is never "forgotten", whatever the noise.
- "remembers" when the unlearned interval lies above 0.5 + delta.
- otherwise "inconclusive", with the reason.

The power estimate (privacy/power.py) simulates audits with more models from the measured
per-sample effects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MARGIN = 0.05  # default equivalence margin on the AUC
Z_POWER = 0.8416212335729143  # one-sided 80% power


@dataclass(frozen=True)
class Evidence:
    """One AUC (or a difference of two): its value and 95% interval."""

    value: float
    low: float
    high: float

    def text(self) -> str:
        return f"AUC {self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"

    def finite(self) -> bool:
        return bool(np.isfinite([self.value, self.low, self.high]).all())


def decide(
    unlearned: Evidence,
    control: Evidence | None,
    difference: Evidence | None,
    models: int,
    margin: float = MARGIN,
) -> tuple[str, str]:
    """(verdict, one-sentence reason). Without a control (scores given without the original
    models' outputs) the verdict is at best "inconclusive"."""
    top, bottom = 0.5 + margin, 0.5 - margin
    if not unlearned.finite():
        return "inconclusive", "the attack has no interval (too few samples or models)."
    if unlearned.low > top:
        return "remembers", (
            f"U-LiRA tells the unlearned models from the retrained ones ({unlearned.text()}, "
            f"above 0.5 + {margin:g})."
        )
    if unlearned.high < bottom:
        return "inconclusive", (
            f"the unlearned models differ from the retrained ones the other way "
            f"({unlearned.text()}, below 0.5 - {margin:g}): over-unlearning, which an attack "
            f"can also see."
        )
    if control is None or not control.finite():
        return "inconclusive", (
            "there is no control (the original models' outputs), so the test could not have "
            "failed; give the original models' scores too."
        )
    if control.low <= top:
        return "inconclusive", (
            f"even the original models are not told from the retrained ones beyond the margin "
            f"(U-LiRA {control.text()}), so this test could not have failed."
        )
    if not (bottom <= unlearned.low and unlearned.high <= top):
        return "inconclusive", (
            f"the unlearned models' interval ({unlearned.text()}) is not within "
            f"0.5 ± {margin:g}, nor wholly above it."
        )
    if difference is None or not difference.low > 0:
        return "inconclusive", (
            "the unlearned models are not told from the retrained ones better than the "
            "original models are (the paired difference's interval reaches 0)."
        )
    return "forgotten", (
        f"the unlearned models' interval lies within 0.5 ± {margin:g} of chance, while U-LiRA "
        f"tells the original models apart ({control.text()})."
    )
