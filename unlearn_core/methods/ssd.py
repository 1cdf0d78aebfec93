"""Selective Synaptic Dampening: damp the weights far more important to the forget set.

J. Foster, S. Schoepf and A. Brintrup, "Fast Machine Unlearning Without Retraining Through
Selective Synaptic Dampening", AAAI 2024 (arXiv:2308.07707), Sec. 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from unlearn_core.data import ImageDataset
from unlearn_core.device import default_device
from unlearn_core.methods.registry import SgdSettings, UnlearnResult, register, setting
from unlearn_core.methods.unlearn_ops import Importances, diagonal_fisher
from unlearn_core.progress import sub_progress
from unlearn_core.request import ForgetRequest
from unlearn_core.training import TrainedModel


@dataclass(frozen=True)
class SsdConfig(SgdSettings):
    RANGES: ClassVar = {
        "alpha": (1e-9, 1e6, "a threshold on an importance ratio"),
        "lam": (1e-9, 1e6, "the dampening constant"),
        "batch_size": (1, 100_000, "a batch is held in memory at once"),
    }

    # Demo, class 3 (batch 64): the paper's alpha 10 selects 9 weights and forgets nothing
    # (forget accuracy 0.97 -> 0.97); alpha 5: 875 weights, 0.97; alpha 2, lambda 1: 0.61;
    # alpha 2, lambda 0.1: 0.035 with retain 0.877 -> 0.852; alpha 1.5 costs 0.06-0.11 of retain
    alpha: float = setting(
        2.0,
        "selection weighting alpha: damp where []_f > alpha * []_D. Paper (ResNet18, CIFAR): "
        "10, which on the demo selects 9 weights and forgets nothing; 2 forgets class 3",
    )
    lam: float = setting(
        0.1,
        "dampening constant lambda: beta = min(lambda * []_D / []_f, 1). Paper: 1, which with "
        "alpha 2 leaves forget accuracy 0.61 on the demo; 0.1 brings it to 0.035",
    )
    batch_size: int = setting(
        64, "samples per importance batch (the authors' code squares batch gradients; its -b 64)"
    )


@torch.no_grad()
def dampen(
    model: torch.nn.Module, full: Importances, forget: Importances, alpha: float, lam: float
) -> dict[str, int]:
    """SSD Eq. 3-4 in place: for every parameter entry with forget[k] > alpha * full[k],
    multiply it by beta = min(lam * full[k] / forget[k], 1); every other entry unchanged.
    Returns the number of entries damped per parameter."""
    damped = {}
    for name, param in model.named_parameters():
        selected = forget[name] > alpha * full[name]  # same shape as param
        beta = (lam * full[name][selected] / forget[name][selected]).clamp(max=1.0)  # (m,)
        param[selected] = param[selected] * beta
        damped[name] = int(selected.sum())
    return damped


@register(
    "ssd",
    SsdConfig,
    """Selective Synaptic Dampening (Foster et al., AAAI 2024): no gradient step. Diagonal
    importances, the mean squared gradient of the cross-entropy, on the forget set ([]_f) and on
    the full training set ([]_D, retain and forget); every weight with []_f > alpha * []_D is
    multiplied by beta = min(lambda * []_D / []_f, 1). Needs the forget set and the whole training
    set (read once each, batch by batch); changes only the selected weights, leaves the rest bit
    for bit. Defaults: alpha = 2 and lambda = 0.1, departing from the paper's alpha = 10,
    lambda = 1 (ResNet18 on CIFAR), which damp 9 weights of the demo model and forget nothing:
    with 10 balanced classes a weight used by one class alone has a per-sample importance ratio
    of at most about 10. Batch 64 (their full-class script's -b; their random-sample script's
    default is 128), its batch gradients squared and averaged over batches, the model in eval
    mode, the full set read unshuffled as retain then forget, as in their code
    (ssd.ParameterPerturber, forget_*_main.py). Draws nothing: the seed does not matter.""",
)
def unlearn(
    model: TrainedModel,
    request: ForgetRequest,
    data: ImageDataset,
    config: SsdConfig,
    *,
    seed: int = 0,
    progress=None,
) -> UnlearnResult:
    """Importances over the forget indices (k,) and all n training indices (retain then forget,
    as the authors' full loader), then `dampen`."""
    device = default_device()
    net = model.copy_model().to(device)

    forget = diagonal_fisher(
        net,
        data,
        request.forget_indices,
        config.batch_size,
        device,
        progress=sub_progress(progress, 0.0, 0.2, "importances"),
        phase="forget set",
    )
    everything = torch.cat([request.retain_indices, request.forget_indices])  # (n,)
    full = diagonal_fisher(
        net,
        data,
        everything,
        config.batch_size,
        device,
        progress=sub_progress(progress, 0.2, 0.95, "importances"),
        phase="training set",
    )
    damped = dampen(net, full, forget, config.alpha, config.lam)
    if progress:
        progress(1.0, "dampening")
    info = {"damped_weights": sum(damped.values()), "damped_per_parameter": damped}
    return UnlearnResult(net.eval().cpu(), info)
