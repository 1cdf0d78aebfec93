"""Pieces several unlearning methods share: a distillation loss, diagonal Fisher importances and
gradient masks. Tensors in, tensors out; the methods in `unlearn_core/methods/` compose them.

- `distill_kl`: KL(teacher || student) on softened outputs, the loss of SCRUB and Bad Teacher.
- `diagonal_fisher`: mean squared gradients of the cross-entropy, of the true labels (the
  importance of Selective Synaptic Dampening) or with the label drawn from the model's own
  prediction (Golatkar et al.'s Fisher forgetting; per sample at batch 1).
- `masked_gradients`: gradient hooks that keep only the masked entries (SalUn).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.data import ImageDataset
from unlearn_core.progress import Progress
from unlearn_core.torch_utils import evaluating

Importances = dict[str, torch.Tensor]  # parameter name -> tensor shaped like the parameter


def distill_kl(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """(b, K) student and (b, K) teacher logits -> scalar mean over the batch of
    KL(softmax(teacher / T) || softmax(student / T)) (Hinton et al.'s distillation divergence;
    SCRUB Eq. 1-3 and Bad Teacher Eq. 2 use it; SCRUB multiplies it by T^2 itself)."""
    student = F.log_softmax(student_logits / temperature, dim=1)  # (b, K)
    teacher = F.log_softmax(teacher_logits / temperature, dim=1)  # (b, K)
    return F.kl_div(student, teacher, reduction="batchmean", log_target=True)


def _ticker(progress: Progress | None, total: int, phase: str):
    if progress is None:
        return lambda done: None
    return lambda done: progress(done / max(total, 1), phase)


def _add_squares(
    total: Importances,
    named: list[tuple[str, torch.Tensor]],
    loss: torch.Tensor,
    weight: torch.Tensor | float = 1.0,
) -> None:
    """total[k] += weight * (d loss / d p_k)^2 for every named parameter (graph kept)."""
    grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True, retain_graph=True)
    for (k, _), g in zip(named, grads, strict=True):
        if g is not None:
            total[k] += weight * g.pow(2)


def _over_batches(model, data, indices, batch_size, device, progress, phase, add) -> Importances:
    """Mean over the batches of `indices` (n,), in order, of what add(total, named, x, y) adds
    for each batch (x (b, C, H, W), y (b,)); eval mode, mode restored, .grad untouched."""
    named = [(k, p) for k, p in model.named_parameters() if p.requires_grad]
    total = {k: torch.zeros_like(p) for k, p in named}
    batches = indices.split(batch_size)
    tick = _ticker(progress, len(batches), phase)
    with evaluating(model):
        for done, batch in enumerate(batches, start=1):
            add(total, named, *data.batch(batch, device))
            tick(done)
    return {k: v / max(len(batches), 1) for k, v in total.items()}


def diagonal_fisher(
    model: nn.Module,
    data: ImageDataset,
    indices: torch.Tensor,
    batch_size: int,
    device: torch.device,
    *,
    labels: str = "true",
    progress: Progress | None = None,
    phase: str = "importances",
) -> Importances:
    """Diagonal importances over the batches B of `indices` (n,), in order, per parameter entry.

    labels="true": mean over B of (d mean_{i in B} CE(f(x_i), y_i) / d theta)^2, the squared
    batch gradient of the true labels' loss (Foster et al., SSD Eq. 1, as their code computes
    it; batch_size 1 gives the empirical Fisher).
    labels="model": mean over B of sum_y mean_{i in B} p(y | x_i) (d mean_{i in B} CE(f(x_i), y)
    / d theta)^2, the label drawn from the model's own softmax p (Golatkar et al., CVPR 2020,
    Sec. 4). With batch_size 1 exactly (1/n) sum_i sum_y p(y | x_i) (d CE(f(x_i), y) / d theta)^2,
    the authors' per-sample computation; larger batches square batch gradients (the port in Jia
    et al.'s and Fan et al.'s code, batch 32). K backward passes per batch.
    """

    def add(total, named, x, y):
        logits = model(x)  # (b, K)
        if labels == "true":
            _add_squares(total, named, F.cross_entropy(logits, y))
            return
        probs = F.softmax(logits.detach(), dim=1)  # (b, K)
        for c in range(logits.shape[1]):
            target = torch.full_like(y, c)  # (b,)
            _add_squares(total, named, F.cross_entropy(logits, target), probs[:, c].mean())

    if labels not in ("true", "model"):
        raise ValueError(f"labels must be 'true' or 'model', not {labels!r}")
    return _over_batches(model, data, indices, batch_size, device, progress, phase, add)


@contextmanager
def masked_gradients(model: nn.Module, masks: dict[str, torch.Tensor]) -> Iterator[nn.Module]:
    """Inside: every gradient that reaches a parameter named in `masks` is multiplied by its
    mask (same shape, 0/1), so an optimiser without weight decay never moves an entry whose mask
    is 0 (momentum only ever sees masked gradients). Hooks are removed on exit."""
    handles = []
    try:
        for name, param in model.named_parameters():
            if name in masks:
                mask = masks[name].to(param.device, param.dtype)
                handles.append(param.register_hook(lambda g, m=mask: g * m))
        yield model
    finally:
        for handle in handles:
            handle.remove()
