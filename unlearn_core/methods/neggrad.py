"""NegGrad: gradient ascent on the forget set."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearn_core.data import ImageDataset
from unlearn_core.device import default_device
from unlearn_core.methods.registry import SgdSettings, UnlearnResult, register, setting
from unlearn_core.randomness import as_generator
from unlearn_core.request import ForgetRequest
from unlearn_core.training import TrainedModel, fine_tune, negated_cross_entropy


@dataclass(frozen=True)
class NegGradConfig(SgdSettings):
    epochs: int = setting(1, "passes over the forget set")
    lr: float = setting(0.01, "SGD learning rate of the ascent")
    batch_size: int = setting(64, "samples per SGD step")


@register(
    "neggrad",
    NegGradConfig,
    """NegGrad (Golatkar et al., 2020; the UNSIR paper's baseline): SGD that maximises the
    cross-entropy on the forget set, pushing the model away from it. Needs the forget set only;
    changes every weight. Fast, but unbounded ascent also damages the retained classes, so the
    learning rate and epochs must stay small. Reference code: Jia et al.'s GA (Unlearn-Sparse,
    NeurIPS 2023): SGD with momentum 0.9 and weight decay 5e-4 ascending the forget set's mean
    cross-entropy, 5 epochs at lr 1e-4, batch 256. Departures: plain SGD (no momentum, no
    weight decay), 1 epoch at lr 0.01 and batch 64 by default.""",
)
def unlearn(
    model: TrainedModel,
    request: ForgetRequest,
    data: ImageDataset,
    config: NegGradConfig,
    *,
    seed: int = 0,
    progress=None,
) -> UnlearnResult:
    """Plain SGD (no momentum, no weight decay) ascending the mean cross-entropy of the forget
    indices (k,), in an order drawn from `seed` each epoch."""
    net = model.copy_model().to(default_device())
    fine_tune(
        net,
        data,
        request.forget_indices,
        torch.optim.SGD(net.parameters(), lr=config.lr),
        epochs=config.epochs,
        batch_size=config.batch_size,
        generator=as_generator(seed),
        loss_fn=negated_cross_entropy,
        progress=progress,
        phase="gradient ascent on the forget set",
    )
    return UnlearnResult(net.cpu())
