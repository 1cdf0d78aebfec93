"""A linear probe: how well a logistic regression reads a binary property off frozen features.

"Are We Truly Forgetting?" (2025) and the linear-probing literature (Alain and Bengio, ICLR
workshop 2017) ask whether information an unlearned model no longer *outputs* is still *linearly
decodable* from its features. The probe is trained on one set of features and scored on another,
held-out set; its accuracy comes with a Wilson score interval (Wilson, JASA 1927), the binomial
interval that stays inside [0, 1] and keeps its coverage at small n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from unlearn_core.errors import UserError

Z_95 = 1.959963984540054  # the standard normal's 97.5% quantile


@dataclass(frozen=True)
class ProbeResult:
    accuracy: float  # on the held-out features
    ci_low: float  # Wilson 95% interval of that accuracy
    ci_high: float
    n_test: int

    def to_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n_test": self.n_test,
        }


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion successes / n."""
    if n <= 0:
        raise UserError("an interval needs at least one trial.")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def probe_accuracy(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    *,
    seed: int = 0,
    c: float = 1.0,
) -> ProbeResult:
    """Fit a standardised L2 logistic regression (inverse strength `c`) on train_x (n, d) with
    binary labels train_y (n,), score it on test_x (m, d), test_y (m,)."""
    for name, labels in (("training", train_y), ("test", test_y)):
        if len(np.unique(labels)) < 2:
            raise UserError(f"the probe's {name} set needs examples of both kinds.")
    model = make_pipeline(
        StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed)
    )
    model.fit(np.asarray(train_x, dtype=np.float64), np.asarray(train_y))
    correct = int((model.predict(np.asarray(test_x, dtype=np.float64)) == test_y).sum())
    low, high = wilson_interval(correct, len(test_y))
    return ProbeResult(correct / len(test_y), low, high, len(test_y))
