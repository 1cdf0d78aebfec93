"""One training sample under each model: the facts a per-sample card shows.

For a training index: its loss, the confidence in its true class, the predicted class (and its
probability), a membership score, and its nearest retained neighbours in each model's
penultimate-layer feature space (the input of the last nn.Linear), where a forgotten sample
should drift away from its old neighbours (L-CODEC, Mehta et al., CVPR 2022, Sec. 3: units
closer to the output are the ones that act per class).

The membership score is the loss-threshold attack (Yeom et al., 2018) for this one sample: the
share of held-out test samples *of its class* whose loss is higher than its own, ties counted
half, i.e. the AUC of this single member against its class's non-members. 0.5 means its loss is
typical of unseen data; near 1, lower than almost all unseen samples' (it looks trained on).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.data import ImageDataset
from unlearn_core.errors import UserError
from unlearn_core.metrics.accuracy import input_batches, predict_logits
from unlearn_core.metrics.mia import auc
from unlearn_core.request import ForgetRequest
from unlearn_core.torch_utils import evaluating, recording


def penultimate_layer(model: nn.Module) -> tuple[str, nn.Module]:
    """-> (name, module) of the last nn.Linear in `named_modules()` order: its input is the
    penultimate-layer representation. UserError for a model without one."""
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise UserError("the model has no final linear layer to take features from.")
    return linears[-1]


@torch.no_grad()
def features_and_logits(
    model: nn.Module,
    data: ImageDataset,
    split: str,
    indices: torch.Tensor | None = None,
    batch_size: int = 512,
) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (penultimate features (k, d), logits (k, num_classes)), float32 on the CPU, from one
    pass in eval mode (mode restored; the hook removed on exit)."""
    _, last = penultimate_layer(model)
    device = next(model.parameters()).device
    features, logits = [], []
    with evaluating(model), recording({"last": last}, inputs=True) as record:
        for batch in input_batches(data, split, indices, batch_size, device):
            logits.append(model(batch).float().cpu())
            features.append(record["last"].pop().flatten(1).float().cpu())  # (b, d)
    if not logits:
        return torch.empty(0, last.in_features), torch.empty(0, data.num_classes)
    return torch.cat(features), torch.cat(logits)


def nearest(query: torch.Tensor, pool: torch.Tensor, pool_indices: torch.Tensor, k: int) -> list:
    """The k rows of pool (p, d) closest to query (d,) in Euclidean distance, nearest first:
    [{index: pool_indices[row], distance}]; ties broken by the lower row."""
    distances = torch.cdist(query[None].double(), pool.double())[0]  # (p,)
    order = torch.sort(distances, stable=True).indices[:k]
    return [{"index": int(pool_indices[i]), "distance": float(distances[i])} for i in order]


def sample_card(
    index: int,
    models: dict[str, nn.Module | None],
    data: ImageDataset,
    request: ForgetRequest | None = None,
    k: int = 5,
) -> dict:
    """The card of training sample `index` under each model (None entries stay None).

    Args:
        models: e.g. {"original": ..., "unlearned": ..., "retrained": ...}.
        request: the forget request; its retain set is the neighbour pool (without it, every
            other training sample is).
        k: neighbours per model.

    Returns:
        {index, label, class_name, in_forget_set (None without a request), neighbour_pool,
        models: {name: {loss, confidence, predicted, predicted_class_name,
        predicted_confidence, membership_score, neighbours: [{index, label, distance}]}}}.
    """
    n = data.train_y.numel()
    if not 0 <= index < n:
        raise UserError(f"index {index} is out of range: the training split has {n} samples.")
    label = int(data.train_y[index])
    pool = request.retain_indices if request is not None else torch.arange(n)
    pool = pool[pool != index]  # (p,)
    same_class = (data.test_y == label).nonzero().flatten()
    card = {
        "index": index,
        "label": label,
        "class_name": data.class_names[label],
        "in_forget_set": None if request is None else bool((request.forget_indices == index).any()),
        "neighbour_pool": "retain set" if request is not None else "training set",
        "models": {},
    }
    for name, model in models.items():
        if model is None:
            card["models"][name] = None
            continue
        card["models"][name] = _model_card(model, data, index, pool, same_class, k)
    return card


def _model_card(
    model: nn.Module,
    data: ImageDataset,
    index: int,
    pool: torch.Tensor,
    same_class: torch.Tensor,
    k: int,
) -> dict:
    """One model's entry of the card: pool (p,) the neighbour pool, same_class the test indices
    of the sample's class (its membership score's non-members)."""
    label = int(data.train_y[index])
    feats, logits = features_and_logits(
        model, data, "train", torch.cat([torch.tensor([index]), pool])
    )
    probs = torch.softmax(logits[0], 0)  # (num_classes,)
    loss = float(F.cross_entropy(logits[:1], torch.tensor([label])))
    test_losses = F.cross_entropy(
        predict_logits(model, data, "test", same_class),
        data.test_y[same_class],
        reduction="none",
    )
    predicted = int(probs.argmax())
    neighbours = nearest(feats[0], feats[1:], pool, k)
    for row in neighbours:
        row["label"] = int(data.train_y[row["index"]])
    return {
        "loss": loss,
        "confidence": float(probs[label]),
        "predicted": predicted,
        "predicted_class_name": data.class_names[predicted],
        "predicted_confidence": float(probs[predicted]),
        "membership_score": auc(torch.tensor([-loss]), -test_losses),
        "neighbours": neighbours,
    }
