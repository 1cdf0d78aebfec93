"""Training the pool's missing models: together, as vectorised ensembles of MIN_TOGETHER to
MAX_TOGETHER models (privacy/ensemble.py), where that applies and was measured faster; one by
one by `training.train` otherwise. Either way model j is `train` of the recipe with seed j.

The rule (`trains_together`), each clause for a reason:
- an SGD recipe: the ensemble steps its stacked parameters with torch.optim.SGD, whose update
  is elementwise and so per model; Adam's is too, but it was not measured or tested here;
- no buffers: BatchNorm's running statistics are updated by the forward pass, which
  functional_call under vmap does not carry back per model;
- no train-time randomness (dropout): K models under vmap would draw their masks differently
  from K models trained one by one;
- the CPU: the only device measured (BENCHMARKS.md, "Pools trained together (issue 26)");
- an architecture whose ensemble was faster in every measurement there (MEASURED_FASTER:
  logreg, 1.2 to 2.1 times at 8, 16 and 32 models; smallcnn was not, 0.6 to 1.8 times, as the
  grouped convolutions vmap makes cost about what K convolutions cost on 2 cores), and at least
  MIN_TOGETHER models, the fewest measured;
- no model whose very first batch is wholly excluded: `run_epoch` steps that empty batch before
  any gradient exists (None, not zero), and torch.optim.SGD skips a parameter without one, so
  that model's first step has no weight decay and starts no momentum; a stacked tensor, whose
  other models have gradients, is stepped whole and cannot skip one model's slice.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator

import torch
from torch import nn

from unlearn_core.data import ImageDataset
from unlearn_core.device import default_device
from unlearn_core.privacy.ensemble import train_ensemble
from unlearn_core.progress import Progress, sub_progress
from unlearn_core.training import Recipe, TrainedModel, epoch_order, initial_model, kept, train

MIN_TOGETHER = 8  # fewest models trained together: the smallest ensemble measured faster
MAX_TOGETHER = 32  # most models per ensemble: bounds a step's activations, K * b samples at once
MEASURED_FASTER = ("logreg",)  # on the CPU, at every K measured (bench/bench_ensemble.py)


def _train_time_random(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.dropout._DropoutNd) for m in model.modules())


def _first_batch_emptied(seeds: list[int], exclude: torch.Tensor | None, n: int, b: int) -> bool:
    """Whether some seed's first batch (of epoch 0) loses every sample to `exclude` (k,)."""
    keep = kept(n, exclude)
    return any(not keep[epoch_order(seed, 0, n)[:b]].any() for seed in seeds)


def trains_together(
    arch: str,
    data: ImageDataset,
    recipe: Recipe,
    device: torch.device,
    seeds: list[int],
    exclude: torch.Tensor | None = None,
) -> bool:
    """Whether the models of `seeds` (`arch` by `recipe`, without `exclude`) train as one
    ensemble on `device` (the module notes give each clause's reason)."""
    if len(seeds) < MIN_TOGETHER or recipe.optimizer != "sgd" or device.type != "cpu":
        return False
    if arch not in MEASURED_FASTER:
        return False
    model = initial_model(arch, data, 0)
    if any(True for _ in model.buffers()) or _train_time_random(model):
        return False
    return not _first_batch_emptied(seeds, exclude, data.train_y.numel(), recipe.batch_size)


def _part(progress: Progress | None, j: int, parts: int, label: str) -> Progress | None:
    """Part j of `parts` of the progress bar (the whole of it when there is one part)."""
    return progress if parts == 1 else sub_progress(progress, j / parts, (j + 1) / parts, label)


def _groups(seeds: list[int]) -> list[list[int]]:
    """`seeds` in order, cut into the fewest groups of at most MAX_TOGETHER, of equal sizes
    within one (so none is below MIN_TOGETHER, which is at most MAX_TOGETHER // 2, when
    there are MIN_TOGETHER seeds or more)."""
    parts = -(-len(seeds) // MAX_TOGETHER)
    bounds = [j * len(seeds) // parts for j in range(parts + 1)]
    return [seeds[start:end] for start, end in itertools.pairwise(bounds)]


def train_seeds(
    arch: str,
    data: ImageDataset,
    recipe: Recipe,
    seeds: list[int],
    *,
    exclude: torch.Tensor | None = None,
    convention: str = "standard",
    progress: Progress | None = None,
    device: torch.device | str | None = None,
) -> Iterator[TrainedModel]:
    """For each seed s, in order and each as soon as it is trained (an ensemble's all at once),
    `train(arch, data, replace(recipe, seed=s), exclude=exclude, convention=convention,
    probes=False)`: together where `trains_together` says so (weights then within float
    tolerance of one by one), else one by one."""
    device = torch.device(device) if device else default_device()
    if trains_together(arch, data, recipe, device, seeds, exclude):
        groups = _groups(seeds)
        for j, group in enumerate(groups):
            yield from train_ensemble(
                arch,
                data,
                recipe,
                group,
                exclude=exclude,
                convention=convention,
                progress=_part(progress, j, len(groups), f"models {group[0]}-{group[-1]}"),
                device=device,
            )
        return
    for j, seed in enumerate(seeds):
        yield train(
            arch,
            data,
            dataclasses.replace(recipe, seed=seed),
            exclude=exclude,
            convention=convention,
            progress=_part(progress, j, len(seeds), f"model {seed}"),
            device=device,
            probes=False,
        )
