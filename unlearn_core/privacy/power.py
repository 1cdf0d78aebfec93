"""How many models would settle an inconclusive audit: a power estimate by simulation from the
measured per-sample effects.

The measured grids (N models, m samples) of logit-scaled confidences give, per forgotten
sample, the retrained models' mean and the unlearned and original models' offsets from it, and
per role the spread of a whole model's shift (one model is more confident on every sample than
another) and of the rest. A measured offset is the true one plus noise of variance
2 s^2 / N, so the offsets are shrunk towards their mean by the share of their variance that is
not that noise (empirical Bayes): with no real effect the simulated audits have none either.
Audits with N' = N, 2N, 4N, ... models are then drawn from these Gaussians and decided as the
real one is (privacy/scores.ulira_verdict); the first N' at which at least 80% of them give a
verdict other than "inconclusive" is the number reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unlearn_core.metrics.probe import Z_95 as Z
from unlearn_core.privacy.verdict import Z_POWER

POWER = 0.8
SIMULATIONS = 10  # simulated audits per candidate N'
MAX_MODELS = 256  # the largest N' tried: beyond it "more models" is no practical answer
DRAWS = 200  # bootstrap draws per simulated audit


@dataclass(frozen=True)
class Effects:
    """Per-sample means (m,) of the retrained models, shrunk offsets (m,) of the other roles
    from them, and each role's standard deviation over models."""

    retrained: np.ndarray
    offsets: dict[str, np.ndarray]
    spread: dict[str, float]
    model_spread: dict[str, float]  # sd of a whole model's shift over all samples, per role

    def draw(self, models: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """A simulated audit's phi grids (models, m): per-sample means, a shift per model, and
        noise per (model, sample)."""
        shape = (models, self.retrained.size)
        grids = {}
        for role in ("retrained", *self.offsets):
            base = self.retrained + self.offsets.get(role, 0.0)
            shift = rng.normal(0, self.model_spread[role], (models, 1))
            grids[role] = base + shift + rng.normal(0, self.spread[role], shape)
        return grids


def fit_effects(phi: dict[str, np.ndarray]) -> Effects:
    """Effects from measured phi grids ("unlearned", "retrained", maybe "original", (N, m))."""
    models, samples = phi["retrained"].shape
    spread = {role: float(grid.std(0, ddof=1).mean()) for role, grid in phi.items()}
    # a model's mean over samples varies by its own shift plus noise of variance spread^2 / m
    model_spread = {
        role: float(np.sqrt(max(grid.mean(1).var(ddof=1) - spread[role] ** 2 / samples, 0.0)))
        for role, grid in phi.items()
    }
    base = phi["retrained"].mean(0)
    offsets = {}
    for role in phi.keys() - {"retrained"}:
        raw = phi[role].mean(0) - base  # (m,)
        noise = (spread[role] ** 2 + spread["retrained"] ** 2) / models
        signal = max(float(raw.var()) - noise, 0.0)
        shrink = signal / (signal + noise) if signal + noise > 0 else 0.0
        offsets[role] = raw.mean() + shrink * (raw - raw.mean())
    return Effects(base, offsets, spread, model_spread)


def models_needed(
    phi: dict[str, np.ndarray], margin: float, rng: np.random.Generator, decide_audit
) -> int | None:
    """The smallest N' in N, 2N, ... <= MAX_MODELS at which simulated audits decide (not
    "inconclusive") at least POWER of the time; None if none does. decide_audit(phi, rng) ->
    verdict (the real audit's rule)."""
    effects = fit_effects(phi)
    candidate = phi["unlearned"].shape[0]
    while candidate <= MAX_MODELS:
        verdicts = [decide_audit(effects.draw(candidate, rng), rng) for _ in range(SIMULATIONS)]
        if sum(v != "inconclusive" for v in verdicts) >= POWER * SIMULATIONS:
            return candidate
        candidate *= 2
    return None


def min_detectable_auc(low: float, high: float, margin: float) -> float | None:
    """The smallest U-LiRA AUC that this audit's spread (the interval's half-width over z)
    calls "remembers" with 80% power."""
    if not np.isfinite([low, high]).all():
        return None
    sd = (high - low) / (2 * Z)
    return float(min(1.0, 0.5 + margin + (Z + Z_POWER) * sd))
