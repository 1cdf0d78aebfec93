"""Bootstrap intervals for statistics of scores from many models and many samples.

An audit's scores form an (N models, m samples) grid per side. Both the models (seeds) and the
samples are random, so the bootstrap resamples both (a two-way bootstrap): model seeds j with
replacement, and forgotten samples i with replacement, the same draws for both sides, because
the unlearned and retrained model j share seed j and sample i is the same image on both sides.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_curve

LEVEL = 0.95
DRAWS = 1000


def auc(members: np.ndarray, nonmembers: np.ndarray) -> float:
    """P(member score > non-member score) + 0.5 P(tie) (the Mann-Whitney statistic) for flat
    arrays (p,) and (q,); NaN when either is empty. metrics.mia.auc computes the same on
    tensors; a bootstrap calls this a thousand times on ~10,000 scores, where the numpy ranks
    take 0.8 ms against that one's 32 ms (measured on CPU-2)."""
    members, nonmembers = np.ravel(members), np.ravel(nonmembers)
    p, q = members.size, nonmembers.size
    if p == 0 or q == 0:
        return float("nan")
    ranks = rankdata(np.concatenate([members, nonmembers]))  # ties share their mean rank
    return float((ranks[:p].sum() - p * (p + 1) / 2) / (p * q))


def tpr_at_fpr(members: np.ndarray, nonmembers: np.ndarray, max_fpr: float) -> float:
    """The largest TPR of a rule "member if score >= t" whose FPR is at most max_fpr (Carlini
    et al., S&P 2022), without interpolation; NaN when either side is empty."""
    if np.size(members) == 0 or np.size(nonmembers) == 0:
        return float("nan")
    return float(roc_tprs(members, nonmembers, np.array([max_fpr]))[0])


ROC_FPRS = np.logspace(-3, 0, 31)  # where ROC bands are drawn: log-spaced, 0.1% to 100%


def roc_tprs(members: np.ndarray, nonmembers: np.ndarray, fprs: np.ndarray = ROC_FPRS):
    """TPR at each FPR level in `fprs` (tpr_at_fpr at each), (len(fprs),)."""
    members, nonmembers = np.ravel(members), np.ravel(nonmembers)
    y = np.r_[np.ones(members.size), np.zeros(nonmembers.size)]
    fpr, tpr, _ = roc_curve(y, np.r_[members, nonmembers], drop_intermediate=False)
    best = np.maximum.accumulate(tpr)  # fpr is non-decreasing along the curve
    return best[np.searchsorted(fpr, fprs, side="right") - 1]


def roc_band(
    members: np.ndarray, nonmembers: np.ndarray, rng: np.random.Generator, draws: int = 200
) -> dict:
    """The ROC at ROC_FPRS with a pointwise 95% band from the two-way bootstrap:
    {"fpr", "tpr", "tpr_low", "tpr_high"}, lists of len(ROC_FPRS)."""
    n_models, n_samples = members.shape
    curves = np.empty((draws, ROC_FPRS.size))
    for d in range(draws):
        rows = rng.integers(0, n_models, n_models)
        cols = rng.integers(0, n_samples, n_samples)
        curves[d] = roc_tprs(members[np.ix_(rows, cols)], nonmembers[np.ix_(rows, cols)])
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(curves, [tail, 100 - tail], axis=0)
    return {
        "fpr": ROC_FPRS.tolist(),
        "tpr": roc_tprs(members, nonmembers).tolist(),
        "tpr_low": low.tolist(),
        "tpr_high": high.tolist(),
    }


def grid_bootstrap(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    members: np.ndarray,
    nonmembers: np.ndarray,
    rng: np.random.Generator,
    draws: int = DRAWS,
) -> tuple[float, float]:
    """Percentile 95% interval of statistic(members, nonmembers) for score grids (N, m) each,
    resampling model rows and sample columns with replacement (the same draws on both
    sides). With one model (N = 1) only samples are resampled."""
    n_models, n_samples = members.shape
    values = np.empty(draws)
    for d in range(draws):
        rows = rng.integers(0, n_models, n_models)
        cols = rng.integers(0, n_samples, n_samples)
        values[d] = statistic(members[np.ix_(rows, cols)], nonmembers[np.ix_(rows, cols)])
    return percentile_interval(values)


def mean_bootstrap(
    values: np.ndarray, rng: np.random.Generator, draws: int = DRAWS
) -> tuple[float, float]:
    """Percentile 95% interval of the mean of `values` (k,) (e.g. one attack's AUC per model
    and attack seed), resampling the values with replacement."""
    values = np.asarray(values, dtype=float)
    picks = rng.integers(0, values.size, (draws, values.size))
    return percentile_interval(values[picks].mean(1))


def percentile_interval(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
