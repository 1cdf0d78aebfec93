"""NegGrad: gradient ascent on the forget set."""

from __future__ import annotations

from dataclasses import dataclass

from unlearn_core.data import ImageDataset
from unlearn_core.device import default_device
from unlearn_core.methods.loops import gradient_epochs
from unlearn_core.methods.registry import UnlearnResult, check_optimiser_settings, register
from unlearn_core.request import ForgetRequest
from unlearn_core.training import TrainedModel


@dataclass(frozen=True)
class NegGradConfig:
    epochs: int = 1  # passes over the forget set
    lr: float = 0.01  # SGD learning rate of the ascent
    batch_size: int = 64

    def __post_init__(self):
        check_optimiser_settings(self)


@register(
    "neggrad",
    NegGradConfig,
    """NegGrad (Golatkar et al., 2020; the UNSIR paper's baseline): SGD that maximises the
    cross-entropy on the forget set, pushing the model away from it. Needs the forget set only;
    changes every weight. Fast, but unbounded ascent also damages the retained classes, so the
    learning rate and epochs must stay small.""",
)
def unlearn(
    model: TrainedModel,
    request: ForgetRequest,
    data: ImageDataset,
    config: NegGradConfig,
    *,
    progress=None,
) -> UnlearnResult:
    net = model.copy_model().to(default_device())
    gradient_epochs(
        net,
        data,
        request.forget_indices,
        epochs=config.epochs,
        lr=config.lr,
        batch_size=config.batch_size,
        ascent=True,
        progress=progress,
        phase="gradient ascent on the forget set",
    )
    return UnlearnResult(net.cpu())
