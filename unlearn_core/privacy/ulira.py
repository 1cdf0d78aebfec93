"""U-LiRA (Hayes et al., "Inexact Unlearning Needs More Careful Evaluations to Avoid a False
Sense of Privacy", SaTML 2025): a per-sample likelihood-ratio test between unlearned and
retrained models, the unlearning form of LiRA (Carlini et al., S&P 2022).

For a forgotten sample x, each model's output is reduced to the logit-scaled confidence in x's
label, phi = log(p_y / (1 - p_y)), which is close to Gaussian over training seeds. Gaussians
are fitted to phi under the unlearned models and under the retrained models; a model is then
scored by log N(phi; mu_u, s_u^2) - log N(phi; mu_r, s_r^2): high means "looks unlearned, not
retrained". Every model j is scored with Gaussians fitted on the other models (leave one model
out, j's unlearned and retrained pair both left out), so no model grades itself.

Means are per sample; each side's variance is pooled over samples ("fixed variance", which
Carlini et al. recommend with few shadow models, as an audit of a few dozen models has).
"""

from __future__ import annotations

import numpy as np
import torch

MIN_STD = 1e-3  # models that agree exactly (a deterministic method) must not divide by zero


def logit_confidence(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(n, k) logits, (n,) labels -> (n,) float64 log(p_y / (1 - p_y)) = z_y - logsumexp of
    the other logits, computed without forming p (stable when p_y is 1 to float precision)."""
    z = logits.double()
    z_y = z.gather(1, labels[:, None]).squeeze(1)  # (n,)
    others = z.scatter(1, labels[:, None], float("-inf"))  # (n, k), the label's logit masked
    return z_y - torch.logsumexp(others, 1)


def ulira_scores(
    unlearned: np.ndarray, retrained: np.ndarray, min_std: float = MIN_STD
) -> tuple[np.ndarray, np.ndarray]:
    """phi grids (N, m) under N unlearned and N retrained models (row j of both: seed j) ->
    likelihood-ratio scores (N, m) of the unlearned models (the attack's members) and of the
    retrained models (its non-members), each row fitted without row j. Needs N >= 3."""
    n_models = unlearned.shape[0]
    if n_models < 3 or retrained.shape != unlearned.shape:
        raise ValueError("U-LiRA needs at least 3 models per side and grids of one shape.")
    members, nonmembers = np.empty_like(unlearned), np.empty_like(retrained)
    for j in range(n_models):
        others = np.arange(n_models) != j
        mu_u, s_u = _fit(unlearned[others], min_std)
        mu_r, s_r = _fit(retrained[others], min_std)
        members[j] = _log_ratio(unlearned[j], mu_u, s_u, mu_r, s_r)
        nonmembers[j] = _log_ratio(retrained[j], mu_u, s_u, mu_r, s_r)
    return members, nonmembers


def _fit(phi: np.ndarray, min_std: float) -> tuple[np.ndarray, float]:
    """(k, m) -> per-sample means (m,) and the standard deviation pooled over samples (each
    sample's squared deviations with k - 1 degrees of freedom)."""
    mean = phi.mean(0)
    var = ((phi - mean) ** 2).sum() / ((phi.shape[0] - 1) * phi.shape[1])
    return mean, max(float(np.sqrt(var)), min_std)


def _log_ratio(x, mu_u, s_u, mu_r, s_r) -> np.ndarray:
    """log N(x; mu_u, s_u^2) - log N(x; mu_r, s_r^2), elementwise."""
    return (
        -((x - mu_u) ** 2) / (2 * s_u**2)
        - np.log(s_u)
        + (x - mu_r) ** 2 / (2 * s_r**2)
        + np.log(s_r)
    )
