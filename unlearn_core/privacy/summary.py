"""Attack results with intervals, as privacy.json writes them (DESIGN.md: `A`).

Per-sample attacks (U-LiRA) score every (model, sample) pair: AUC and TPRs are over all pairs,
with two-way bootstrap intervals (intervals.grid_bootstrap). Population attacks (loss, SVC)
give one AUC per model and attack seed: the mean over models, with a bootstrap interval over
models, beside the same for the retrained and the original models, the yardsticks.
"""

from __future__ import annotations

import math

import numpy as np

from unlearn_core.privacy.intervals import (
    auc,
    grid_bootstrap,
    mean_bootstrap,
    roc_band,
    tpr_at_fpr,
)
from unlearn_core.privacy.verdict import Evidence

FPRS = {"tpr_at_1pct_fpr": 0.01, "tpr_at_0_1pct_fpr": 0.001}


def _clean(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _interval(pair: tuple[float, float]) -> list[float | None]:
    return [_clean(pair[0]), _clean(pair[1])]


def per_sample_rows(indices: list[int], members: np.ndarray, nonmembers: np.ndarray) -> list[dict]:
    """Per forgotten sample: its AUC over models (how well this one sample's score tells the
    unlearned models (N,) from the retrained ones (N,)) and the scores themselves."""
    return [
        {
            "index": int(index),
            "auc": _clean(auc(members[:, i], nonmembers[:, i])),
            "unlearned": [float(v) for v in members[:, i]],
            "retrained": [float(v) for v in nonmembers[:, i]],
        }
        for i, index in enumerate(indices)
    ]


def grid_attack(
    members: np.ndarray,
    nonmembers: np.ndarray,
    indices: list[int],
    rng: np.random.Generator,
    evidence: Evidence,
) -> dict:
    """A for a per-sample attack: score grids (N, m) of the unlearned models (members) and of
    the retrained models (non-members); higher means "unlearned". The AUC and its interval are
    `evidence`'s (the paired bootstrap the verdict reads); TPRs get their own draws."""
    out = {"auc": _clean(evidence.value), "auc_ci": _interval((evidence.low, evidence.high))}
    for key, fpr in FPRS.items():

        def at(p, q, fpr=fpr):
            return tpr_at_fpr(p, q, fpr)

        out[key] = _clean(at(members, nonmembers))
        out[f"{key}_ci"] = _interval(grid_bootstrap(at, members, nonmembers, rng, draws=200))
    out["roc"] = roc_band(members, nonmembers, rng)
    out["per_sample"] = per_sample_rows(indices, members, nonmembers)
    return out


def population_attack(
    per_model: dict[str, list[list[dict]]],
    per_sample: tuple[np.ndarray, np.ndarray],
    indices: list[int],
    rng: np.random.Generator,
) -> dict:
    """A for a population attack. per_model: role ("unlearned", "retrained", "original") ->
    per model, its attack summaries (one per attack seed; keys auc, tpr_*, maybe efficacy).
    The headline is the unlearned models'; `retrained` and `original` carry the same numbers for
    those models, and `gap_ci` the interval of the mean per-model difference unlearned -
    retrained (paired by seed)."""
    stats = {role: _model_means(runs) for role, runs in per_model.items()}
    out = _role_summary(stats["unlearned"], rng)
    for role in ("retrained", "original"):
        if role in stats:
            out[role] = _role_summary(stats[role], rng)
    gap = stats["unlearned"]["auc"] - stats["retrained"]["auc"]
    out["gap"] = _clean(float(gap.mean()))
    out["gap_ci"] = _interval(mean_bootstrap(gap, rng))
    out["per_sample"] = per_sample_rows(indices, *per_sample)
    return out


def _model_means(runs: list[list[dict]]) -> dict[str, np.ndarray]:
    """Per model, each statistic's mean over its attack seeds: key -> (N,)."""
    keys = [k for k in runs[0][0] if runs[0][0][k] is not None]
    return {
        k: np.array([np.mean([seed_run[k] for seed_run in model_runs]) for model_runs in runs])
        for k in keys
    }


def _role_summary(stats: dict[str, np.ndarray], rng: np.random.Generator) -> dict:
    out = {}
    for key, values in stats.items():
        out[key] = _clean(float(values.mean()))
        out[f"{key}_ci"] = _interval(mean_bootstrap(values, rng))
    return out
