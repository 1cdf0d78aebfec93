"""Recorded training: a recipe that replays exactly, so "retrain without the forget set" is exact.

The recipe fixes the initialisation seed, the data order (one seeded permutation per epoch) and
the optimiser. Each batch's loss is the sum of its per-sample losses divided by the nominal batch
size b, also for a short last batch (Thudi et al., Unrolling SGD, Eq. 4).

Retraining without a forget set keeps w_0, the order and every SGD step (a batch left empty has
no loss, but the optimiser still steps, so weight decay and momentum act as recorded). Two
conventions say what a batch that lost samples is divided by (`CONVENTIONS`):

- "standard" (the default oracle; what users and the papers call retraining): the batch's loss is
  the mean over the samples it still has, times the weight the recipe gave that batch slot. A
  slot of m nominal samples (m = b except for a short last batch) keeping k' of them is divided
  by k' * b / m. For a full slot that is k', the plain mean; a short last slot keeps the recipe's
  down-weighting m / b of its mean (the recipe divided its sum by b, not m). An untouched slot
  (k' = m) is divided by exactly b, so a retrain that removes nothing reproduces the original
  weights bitwise on the CPU; this retrain minimises the mean loss over the retained samples
  plus the same weight decay.
- "replay" (Thudi et al., Eq. 4): every slot keeps the divisor b, so removing a sample deletes
  exactly its term and leaves the rest of each batch unchanged. Single-gradient unlearning and
  its verification error are derived for this one; it acts as a weight decay n / (n - k) times
  stronger relative to the data term. It too reproduces the original bitwise when nothing is
  removed.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

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
    batch_size: int = 64  # nominal batch size b (every training batch's loss is divided by it)
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


Batch = tuple[torch.Tensor, torch.Tensor]  # images (b, C, H, W) and labels (b,) on the device
BatchLoss = Callable[[nn.Module, Any], torch.Tensor | None]  # (model, batch) -> scalar loss


def run_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterable,
    loss_fn: BatchLoss,
    *,
    on_batch: Callable[[int], None] | None = None,
) -> None:
    """One epoch of SGD, nanoGPT's loop: for each batch, zero the gradients, backpropagate
    loss_fn(model, batch) and step; then on_batch(step), step counting from 0 in this epoch.

    Every trainer in the project runs on it: training and retraining, FineTune, NegGrad, NegGrad+,
    random labels, UNSIR's impair and repair, relearn time. A batch is whatever loss_fn reads,
    usually a Batch. loss_fn may return None for a batch with nothing left in it: the optimiser
    still steps, so weight decay and momentum act as they did in the recorded run (gradients are
    zeroed, not set to None, for the same reason). Leaves the model in train mode.
    """
    model.train()
    for step, batch in enumerate(batches):
        optimizer.zero_grad(set_to_none=False)
        loss = loss_fn(model, batch)
        if loss is not None:
            loss.backward()
        optimizer.step()
        if on_batch:
            on_batch(step)


def cross_entropy(model: nn.Module, batch: Batch) -> torch.Tensor:
    """The batch's mean cross-entropy: the loss of every fine-tuning method."""
    x, y = batch
    return F.cross_entropy(model(x), y)


def negated_cross_entropy(model: nn.Module, batch: Batch) -> torch.Tensor:
    """Gradient ascent on the cross-entropy (NegGrad)."""
    return -cross_entropy(model, batch)


def index_batches(
    data: ImageDataset,
    order: torch.Tensor,
    batch_size: int,
    device: torch.device,
    labels: torch.Tensor | None = None,
) -> Iterator[Batch]:
    """Training indices `order` (n,) in consecutive batches of batch_size (the last shorter), as
    data.batch(...); `labels` (n,), aligned with order, replace the true labels where given."""
    for start in range(0, order.numel(), batch_size):
        x, y = data.batch(order[start : start + batch_size], device)
        yield x, (y if labels is None else labels[start : start + batch_size].to(device))


def step_progress(
    progress: Progress | None, done: int, total: int, phase: str
) -> Callable[[int], None] | None:
    """on_batch for run_epoch: reports (done + step + 1) / total, done steps being behind it."""
    if progress is None:
        return None
    return lambda step: progress((done + step + 1) / total, phase)


def fine_tune(
    model: nn.Module,
    data: ImageDataset,
    indices: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    batch_size: int,
    generator: torch.Generator,
    loss_fn: BatchLoss = cross_entropy,
    labels: torch.Tensor | None = None,
    progress: Progress | None = None,
    phase: str = "fine-tuning",
) -> nn.Module:
    """`epochs` epochs of run_epoch over the training samples `indices` (n,), each in a new
    order drawn from `generator`, with `labels` (n,) in place of the true ones where given.
    Changes `model` (already on its device) in place and returns it in eval mode."""
    device = next(model.parameters()).device
    n = indices.numel()
    steps = -(-n // batch_size)
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=generator)  # (n,)
        batches = index_batches(
            data, indices[perm], batch_size, device, None if labels is None else labels[perm]
        )
        tick = step_progress(progress, epoch * steps, epochs * steps, phase)
        run_epoch(model, optimizer, batches, loss_fn, on_batch=tick)
    return model.eval()


CONVENTIONS = ("standard", "replay")  # a retrain's batch normaliser (see the module notes)

SlotBatch = tuple[torch.Tensor, torch.Tensor, int]  # a Batch and its slot's nominal size m


def check_convention(convention: str) -> str:
    """`convention` if it is one of CONVENTIONS; UserError naming them otherwise."""
    if convention not in CONVENTIONS:
        raise UserError(
            f"unknown oracle convention {convention!r}; use {' or '.join(CONVENTIONS)}."
        )
    return convention


@dataclass
class RecipeLoss:
    """The recipe's batch loss (summed per-sample losses over the convention's divisor) and the
    epoch's tallies."""

    sd_gamma: float
    batch_size: int
    convention: str = "replay"
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0

    def divisor(self, kept: int, slot: int) -> float:
        """The normaliser of a slot of `slot` nominal samples that keeps `kept` of them: b under
        replay; kept * b / slot under standard, which is exactly b when kept == slot."""
        if self.convention == "replay":
            return self.batch_size
        return kept * self.batch_size / slot

    def __call__(self, model: nn.Module, batch: SlotBatch | None) -> torch.Tensor | None:
        if batch is None:  # every sample of this batch excluded: no loss, still a step
            return None
        x, y, slot = batch
        return self.of_logits(model(x), y, slot)

    def of_logits(self, logits: torch.Tensor, y: torch.Tensor, slot: int) -> torch.Tensor:
        """The loss of a batch's logits (b', k) and labels (b',) from a slot of `slot` nominal
        samples, tallied (what a vectorised ensemble calls with each model's logits)."""
        losses = per_sample_loss(logits, y, self.sd_gamma)  # (b',)
        self.loss_sum += float(losses.detach().sum())
        self.correct += int((logits.argmax(1) == y).sum())
        self.seen += y.numel()
        # sum / divisor, never mean(): an untouched batch must round exactly as in training
        return losses.sum() / self.divisor(y.numel(), slot)

    def summary(self, epoch: int, test_acc: float | None) -> dict:
        """The history row of the epoch: mean loss and accuracy over the samples it saw."""
        seen = max(self.seen, 1)
        return {
            "epoch": epoch,
            "loss": self.loss_sum / seen,
            "train_acc": self.correct / seen,
            "test_acc": test_acc,
        }


def kept(n: int, exclude: torch.Tensor | None) -> torch.Tensor:
    """(n,) bool: True for the training samples not in `exclude` (k,)."""
    keep = torch.ones(n, dtype=torch.bool)
    if exclude is not None:
        keep[exclude] = False
    return keep


def recipe_batches(
    data: ImageDataset,
    order: torch.Tensor,
    keep: torch.Tensor,
    batch_size: int,
    device: torch.device,
    before_step: Callable[[int], None],
) -> Iterator[SlotBatch | None]:
    """The nominal batches of `order` (n,) less the samples not kept ((n,) bool), each with its
    nominal size, None where none is left; before_step(step) runs as each batch is drawn,
    before its SGD step."""
    for step, start in enumerate(range(0, order.numel(), batch_size)):
        slot = order[start : start + batch_size]
        batch = slot[keep[slot]]
        before_step(step)
        yield (*data.batch(batch, device), slot.numel()) if batch.numel() else None


def _probe(
    data: ImageDataset, recipe: Recipe, device: torch.device, enabled: bool
) -> HessianProbe | None:
    if not (enabled and recipe.probe_every):
        return None
    loss_fn = functools.partial(per_sample_loss, sd_gamma=recipe.sd_gamma)
    return HessianProbe(
        data,
        loss_fn,
        size=recipe.probe_size,
        iters=recipe.probe_iters,
        seed=recipe.seed,
        device=device,
    )


def train(
    arch: str,
    data: ImageDataset,
    recipe: Recipe,
    *,
    init_state: dict[str, torch.Tensor] | None = None,
    exclude: torch.Tensor | None = None,
    convention: str = "standard",
    progress: Progress | None = None,
    device: torch.device | str | None = None,
    probes: bool = True,
) -> TrainedModel:
    """Train `arch` on data.train_x by `recipe`, recording w_0 and per-epoch loss and accuracy.

    init_state: start from these weights instead of the seed's initialisation (a retrain from a
    checkpoint's w_0). exclude: training indices (k,) skipped in place, which is how the oracle
    "retrained without the forget set" is made; convention: what a batch that lost samples is
    divided by ("replay": b; "standard": the mean over what it kept; see the module notes).
    probes: record the top Hessian eigenvalue every recipe.probe_every steps (weights unchanged).
    """
    check_convention(convention)
    device = torch.device(device) if device else default_device()
    model = initial_model(arch, data, recipe.seed)
    if init_state is not None:
        model.load_state_dict(init_state)
    w0 = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.to(device)
    optimizer = make_optimizer(model.parameters(), recipe)
    n, every = data.train_y.numel(), recipe.probe_every
    keep = kept(n, exclude)
    steps = -(-n // recipe.batch_size)
    probe = _probe(data, recipe, device, probes)

    def before_step(step: int) -> None:
        done = epoch * steps + step  # SGD steps taken so far (epoch: the one being run)
        if probe and done % every == every // 2:
            probe(model, done)  # at steps k/2, 3k/2, ...: each stands for the k around it

    history = []
    for epoch in range(recipe.epochs):
        order = epoch_order(recipe.seed, epoch, n)
        loss = RecipeLoss(recipe.sd_gamma, recipe.batch_size, convention)
        batches = recipe_batches(data, order, keep, recipe.batch_size, device, before_step)
        tick = step_progress(
            progress, epoch * steps, recipe.epochs * steps, f"epoch {epoch + 1}/{recipe.epochs}"
        )
        run_epoch(model, optimizer, batches, loss, on_batch=tick)
        history.append(loss.summary(epoch + 1, accuracy(model, data, "test")))
    model.eval().cpu()
    record = probe.record(recipe.epochs * steps, every) if probe else None
    return TrainedModel(arch, data.name, model, recipe, w0, history, record)


def retrain_without(
    trained: TrainedModel,
    data: ImageDataset,
    forget_indices: torch.Tensor,
    *,
    convention: str = "standard",
    progress: Progress | None = None,
    device: torch.device | str | None = None,
) -> nn.Module:
    """The oracle: the same recipe, w_0 and data order, with the forget samples (k,) removed;
    each batch that lost samples divided as `convention` says ("standard": the mean over what
    it kept, the default; "replay": the nominal b, Thudi et al. Eq. 4)."""
    result = train(
        trained.arch,
        data,
        trained.recipe,
        init_state=trained.w0,
        exclude=forget_indices,
        convention=convention,
        progress=progress,
        device=device,
        probes=False,
    )
    return result.model
