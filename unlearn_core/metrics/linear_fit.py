"""The least-squares line through (unlearning error, verification error) points, for the scatter
of Thudi et al. ("Unrolling SGD", USENIX Security 2022, Fig. 3) that viz.error_scatter draws."""

from __future__ import annotations

from collections.abc import Sequence

from scipy import stats


def linear_fit(x: Sequence[float], y: Sequence[float]) -> dict:
    """{slope, intercept, r} of the ordinary least-squares line y = intercept + slope * x
    (scipy.stats.linregress) and Pearson's r; r is None for fewer than 3 points or a constant
    column, where it says nothing (the line is still fitted from 2 distinct x values)."""
    if len(x) < 2 or len(set(x)) < 2:
        raise ValueError("a line needs at least two distinct x values")
    fit = stats.linregress(x, y)
    r = float(fit.rvalue) if len(x) >= 3 and len(set(y)) >= 2 else None
    return {"slope": float(fit.slope), "intercept": float(fit.intercept), "r": r}
