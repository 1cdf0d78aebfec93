"""Slices of a network and their activations under input perturbations (L-FOCI's samples).

Mehta et al., "Deep Unlearning via Randomized Conditionally Independent Hessians", CVPR 2022,
Sec. 5 (Eq. 10-12) and Alg. 1 step 1: a *slice* is one output unit of a Linear layer or one
output channel of a Conv2d layer; it owns that row of the weight, weight[k], and bias[k]. For
a sample z' = (x, y) to forget, m perturbed copies x + xi_j, xi_j ~ N(0, s^2 I) (normalised
input space), are passed through the network; each copy gives one loss l_j and one activation
per slice (a Linear unit's output; a channel's output averaged over its spatial positions).
The tuples (l_j, a_j) are the samples L-FOCI selects slices from.

Layers are keyed by their qualified name from `named_modules` (never by `str(module)`, which
would merge identical layers, e.g. the blocks of a ResNet); which layers have slices is
torch_utils.slice_layers, shared with metrics/slice_movement.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from unlearn_core.torch_utils import SliceLayer, slice_layers
from unlearn_core.torch_utils import recording as record_outputs

BATCH = 256  # perturbed copies per forward pass; bounds memory, not the result

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (b, k) logits, (b,) -> (b,)


def unit_activations(output: torch.Tensor, conv: bool) -> torch.Tensor:
    """A layer's output -> (b, units): a Conv2d's (b, C, H, W) averaged over H, W; a Linear's
    (b, ..., units) averaged over any positions between batch and units (e.g. tokens)."""
    if conv:
        return output.mean(dim=(2, 3))
    return output.reshape(output.shape[0], -1, output.shape[-1]).mean(dim=1)


def recording(model: nn.Module, layers: list[SliceLayer]):
    """A context manager recording each slice layer's unit activations (b, units) on every
    forward call into `record[name]` (torch_utils.recording with `unit_activations`)."""
    modules = dict(model.named_modules())
    named = {layer.name: modules[layer.name] for layer in layers}
    convs = {name for name, module in named.items() if isinstance(module, nn.Conv2d)}
    return record_outputs(named, transform=lambda name, out: unit_activations(out, name in convs))


@dataclass
class Perturbed:
    """The perturbation samples of Alg. 1 step 1, pooled over the forget samples."""

    losses: torch.Tensor  # (M,) float64: Y, the loss of each perturbed copy
    features: torch.Tensor  # (M, S) float64: one column per slice, S = total slices
    columns: list[tuple[str, int]]  # column j -> (layer name, unit index)


@torch.no_grad()
def perturb(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: LossFn,
    copies: int,
    std: float,
    generator: torch.Generator,
) -> Perturbed:
    """Losses and slice activations of `copies` perturbed copies of each forget sample.

    x: (k, C, H, W) normalised forget images on the model's device; y: (k,) their labels;
    std: s, the perturbation's standard deviation in normalised input space; generator: on
    x's device. The model runs as it is (the caller puts it in eval mode). Losses are taken on
    float64 logits, so a very confident sample's tiny loss differences are not rounded away.
    """
    layers = slice_layers(model)
    columns = [(layer.name, unit) for layer in layers for unit in range(layer.units)]
    total = copies * y.numel()  # sample i's copies are rows i * copies ... (i + 1) * copies - 1
    losses = []
    with recording(model, layers) as record:
        for start in range(0, total, BATCH):
            owner = torch.arange(start, min(start + BATCH, total), device=x.device) // copies
            noise = torch.randn((owner.numel(), *x.shape[1:]), generator=generator, device=x.device)
            logits = model(x[owner] + std * noise)  # (b, classes)
            losses.append(loss_fn(logits.double(), y[owner]))  # (b,)
    features = torch.cat([torch.cat(record[layer.name]) for layer in layers], dim=1)  # (M, S)
    return Perturbed(torch.cat(losses), features.double(), columns)
