"""l1-sparse unlearning: fine-tune on the retain set with a decaying l1 penalty on the weights.

J. Jia, J. Liu, P. Ram, Y. Yao, G. Liu, Y. Liu, P. Sharma and S. Liu, "Model Sparsity Can
Simplify Machine Unlearning", NeurIPS 2023 (arXiv:2304.04934), Sec. 4, Eq. 5 ("l1-sparse MU").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.data import ImageDataset
from unlearn_core.device import default_device
from unlearn_core.methods.registry import SgdSettings, UnlearnResult, register, setting
from unlearn_core.progress import sub_progress
from unlearn_core.randomness import as_generator
from unlearn_core.request import ForgetRequest
from unlearn_core.training import Batch, TrainedModel, fine_tune


@dataclass(frozen=True)
class L1SparseConfig(SgdSettings):
    RANGES: ClassVar = {"gamma": (0.0, 1.0, "an l1 weight")}

    gamma: float = setting(
        5e-4, "initial l1 weight gamma of Eq. 5 (paper's l1-sparse MU value: 5e-4)"
    )
    epochs: int = setting(10, "passes over the retain set (authors' scripts: 10)")
    lr: float = setting(0.01, "SGD learning rate (authors' scripts: 0.01)")
    momentum: float = setting(0.9, "SGD momentum (authors' code: 0.9)")
    batch_size: int = setting(256, "samples per SGD step (authors' code: 256)")


def l1_weight(gamma: float, epoch: int, epochs: int) -> float:
    """gamma_t of epoch `epoch` (0-based) of `epochs`: gamma * (1 - epoch / epochs), linear
    from gamma down to gamma / epochs in the last epoch (the authors' code's schedule)."""
    return gamma * (1 - epoch / epochs)


def l1_norm(net: nn.Module) -> torch.Tensor:
    """||theta||_1 over every parameter (weights and biases, as the authors' code)."""
    return sum(p.abs().sum() for p in net.parameters())


@register(
    "l1-sparse",
    L1SparseConfig,
    """l1-sparse MU (Jia et al., NeurIPS 2023, Eq. 5): fine-tuning on the retain set with
    cross-entropy + gamma_t * ||theta||_1, gamma_t decaying linearly per epoch from gamma to
    gamma / epochs (the authors' code's schedule), so sparsity is promoted early and accuracy
    recovered late. Needs the retain set, never reads the forget set; changes every weight.
    Defaults: gamma 5e-4 (the paper's value for l1-sparse MU), 10 epochs, lr 0.01, momentum 0.9,
    batch 256 (authors' scripts and code); weight decay is the recipe's. No departure in the
    update; their warm-up and no-l1 final epochs default to 0 and are left out.""",
)
def unlearn(
    model: TrainedModel,
    request: ForgetRequest,
    data: ImageDataset,
    config: L1SparseConfig,
    *,
    seed: int = 0,
    progress=None,
) -> UnlearnResult:
    """SGD on the retain indices (n_r,), an order drawn from `seed` each epoch, the l1 weight
    set per epoch by `l1_weight`."""
    net = model.copy_model().to(default_device())
    optimizer = torch.optim.SGD(
        net.parameters(), config.lr, config.momentum, weight_decay=model.recipe.weight_decay
    )
    generator = as_generator(seed)
    for epoch in range(config.epochs):
        weight = l1_weight(config.gamma, epoch, config.epochs)

        def loss_fn(net: nn.Module, batch: Batch, weight=weight) -> torch.Tensor:
            x, y = batch
            return F.cross_entropy(net(x), y) + weight * l1_norm(net)

        start, end = epoch / config.epochs, (epoch + 1) / config.epochs
        fine_tune(
            net,
            data,
            request.retain_indices,
            optimizer,
            epochs=1,
            batch_size=config.batch_size,
            generator=generator,
            loss_fn=loss_fn,
            progress=sub_progress(progress, start, end, f"epoch {epoch + 1}/{config.epochs}"),
            phase=f"retain set, l1 weight {weight:.2g}",
        )
    return UnlearnResult(net.eval().cpu())
