"""Confusion matrix of a model on a split: where the forgotten class's samples go instead."""

from __future__ import annotations

import torch
from torch import nn

from unlearn_core.data import ImageDataset
from unlearn_core.metrics.accuracy import labels_of, predict_logits


def confusion_counts(
    predictions: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """(C, C) int64 counts: entry [t, p] is how many samples of true class t were predicted p.

    predictions, labels: (n,) integer class indices in [0, num_classes)."""
    flat = labels.long() * num_classes + predictions.long()  # (n,) row-major cell index
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


@torch.no_grad()
def confusion_matrix(
    model: nn.Module, data: ImageDataset, split: str = "test", indices: torch.Tensor | None = None
) -> torch.Tensor:
    """(C, C) int64 counts of `model` on `split` ('train' | 'test'), or on its `indices` (k,):
    rows are true classes, columns predicted ones. The model's train/eval mode is restored."""
    logits = predict_logits(model, data, split, indices)  # (n, C)
    return confusion_counts(logits.argmax(1), labels_of(data, split, indices), data.num_classes)
