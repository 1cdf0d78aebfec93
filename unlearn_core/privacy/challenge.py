"""The NeurIPS 2023 unlearning challenge's score (Triantafillou et al., "Are we making progress
in unlearning? Findings from the first NeurIPS unlearning competition", 2024, Sec. 3).

For each forgotten sample, N unlearned and N retrained models give one output each (here phi,
the logit-scaled confidence, as U-LiRA uses). Every threshold rule on that output is an attack
that calls a model "unlearned"; its false positive and false negative rates bound the sample's
epsilon at delta: eps >= log((1 - delta - FPR) / FNR) and log((1 - delta - FNR) / FPR). The
sample's epsilon is the largest bound over all rules and both directions. With N models a rate
below 1/N cannot be observed, so rates in a denominator are floored at 1/N: epsilon is capped
at log(N (1 - delta)), and more models are needed to show a larger one.

Epsilons are bucketed into bins of width 0.5; the n-th bin (n = 1, 2, ...) scores 2 / 2^n, so a
sample with epsilon below 0.5 scores 1. The forgetting quality F is the mean score over the
forget set, and the final score is F x (retain accuracy ratio) x (test accuracy ratio), each
ratio the unlearned models' mean accuracy over the retrained models'.
"""

from __future__ import annotations

import math

import numpy as np

DELTA = 1e-5
BIN_WIDTH = 0.5


def example_epsilon(unlearned: np.ndarray, retrained: np.ndarray, delta: float = DELTA) -> float:
    """One sample's epsilon from its outputs under N unlearned (N,) and N' retrained (N',)
    models: the best threshold attack's bound, never below 0."""
    thresholds = np.concatenate([[-np.inf], np.unique(np.concatenate([unlearned, retrained]))])
    # rule "unlearned if phi > t": FPR = retrained above t, FNR = unlearned at or below t
    fpr = (retrained[None, :] > thresholds[:, None]).mean(1)  # (t,)
    fnr = (unlearned[None, :] <= thresholds[:, None]).mean(1)  # (t,)
    best = 0.0
    for a, b in ((fpr, fnr), (1 - fpr, 1 - fnr)):  # and the opposite rule, "phi <= t"
        best = max(best, _bound(a, b, delta, len(unlearned)), _bound(b, a, delta, len(retrained)))
    return best


def _bound(numerator_rate, denominator_rate, delta: float, n_denominator: int) -> float:
    """max over rules of log((1 - delta - a) / max(b, 1/n)) where the numerator is positive."""
    top = 1 - delta - numerator_rate
    bottom = np.maximum(denominator_rate, 1 / n_denominator)
    valid = top > 0
    return float(np.log(top[valid] / bottom[valid]).max()) if valid.any() else 0.0


def example_epsilons(unlearned: np.ndarray, retrained: np.ndarray, delta: float = DELTA):
    """phi grids (N, m) -> the m samples' epsilons (m,)."""
    return np.array(
        [
            example_epsilon(unlearned[:, i], retrained[:, i], delta)
            for i in range(unlearned.shape[1])
        ]
    )


def bucket_score(epsilon: float) -> float:
    """2 / 2^n for epsilon in the n-th bin [0.5 (n - 1), 0.5 n)."""
    n = math.floor(epsilon / BIN_WIDTH) + 1
    return 2.0 / 2.0**n


def forgetting_quality(epsilons: np.ndarray) -> float:
    """F: the mean bucket score over the forget set, in (0, 1]; 1 when no sample leaks."""
    return float(np.mean([bucket_score(e) for e in epsilons]))


def final_score(quality: float, retain_ratio: float, test_ratio: float) -> float:
    """F x RA_unlearned / RA_retrained x TA_unlearned / TA_retrained."""
    return quality * retain_ratio * test_ratio
