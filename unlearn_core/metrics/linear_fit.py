"""Pearson's r and the least-squares line through (unlearning error, verification error) points,
for the study's correlation and the scatter of Thudi et al. ("Unrolling SGD", USENIX Security
2022, Sec. 8.3 and Fig. 3) that viz.error_scatter draws."""

from __future__ import annotations

from collections.abc import Sequence

from scipy import stats


def pearson(x: Sequence[float], y: Sequence[float]) -> tuple[float | None, float | None]:
    """(r, two-sided p-value) of scipy.stats.pearsonr; (None, None) below 3 points or for a
    constant column, where it is undefined."""
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return None, None
    result = stats.pearsonr(x, y)
    return float(result.statistic), float(result.pvalue)


def linear_fit(x: Sequence[float], y: Sequence[float]) -> dict:
    """{slope, intercept, r} of the ordinary least-squares line y = intercept + slope * x
    (scipy.stats.linregress) and Pearson's r (`pearson`); r is None for fewer than 3 points or a
    constant column, where it says nothing (the line is still fitted from 2 distinct x values)."""
    if len(x) < 2 or len(set(x)) < 2:
        raise ValueError("a line needs at least two distinct x values")
    fit = stats.linregress(x, y)
    return {"slope": float(fit.slope), "intercept": float(fit.intercept), "r": pearson(x, y)[0]}


def partial_pearson(
    x: Sequence[float], y: Sequence[float], z: Sequence[float]
) -> tuple[float | None, float | None]:
    """(r, two-sided p) of x and y controlling for z: Pearson's r of the residuals of x and of
    y after each is regressed on z by least squares, its p-value from Student's t with n - 3
    degrees of freedom. In the study z is the step count t, which both errors grow with (Thudi
    et al., Eq. 9 is quadratic in t), so this r is what remains of the agreement beyond both
    growing with training length. (None, None) below 4 points or when z leaves nothing."""
    import numpy as np

    n = len(x)
    if n < 4 or len(set(z)) < 2:
        return None, None
    design = np.column_stack([np.ones(n), np.asarray(z, dtype=float)])  # (n, 2)

    def residual(v: Sequence[float]):
        v = np.asarray(v, dtype=float)
        return v - design @ np.linalg.lstsq(design, v, rcond=None)[0]

    rx, ry = residual(x), residual(y)
    if np.allclose(rx, 0) or np.allclose(ry, 0):
        return None, None
    r = float(np.clip(np.corrcoef(rx, ry)[0, 1], -1.0, 1.0))
    t = r * np.sqrt((n - 3) / max(1.0 - r * r, 1e-300))
    return r, float(2 * stats.t.sf(abs(t), n - 3))
