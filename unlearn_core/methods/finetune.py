"""FineTune: continue training on the retain set only (catastrophic forgetting)."""

from __future__ import annotations

from dataclasses import dataclass

from unlearn_core.data import ImageDataset
from unlearn_core.device import default_device
from unlearn_core.methods.loops import gradient_epochs
from unlearn_core.methods.registry import UnlearnResult, check_optimiser_settings, register
from unlearn_core.request import ForgetRequest
from unlearn_core.training import TrainedModel


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 2  # passes over the retain set
    lr: float = 0.02  # SGD learning rate
    batch_size: int = 64

    def __post_init__(self):
        check_optimiser_settings(self)

    momentum: float = 0.9


@register(
    "finetune",
    FinetuneConfig,
    """FineTune (Golatkar et al., 2020; the UNSIR paper's baseline): a few epochs of SGD on the
    retain set only, hoping the forget set is overwritten by catastrophic forgetting. Needs the
    retain set, never reads the forget set; changes every weight. Cheap, but the UNSIR paper finds
    it leaves much of the forgotten classes' accuracy in place.""",
)
def unlearn(
    model: TrainedModel,
    request: ForgetRequest,
    data: ImageDataset,
    config: FinetuneConfig,
    *,
    progress=None,
) -> UnlearnResult:
    net = model.copy_model().to(default_device())
    gradient_epochs(
        net,
        data,
        request.retain_indices,
        epochs=config.epochs,
        lr=config.lr,
        batch_size=config.batch_size,
        momentum=config.momentum,
        weight_decay=model.recipe.weight_decay,
        progress=progress,
        phase="fine-tuning on the retain set",
    )
    return UnlearnResult(net.cpu())
