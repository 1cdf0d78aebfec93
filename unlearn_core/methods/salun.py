"""SalUn: random-label unlearning that moves only the weights salient to the forget set.

C. Fan, J. Liu, Y. Zhang, E. Wong, D. Wei and S. Liu, "SalUn: Empowering Machine Unlearning via
Gradient-based Weight Saliency in Both Image Classification and Generation", ICLR 2024
(arXiv:2310.12508), Sec. 4, Eq. 3 (the saliency map) and Eq. 4 (unlearning with it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.data import ImageDataset
from unlearn_core.device import default_device
from unlearn_core.errors import UserError
from unlearn_core.methods.random_label import random_other_labels
from unlearn_core.methods.registry import SgdConfig, UnlearnResult, register, setting
from unlearn_core.methods.unlearn_ops import masked_gradients
from unlearn_core.randomness import as_generator
from unlearn_core.request import ForgetRequest
from unlearn_core.torch_utils import evaluating
from unlearn_core.training import Batch, TrainedModel, fine_tune, run_epoch, step_progress

LOOPS = ("mixed", "authors")
LOOP_HELP = (
    "mixed (default): each epoch one shuffle of retain + forget set, the forget labels drawn "
    "once (Eq. 4's joint loss; earlier runs replay as they were); authors: their CIFAR-10 loop, "
    "each epoch every forget batch first, relabelled afresh, then the retain batches"
)


@dataclass(frozen=True)
class SalunConfig(SgdConfig):
    """SGD's settings (momentum 0.9 as the authors' code) and the saliency mask's share."""

    epochs: int = setting(10, "passes over retain + relabelled forget set (authors' README: 10)")
    lr: float = setting(0.013, "SGD learning rate (authors' README example: 0.013)")
    batch_size: int = setting(256, "samples per SGD step (authors' code: 256)")
    keep: float = setting(0.5, "share of weights in the saliency mask, by |grad| (paper: 0.5)")
    loop: str = setting("mixed", LOOP_HELP, choices=LOOPS)

    RANGES: ClassVar = {"keep": (1e-9, 1.0, "a fraction of the weights")}

    def __post_init__(self):
        super().__post_init__()
        if self.loop not in LOOPS:
            raise UserError(f"salun's loop must be {' or '.join(LOOPS)}, not {self.loop!r}.")


def authors_epoch(
    data: ImageDataset, request: ForgetRequest, batch_size: int, generator: torch.Generator
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of the authors' CIFAR-10 loop (their `unlearn/RL.py`): (indices (b,), labels
    (b,)) per SGD step, the forget batches first, each relabelled afresh at random (here to a
    class other than its own and the forgotten ones, as `random_other_labels`), then the retain
    batches with their own labels; each set in a new order."""
    forget, retain = request.forget_indices, request.retain_indices
    steps = []
    for batch in forget[torch.randperm(forget.numel(), generator=generator)].split(batch_size):
        labels = random_other_labels(
            data.train_y[batch], request.classes, data.num_classes, generator
        )
        steps.append((batch, labels))
    for batch in retain[torch.randperm(retain.numel(), generator=generator)].split(batch_size):
        steps.append((batch, data.train_y[batch]))
    return steps


def _authors_loop(net, data, request, optimizer, loss_fn, config, generator, progress) -> None:
    """config.epochs of authors_epoch's steps through run_epoch."""
    device = next(net.parameters()).device
    for epoch in range(config.epochs):
        steps = authors_epoch(data, request, config.batch_size, generator)
        batches = ((data.batch(i, device)[0], y.to(device)) for i, y in steps)
        done, total = epoch * len(steps), config.epochs * len(steps)
        tick = step_progress(progress, done, total, "forget then retain batches, salient weights")
        run_epoch(net, optimizer, batches, loss_fn, on_batch=tick)
    net.eval()


def saliency_mask(
    net: nn.Module, data: ImageDataset, forget: torch.Tensor, keep: float, device: torch.device
) -> dict[str, torch.Tensor]:
    """SalUn Eq. 3: g = d/dtheta of the mean cross-entropy over the forget set (k,), at the
    trained weights, in eval mode; the mask is 1 on the round(keep * N) entries of largest |g|
    over all N parameter entries together (one global threshold, as the authors' code), else 0.
    -> name -> bool tensor shaped like the parameter."""
    names = [k for k, _ in net.named_parameters()]
    params = [p for _, p in net.named_parameters()]
    total = [torch.zeros_like(p) for p in params]
    with evaluating(net):
        for batch in forget.split(256):
            x, y = data.batch(batch, device)  # (b, C, H, W), (b,)
            loss = F.cross_entropy(net(x), y, reduction="sum") / forget.numel()
            for acc, g in zip(total, torch.autograd.grad(loss, params), strict=True):
                acc += g
    flat = torch.cat([g.abs().flatten() for g in total])  # (N,)
    chosen = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    chosen[torch.topk(flat, round(keep * flat.numel())).indices] = True
    pieces = chosen.split([p.numel() for p in params])
    return {k: m.view_as(p) for k, m, p in zip(names, pieces, params, strict=True)}


@register(
    "salun",
    SalunConfig,
    """SalUn (Fan et al., ICLR 2024): a weight-saliency mask, the top `keep` fraction of
    |gradient of the forget-set cross-entropy| over all weights (Eq. 3), then random-label
    unlearning (SGD on the retain set plus the forget set relabelled at random) in which only the
    masked weights move (Eq. 4). Needs the forget and retain sets; changes only masked weights,
    the rest stay bit for bit. Defaults: keep 0.5 (paper), 10 epochs at lr 0.013, momentum 0.9,
    batch 256 (authors' README and code). loop=authors is the authors' CIFAR-10 loop: each
    epoch every forget batch first, each relabelled afresh, then every retain batch. The
    default, loop=mixed, departs from it: one shuffle of retain and forget samples together,
    each forget sample relabelled once for the whole run (SGD on Eq. 4's joint loss; it stays
    the default so that runs recorded before the option replay unchanged). Other departures:
    weight decay (the recipe's) is applied through the loss, so it too moves only masked weights
    (the authors' SGD decays every weight); a forget sample is relabelled to a class other than
    its own and other than any forgotten class (their code draws any class, its own
    included).""",
)
def unlearn(
    model: TrainedModel,
    request: ForgetRequest,
    data: ImageDataset,
    config: SalunConfig,
    *,
    seed: int = 0,
    progress=None,
) -> UnlearnResult:
    """Mask from the forget indices (k,), then SGD over retain (n_r,) + relabelled forget (k,)
    with every gradient (loss and weight decay) multiplied by the mask."""
    device = default_device()
    net = model.copy_model().to(device)
    forget, retain = request.forget_indices, request.retain_indices
    mask = saliency_mask(net, data, forget, config.keep, device)
    generator = as_generator(seed)
    decay = model.recipe.weight_decay

    def loss_fn(net: nn.Module, batch: Batch) -> torch.Tensor:
        x, y = batch
        l2 = sum(p.pow(2).sum() for p in net.parameters())
        return F.cross_entropy(net(x), y) + 0.5 * decay * l2

    optimizer = torch.optim.SGD(net.parameters(), config.lr, config.momentum)
    with masked_gradients(net, mask):
        if config.loop == "authors":
            _authors_loop(net, data, request, optimizer, loss_fn, config, generator, progress)
            return _result(net, mask)
        new_labels = random_other_labels(
            data.train_y[forget], request.classes, data.num_classes, generator
        )
        fine_tune(
            net,
            data,
            torch.cat([retain, forget]),  # (n_r + k,)
            optimizer,
            epochs=config.epochs,
            batch_size=config.batch_size,
            generator=generator,
            loss_fn=loss_fn,
            labels=torch.cat([data.train_y[retain], new_labels]),  # (n_r + k,)
            progress=progress,
            phase="random labels on the salient weights",
        )
    return _result(net, mask)


def _result(net: nn.Module, mask: dict[str, torch.Tensor]) -> UnlearnResult:
    kept = sum(int(m.sum()) for m in mask.values())
    return UnlearnResult(net.eval().cpu(), {"masked_weights": kept})
