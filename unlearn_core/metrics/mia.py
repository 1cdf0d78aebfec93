"""Membership inference: does the model still treat the forget set like training data?

The loss-threshold attack (Yeom et al., 2018) scores each sample by its negated loss (members
tend to have lower loss); its AUC over forget samples (members) against held-out test samples
(non-members) is 0.5 when the two are indistinguishable.

report.json's `mia` block adds the SVC attack on confidence features of Jia et al. (2023) and
SalUn (2024), and reports each attack as AUC, TPR at 1% and 0.1% FPR and ROC curve, for the
original, unlearned and retrained models; `mia_flags` compares the unlearned model with the
retrained one, the target (METHODS.md section 4).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_curve
from sklearn.svm import SVC
from torch import nn

from unlearn_core.data import ImageDataset
from unlearn_core.metrics.accuracy import predict_logits
from unlearn_core.request import ForgetRequest


def auc(member_scores: torch.Tensor, nonmember_scores: torch.Tensor) -> float | None:
    """Area under the ROC curve of "score is higher for members": the Mann-Whitney statistic
    P(member > non-member) + 0.5 * P(tie), for scores (m,) and (k,). None when either side is
    empty."""
    m, k = member_scores.numel(), nonmember_scores.numel()
    if m == 0 or k == 0:
        return None
    scores = torch.cat([member_scores.flatten(), nonmember_scores.flatten()]).double()
    ranks = _average_ranks(scores)  # (m + k,) 1-based, ties share their mean rank
    rank_sum = float(ranks[:m].sum())
    return (rank_sum - m * (m + 1) / 2) / (m * k)


def _average_ranks(values: torch.Tensor) -> torch.Tensor:
    order = torch.argsort(values, stable=True)
    sorted_vals = values[order]
    ranks = torch.empty_like(values)
    ranks[order] = torch.arange(1, len(values) + 1, dtype=values.dtype)
    # each group of equal values gets the mean of its ranks
    _, group, counts = torch.unique_consecutive(
        sorted_vals, return_inverse=True, return_counts=True
    )
    starts = torch.cumsum(counts, 0) - counts  # 0-based first position of each group
    mean_rank = starts.double() + (counts.double() + 1) / 2
    ranks[order] = mean_rank[group].to(values.dtype)
    return ranks


def loss_threshold_auc(member_losses: torch.Tensor, nonmember_losses: torch.Tensor) -> float | None:
    """AUC of the loss-threshold attack: lower loss means "member"."""
    return auc(-member_losses, -nonmember_losses)


# --- report.json's `mia` block: two attacks, each as AUC, TPR at low FPR and ROC curve ----------

FPR_LEVELS = {"tpr_at_1pct_fpr": 0.01, "tpr_at_0_1pct_fpr": 0.001}
SVC_PARAMS = {"C": 3.0, "gamma": "auto", "kernel": "rbf"}  # SalUn's and Jia et al.'s SVC_MIA


def roc(
    member_scores: torch.Tensor, nonmember_scores: torch.Tensor, drop_intermediate: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr), each (p,), of the rule "member if score >= t" over every threshold t, from
    (0, 0) to (1, 1) (sklearn's roc_curve); drop_intermediate drops points collinear with their
    neighbours (the curve's corners, and so every TPR at a given FPR, stay)."""
    y = np.r_[np.ones(member_scores.numel()), np.zeros(nonmember_scores.numel())]
    s = torch.cat([member_scores.flatten(), nonmember_scores.flatten()]).double().numpy()
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=drop_intermediate)
    return fpr, tpr


def tpr_at_fpr(
    member_scores: torch.Tensor, nonmember_scores: torch.Tensor, max_fpr: float
) -> float | None:
    """The largest TPR of a threshold whose FPR is at most max_fpr (Carlini et al., "Membership
    Inference Attacks From First Principles", S&P 2022), without interpolation. With k
    non-members the attainable FPRs are multiples of 1/k: below 1/k this is the TPR at FPR 0,
    the share of members scored above every non-member. None when either side is empty."""
    if member_scores.numel() == 0 or nonmember_scores.numel() == 0:
        return None
    fpr, tpr = roc(member_scores, nonmember_scores)
    return float(tpr[fpr <= max_fpr].max())


def attack_summary(member_scores: torch.Tensor, nonmember_scores: torch.Tensor) -> dict:
    """{auc, tpr_at_1pct_fpr, tpr_at_0_1pct_fpr, members, nonmembers, roc: {fpr, tpr}} for
    scores (m,) and (k,) where higher means "member"; values None when a side is empty."""
    m, k = member_scores.numel(), nonmember_scores.numel()
    out = {"auc": auc(member_scores, nonmember_scores)}
    out.update(
        {key: tpr_at_fpr(member_scores, nonmember_scores, a) for key, a in FPR_LEVELS.items()}
    )
    curve = None
    if m and k:
        fpr, tpr = roc(member_scores, nonmember_scores, drop_intermediate=True)
        curve = {"fpr": fpr.tolist(), "tpr": tpr.tolist()}
    return {**out, "members": m, "nonmembers": k, "roc": curve}


def confidence_feature(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(n, k) softmax probabilities, (n,) labels -> (n, 1) probability of the true class: the
    "confidence" feature whose SVC attack SalUn (Fan et al., ICLR 2024) and Jia et al. ("Model
    Sparsity Can Simplify Machine Unlearning", NeurIPS 2023, App. C.3) report as MIA-Efficacy."""
    return probs.gather(1, labels[:, None]).double()


def svc_attack(
    fit_members: torch.Tensor,
    fit_nonmembers: torch.Tensor,
    members: torch.Tensor,
    nonmembers: torch.Tensor,
) -> dict | None:
    """An RBF SVC (C = 3, gamma = 1 / features, as in Jia et al.'s SVC_MIA) trained to tell
    fit_members (label 1) from fit_nonmembers (label 0), features (n, d) each; then
    attack_summary of its decision function on members against nonmembers, plus `efficacy`:
    the share of members it predicts to be non-members (Jia et al.'s MIA-Efficacy, TN / |D_f|;
    their tables print it times 100). None when a fit side is empty."""
    if fit_members.shape[0] == 0 or fit_nonmembers.shape[0] == 0:
        return None
    score = fit_svc(fit_members, fit_nonmembers)
    member_scores = score(members)
    efficacy = float((member_scores <= 0).double().mean()) if member_scores.numel() else None
    summary = attack_summary(member_scores, score(nonmembers))
    return {
        **summary,
        "efficacy": efficacy,
        "fit_members": int(fit_members.shape[0]),
        "fit_nonmembers": int(fit_nonmembers.shape[0]),
    }


def fit_svc(
    fit_members: torch.Tensor, fit_nonmembers: torch.Tensor
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Jia et al.'s SVC fitted on features (n, d) of members (label 1) against non-members
    (label 0); returns its decision function, features (p, d) -> (p,) float64, > 0: member."""
    x = torch.cat([fit_members, fit_nonmembers]).double().numpy()
    y = np.r_[np.ones(fit_members.shape[0]), np.zeros(fit_nonmembers.shape[0])]
    clf = SVC(**SVC_PARAMS).fit(x, y)

    def score(features: torch.Tensor) -> torch.Tensor:
        if features.shape[0] == 0:
            return torch.empty(0, dtype=torch.float64)
        return torch.from_numpy(clf.decision_function(features.double().numpy()))

    return score


@dataclass(frozen=True)
class MiaSamples:
    """Who plays which part, shared by every model of a run so their numbers compare.

    forget (m,): training indices, the members. nonmembers (k,): test indices of the forgotten
    classes (class requests) or all of them (sample requests), for the loss attack. The SVC is
    fit on fit_members (training indices drawn from the retain set) against fit_nonmembers (a
    class-stratified half of the test set) and evaluated against svc_nonmembers: the class-matched
    test samples of the other half, never seen by the SVC.
    """

    forget: torch.Tensor
    nonmembers: torch.Tensor
    fit_members: torch.Tensor
    fit_nonmembers: torch.Tensor
    svc_nonmembers: torch.Tensor


def mia_samples(data: ImageDataset, request: ForgetRequest, seed: int = 0) -> MiaSamples:
    """Seeded choice of the attacks' samples (see MiaSamples). Jia et al. fit on the first
    |test| retain samples against the whole test set and report on the forget set only; here the
    retain samples are drawn at random (a loader sorted by class would bias the first ones) and
    half the test set is held out of the fit, so that AUC and TPR rest on unseen non-members."""
    generator = torch.Generator().manual_seed(seed)
    test_y = data.test_y
    halves = [[], []]
    for c in range(data.num_classes):
        idx = (test_y == c).nonzero().flatten()
        idx = idx[torch.randperm(idx.numel(), generator=generator)]
        halves[0].append(idx[: idx.numel() // 2])
        halves[1].append(idx[idx.numel() // 2 :])
    fit_nonmembers, held_out = (torch.cat(h).sort().values for h in halves)
    if request.classes:
        matched = torch.isin(test_y, torch.tensor(request.classes))
    else:
        matched = torch.ones_like(test_y, dtype=torch.bool)
    retain = request.retain_indices
    draw = torch.randperm(retain.numel(), generator=generator)[: fit_nonmembers.numel()]
    return MiaSamples(
        forget=request.forget_indices,
        nonmembers=matched.nonzero().flatten(),
        fit_members=retain[draw].sort().values,
        fit_nonmembers=fit_nonmembers,
        svc_nonmembers=held_out[matched[held_out]],
    )


def membership_inference(model: nn.Module, data: ImageDataset, samples: MiaSamples) -> dict:
    """{"loss": attack_summary of -loss (Yeom et al., 2018), forget set against `nonmembers`;
    "svc": svc_attack on confidence features (Jia et al., 2023)} for one model."""
    train_idx = torch.cat([samples.forget, samples.fit_members])
    train_logits = predict_logits(model, data, "train", train_idx)  # (m + f, k)
    test_logits = predict_logits(model, data, "test")  # (n_test, k)
    labels = torch.cat([data.train_y[train_idx], data.test_y])
    logits = torch.cat([train_logits, test_logits])
    losses = F.cross_entropy(logits, labels, reduction="none")  # (m + f + n_test,)
    conf = confidence_feature(torch.softmax(logits, 1), labels)  # (m + f + n_test, 1)
    m, f = samples.forget.numel(), samples.fit_members.numel()
    forget_conf, fit_conf, test_conf = conf[:m], conf[m : m + f], conf[m + f :]
    test_losses = losses[m + f :]
    return {
        "loss": attack_summary(-losses[:m], -test_losses[samples.nonmembers]),
        "svc": svc_attack(
            fit_conf,
            test_conf[samples.fit_nonmembers],
            forget_conf,
            test_conf[samples.svc_nonmembers],
        ),
    }


def membership_report(
    models: dict[str, nn.Module | None],
    data: ImageDataset,
    request: ForgetRequest,
    seed: int = 0,
) -> dict[str, dict | None]:
    """report.json's `mia`: model name -> membership_inference (None for a missing model), all
    on the same samples."""
    samples = mia_samples(data, request, seed)
    return {
        name: membership_inference(model, data, samples) if model is not None else None
        for name, model in models.items()
    }


def auc_standard_error(value: float, members: int, nonmembers: int) -> float:
    """Hanley and McNeil (Radiology, 1982, Eq. 1): the standard error of an AUC `value` from
    `members` positives and `nonmembers` negatives."""
    q1, q2 = value / (2 - value), 2 * value**2 / (1 + value)
    var = (
        value * (1 - value) + (members - 1) * (q1 - value**2) + (nonmembers - 1) * (q2 - value**2)
    ) / (members * nonmembers)
    return math.sqrt(max(var, 0.0))


def mia_flags(mia: dict, z: float = 2.0) -> dict | None:
    """report.json's `mia_flags`: per attack, how the unlearned model's AUC compares with the
    retrained model's (the target): {status, gap (unlearned - retrained), margin}, with status
    "over-unlearning" (gap < -margin: the forget set now looks *less* like training data than
    after retraining, itself a tell), "under-unlearning" (gap > margin) or "matches retrained".
    margin = z * sqrt(se_u^2 + se_r^2) with Hanley-McNeil standard errors taken as independent;
    both AUCs rest on the same samples, so this overstates the noise and a flag is conservative.
    None without the retrained model."""
    if mia.get("retrained") is None or mia.get("unlearned") is None:
        return None
    flags = {}
    for attack, u in mia["unlearned"].items():
        r = mia["retrained"].get(attack)
        if u is None or r is None or u["auc"] is None or r["auc"] is None:
            flags[attack] = None
            continue
        se = math.hypot(
            auc_standard_error(u["auc"], u["members"], u["nonmembers"]),
            auc_standard_error(r["auc"], r["members"], r["nonmembers"]),
        )
        gap, margin = u["auc"] - r["auc"], z * se
        status = "matches retrained"
        if gap < -margin:
            status = "over-unlearning"
        elif gap > margin:
            status = "under-unlearning"
        flags[attack] = {"status": status, "gap": gap, "margin": margin}
    return flags


def svc_over_draws(
    models: dict[str, nn.Module | None],
    data: ImageDataset,
    request: ForgetRequest,
    draws: int = 5,
) -> dict[str, list[dict]]:
    """Per model, the SVC attack's efficacy and AUC on `draws` draws of the attack's samples
    (mia_samples seeds 0, 1, ...): how far one model's single-draw numbers move with the draw
    (a quick look; the privacy audit over many models is the verdict). Missing models skipped."""
    out: dict[str, list[dict]] = {}
    for seed in range(draws):
        samples = mia_samples(data, request, seed)
        for name, model in models.items():
            if model is None:
                continue
            svc = membership_inference(model, data, samples)["svc"] or {}
            out.setdefault(name, []).append({k: svc.get(k) for k in ("efficacy", "auc")})
    return out
