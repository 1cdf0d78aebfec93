"""Random labels: fine-tune on the retain set plus the forget set relabelled at random."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearn_core.data import ImageDataset
from unlearn_core.device import default_device
from unlearn_core.errors import UserError
from unlearn_core.methods.registry import SgdConfig, UnlearnResult, register, setting
from unlearn_core.randomness import as_generator
from unlearn_core.request import ForgetRequest
from unlearn_core.training import TrainedModel, fine_tune


@dataclass(frozen=True)
class RandomLabelConfig(SgdConfig):
    epochs: int = setting(1, "passes over retain set + relabelled forget set")


def random_other_labels(
    labels: torch.Tensor,
    excluded: tuple[int, ...],
    num_classes: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """(k,) labels -> (k,) labels drawn uniformly from the classes allowed for each sample.

    Allowed: every class except the sample's own and those in `excluded` (the forgotten classes
    of a class request: relabelling a forgotten image as another forgotten class would teach it).
    """
    allowed = torch.ones(labels.numel(), num_classes, dtype=torch.bool)  # (k, K)
    allowed[:, list(excluded)] = False
    allowed[torch.arange(labels.numel()), labels] = False
    if not allowed.any(dim=1).all():
        raise UserError("a forget sample has no class left to be relabelled as.")
    return torch.multinomial(allowed.float(), 1, generator=generator).flatten()


@register(
    "random-label",
    RandomLabelConfig,
    """Random labels (Graves et al., "Amnesiac Machine Learning", AAAI 2021; the "RL" baseline of
    later benchmarks): fine-tunes with SGD on the retain set together with the forget set, each
    forget sample relabelled once at random to a class other than its own (and, for a class
    request, other than any forgotten class), so the model unlearns the true labels while the
    retain set holds the rest in place. Needs the forget set and the retain set; changes every
    weight. The forgotten samples' predictions spread over the other classes by design.
    Reference code: the RL of Fan et al.'s SalUn repository (the benchmarks' RL): on CIFAR-10
    each epoch runs every forget batch first, each relabelled afresh with any class (its own
    included), then every retain batch; SGD with momentum 0.9 and weight decay 5e-4, 10 epochs
    at lr 0.013, batch 256. Departures: one shuffle of retain and forget samples together, each
    forget sample relabelled once for the whole run, never to its own class nor to a forgotten
    one (SalUn's loop=authors is their loop with the mask); 1 epoch at lr 0.01, batch 64 by
    default; the weight decay is the recipe's.""",
)
def unlearn(
    model: TrainedModel,
    request: ForgetRequest,
    data: ImageDataset,
    config: RandomLabelConfig,
    *,
    seed: int = 0,
    progress=None,
) -> UnlearnResult:
    """SGD on the retain set (n_r,) and the forget set (k,) relabelled at random, labels and
    orders drawn from `seed`."""
    net = model.copy_model().to(default_device())
    forget, retain = request.forget_indices, request.retain_indices
    generator = as_generator(seed)
    new_labels = random_other_labels(
        data.train_y[forget], request.classes, data.num_classes, generator
    )
    fine_tune(
        net,
        data,
        torch.cat([retain, forget]),  # (n_r + k,)
        torch.optim.SGD(
            net.parameters(), config.lr, config.momentum, weight_decay=model.recipe.weight_decay
        ),
        epochs=config.epochs,
        batch_size=config.batch_size,
        generator=generator,
        labels=torch.cat([data.train_y[retain], new_labels]),  # (n_r + k,)
        progress=progress,
        phase="fine-tuning with the forget set relabelled",
    )
    counts = torch.bincount(new_labels, minlength=data.num_classes).tolist()
    return UnlearnResult(net.cpu(), {"relabelled_counts": counts})
