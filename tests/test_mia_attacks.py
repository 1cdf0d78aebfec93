"""Membership inference attacks: ROC and TPR at low FPR by hand, AUC at chance on identical
distributions and near 1 on a model that memorised its members, the flags, and report.json."""

import math

import numpy as np
import pytest
import torch
from conftest import per_class_subset
from sklearn.metrics import roc_auc_score
from torch import nn

from unlearn_core.metrics.mia import (
    attack_summary,
    auc_standard_error,
    membership_report,
    mia_flags,
    mia_samples,
    roc,
    svc_attack,
    svc_over_draws,
    tpr_at_fpr,
)
from unlearn_core.request import ForgetRequest
from unlearn_core.run.pipeline import unlearn_model
from unlearn_core.training import Recipe, train

# non-members score 0..9; members 9.5, 8.5, 8.5, 3. Thresholds from the top:
# >= 9.5: TPR 1/4, FPR 0;  >= 9: FPR 1/10;  >= 8.5: TPR 3/4, FPR 1/10;  >= 8: FPR 2/10; ...
# >= 3: TPR 1, FPR 7/10.
MEMBERS = torch.tensor([9.5, 8.5, 8.5, 3.0])
NONMEMBERS = torch.arange(10, dtype=torch.float32)


def test_roc_and_tpr_at_fpr_on_a_known_curve():
    fpr, tpr = roc(MEMBERS, NONMEMBERS)
    points = set(zip(fpr.round(6).tolist(), tpr.round(6).tolist(), strict=True))
    assert {(0.0, 0.0), (0.0, 0.25), (0.1, 0.25), (0.1, 0.75), (0.7, 1.0), (1.0, 1.0)} <= points
    assert tpr_at_fpr(MEMBERS, NONMEMBERS, 0.01) == 0.25  # below 1/10: only FPR 0 counts
    assert tpr_at_fpr(MEMBERS, NONMEMBERS, 0.001) == 0.25
    assert tpr_at_fpr(MEMBERS, NONMEMBERS, 0.1) == 0.75
    assert tpr_at_fpr(MEMBERS, NONMEMBERS, 0.69) == 0.75
    assert tpr_at_fpr(MEMBERS, NONMEMBERS, 0.7) == 1.0
    # no member above every non-member: nothing at FPR 0
    assert tpr_at_fpr(torch.tensor([5.0]), NONMEMBERS, 0.01) == 0.0
    assert tpr_at_fpr(torch.tensor([]), NONMEMBERS, 0.01) is None
    summary = attack_summary(MEMBERS, NONMEMBERS)
    # pairs won: 9.5 beats 10, each 8.5 beats 9, 3 beats 3 and ties 1: 31.5 of 40
    assert summary["auc"] == 31.5 / 40
    oracle = roc_auc_score(np.r_[[1] * 4, [0] * 10], np.r_[MEMBERS, NONMEMBERS])
    assert summary["auc"] == pytest.approx(oracle)
    assert summary["tpr_at_1pct_fpr"] == 0.25 and summary["tpr_at_0_1pct_fpr"] == 0.25
    assert (summary["members"], summary["nonmembers"]) == (4, 10)
    # the stored curve drops collinear points but keeps the corners
    kept = set(zip(summary["roc"]["fpr"], summary["roc"]["tpr"], strict=True))
    assert {(0.0, 0.25), (0.1, 0.75)} <= {(round(f, 6), round(t, 6)) for f, t in kept}


def test_svc_attack_is_at_chance_on_identical_distributions():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2400, 1, generator=gen)  # one distribution for every part
    out = svc_attack(x[:600], x[600:1200], x[1200:1800], x[1800:])
    assert abs(out["auc"] - 0.5) < 0.05
    assert (out["members"], out["nonmembers"], out["fit_members"]) == (600, 600, 600)
    identical = svc_attack(
        torch.ones(50, 1), torch.ones(50, 1), torch.ones(20, 1), torch.ones(9, 1)
    )
    assert identical["auc"] == 0.5  # every score tied
    assert (
        svc_attack(torch.ones(0, 1), torch.ones(5, 1), torch.ones(2, 1), torch.ones(2, 1)) is None
    )


def test_svc_attack_separates_separated_features():
    members, nonmembers = torch.full((40, 1), 0.99), torch.full((40, 1), 0.2)
    out = svc_attack(members, nonmembers, members[:10], nonmembers[:10])
    assert out["auc"] == 1.0 and out["tpr_at_0_1pct_fpr"] == 1.0
    assert out["efficacy"] == 0.0  # every member recognised: nothing looks forgotten


class Memoriser(nn.Module):
    """Confident and right on the training images it stores, uniform on everything else."""

    def __init__(self, data):
        super().__init__()
        self.register_buffer("seen", data.normalize(data.train_x).flatten(1))
        self.register_buffer("labels", data.train_y)
        self.k = data.num_classes
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        d = torch.cdist(x.flatten(1), self.seen, compute_mode="donot_use_mm_for_euclid_dist")
        best, at = d.min(1)
        logits = torch.zeros(x.shape[0], self.k) + self.dummy
        hit = best < 1e-4
        logits[hit, self.labels[at[hit]]] = 10.0
        return logits


class Constant(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(k))  # p = 1 / k for every class

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1)


def test_report_block_on_a_memoriser_and_on_a_constant_model(tiny):
    request = ForgetRequest.for_indices(tiny, list(range(0, 600, 6)))
    mia = membership_report(
        {"original": Memoriser(tiny), "unlearned": Constant(10), "retrained": None}, tiny, request
    )
    assert mia["retrained"] is None
    for attack in ("loss", "svc"):
        memo = mia["original"][attack]
        assert memo["auc"] > 0.99 and memo["tpr_at_1pct_fpr"] > 0.99
        const = mia["unlearned"][attack]
        assert const["auc"] == 0.5 and const["tpr_at_1pct_fpr"] == 0.0
        assert memo["members"] == 100
    assert mia["original"]["svc"]["efficacy"] == 0.0
    # the loss attack uses all test samples; the SVC the half it was not fit on
    assert mia["original"]["loss"]["nonmembers"] == 200
    assert mia["original"]["svc"]["nonmembers"] == 100 == mia["original"]["svc"]["fit_nonmembers"]
    assert mia_flags(mia) is None


def test_the_svc_spread_is_each_draws_own_attack(tiny):
    # draw d is the run's attack with mia_samples seed d; a memoriser is caught on every draw,
    # a constant model on none; the retrained model's None is skipped
    request = ForgetRequest.for_indices(tiny, list(range(0, 600, 6)))
    models = {"original": Memoriser(tiny), "unlearned": Constant(10), "retrained": None}
    spread = svc_over_draws(models, tiny, request, draws=3)
    assert set(spread) == {"original", "unlearned"} and len(spread["original"]) == 3
    for seed in range(3):
        direct = membership_report(models, tiny, request, seed=seed)["original"]["svc"]
        assert spread["original"][seed] == {"efficacy": direct["efficacy"], "auc": direct["auc"]}
    assert all(d["efficacy"] == 0.0 for d in spread["original"])
    assert all(d["auc"] == 0.5 for d in spread["unlearned"])


def test_samples_are_class_matched_and_disjoint(tiny):
    request = ForgetRequest.for_classes(tiny, [2, 5])
    s = mia_samples(tiny, request, seed=1)
    assert set(tiny.test_y[s.nonmembers].tolist()) == {2, 5} and s.nonmembers.numel() == 40
    assert set(tiny.test_y[s.svc_nonmembers].tolist()) == {2, 5} and s.svc_nonmembers.numel() == 20
    assert not set(s.svc_nonmembers.tolist()) & set(s.fit_nonmembers.tolist())
    assert torch.bincount(tiny.test_y[s.fit_nonmembers]).tolist() == [10] * 10  # stratified
    assert not set(s.fit_members.tolist()) & set(request.forget_indices.tolist())
    assert s.fit_members.numel() == s.fit_nonmembers.numel()
    again = mia_samples(tiny, request, seed=1)
    assert torch.equal(again.fit_members, s.fit_members)


def test_standard_error_and_flags_by_hand():
    # Hanley-McNeil at A = 0.5, m = k = 100: Q1 = Q2 = 1/3;
    # var = (0.25 + 99 (1/3 - 1/4) * 2) / 10^4 = (0.25 + 16.5) / 10^4
    assert math.isclose(auc_standard_error(0.5, 100, 100), math.sqrt(16.75e-4))
    assert auc_standard_error(1.0, 10, 10) == 0.0
    block = {"auc": 0.5, "members": 100, "nonmembers": 100}
    se_55 = auc_standard_error(0.55, 100, 100)
    mia = {
        "original": None,
        "unlearned": {"loss": {**block, "auc": 0.3}, "svc": {**block, "auc": 0.55}},
        "retrained": {"loss": block, "svc": block},
    }
    flags = mia_flags(mia)
    assert flags["svc"]["status"] == "matches retrained"
    assert math.isclose(flags["svc"]["margin"], 2 * math.sqrt(se_55**2 + 16.75e-4))
    assert math.isclose(flags["svc"]["gap"], 0.05)  # inside a margin of about 0.116
    assert flags["loss"]["status"] == "over-unlearning"  # 0.2 below, margin about 0.11
    mia["unlearned"]["loss"]["auc"] = 0.5 + 0.2
    assert mia_flags(mia)["loss"]["status"] == "under-unlearning"
    mia["retrained"]["svc"] = None
    assert mia_flags(mia)["svc"] is None


@pytest.fixture(scope="module")
def micro(tiny):
    """20 training and 10 test images per class, and a logistic regression trained on them in
    a blink: the pipeline's plumbing, not its accuracy, is under test."""
    data = per_class_subset(tiny, 20, 10)
    recipe = Recipe(lr=0.05, batch_size=32, epochs=1, seed=0, probe_every=0)
    return data, train("logreg", data, recipe, device="cpu", probes=False)


def test_every_run_report_carries_the_mia_block(micro):
    tiny, trained = micro
    request = ForgetRequest.for_classes(tiny, [1])
    record = unlearn_model(trained, {}, tiny, request, "finetune", {"epochs": "1"}, oracle=True)
    report = record.report
    for which in ("original", "unlearned", "retrained"):
        attacks = getattr(report.mia, which)
        for attack in (attacks.loss, attacks.svc):
            assert None not in (attack.auc, attack.tpr_at_1pct_fpr, attack.tpr_at_0_1pct_fpr)
        # the contract's mia_auc stays, and equals the loss attack's AUC
        assert getattr(report.metrics, which).mia_auc == attacks.loss.auc
        written = report.to_dict()["mia"][which]  # report.json keeps the keys
        assert {"auc", "tpr_at_1pct_fpr", "tpr_at_0_1pct_fpr"} <= written["loss"].keys()
    assert report.mia_flags.loss.status in {
        "over-unlearning",
        "under-unlearning",
        "matches retrained",
    }
    without = unlearn_model(trained, {}, tiny, request, "finetune", {"epochs": "1"})
    assert without.report.mia.retrained is None and without.report.mia_flags is None


@pytest.mark.parametrize("alpha", [0.01, 0.001])
def test_tpr_at_fpr_matches_a_brute_force_search(alpha):
    gen = torch.Generator().manual_seed(3)
    members, nonmembers = torch.randn(300, generator=gen) + 1, torch.randn(2000, generator=gen)
    best = 0.0
    for t in torch.cat([members, nonmembers]).unique():
        if float((nonmembers >= t).double().mean()) <= alpha:
            best = max(best, float((members >= t).double().mean()))
    assert tpr_at_fpr(members, nonmembers, alpha) == pytest.approx(best)
