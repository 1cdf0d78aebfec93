"""NegGrad+: gradient ascent on the forget set balanced by descent on the retain set."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from unlearn_core.data import ImageDataset
from unlearn_core.device import default_device
from unlearn_core.errors import UserError
from unlearn_core.methods.registry import SgdSettings, UnlearnResult, register, setting
from unlearn_core.randomness import as_generator
from unlearn_core.request import ForgetRequest
from unlearn_core.training import Batch, TrainedModel, cross_entropy, run_epoch, step_progress


@dataclass(frozen=True)
class NegGradPlusConfig(SgdSettings):
    epochs: int = setting(
        1, "passes over the retain set, each retain batch paired with a forget batch"
    )
    # On the demo, class 3: 0.995 forgets it all (forget accuracy 0.97 -> 0.0, retain
    # 0.877 -> 0.894); 0.99 tips into collapse (retain 0.60), 0.999 leaves 0.44 of classes 1,2
    alpha: float = setting(
        0.995,
        "weight of the retain loss; the forget loss gets 1 - alpha (Kurmanji et al. "
        "tune it per task, close to 1)",
    )
    lr: float = setting(0.01, "SGD learning rate")
    momentum: float = setting(0.9, "SGD momentum")
    batch_size: int = setting(64, "retain and forget batches each hold this many samples")

    def __post_init__(self):
        super().__post_init__()
        if not 0 <= self.alpha <= 1:
            raise UserError(f"neggrad-plus needs 0 <= alpha <= 1, not {self.alpha}.")


def paired_batches(
    data: ImageDataset,
    retain: torch.Tensor,
    forget: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
) -> Iterator[tuple[Batch, Batch]]:
    """One epoch: retain (n_r,) in a drawn order, batch_size at a time, each beside a forget
    batch from forget (k,) in its own drawn order, cycled (the forget set is usually smaller);
    a forget sample drawn twice into one batch counts once."""
    retain_order = retain[torch.randperm(retain.numel(), generator=generator)]
    forget_order = forget[torch.randperm(forget.numel(), generator=generator)]
    wrap = torch.arange(batch_size)  # (b,)
    for step, r in enumerate(retain_order.split(batch_size)):
        f = forget_order[(wrap + step * batch_size) % forget.numel()].unique()
        yield data.batch(r, device), data.batch(f, device)


@register(
    "neggrad-plus",
    NegGradPlusConfig,
    """NegGrad+ (Kurmanji et al., "Towards Unbounded Machine Unlearning", NeurIPS 2023): SGD on
    alpha * CE(retain batch) - (1 - alpha) * CE(forget batch), one forget batch (cycled) beside
    each retain batch, so the ascent that pushes the model off the forget set is held back by
    descent on what it must keep. Needs the forget set and the retain set; changes every weight.
    Costs about two epochs of fine-tuning per epoch. Keeps the retained classes where plain NegGrad
    wrecks them (demo, class 3: retain accuracy 0.89 against NegGrad's 0.11), but the balance
    alpha is delicate: a little lower and the ascent takes over.""",
)
def unlearn(
    model: TrainedModel,
    request: ForgetRequest,
    data: ImageDataset,
    config: NegGradPlusConfig,
    *,
    seed: int = 0,
    progress=None,
) -> UnlearnResult:
    """SGD on alpha * CE(retain batch) - (1 - alpha) * CE(forget batch), batches as in
    `paired_batches`, orders drawn from `seed`."""
    device = default_device()
    net = model.copy_model().to(device)
    optimizer = torch.optim.SGD(
        net.parameters(), config.lr, config.momentum, weight_decay=model.recipe.weight_decay
    )
    generator = as_generator(seed)
    steps = -(-request.retain_indices.numel() // config.batch_size)

    def loss_fn(net: nn.Module, batches: tuple[Batch, Batch]) -> torch.Tensor:
        retain, forget = batches
        alpha = config.alpha
        return alpha * cross_entropy(net, retain) - (1 - alpha) * cross_entropy(net, forget)

    for epoch in range(config.epochs):
        batches = paired_batches(
            data,
            request.retain_indices,
            request.forget_indices,
            config.batch_size,
            generator,
            device,
        )
        tick = step_progress(
            progress,
            epoch * steps,
            config.epochs * steps,
            "ascent on the forget set, descent on the retain set",
        )
        run_epoch(net, optimizer, batches, loss_fn, on_batch=tick)
    return UnlearnResult(net.eval().cpu())
