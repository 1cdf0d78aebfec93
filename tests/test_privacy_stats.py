"""The audit's statistics against hand-computed values and synthetic problems with known
answers: AUC and TPR, U-LiRA's leave-one-out likelihood ratio, bootstrap coverage and the SVC
protocol. The challenge score: test_challenge_official.py; the verdict: test_privacy_verdict.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from unlearn_core.privacy.intervals import auc, grid_bootstrap, roc_band, roc_tprs, tpr_at_fpr
from unlearn_core.privacy.outputs import svc_efficacy_attack
from unlearn_core.privacy.ulira import logit_confidence, ulira_scores
from unlearn_core.request import ForgetRequest


def test_auc_and_tpr_by_hand():
    # pairs: 3>1, 3>2, 2>1, 2=2 (half) -> 3.5 of 4
    assert auc(np.array([3.0, 2.0]), np.array([1.0, 2.0])) == pytest.approx(0.875)
    members, nonmembers = np.array([5.0, 4.0, 0.0]), np.arange(100.0) / 100  # non-members < 1
    assert tpr_at_fpr(members, nonmembers, 0.001) == pytest.approx(2 / 3)  # above every one
    assert tpr_at_fpr(members, nonmembers, 1.0) == 1.0


def test_logit_confidence_is_log_odds_of_the_label():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    p = torch.softmax(logits, 1)
    expected = torch.log(p[[0, 1], [0, 2]] / (1 - p[[0, 1], [0, 2]]))
    torch.testing.assert_close(logit_confidence(logits, torch.tensor([0, 2])), expected.double())
    saturated = logit_confidence(torch.tensor([[60.0, 0.0]]), torch.tensor([0]))
    assert saturated.item() == pytest.approx(60.0)  # p = 1 in float32, still finite here


def test_ulira_leave_one_out_by_hand():
    # N = 3 models, one sample. Model 0 is scored with models 1 and 2: unlearned {2, 3} ->
    # mean 2.5, variance 0.5; retrained {0, 1} -> mean 0.5, variance 0.5. Equal variances, so
    # score(x) = -(x - 2.5)^2 + (x - 0.5)^2 (the 1 / (2 * 0.5) factor is 1).
    unlearned = np.array([[1.0], [2.0], [3.0]])
    retrained = np.array([[0.0], [0.0], [1.0]])
    members, nonmembers = ulira_scores(unlearned, retrained)
    assert members[0, 0] == pytest.approx(-((1 - 2.5) ** 2) + (1 - 0.5) ** 2)  # -2.0
    assert nonmembers[0, 0] == pytest.approx(-((0 - 2.5) ** 2) + (0 - 0.5) ** 2)  # -6.0
    # model 2: unlearned {1, 2} (mean 1.5, var 0.5), retrained {0, 0} (var 0 -> floor 1e-3)
    s_r = 1e-3
    expected = -((3 - 1.5) ** 2) - math.log(math.sqrt(0.5)) + 3**2 / (2 * s_r**2) + math.log(s_r)
    assert members[2, 0] == pytest.approx(expected)


def test_ulira_recovers_the_known_auc_of_shifted_gaussians():
    # phi ~ N(mu_i + d, 1) under unlearned models and N(mu_i, 1) under retrained ones: the
    # likelihood-ratio test then has AUC Phi(d / sqrt(2)) (equal variances, known shift).
    rng = np.random.default_rng(0)
    n_models, n_samples, d = 40, 150, 1.0
    mu = rng.normal(0, 3, n_samples)
    unlearned = mu + d + rng.normal(size=(n_models, n_samples))
    retrained = mu + rng.normal(size=(n_models, n_samples))
    members, nonmembers = ulira_scores(unlearned, retrained)
    assert auc(members, nonmembers) == pytest.approx(norm.cdf(d / math.sqrt(2)), abs=0.02)
    same_m, same_n = ulira_scores(retrained[:20], retrained[20:])
    assert auc(same_m, same_n) == pytest.approx(0.5, abs=0.03)


def _coverage(rng, reps, make, truth, draws=200):
    hits = 0
    for _ in range(reps):
        members, nonmembers = make(rng)
        low, high = grid_bootstrap(auc, members, nonmembers, rng, draws=draws)
        hits += low <= truth <= high
    return hits / reps


def test_bootstrap_interval_covers_the_true_auc():
    rng = np.random.default_rng(1)
    # one model, 200 samples per side: AUC of N(1, 1) against N(0, 1) is Phi(1 / sqrt(2))
    iid = _coverage(
        rng,
        200,
        lambda r: (r.normal(1, 1, (1, 200)), r.normal(0, 1, (1, 200))),
        norm.cdf(1 / math.sqrt(2)),
    )
    assert 0.9 <= iid <= 0.99

    # crossed effects: score = model effect + sample effect + noise (+1.5 for members), the
    # model and sample effects shared by both sides: the population AUC over new models and
    # samples is Phi(1.5 / sqrt(6))
    def crossed(r, n=10, m=60):
        a, b = r.normal(size=(n, 1)), r.normal(size=(1, m))
        return a + b + r.normal(size=(n, m)) + 1.5, a + b + r.normal(size=(n, m))

    # (seeded: 0.91 here; a bootstrap treating the 1200 cells as independent covers 0.78)
    assert _coverage(rng, 100, crossed, norm.cdf(1.5 / math.sqrt(6))) >= 0.85


def test_svc_protocol_on_a_hand_built_example(demo):
    # confidences: retained images 0.99, test images 0.2; of four forgotten images two look
    # trained on (0.99) and two unseen (0.2): the SVC fitted on |test| retained images
    # against the test set calls exactly the second two non-members: efficacy 1/2
    request = ForgetRequest.for_indices(demo, [0, 1, 2, 3])
    train_conf = torch.full((demo.train_y.numel(), 1), 0.99, dtype=torch.float64)
    train_conf[[2, 3]] = 0.2
    test_conf = torch.full((demo.test_y.numel(), 1), 0.2, dtype=torch.float64)
    test_conf[:10] = 0.25  # not all alike, as no real test set is
    everyone = torch.ones(demo.test_y.numel(), dtype=torch.bool)
    summary, scores = svc_efficacy_attack(train_conf, test_conf, request, everyone, seed=0)
    assert summary["efficacy"] == 0.5
    assert (scores[:2] > 0).all() and (scores[2:] <= 0).all()
    again, _ = svc_efficacy_attack(train_conf, test_conf, request, everyone, seed=0)
    assert again == summary  # the retain draw is seeded


def test_roc_band_reads_tpr_at_each_fpr_level():
    members, nonmembers = np.array([5.0, 4.0, 0.0]), np.arange(100.0) / 100
    tprs = roc_tprs(members, nonmembers, np.array([0.001, 0.5, 1.0]))
    assert tprs.tolist() == pytest.approx([2 / 3, 2 / 3, 1.0])
    rng = np.random.default_rng(0)
    apart = roc_band(np.full((3, 4), 10.0), np.zeros((3, 4)), rng, draws=20)
    assert apart["tpr_low"] == [1.0] * len(apart["fpr"])  # told apart at every FPR
    alike = roc_band(np.zeros((3, 4)), np.zeros((3, 4)), rng, draws=20)
    assert alike["tpr_high"][0] == 0.0 and alike["tpr"][-1] == 1.0  # all ties: chance
