"""The audit's verdict on cases whose answer is known: the paired bootstrap against explicit
resamples, the equivalence rules one by one, hundreds of synthetic audits where the unlearned
models are the original ones (never "forgotten") or independent draws of the retrained
distribution ("forgotten" at least 90% of the time), and the power estimate against what more
models then actually decide.

Synthetic audits: sample i's logit-scaled confidence is mu_i + noise (sd 1) under a retrained
model, mu_i + shift + noise under an original one; mu_i ~ N(0, 3^2)."""

from __future__ import annotations

import numpy as np
import pytest

from unlearn_core.privacy.intervals import auc
from unlearn_core.privacy.paired import _fits, paired_draws, resampled_ulira, weighted_auc
from unlearn_core.privacy.power import fit_effects, min_detectable_auc
from unlearn_core.privacy.scores import audit_power, ulira_verdict
from unlearn_core.privacy.ulira import _fit, ulira_scores
from unlearn_core.privacy.verdict import Evidence, decide

DRAWS = 250  # per synthetic audit (the app's audits draw 1000): 400 audits in about a minute


def synthetic(rng, models: int, samples: int, shift: float, unlearned: str) -> dict:
    """phi grids (models, samples); unlearned: "original" (the same array: a do-nothing
    method) or "retrained" (an independent draw of the retrained distribution)."""
    mu = rng.normal(0, 3, samples)
    retrained = mu + rng.normal(0, 1, (models, samples))
    original = mu + shift + rng.normal(0, 1, (models, samples))
    if unlearned == "original":
        return {"unlearned": original, "retrained": retrained, "original": original}
    fresh = mu + rng.normal(0, 1, (models, samples))
    return {"unlearned": fresh, "retrained": retrained, "original": original}


def test_a_weighted_auc_is_the_auc_of_the_resampled_grid():
    rng = np.random.default_rng(0)
    members = np.round(rng.normal(0.3, 1, (7, 11)), 1)  # rounded: ties on purpose
    nonmembers = np.round(rng.normal(0, 1, (7, 11)), 1)
    for _ in range(20):
        r, c = rng.integers(0, 7, 7), rng.integers(0, 11, 11)
        weights = np.outer(np.bincount(r, minlength=7), np.bincount(c, minlength=11))
        expected = auc(members[np.ix_(r, c)], nonmembers[np.ix_(r, c)])
        assert weighted_auc(members, nonmembers, weights.astype(float)) == pytest.approx(expected)


def test_the_refit_weighs_models_and_samples_as_their_copies():
    rng = np.random.default_rng(1)
    phi = rng.normal(0, 1, (6, 9))
    rows, cols = np.array([2.0, 0, 1, 3, 0, 1]), rng.integers(0, 3, 9).astype(float)
    means, std = _fits(phi, rows, cols)
    copies = np.repeat(np.repeat(phi, rows.astype(int), 0), cols.astype(int), 1)
    for j in np.flatnonzero(rows):  # fitted on every copy of the other rows, none of row j
        keep = np.repeat(np.arange(6) != j, rows.astype(int))
        mean, sd = _fit(copies[keep], min_std=0)
        assert np.allclose(np.repeat(means[j], cols.astype(int)), mean) and std[j] == pytest.approx(
            sd
        )
    # all counts 1: the AUC of the plain attack
    u, r = rng.normal(0.5, 1, (6, 9)), rng.normal(0, 1, (6, 9))
    assert resampled_ulira(u, r, np.ones(6), np.ones(9)) == pytest.approx(auc(*ulira_scores(u, r)))


def test_identical_grids_differ_by_exactly_zero_on_every_draw():
    rng = np.random.default_rng(1)
    original, retrained = rng.normal(0.5, 1, (6, 40)), rng.normal(0, 1, (6, 40))
    phi = {"unlearned": original, "retrained": retrained, "original": original}
    draws = paired_draws({"a": (original, retrained), "b": (original, retrained)}, rng, 100)
    assert np.array_equal(draws["a"], draws["b"], equal_nan=True)
    evidence = ulira_verdict(phi, rng, draws=DRAWS)[3]
    difference = evidence["difference"]
    assert (difference.value, difference.low, difference.high) == (0.0, 0.0, 0.0)


def _with_model_effects(rng, models, samples, spread=1.0):
    """Null audits where each model is more or less confident on every sample (a model effect
    of sd `spread`), as real models are; the original models shifted by 1."""
    mu = rng.normal(0, 3, samples)

    def side(shift):
        return mu + shift + rng.normal(0, spread, (models, 1)) + rng.normal(0, 1, (models, samples))

    return {"unlearned": side(0), "retrained": side(0), "original": side(1)}


@pytest.mark.slow
def test_intervals_cover_chance_under_model_effects():
    # resampling fixed scores (the fits not redone) covered 0.5 in 20 of 30 such audits at
    # N = 8 and 23 of 30 at N = 32; refitting on every draw is what makes the interval honest
    rng = np.random.default_rng(24)
    covered = 0
    for _ in range(30):
        evidence = ulira_verdict(_with_model_effects(rng, 8, 200), rng, draws=DRAWS)[3]
        covered += evidence["unlearned"].low <= 0.5 <= evidence["unlearned"].high
    assert covered >= 26, covered


def _ev(value, low, high):
    return Evidence(value, low, high)


CONTROL = _ev(0.97, 0.93, 0.99)
DIFF = _ev(0.46, 0.40, 0.52)


@pytest.mark.parametrize(
    ("unlearned", "control", "difference", "verdict", "phrase"),
    [
        (_ev(0.51, 0.47, 0.54), CONTROL, DIFF, "forgotten", "within 0.5 ± 0.05"),
        # an AUC of 0.59 whose interval holds 0.5 is not evidence of equivalence
        (_ev(0.59, 0.49, 0.69), CONTROL, DIFF, "inconclusive", "not within"),
        (_ev(0.95, 0.90, 0.99), CONTROL, DIFF, "remembers", "tells the unlearned"),
        (_ev(0.57, 0.56, 0.58), CONTROL, DIFF, "remembers", "above 0.5 + 0.05"),
        (_ev(0.51, 0.47, 0.54), _ev(0.56, 0.52, 0.60), DIFF, "inconclusive", "could not have"),
        (_ev(0.51, 0.47, 0.54), CONTROL, _ev(0.0, 0.0, 0.0), "inconclusive", "paired"),
        (_ev(0.51, 0.47, 0.54), None, None, "inconclusive", "no control"),
        (_ev(0.30, 0.25, 0.35), CONTROL, DIFF, "inconclusive", "other way"),
        (_ev(float("nan"), float("nan"), float("nan")), CONTROL, DIFF, "inconclusive", "no int"),
    ],
)
def test_each_rule_can_fail_and_says_why(unlearned, control, difference, verdict, phrase):
    got, reason = decide(unlearned, control, difference, models=8, margin=0.05)
    assert got == verdict and phrase in reason and "\n" not in reason


def test_a_wider_margin_is_a_weaker_claim():
    unlearned = _ev(0.54, 0.50, 0.58)
    assert decide(unlearned, CONTROL, DIFF, 8, margin=0.05)[0] == "inconclusive"
    assert decide(unlearned, CONTROL, DIFF, 8, margin=0.1)[0] == "forgotten"


def _verdicts(seed: int, models: tuple, samples: tuple, shifts: tuple, unlearned: str) -> list:
    """Verdicts of 200 synthetic audits, each with models, samples and the original models'
    shift drawn uniformly from the given ranges (ends included for the counts)."""
    rng = np.random.default_rng(seed)
    verdicts = []
    for _ in range(200):
        n, m = int(rng.integers(models[0], models[1] + 1)), int(rng.integers(*samples) + 1)
        phi = synthetic(rng, n, m, rng.uniform(*shifts), unlearned)
        verdicts.append(ulira_verdict(phi, np.random.default_rng(0), draws=DRAWS)[0])
    return verdicts


@pytest.mark.slow
def test_a_do_nothing_method_is_never_forgotten_in_200_audits():
    verdicts = _verdicts(22, (4, 32), (9, 500), (0, 3), unlearned="original")
    assert verdicts.count("forgotten") == 0
    assert verdicts.count("remembers") > 100  # it can also fail the other way: not vacuous


@pytest.mark.slow
def test_independent_retrains_are_forgotten_in_at_least_90_percent_of_200_audits():
    verdicts = _verdicts(23, (32, 40), (199, 500), (1, 3), unlearned="retrained")
    assert verdicts.count("forgotten") >= 180, verdicts.count("forgotten")


def test_the_models_the_power_estimate_asks_for_settle_the_audit():
    # a weak effect with 4 models is inconclusive; with the number the estimate names, the same
    # kind of audit decides in most of 10 fresh draws (80% is the estimate's promise)
    rng = np.random.default_rng(5)
    phi = synthetic(rng, 4, 100, 1.0, "retrained")
    verdict, _, _, evidence = ulira_verdict(phi, np.random.default_rng(0), draws=DRAWS)
    assert verdict == "inconclusive"
    settle = audit_power(phi, verdict, evidence["unlearned"], 0.05, np.random.default_rng(1))
    needed = settle["models_needed"]
    assert needed is not None and 4 < needed <= 64
    decided = [
        ulira_verdict(synthetic(rng, needed, 100, 1.0, "retrained"), rng, draws=DRAWS)[0]
        for _ in range(10)
    ]
    assert decided.count("forgotten") >= 7, decided


def test_the_simulation_keeps_real_effects_and_shrinks_noise_away():
    rng = np.random.default_rng(6)
    null = fit_effects(synthetic(rng, 8, 400, 1.0, "retrained"))
    assert np.abs(null.offsets["unlearned"]).max() < 0.1  # noise of sd 0.5 per sample, shrunk
    assert null.offsets["original"].mean() == pytest.approx(1.0, abs=0.1)
    # a real per-sample effect: the unlearned models' confidence 0.8 higher on half the samples
    phi = synthetic(rng, 8, 400, 0.0, "retrained")
    phi["unlearned"] = phi["unlearned"] + np.where(np.arange(400) < 200, 0.8, 0.0)
    effect = fit_effects(phi)
    # by hand: offsets 0 or 0.8 around their mean 0.4 have variance 0.16; each measured offset
    # adds noise of variance (1 + 1) / 8 = 0.25, so deviations keep 0.16 / 0.41 of themselves
    kept = effect.offsets["unlearned"]
    assert kept[:200].mean() == pytest.approx(0.4 + 0.4 * 0.16 / 0.41, abs=0.05)
    assert kept[200:].mean() == pytest.approx(0.4 - 0.4 * 0.16 / 0.41, abs=0.05)
    assert effect.spread["unlearned"] == pytest.approx(1.0, abs=0.05)


def test_min_detectable_auc_grows_with_the_spread():
    assert min_detectable_auc(0.49, 0.51, 0.05) < min_detectable_auc(0.45, 0.55, 0.05) < 0.7
    assert min_detectable_auc(float("nan"), 0.5, 0.05) is None


def test_the_simulation_keeps_the_models_own_spread():
    rng = np.random.default_rng(9)
    effects = fit_effects(_with_model_effects(rng, 16, 300, spread=1.0))
    assert effects.model_spread["retrained"] == pytest.approx(1.0, abs=0.45)
    assert fit_effects(synthetic(rng, 16, 300, 1.0, "retrained")).model_spread["retrained"] < 0.2


def test_the_relearning_flag_rarely_fires_on_independent_retrains_and_fires_on_a_real_gap():
    from unlearn_core.privacy.relearn_attack import RelearnAttack, summarise_relearn

    rng = np.random.default_rng(31)

    def flag(shift: float) -> bool:
        rows = {
            role: [{"before": 0.0, "after": float(a)} for a in rng.normal(mean, 0.05, 8)]
            for role, mean in (("unlearned", 0.3 + shift), ("retrained", 0.3))
        }
        return summarise_relearn(rows, RelearnAttack())["beyond_retrained"]

    assert sum(flag(0.0) for _ in range(200)) <= 10  # at most 5% false alarms (about 2% here)
    assert all(flag(0.15) for _ in range(20))
