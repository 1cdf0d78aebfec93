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
