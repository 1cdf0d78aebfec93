"""Paired bootstrap of U-LiRA's AUCs, refitting the attack on every resample.

The verdict compares U-LiRA on the unlearned models with U-LiRA on the original models (the
control), both against the same retrained models. Drawn with separate resamples, two identical
grids get two different intervals, and a method that did nothing could look better than its
own control; here every draw resamples model rows and sample columns once and computes every
AUC on that draw, so two identical grids differ by exactly 0 on every draw.

Each draw re-runs the whole attack, not only the ranking of fixed scores: U-LiRA's Gaussians
are refitted on the resampled models (each scored model left out with all its copies). Models
differ as wholes (one is more confident on every forgotten image than another), and the fits
carry that spread; resampling fixed scores ignored it, and its 95% intervals missed chance in
a third of null audits with such model effects (tests/test_privacy_verdict.py).

A resample repeats row j c_j times and column i d_i times, so it is the original grid with
weights: the fits are weighted means and pooled variances, and the AUC a weighted
Mann-Whitney statistic.
"""

from __future__ import annotations

import numpy as np

from unlearn_core.privacy.intervals import DRAWS
from unlearn_core.privacy.ulira import MIN_STD


def weighted_auc(members, nonmembers, weights) -> float:
    """P(member > non-member) + 0.5 P(tie) over grids (N, m) with cell weights (N, m), the
    same weights on both sides."""
    values = np.concatenate([members.ravel(), nonmembers.ravel()])
    _, groups = np.unique(values, return_inverse=True)  # ties share a group
    cells = members.size
    w = weights.ravel()
    at = np.bincount(groups[cells:], w, groups.max() + 1)  # non-member weight per group
    below = np.cumsum(at) - at
    wins = below[groups[:cells]] + 0.5 * at[groups[:cells]]
    total = w.sum()
    return float(w @ wins / (total * total))


def _fits(phi: np.ndarray, rows: np.ndarray, cols: np.ndarray):
    """Per scored row j: the per-sample means (N, m) and pooled standard deviation (N,) of the
    other rows under row weights (N,) and column weights (m,), row j left out with all its
    copies; NaN where fewer than two other draws remain."""
    total = rows.sum()
    sums, squares = rows @ phi, rows @ phi**2  # (m,) each
    others = total - rows  # (N,)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (sums - rows[:, None] * phi) / others[:, None]  # (N, m)
        spread = squares - rows[:, None] * phi**2 - others[:, None] * means**2  # (N, m)
        var = np.maximum(spread, 0) @ cols / ((others - 1) * cols.sum())  # (N,)
    std = np.where(others >= 2, np.maximum(np.sqrt(var), MIN_STD), np.nan)
    return means, std


def resampled_ulira(
    unlearned: np.ndarray, retrained: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> float:
    """U-LiRA's AUC (privacy/ulira.py) on the resample with row counts (N,) and column counts
    (m,) of phi grids (N, m): members the unlearned models, non-members the retrained ones.
    With all counts 1 it is the AUC of ulira_scores."""
    mean_u, std_u = _fits(unlearned, rows, cols)
    mean_r, std_r = _fits(retrained, rows, cols)
    scored = rows > 0
    if np.isnan(std_u[scored]).any() or np.isnan(std_r[scored]).any():
        return float("nan")  # a draw of fewer than three distinct models: nothing to fit

    def score(x):  # log N(x; mu_u, s_u^2) - log N(x; mu_r, s_r^2), (k, m)
        su, sr = std_u[scored, None], std_r[scored, None]
        return (
            -((x - mean_u[scored]) ** 2) / (2 * su**2)
            - np.log(su)
            + (x - mean_r[scored]) ** 2 / (2 * sr**2)
            + np.log(sr)
        )

    weights = rows[scored, None] * cols[None, :]
    return weighted_auc(score(unlearned[scored]), score(retrained[scored]), weights)


def paired_draws(
    grids: dict[str, tuple[np.ndarray, np.ndarray]],
    rng: np.random.Generator,
    draws: int = DRAWS,
) -> dict[str, np.ndarray]:
    """name -> (draws,) U-LiRA AUCs of each (unlearned-like, retrained) pair of phi grids
    (N, m), every name on the same draws of models (rows) and samples (columns)."""
    n_models, n_samples = next(iter(grids.values()))[0].shape
    out = {name: np.empty(draws) for name in grids}
    for d in range(draws):
        rows = np.bincount(rng.integers(0, n_models, n_models), minlength=n_models).astype(float)
        cols = np.bincount(rng.integers(0, n_samples, n_samples), minlength=n_samples)
        for name, (members, nonmembers) in grids.items():
            out[name][d] = resampled_ulira(members, nonmembers, rows, cols.astype(float))
    return out
