"""K pool models trained together: one architecture and recipe, K seeds, as one vectorised
ensemble (PyTorch's model-ensembling tutorial: `torch.func.stack_module_state` stacks the K
models' parameters into tensors of shape (K, ...), and `torch.func.functional_call` under
`torch.vmap` runs the K forward passes as one).

Each model is what `training.train` makes of its seed: its own w_0 (`initial_model(arch, data,
seed)`), its own data order (`epoch_order(seed, epoch, n)`), the same forget set left out by the
same convention. Each step draws every model's batch by `recipe_batches` from its own order, pads
them into x (B, K, C, H, W) (B: the longest kept batch; the padding's logits are dropped), and
hands model k's logits (b'_k, k) to its own `RecipeLoss`, so loss, divisor, SD term and tallies
are the single-model code's. Their sum is backpropagated once: model k's parameters receive
model k's gradient alone. `torch.optim.SGD` steps the stacked tensors; its update (weight decay,
momentum) is elementwise, so it is the per-model update, bit for bit. What differs from one by
one is only the vectorised network's own summation order (vmap turns a convolution into a
grouped one and a linear layer into a batched matmul): the weights agree within float
tolerance, not bitwise.

x is laid out sample-major, (B, K, ...), and vmapped over its dim 1: vmap's convolution rule
folds K into the channels, (B, K * C, H, W), which that layout gives contiguously; a (K, B, ...)
layout makes it a strided view, and the first convolution's backward then took 10 times as
long on the CPU (measured: smallcnn, K 8, b 64).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, stack_module_state
from torch.nn.utils.rnn import pad_sequence

from unlearn_core.data import ImageDataset
from unlearn_core.device import default_device
from unlearn_core.metrics.accuracy import accuracy
from unlearn_core.progress import Progress
from unlearn_core.training import (
    Recipe,
    RecipeLoss,
    SlotBatch,
    TrainedModel,
    check_convention,
    epoch_order,
    initial_model,
    kept,
    make_optimizer,
    recipe_batches,
    run_epoch,
    step_progress,
)


@dataclass
class EnsembleLoss:
    """run_epoch's loss_fn for the ensemble: K models' batches in, the sum of their recipe
    losses out (None when every model's batch is empty: the step is still taken)."""

    params: dict[str, torch.Tensor]  # name -> (K, ...) stacked parameters, the optimiser's
    losses: list[RecipeLoss]  # one per model: its divisor and its epoch's tallies

    def __call__(
        self, base: nn.Module, batches: tuple[SlotBatch | None, ...]
    ) -> torch.Tensor | None:
        present = [b for b in batches if b is not None]
        if not present:
            return None
        empty = present[0][0][:0]  # (0, C, H, W): a model whose batch is empty
        x = pad_sequence([b[0] if b else empty for b in batches])  # (B, K, C, H, W)
        forward = torch.vmap(lambda p, xk: functional_call(base, p, (xk,)), in_dims=(0, 1))
        logits = forward(self.params, x)  # (K, B, k)
        terms = [
            loss.of_logits(logits[k, : batch[1].numel()], batch[1], batch[2])  # (b'_k, k)
            for k, (loss, batch) in enumerate(zip(self.losses, batches, strict=True))
            if batch is not None
        ]
        return sum(terms)


def _no_probe(step: int) -> None:
    """recipe_batches' before_step: pool models train without Hessian probes."""


def _epoch_batches(data, seeds, epoch, keep, batch_size, device):
    """Step by step, the K models' batches, each from its own seed's order: tuples of K."""
    n = keep.numel()
    streams = [
        recipe_batches(data, epoch_order(seed, epoch, n), keep, batch_size, device, _no_probe)
        for seed in seeds
    ]
    return zip(*streams, strict=True)


def _unstack(params: dict[str, torch.Tensor], k: int, model: nn.Module) -> nn.Module:
    """Model k's weights from the stacked (K, ...) parameters, copied into `model`."""
    model.load_state_dict({name: p[k] for name, p in params.items()})
    return model


def train_ensemble(
    arch: str,
    data: ImageDataset,
    recipe: Recipe,
    seeds: list[int],
    *,
    exclude: torch.Tensor | None = None,
    convention: str = "standard",
    progress: Progress | None = None,
    device: torch.device | str | None = None,
) -> list[TrainedModel]:
    """`train(arch, data, replace(recipe, seed=s), exclude=..., convention=..., probes=False)`
    for each seed s, as one vectorised ensemble: the same TrainedModels (weights within float
    tolerance, w_0 bitwise, history per epoch) in the order of `seeds`. Needs an SGD recipe, a
    model without buffers or train-time randomness, and no seed whose first batch is wholly
    excluded (`pool_training.trains_together` checks each, and says why)."""
    check_convention(convention)
    device = torch.device(device) if device else default_device()
    models = [initial_model(arch, data, seed) for seed in seeds]
    w0s = [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in models]
    models = [m.to(device) for m in models]
    params, _ = stack_module_state(models)  # name -> (K, ...), leaves the optimiser steps
    base = copy.deepcopy(models[0]).to("meta")  # the architecture, without weights
    optimizer = make_optimizer(params.values(), recipe)
    keep, b = kept(data.train_y.numel(), exclude), recipe.batch_size
    steps = -(-keep.numel() // b)
    histories: list[list[dict]] = [[] for _ in seeds]
    for epoch in range(recipe.epochs):
        losses = [RecipeLoss(recipe.sd_gamma, b, convention) for _ in seeds]
        batches = _epoch_batches(data, seeds, epoch, keep, b, device)
        phase = f"epoch {epoch + 1}/{recipe.epochs}"
        tick = step_progress(progress, epoch * steps, recipe.epochs * steps, phase)
        run_epoch(base, optimizer, batches, EnsembleLoss(params, losses), on_batch=tick)
        for k, (model, loss) in enumerate(zip(models, losses, strict=True)):
            test_acc = accuracy(_unstack(params, k, model), data, "test")
            histories[k].append(loss.summary(epoch + 1, test_acc))
    return [
        TrainedModel(arch, data.name, m.eval().cpu(), dataclasses.replace(recipe, seed=s), w0, h)
        for m, s, w0, h in zip(models, seeds, w0s, histories, strict=True)
    ]
