"""Bad Teacher: distil from the original on retained data and from a random network on the rest.

V. S. Chundawat, A. K. Tarun, M. Mandal and M. Kankanhalli, "Can Bad Teaching Induce
Forgetting? Unlearning in Deep Networks Using an Incompetent Teacher", AAAI 2023
(arXiv:2205.08096), Sec. 3, Eq. 1-3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from unlearn_core.data import ImageDataset
from unlearn_core.device import default_device
from unlearn_core.methods.registry import SgdSettings, UnlearnResult, register, setting
from unlearn_core.methods.unlearn_ops import distill_kl
from unlearn_core.randomness import as_generator
from unlearn_core.request import ForgetRequest
from unlearn_core.training import Batch, TrainedModel, fine_tune, initial_model


@dataclass(frozen=True)
class BadTeacherConfig(SgdSettings):
    RANGES: ClassVar = {
        "retain_fraction": (1e-9, 1.0, "a share of the retain set"),
        "temperature": (1e-9, 100.0, "a softmax temperature"),
    }

    retain_fraction: float = setting(0.3, "retain share distilled from the good teacher (30%)")
    epochs: int = setting(1, "passes over forget set + retain subset (paper and code: 1)")
    lr: float = setting(0.0001, "Adam learning rate (authors' code: 1e-4)")
    batch_size: int = setting(256, "samples per step, forget and retain mixed (code: 256)")
    temperature: float = setting(1.0, "KL temperature T of Eq. 2 (code: 1)")


class _TeachersLoss:
    """Eq. 2: KL(teacher || student) at temperature T, the teacher per sample the incompetent
    one for a forget sample (flag 1), the competent one for a retain sample (flag 0)."""

    def __init__(self, good: nn.Module, bad: nn.Module, temperature: float):
        self.good, self.bad, self.temperature = good, bad, temperature

    def teacher_logits(self, x: torch.Tensor, is_forget: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            good, bad = self.good(x), self.bad(x)  # (b, K) each
        return torch.where(is_forget.bool().unsqueeze(1), bad, good)  # (b, K)

    def __call__(self, student: nn.Module, batch: Batch) -> torch.Tensor:
        x, is_forget = batch  # (b, C, H, W), (b,) 0/1
        teacher = self.teacher_logits(x, is_forget)
        return distill_kl(student(x), teacher, self.temperature)


def incompetent_teacher(
    model: TrainedModel, data: ImageDataset, generator: torch.Generator
) -> nn.Module:
    """The same architecture at a fresh random initialisation, its seed drawn from `generator`
    (the project's initialiser, which leaves the global RNG as it found it), frozen, eval mode."""
    seed = int(torch.randint(2**62, (1,), generator=generator))
    return initial_model(model.arch, data, seed).eval().requires_grad_(False)


@register(
    "bad-teacher",
    BadTeacherConfig,
    """Bad Teacher (Chundawat et al., AAAI 2023): the student (a copy of the original) is
    distilled, with KL(teacher || student) at temperature T, from the competent teacher (the
    original, frozen) on a random `retain_fraction` of the retain set and from an incompetent
    teacher (the same architecture, randomly initialised from the seed) on the forget set,
    samples of both mixed in each batch. Needs the forget set and part of the retain set;
    changes every weight. Defaults from the paper and the authors' code: 30% of the retain set,
    1 epoch, Adam at lr 1e-4, batch 256, T = 1. Departure: the KL is averaged over the batch
    (batchmean); their code's F.kl_div default also divides by the number of classes, a constant
    factor that Adam nearly cancels.""",
)
def unlearn(
    model: TrainedModel,
    request: ForgetRequest,
    data: ImageDataset,
    config: BadTeacherConfig,
    *,
    seed: int = 0,
    progress=None,
) -> UnlearnResult:
    """Distil over retain subset (m,) + forget (k,), each sample flagged 0 (retain) or 1
    (forget), orders, subset and incompetent teacher drawn from `seed`."""
    device = default_device()
    generator = as_generator(seed)
    net = model.copy_model().to(device)
    good = model.copy_model().to(device).eval().requires_grad_(False)
    bad = incompetent_teacher(model, data, generator).to(device)
    retain, forget = request.retain_indices, request.forget_indices
    size = max(1, round(config.retain_fraction * retain.numel()))
    subset = retain[torch.randperm(retain.numel(), generator=generator)[:size]]  # (m,)
    flags = torch.cat([torch.zeros(size, dtype=torch.long), torch.ones_like(forget)])  # (m + k,)
    fine_tune(
        net,
        data,
        torch.cat([subset, forget]),  # (m + k,)
        torch.optim.Adam(net.parameters(), lr=config.lr),
        epochs=config.epochs,
        batch_size=config.batch_size,
        generator=generator,
        loss_fn=_TeachersLoss(good, bad, config.temperature),
        labels=flags,
        progress=progress,
        phase="distilling from the competent and the incompetent teacher",
    )
    return UnlearnResult(net.eval().cpu(), {"retain_subset": size})
