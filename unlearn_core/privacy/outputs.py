"""What an audit keeps of one model: per-sample outputs on the forget set, its accuracies, and
its population attacks' numbers; small enough to return from a worker for each of N models."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.data import ImageDataset
from unlearn_core.metrics.accuracy import predict_logits
from unlearn_core.metrics.evaluate import evaluate
from unlearn_core.metrics.mia import attack_summary, confidence_feature, fit_svc
from unlearn_core.privacy.ulira import logit_confidence
from unlearn_core.request import ForgetRequest


@dataclass(frozen=True)
class ModelOutputs:
    """One model's audit inputs; m = forget set size, s = attack seeds."""

    phi: np.ndarray  # (m,) logit-scaled confidence in the label (U-LiRA, challenge)
    loss: np.ndarray  # (m,) cross-entropy
    svc_score: np.ndarray  # (m,) the SVC's decision value (> 0: member), attack seed 0
    accuracy: dict  # forget_acc, retain_acc, test_acc (evaluate's definitions)
    loss_attack: dict  # auc, tpr_at_1pct_fpr, tpr_at_0_1pct_fpr: forget against test
    svc_attack: list[dict]  # per attack seed: auc, tpr_at_1pct_fpr, tpr_at_0_1pct_fpr, efficacy


ATTACK_KEYS = ("auc", "tpr_at_1pct_fpr", "tpr_at_0_1pct_fpr")


def nonmember_mask(data: ImageDataset, request: ForgetRequest) -> torch.Tensor:
    """(n_test,) bool: the test images the forget set is compared with, those of the forgotten
    classes for a class request (the two then differ only in membership), else all."""
    if request.classes:
        return torch.isin(data.test_y, torch.tensor(request.classes))
    return torch.ones_like(data.test_y, dtype=torch.bool)


def svc_efficacy_attack(
    train_conf: torch.Tensor,
    test_conf: torch.Tensor,
    request: ForgetRequest,
    nonmembers: torch.Tensor,
    seed: int,
) -> tuple[dict, torch.Tensor]:
    """Jia et al.'s MIA-Efficacy protocol (NeurIPS 2023, App. C.3; SalUn's evaluation), exactly:
    an SVC fitted on |test| retain samples drawn at random (label 1) against the whole test set
    (label 0), on the confidence feature (n, 1); efficacy is the share of the forget set it
    calls non-members. Also its AUC and TPRs of forget against the `nonmembers` (bool mask,
    (n_test,)); those test images were in the fit, the same for every model compared.
    Returns (summary, the forget set's decision values (m,))."""
    generator = torch.Generator().manual_seed(seed)
    retain = request.retain_indices
    draw = retain[torch.randperm(retain.numel(), generator=generator)[: test_conf.shape[0]]]
    score = fit_svc(train_conf[draw], test_conf)
    forget_scores = score(train_conf[request.forget_indices])  # (m,)
    summary = attack_summary(forget_scores, score(test_conf[nonmembers]))
    out = {k: summary[k] for k in ATTACK_KEYS}
    out["efficacy"] = float((forget_scores <= 0).double().mean())
    return out, forget_scores


def model_outputs(
    model: nn.Module, data: ImageDataset, request: ForgetRequest, attack_seeds: int
) -> ModelOutputs:
    """ModelOutputs of `model` for `request`, with `attack_seeds` SVC draws (seeds 0, 1, ...)."""
    train_logits = predict_logits(model, data, "train")  # (n_train, k)
    test_logits = predict_logits(model, data, "test")  # (n_test, k)
    forget = request.forget_indices
    labels = data.train_y[forget]
    nonmembers = nonmember_mask(data, request)
    losses = F.cross_entropy(train_logits[forget], labels, reduction="none")  # (m,)
    test_losses = F.cross_entropy(test_logits, data.test_y, reduction="none")  # (n_test,)
    loss_summary = attack_summary(-losses, -test_losses[nonmembers])
    train_conf = confidence_feature(torch.softmax(train_logits, 1), data.train_y)  # (n_train, 1)
    test_conf = confidence_feature(torch.softmax(test_logits, 1), data.test_y)  # (n_test, 1)
    svc, first_scores = [], None
    for seed in range(attack_seeds):
        summary, scores = svc_efficacy_attack(train_conf, test_conf, request, nonmembers, seed)
        svc.append(summary)
        first_scores = scores if first_scores is None else first_scores
    metrics = evaluate(model, data, request)
    return ModelOutputs(
        phi=logit_confidence(train_logits[forget], labels).numpy(),
        loss=losses.double().numpy(),
        svc_score=first_scores.numpy(),
        accuracy={k: metrics[k] for k in ("forget_acc", "retain_acc", "test_acc")},
        loss_attack={k: loss_summary[k] for k in ATTACK_KEYS},
        svc_attack=svc,
    )
