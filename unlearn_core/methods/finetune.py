"""FineTune: continue training on the retain set only (catastrophic forgetting)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearn_core.data import ImageDataset
from unlearn_core.device import default_device
from unlearn_core.methods.registry import SgdConfig, UnlearnResult, register, setting
from unlearn_core.randomness import as_generator
from unlearn_core.request import ForgetRequest
from unlearn_core.training import TrainedModel, fine_tune


@dataclass(frozen=True)
class FinetuneConfig(SgdConfig):
    epochs: int = setting(2, "passes over the retain set")
    lr: float = setting(0.02, "SGD learning rate")


@register(
    "finetune",
    FinetuneConfig,
    """FineTune (Golatkar et al., 2020; the UNSIR paper's baseline): a few epochs of SGD on the
    retain set only, hoping the forget set is overwritten by catastrophic forgetting. Needs the
    retain set, never reads the forget set; changes every weight. Cheap, but the UNSIR paper finds
    it leaves much of the forgotten classes' accuracy in place. Reference code: Jia et al.'s FT
    (Unlearn-Sparse, NeurIPS 2023, which later benchmarks reuse): SGD with momentum 0.9 and
    weight decay 5e-4, 10 epochs at lr 0.01, batch 256 (its step decay at epochs 91 and 136
    never acts). Departures: 2 epochs at lr 0.02 and batch 64 by default (`--set epochs=10
    --set lr=0.01 --set batch_size=256` gives theirs); the weight decay is the recipe's.""",
)
def unlearn(
    model: TrainedModel,
    request: ForgetRequest,
    data: ImageDataset,
    config: FinetuneConfig,
    *,
    seed: int = 0,
    progress=None,
) -> UnlearnResult:
    """SGD (with momentum and the recipe's weight decay) on the retain indices (n_r,), in an
    order drawn from `seed` each epoch."""
    net = model.copy_model().to(default_device())
    optimizer = torch.optim.SGD(
        net.parameters(), config.lr, config.momentum, weight_decay=model.recipe.weight_decay
    )
    fine_tune(
        net,
        data,
        request.retain_indices,
        optimizer,
        epochs=config.epochs,
        batch_size=config.batch_size,
        generator=as_generator(seed),
        progress=progress,
        phase="fine-tuning on the retain set",
    )
    return UnlearnResult(net.cpu())
