"""Relearn time (UNSIR Sec. 5.1; METHODS.md section 4): how quickly does the forgotten come back?

Training goes on from the model under test by the model's own recipe (optimiser, learning rate,
momentum, weight decay, batch size), each epoch on `samples_per_epoch` random samples of the
*full* training set (forget set included), until its accuracy on the forget set is back at the
original model's. Few epochs mean the information was still in the weights.

JSON shape of one measurement (exactly one of `epochs` and `more_than` is non-null):
    {"epochs": 3, "more_than": null, ...}        regained after 3 epochs (0: never lost)
    {"epochs": null, "more_than": 50, ...}       not regained within the cap of 50 epochs
plus `target_forget_acc`, `forget_acc_per_epoch` (after 0, 1, ... epochs, as far as it ran),
`samples_per_epoch`, `max_epochs` and `seed`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from unlearn_core.data import ImageDataset
from unlearn_core.device import default_device
from unlearn_core.errors import UserError
from unlearn_core.metrics.accuracy import accuracy
from unlearn_core.randomness import as_generator
from unlearn_core.training import Recipe, cross_entropy, index_batches, make_optimizer, run_epoch


@dataclass(frozen=True)
class RelearnConfig:
    samples_per_epoch: int = 500  # random training samples per epoch (UNSIR Sec. 5.1: 500)
    max_epochs: int = 50  # the cap; not regained by then is reported as "more than max_epochs"
    seed: int = 0  # seeds every epoch's draw and order, so a measurement repeats exactly

    def __post_init__(self):
        if self.samples_per_epoch < 1 or self.max_epochs < 0:
            raise UserError("relearn time needs samples per epoch >= 1 and max epochs >= 0.")


def relearn_time(
    model: nn.Module,
    data: ImageDataset,
    forget_indices: torch.Tensor,
    target: float,
    recipe: Recipe,
    config: RelearnConfig = RelearnConfig(),
    *,
    progress: Callable[[float, str], None] | None = None,
) -> dict:
    """Epochs until a copy of `model` regains forget accuracy >= `target` (see the module notes).

    forget_indices: (k,) training indices whose accuracy is watched. recipe: how the model was
    trained; its optimiser, learning rate, momentum, weight decay and batch size are reused on
    the mean cross-entropy. Never changes `model`: trains a copy on the default device, drawing
    each epoch's samples (without replacement) from a generator seeded with `config.seed`.
    """
    if forget_indices.numel() == 0:
        raise ValueError("relearn time needs a non-empty forget set")
    device = default_device()
    net = copy.deepcopy(model).to(device)
    optimizer = make_optimizer(net.parameters(), recipe)
    generator = as_generator(config.seed)
    n = data.train_y.numel()
    per_epoch = min(config.samples_per_epoch, n)
    curve = [accuracy(net, data, "train", forget_indices)]
    while curve[-1] < target and len(curve) <= config.max_epochs:
        drawn = torch.randperm(n, generator=generator)[:per_epoch]  # (per_epoch,)
        batches = index_batches(data, drawn, recipe.batch_size, device)
        run_epoch(net, optimizer, batches, cross_entropy)
        curve.append(accuracy(net, data, "train", forget_indices))
        if progress:
            progress(len(curve) / (config.max_epochs + 1), f"relearning, epoch {len(curve) - 1}")
    regained = curve[-1] >= target
    if progress:
        progress(1.0, "relearn time measured")
    return {
        "epochs": len(curve) - 1 if regained else None,
        "more_than": None if regained else config.max_epochs,
        "target_forget_acc": target,
        "forget_acc_per_epoch": curve,
        "samples_per_epoch": per_epoch,
        "max_epochs": config.max_epochs,
        "seed": config.seed,
    }


def relearn_times(
    models: dict[str, nn.Module | None],
    *args,
    progress: Callable[[float, str], None] | None = None,
    **kwargs,
) -> dict[str, dict | None]:
    """report.json's `relearn_time`: name -> relearn_time(model, *args, **kwargs), the same
    arguments for every model, or None for a missing model; progress shared out evenly."""
    present = [name for name, m in models.items() if m is not None]
    out: dict[str, dict | None] = {name: None for name in models}
    for i, name in enumerate(present):
        share = _share(progress, i, len(present), name)
        out[name] = relearn_time(models[name], *args, progress=share, **kwargs)
    return out


def _share(progress, index: int, count: int, name: str):
    """Maps one model's progress onto its share [index, index + 1] / count of the whole."""
    if progress is None:
        return None
    return lambda fraction, phase: progress((index + fraction) / count, f"{name}: {phase}")
