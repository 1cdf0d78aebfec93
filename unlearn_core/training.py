"""Recorded training: a recipe that replays exactly, so "retrain without the forget set" is exact.

The recipe fixes the initialisation seed, the data order (one seeded permutation per epoch) and
the optimiser. Each batch's loss is the sum of its per-sample losses divided by the nominal batch
size b, also for a short last batch (Thudi et al., Unrolling SGD, Eq. 4): removing a sample then
deletes exactly its term and leaves every other batch unchanged, and a retrain that removes
nothing reproduces the original weights bitwise on the CPU.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.data import ImageDataset
from unlearn_core.device import default_device
from unlearn_core.errors import UserError
from unlearn_core.hessian import HessianProbe
from unlearn_core.metrics.accuracy import accuracy
from unlearn_core.models import build_model
from unlearn_core.progress import Progress


@dataclass(frozen=True)
class Recipe:
    optimizer: str = "sgd"  # "sgd" (plain SGD, what Unrolling SGD's analysis assumes) or "adam"
    lr: float = 0.05  # learning rate eta
    batch_size: int = 64  # nominal batch size b (every batch's loss is divided by it)
    epochs: int = 10
    weight_decay: float = 5e-4  # L2 coefficient lambda; also L-FOCI's Hessian damping
    momentum: float = 0.0  # SGD momentum; 0 keeps the update a plain gradient step
    seed: int = 0  # seeds the initial weights w_0 and the per-epoch data order
    sd_gamma: float = 0.0  # SD-loss weight gamma (Unrolling SGD, Eq. 10); 0 is plain cross-entropy
    probe_every: int = 200  # k: top Hessian eigenvalue at the middle of every k steps (0: never)
    probe_size: int = 64  # samples in the fixed probe batch of the Hessian probes
    probe_iters: int = 20  # most power iterations per probe (warm-started, usually fewer)

    def __post_init__(self):
        if self.optimizer not in ("sgd", "adam"):
            raise UserError(f"unknown optimizer {self.optimizer!r}; use sgd or adam.")
        if self.lr <= 0 or self.batch_size < 1 or self.epochs < 1 or self.weight_decay < 0:
            raise UserError("recipe needs lr > 0, batch_size >= 1, epochs >= 1, weight_decay >= 0.")
        if self.probe_every < 0 or self.probe_size < 1 or self.probe_iters < 1:
            raise UserError("recipe needs probe_every >= 0, probe_size >= 1, probe_iters >= 1.")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Recipe:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass
class TrainedModel:
    """A model with the record of how it was made; what checkpoints hold and methods receive."""

    arch: str
    dataset: str
    model: nn.Module  # on the CPU, in eval mode; treat as read-only
    recipe: Recipe
    w0: dict[str, torch.Tensor] | None  # state_dict at initialisation; None for foreign weights
    history: list[dict] = field(default_factory=list)  # per epoch: loss, train_acc, test_acc
    probes: dict | None = None  # Hessian probes (HessianProbe.record); None if not recorded

    def copy_model(self) -> nn.Module:
        """A deep copy that a method may change freely."""
        return copy.deepcopy(self.model)


def per_sample_loss(logits: torch.Tensor, labels: torch.Tensor, sd_gamma: float) -> torch.Tensor:
    """(b, k) logits, (b,) labels -> (b,) cross-entropy plus gamma * std of each sample's logits
    across classes (population std; Thudi et al., Eq. 10)."""
    loss = F.cross_entropy(logits, labels, reduction="none")
    if sd_gamma:
        loss = loss + sd_gamma * logits.std(dim=1, correction=0)
    return loss


def epoch_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The data order of one epoch: a permutation of range(n) that depends only on (seed, epoch)."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=generator)


def make_optimizer(params: Iterable[torch.Tensor], recipe: Recipe) -> torch.optim.Optimizer:
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.SGD(
        params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay
    )


def initial_model(arch: str, data: ImageDataset, seed: int) -> nn.Module:
    """The model at w_0 for this seed, without disturbing the caller's global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(arch, data.channels, data.num_classes, data.image_size)


def train(
    arch: str,
    data: ImageDataset,
    recipe: Recipe,
    *,
    init_state: dict[str, torch.Tensor] | None = None,
    exclude: torch.Tensor | None = None,
    progress: Progress | None = None,
    device: torch.device | str | None = None,
    probes: bool = True,
) -> TrainedModel:
    """Train `arch` on data.train_x by `recipe`, recording w_0 and per-epoch loss and accuracy.

    init_state: start from these weights instead of the seed's initialisation (a retrain from a
    checkpoint's w_0). exclude: training indices (k,) skipped in place, each batch keeping its
    nominal normaliser b, which is how the oracle "retrained without the forget set" is made.
    probes: record the top Hessian eigenvalue every recipe.probe_every steps (weights unchanged).
    """
    device = torch.device(device) if device else default_device()
    model = initial_model(arch, data, recipe.seed)
    if init_state is not None:
        model.load_state_dict(init_state)
    w0 = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.to(device).train()
    optimizer = make_optimizer(model.parameters(), recipe)
    n, b = data.train_y.numel(), recipe.batch_size
    keep = torch.ones(n, dtype=torch.bool)
    if exclude is not None:
        keep[exclude] = False
    steps_per_epoch = -(-n // b)
    history = []
    probe = None
    if probes and recipe.probe_every:
        loss_fn = functools.partial(per_sample_loss, sd_gamma=recipe.sd_gamma)
        probe = HessianProbe(
            data,
            loss_fn,
            size=recipe.probe_size,
            iters=recipe.probe_iters,
            seed=recipe.seed,
            device=device,
        )
    for epoch in range(recipe.epochs):
        order = epoch_order(recipe.seed, epoch, n)
        loss_sum, correct, seen = 0.0, 0, 0
        for step in range(steps_per_epoch):
            batch = order[step * b : (step + 1) * b]
            batch = batch[keep[batch]]
            done = epoch * steps_per_epoch + step  # SGD steps taken so far
            if probe and done % recipe.probe_every == recipe.probe_every // 2:
                probe(model, done)  # at steps k/2, 3k/2, ...: each stands for the k around it
            optimizer.zero_grad(set_to_none=False)
            if batch.numel():
                x = data.normalize(data.train_x[batch]).to(device)  # (b', C, H, W)
                y = data.train_y[batch].to(device)
                logits = model(x)  # (b', k)
                losses = per_sample_loss(logits, y, recipe.sd_gamma)  # (b',)
                (losses.sum() / b).backward()
                loss_sum += float(losses.detach().sum())
                correct += int((logits.argmax(1) == y).sum())
                seen += batch.numel()
            optimizer.step()  # an emptied batch still takes its weight-decay step
            if progress:
                progress(
                    (epoch * steps_per_epoch + step + 1) / (recipe.epochs * steps_per_epoch),
                    f"epoch {epoch + 1}/{recipe.epochs}",
                )
        model.eval()
        test_acc = accuracy(model, data, "test")
        model.train()
        history.append(
            {
                "epoch": epoch + 1,
                "loss": loss_sum / max(seen, 1),
                "train_acc": correct / max(seen, 1),
                "test_acc": test_acc,
            }
        )
    model.eval().cpu()
    record = probe.record(recipe.epochs * steps_per_epoch, recipe.probe_every) if probe else None
    return TrainedModel(arch, data.name, model, recipe, w0, history, record)


def retrain_without(
    trained: TrainedModel,
    data: ImageDataset,
    forget_indices: torch.Tensor,
    *,
    progress: Progress | None = None,
    device: torch.device | str | None = None,
) -> nn.Module:
    """The oracle: the same recipe, w_0 and data order, with the forget samples removed."""
    result = train(
        trained.arch,
        data,
        trained.recipe,
        init_state=trained.w0,
        exclude=forget_indices,
        progress=progress,
        device=device,
        probes=False,
    )
    return result.model
