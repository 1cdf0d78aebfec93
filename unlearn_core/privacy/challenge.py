"""The NeurIPS 2023 unlearning challenge's forgetting score, as its official scorer computes it
(Triantafillou et al., "Are we making progress in unlearning? Findings from the first NeurIPS
unlearning competition", 2024, Sec. 3; the scorer is `metric.py` of google-deepmind's
`unlearning_evaluation`, matched to 1e-9 in tests/test_challenge_official.py).

For each forgotten sample, N unlearned and N' retrained models give one logit-scaled confidence
each. Every decision rule of two families is an attack that tells the two apart: one threshold
("the side with the larger median is above t", a grid of 100 thresholds per unit of the
outputs' range), and two thresholds ("inside [l, r]" is the peakier side: 400 right ends over
4 units and 400 left ends 4 units wide around r minus the peakier side's range). A rule's false
positive and false negative rates bound the sample's epsilon at delta:
max(log((1 - delta - FPR) / FNR), log((1 - delta - FNR) / FPR)), clipped at 0. Rules where one
rate is 0 are discarded (too few models to measure it); a rule with both 0 separates perfectly
and gives infinity. The sample's epsilon is the largest over the rules kept, capped at 50, and
is 50 outright when one side's range is under 1% of the other's. Rates are float32, as there.

Epsilons are bucketed by 0.5: [0, 0.5) scores 1, each next bucket half as much, and from
ceil(log(N - 1)) on a sample scores 0 (N unlearned models cannot show a larger epsilon). F is
the mean over the forget set; the final score is F x (retain accuracy ratio) x (test accuracy
ratio), each ratio the unlearned models' mean accuracy over the retrained models'.
"""

from __future__ import annotations

import math

import numpy as np
import torch

DELTA = 1e-5
EPSILON_CAP = 50.0
BUCKET = 0.5
STEPS_PER_UNIT = 100  # thresholds per unit of logit-scaled confidence
BUFFER = 2.0  # how far the threshold grids reach beyond the outputs
PEAKY_RATIO = 0.01  # one side's range under 1% of the other's: epsilon is the cap


def example_epsilons(unlearned: np.ndarray, retrained: np.ndarray, delta: float = DELTA):
    """Grids (N, m) and (N', m) of logit-scaled confidences -> each sample's epsilon (m,)."""
    unlearned, retrained = np.asarray(unlearned, float), np.asarray(retrained, float)
    return np.array(
        [
            example_epsilon(unlearned[:, i], retrained[:, i], delta)
            for i in range(unlearned.shape[1])
        ]
    )


def example_epsilon(unlearned: np.ndarray, retrained: np.ndarray, delta: float = DELTA) -> float:
    """One sample's epsilon from its outputs under the unlearned (N,) and retrained (N',)
    models: the best rule's bound, in [0, EPSILON_CAP]."""
    if np.median(retrained) > np.median(unlearned):  # "positive": the larger median
        positive, negative = retrained, unlearned
    else:
        positive, negative = unlearned, retrained
    ranges = sorted((np.ptp(positive), np.ptp(negative)))
    with np.errstate(invalid="ignore", divide="ignore"):
        if ranges[0] / ranges[1] < PEAKY_RATIO:
            return EPSILON_CAP
    bounds = [
        _best_bound(*_single_threshold_counts(positive, negative), delta),
        _best_bound(*_band_counts(positive, negative), delta),
    ]
    kept = [b for b in bounds if b is not None]
    return min(max(kept), EPSILON_CAP) if kept else 0.0  # none kept: the scorer stops there


def _single_threshold_counts(positive: np.ndarray, negative: np.ndarray):
    """Rule "positive if output >= t" over a grid from the smallest output to the largest:
    per rule, how many positive (N,) and negative (N',) outputs it calls positive, and N, N'."""
    both = torch.from_numpy(np.concatenate([positive, negative]))
    low, high = both.min(), both.max()
    steps = int(torch.ceil((high - low) * STEPS_PER_UNIT))
    # float32, the default dtype the scorer's grid gets, compared with float64 outputs
    thresholds = torch.linspace(low, high, steps, dtype=torch.float32).double().numpy()
    called = [
        side.size - np.searchsorted(np.sort(side), thresholds, "left")
        for side in (positive, negative)
    ]
    return *called, positive.size, negative.size


def _band_counts(positive: np.ndarray, negative: np.ndarray):
    """Rule "the peakier side (the smaller range; `negative` on a tie) if l <= output <= r":
    per rule, how many of the peakier side's and of the other side's outputs lie inside, and
    the two sides' sizes."""
    if np.ptp(positive) >= np.ptp(negative):
        positive, negative = negative, positive
    peaky = positive
    width = min(np.ptp(positive), np.ptp(negative))
    low, high = peaky.min() + width - BUFFER, peaky.max() + BUFFER
    right = np.linspace(low, high, num=int(np.ceil((high - low) * STEPS_PER_UNIT)))  # (r,)
    lefts = int(np.ceil(2 * BUFFER * STEPS_PER_UNIT))
    left = np.linspace(right - width - BUFFER, right - width + BUFFER, num=lefts, axis=1)
    right = np.repeat(right, lefts)  # (r * lefts,), each right end with its lefts
    left = left.reshape(-1)
    return (
        _inside(positive, left, right),
        _inside(negative, left, right),
        positive.size,
        negative.size,
    )


def _inside(values: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """How many of `values` lie in each [left, right] (rules,)."""
    ordered = np.sort(values)
    count = np.searchsorted(ordered, right, "right") - np.searchsorted(ordered, left, "left")
    return np.maximum(count, 0)


def _best_bound(pos_in, neg_in, n_pos: int, n_neg: int, delta: float) -> float | None:
    """The largest epsilon bound over one family's rules, given per rule how many positive
    (of n_pos) and negative (of n_neg) outputs it calls positive; rates in float32. None when
    no rule's rates are both measurable."""
    key = np.unique(pos_in * (n_neg + 1) + neg_in)  # the distinct count pairs
    pos_in, neg_in = key // (n_neg + 1), key % (n_neg + 1)
    n_pos32, n_neg32 = np.float32(n_pos), np.float32(n_neg)
    tpr, fnr = pos_in.astype(np.float32) / n_pos32, (n_pos - pos_in).astype(np.float32) / n_pos32
    fpr, tnr = neg_in.astype(np.float32) / n_neg32, (n_neg - neg_in).astype(np.float32) / n_neg32
    if np.any((fpr + fnr == 0) & (tpr + tnr == 2)):
        return math.inf  # a rule that separates the two sides perfectly
    usable = fpr * fnr != 0
    if not usable.any():
        return None
    fpr, fnr = fpr[usable], fnr[usable]
    with np.errstate(invalid="ignore", divide="ignore"):
        bounds = np.stack(
            [np.log(1 - delta - fpr) - np.log(fnr), np.log(1 - delta - fnr) - np.log(fpr)]
        )
        per_rule = np.clip(np.nanmax(bounds, axis=0), 0, None)
    per_rule = per_rule[~np.isnan(per_rule)]
    return float(per_rule.max()) if per_rule.size else None


def scoring_limit(models: int) -> float:
    """ceil(log(N - 1)): from this epsilon on a sample scores 0 (N unlearned models)."""
    return float(np.ceil(np.log(models - 1))) if models > 1 else 0.0


def bucket_score(epsilon: float, models: int) -> float:
    """1 for epsilon in [0, 0.5), half as much per later bucket, 0 from scoring_limit on."""
    if not epsilon < scoring_limit(models):
        return 0.0
    bucket = math.floor(epsilon / BUCKET)
    return 0.0 if (bucket + 1) * BUCKET > scoring_limit(models) else 0.5**bucket


def forget_score(epsilons: np.ndarray, models: int) -> float:
    """F: the mean bucket score over the forget set (summed in order, as the scorer does)."""
    total = 0.0
    for epsilon in epsilons:
        total += bucket_score(float(epsilon), models)
    return total / len(epsilons)


def final_score(quality: float, retain_ratio: float, test_ratio: float) -> float:
    """F x RA_unlearned / RA_retrained x TA_unlearned / TA_retrained."""
    return quality * retain_ratio * test_ratio
