"""What a trained model is and how well it does: the facts the "Model and data" page shows.

Pure functions over `TrainedModel` and `ImageDataset`; everything returned is plain Python
(dicts, lists, floats) or numpy, so the app can cache it and the command line can print it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from unlearn_core.data import ImageDataset
from unlearn_core.errors import UserError
from unlearn_core.metrics.accuracy import (
    accuracy_from_logits,
    labels_of,
    per_class_accuracy,
    predict_logits,
    split_tensors,
)
from unlearn_core.training import TrainedModel


def _shape_text(shape: torch.Size) -> str:
    return "x".join(str(d) for d in shape) if len(shape) else "scalar"


def layer_table(model: nn.Module) -> list[dict]:
    """One row per leaf module (and per module holding parameters of its own), in model order.

    Row: {name (qualified, e.g. "layer1.0.conv1"), type ("Conv2d"), params (int), trainable (int),
    shapes ("weight 32x1x3x3, bias 32" or "")}. The rows' `params` sum to the model's total.
    """
    rows = []
    for name, module in model.named_modules():
        own = list(module.named_parameters(recurse=False))
        is_leaf = next(module.children(), None) is None
        if not (is_leaf or own) or (not name and not own):
            continue  # a container without parameters of its own, or the bare root wrapper
        rows.append(
            {
                "name": name or "(root)",
                "type": type(module).__name__,
                "params": sum(p.numel() for _, p in own),
                "trainable": sum(p.numel() for _, p in own if p.requires_grad),
                "shapes": ", ".join(f"{n} {_shape_text(p.shape)}" for n, p in own),
            }
        )
    return rows


def model_summary(trained: TrainedModel, data: ImageDataset) -> dict:
    """Architecture, size, accuracy and training record of `trained` on `data`.

    Returns {arch, dataset, class_names [k], image_shape [C, H, W], params_total,
    params_trainable, layers (see `layer_table`), test_acc, train_acc, per_class_test_acc [k]
    (aligned with class_names; None for a class without test samples), recipe (dict),
    history [{epoch, loss, train_acc, test_acc}]}. Accuracies are fractions in [0, 1] over the
    whole split, computed now from the model (not copied from the history).
    """
    model = trained.model
    params = list(model.parameters())
    test_logits = predict_logits(model, data, "test")  # (n_test, k)
    train_logits = predict_logits(model, data, "train")  # (n_train, k)
    test_y, train_y = labels_of(data, "test"), labels_of(data, "train")
    return {
        "arch": trained.arch,
        "dataset": data.name,
        "class_names": list(data.class_names),
        "image_shape": [data.channels, *data.image_size],
        "params_total": sum(p.numel() for p in params),
        "params_trainable": sum(p.numel() for p in params if p.requires_grad),
        "layers": layer_table(model),
        "test_acc": accuracy_from_logits(test_logits, test_y),
        "train_acc": accuracy_from_logits(train_logits, train_y),
        "per_class_test_acc": per_class_accuracy(test_logits, test_y, data.num_classes),
        "recipe": trained.recipe.to_dict(),
        "history": [dict(row) for row in trained.history],
    }


LOW_ACCURACY = 2.0  # a caution below this multiple of chance accuracy (1 / number of classes)


def low_accuracy_caution(test_acc: float, num_classes: int) -> str | None:
    """A caution when `test_acc` is under twice chance, else None. Such a model has learned
    little, and the numbers unlearning is judged by (Tarun et al., UNSIR, Sec. 5.1: forget,
    retain and test accuracy; membership-inference AUC) have nothing to move: its forget accuracy
    is near chance before any unlearning and an attack cannot tell members (AUC about 0.5)."""
    chance = 1 / num_classes
    if test_acc >= LOW_ACCURACY * chance:
        return None
    return (
        f"**This model has learned little**: test accuracy {test_acc:.1%} is under twice chance "
        f"({chance:.0%} for {num_classes} classes). Unlearning and its metrics mean little on it: "
        "its forget accuracy is already near chance, so there is little to remove, and "
        "membership attacks sit near 0.5 with or without unlearning. Train it more (Train a "
        "model here), or, for an uploaded checkpoint, check that the architecture and data set "
        "chosen on upload are the ones it was trained with."
    )


def page_of_indices(
    labels: torch.Tensor, class_index: int | None, page: int, per_page: int
) -> tuple[torch.Tensor, int]:
    """The `page`-th (1-based) block of `per_page` sample positions, optionally of one class only.

    labels: (n,) int64. Returns (indices (<= per_page,) int64 in increasing order, number of
    pages). Raises UserError for a page outside 1..pages or a class with no samples.
    """
    if per_page < 1:
        raise UserError(f"images per page must be at least 1, not {per_page}.")
    if class_index is None:
        pool = torch.arange(labels.numel())
    else:
        pool = torch.nonzero(labels == class_index).flatten()  # (n_c,)
    if pool.numel() == 0:
        raise UserError(f"class {class_index} has no samples in this split; choose another.")
    pages = math.ceil(pool.numel() / per_page)
    if not 1 <= page <= pages:
        raise UserError(
            f"page {page} does not exist: {pool.numel()} images make {pages} pages of "
            f"{per_page}; choose a page from 1 to {pages}."
        )
    return pool[(page - 1) * per_page : page * per_page], pages


def image_tiles(
    data: ImageDataset, split: str, indices: torch.Tensor, scale: int = 4
) -> tuple[list[np.ndarray], list[str]]:
    """Images ready for display, each upscaled `scale` times by pixel repetition (no blurring).

    indices: (k,) positions in the split. Returns (k arrays uint8, each (H*scale, W*scale) for
    grayscale or (H*scale, W*scale, 3) for RGB; k captions "#index · class name").
    """
    images, labels = split_tensors(data, split)
    indices = torch.as_tensor(indices, dtype=torch.int64).flatten()
    if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= len(labels)):
        raise UserError(f"indices must lie in 0..{len(labels) - 1} of the {split} split.")
    chosen = images[indices].numpy()  # (k, C, H, W) uint8
    chosen = chosen.repeat(scale, axis=2).repeat(scale, axis=3)  # (k, C, H*s, W*s)
    # grayscale tiles (H*s, W*s); colour tiles (H*s, W*s, C)
    tiles = list(chosen[:, 0]) if data.channels == 1 else list(chosen.transpose(0, 2, 3, 1))
    captions = [f"#{int(i)} · {data.class_names[int(labels[i])]}" for i in indices]
    return [np.ascontiguousarray(t) for t in tiles], captions
