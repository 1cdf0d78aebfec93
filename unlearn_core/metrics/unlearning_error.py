"""Unlearning error (Thudi et al., Unrolling SGD, Eq. 9): the retraining-free proxy of the
verification error of single-gradient unlearning, from the training record alone.

    e = eta^2 * (||w_t - w_0||_2 / t) * sigma_avg * (t^2 - t) / 2

eta the learning rate, t the number of SGD steps, w_0 and w_t the parameters (not BatchNorm
buffers, which no gradient step moves) before and after training, and sigma_avg the average
over the recorded probes of the spectral norm of the batch-loss Hessian, which for a symmetric
matrix is |lambda_max|. The authors' code takes sqrt(lambda_max) instead; it is kept as the named
option sigma="sqrt" for comparison only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from unlearn_core.errors import UserError
from unlearn_core.training import TrainedModel

SIGMAS = ("abs", "sqrt")  # |lambda| (the spectral norm, default) or sqrt|lambda| (reference code)


def sigma_average(eigenvalues: Sequence[float], sigma: str = "abs") -> float:
    """Mean over the probes of |lambda| (sigma="abs") or of sqrt(|lambda|) (sigma="sqrt")."""
    if sigma not in SIGMAS:
        raise UserError(f"unknown sigma {sigma!r}; use one of {', '.join(SIGMAS)}.")
    values = [abs(v) if sigma == "abs" else math.sqrt(abs(v)) for v in eigenvalues]
    return sum(values) / len(values)


def unlearning_error_value(lr: float, weight_change: float, sigma_avg: float, steps: int) -> float:
    """Eq. 9 itself; 0 for t = 1 (one step is linear in the data: nothing is left to undo)."""
    return lr**2 * (weight_change / steps) * sigma_avg * (steps**2 - steps) / 2


def parameter_change(model: nn.Module, w0: dict[str, torch.Tensor]) -> float:
    """||w_t - w_0||_2 over the model's parameters (buffers excluded)."""
    with torch.no_grad():
        squares = sum(
            float((p.detach().cpu().double() - w0[name].double()).pow(2).sum())
            for name, p in model.named_parameters()
        )
    return math.sqrt(squares)


def unlearning_error(trained: TrainedModel, sigma: str = "abs") -> dict | None:
    """Eq. 9 for a trained model whose record holds w_0 and Hessian probes; None otherwise.

    -> {unlearning_error, sigma_avg, sigma, weight_change, steps, lr, probes}.
    """
    probes = trained.probes
    if trained.w0 is None or not probes or not probes.get("eigenvalues"):
        return None
    sigma_avg = sigma_average(probes["eigenvalues"], sigma)
    change = parameter_change(trained.model, trained.w0)
    steps, lr = int(probes["steps"]), trained.recipe.lr
    return {
        "unlearning_error": unlearning_error_value(lr, change, sigma_avg, steps),
        "sigma_avg": sigma_avg,
        "sigma": sigma,
        "weight_change": change,
        "steps": steps,
        "lr": lr,
        "probes": len(probes["eigenvalues"]),
    }
