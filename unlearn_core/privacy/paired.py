"""Paired bootstrap of several AUCs on the same resamples of models and samples.

The verdict compares U-LiRA on the unlearned models with U-LiRA on the original models (the
control). Drawn with separate resamples, two identical score grids get two different
intervals, and a method that did nothing could look better than its own control. Here every
draw resamples model rows and sample columns once and computes every AUC on that draw, so the
paired difference of two identical grids is exactly 0 on every draw.

A resample of an (N, m) grid repeats row j c_j times and column i d_i times, so it is the
original grid with cell weights c_j d_i: the AUC of a draw is a weighted Mann-Whitney statistic
over the original cells, computed from one sort of the scores instead of one per draw.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from unlearn_core.privacy.intervals import DRAWS


class WeightedAuc:
    """P(member > non-member) + 0.5 P(tie) of score grids (N, m) each, under cell weights
    (row weight x column weight), the same weights on both sides, for a batch of weightings."""

    def __init__(self, members: np.ndarray, nonmembers: np.ndarray):
        if members.shape != nonmembers.shape:
            raise ValueError("paired grids need one shape")
        values = np.concatenate([members.ravel(), nonmembers.ravel()])
        _, groups = np.unique(values, return_inverse=True)  # ties share a group
        cells, count = members.size, int(groups.max()) + 1
        self.member_groups = groups[:cells]  # (N m,)
        # (N m, groups): which group each non-member cell falls in
        self.nonmember_onehot = sparse.csr_matrix(
            (np.ones(cells), (np.arange(cells), groups[cells:])), shape=(cells, count)
        )

    def __call__(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The AUCs (B,) under row weights (B, N) and column weights (B, m) (a resample's
        counts, one weighting per row of the batch)."""
        weights = (rows[:, :, None] * cols[:, None, :]).reshape(rows.shape[0], -1)  # (B, N m)
        at = np.asarray((self.nonmember_onehot.T @ weights.T).T)  # (B, groups)
        below = np.cumsum(at, axis=1) - at  # non-member weight strictly below each group
        wins = below[:, self.member_groups] + 0.5 * at[:, self.member_groups]  # (B, N m)
        total = weights.sum(1)
        return np.einsum("bc,bc->b", weights, wins) / (total * total)


BATCH = 50  # draws computed at once: (BATCH, N m) weights, a few MB at N m = 16,000


def paired_draws(
    grids: dict[str, tuple[np.ndarray, np.ndarray]],
    rng: np.random.Generator,
    draws: int = DRAWS,
) -> dict[str, np.ndarray]:
    """name -> (draws,) AUCs of each (members, nonmembers) pair of grids (N, m), every name on
    the same draws: each draw resamples the models (rows) and the samples (columns)."""
    aucs = {name: WeightedAuc(*pair) for name, pair in grids.items()}
    n_models, n_samples = next(iter(grids.values()))[0].shape
    out = {name: [] for name in grids}
    for start in range(0, draws, BATCH):
        size = min(BATCH, draws - start)
        rows, cols = _counts(rng, n_models, size), _counts(rng, n_samples, size)
        for name, auc in aucs.items():
            out[name].append(auc(rows, cols))
    return {name: np.concatenate(parts) for name, parts in out.items()}


def _counts(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """(size, n): how often each of n items is drawn in n draws with replacement, per row."""
    picks = rng.integers(0, n, (size, n))
    return np.stack([np.bincount(row, minlength=n) for row in picks]).astype(float)
