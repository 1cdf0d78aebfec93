"""Predictions, accuracy, per-class accuracy and mean loss of a model on part of a data set."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.data import ImageDataset
from unlearn_core.torch_utils import evaluating


def split_tensors(data: ImageDataset, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """('train' | 'test') -> (uint8 images (n, C, H, W), labels (n,))."""
    return data.split(split)


def input_batches(
    data: ImageDataset,
    split: str,
    indices: torch.Tensor | None,
    batch_size: int,
    device: torch.device,
) -> Iterator[torch.Tensor]:
    """Normalised images (c, C, H, W) on `device` of the chosen samples of a split (all where
    indices is None), batch_size at a time, in order."""
    chosen = torch.arange(data.split(split)[1].numel())  # (n,)
    if indices is not None:
        chosen = chosen[indices]
    for batch in chosen.split(batch_size):
        yield data.batch(batch, device, split)[0]


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    data: ImageDataset,
    split: str,
    indices: torch.Tensor | None = None,
    batch_size: int = 512,
) -> torch.Tensor:
    """Logits (k, num_classes) on the CPU for the chosen samples, in eval mode (mode restored)."""
    device = next(model.parameters(), torch.empty(0)).device
    with evaluating(model):
        chunks = [
            model(x).float().cpu() for x in input_batches(data, split, indices, batch_size, device)
        ]
    if not chunks:
        return torch.empty(0, data.num_classes)
    return torch.cat(chunks)  # (k, num_classes)


def labels_of(data: ImageDataset, split: str, indices: torch.Tensor | None = None) -> torch.Tensor:
    labels = split_tensors(data, split)[1]
    return labels if indices is None else labels[indices]


def accuracy_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> float | None:
    """Fraction of argmax predictions equal to the labels; None for no samples."""
    if labels.numel() == 0:
        return None
    return int((logits.argmax(1) == labels).sum()) / labels.numel()


def accuracy(model, data, split, indices=None) -> float | None:
    return accuracy_from_logits(
        predict_logits(model, data, split, indices), labels_of(data, split, indices)
    )


def per_class_accuracy(
    logits: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> list[float | None]:
    """Accuracy within each true class; None for a class with no samples."""
    hits = logits.argmax(1) == labels
    out = []
    for c in range(num_classes):
        mask = labels == c
        out.append(int(hits[mask].sum()) / int(mask.sum()) if mask.any() else None)
    return out


def per_sample_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(k,) cross-entropy of each sample."""
    return F.cross_entropy(logits, labels, reduction="none")
