"""What the features still know: layer activations of the original, unlearned and retrained
models on one seeded, class-balanced sample, compared by linear CKA (metrics/cka.py) and read by
linear probes (metrics/probe.py).

Outputs can forget while features remember ("Are We Truly Forgetting?", 2025): a probe on the
penultimate features of an unlearned model may still pick out the forgotten class. The yardstick
is the retrained model, whose features never saw the forget set: a probe on the unlearned
model's features that beats the retrained model's interval is the "still encodes" flag.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from unlearn_core.data import ImageDataset
from unlearn_core.errors import UserError
from unlearn_core.metrics.accuracy import split_tensors
from unlearn_core.metrics.cka import linear_cka
from unlearn_core.metrics.probe import ProbeResult, probe_accuracy
from unlearn_core.metrics.sample_card import penultimate_layer
from unlearn_core.request import ForgetRequest
from unlearn_core.torch_utils import evaluating, recording

PENULTIMATE = "penultimate"  # the input of the last nn.Linear
MAX_PER_GROUP = 5000  # images per group (forget, retain, test): a bound on memory and time


@dataclass(frozen=True)
class RepresentationSample:
    """Indices of the images every model is shown: forget and retain (training split), test."""

    forget: torch.Tensor  # (f,) training indices in the forget set
    retain: torch.Tensor  # (r,) training indices in the retain set, class-balanced
    test: torch.Tensor  # (t,) test indices, class-balanced

    def groups(self) -> dict[str, tuple[str, torch.Tensor]]:
        return {
            "forget": ("train", self.forget),
            "retain": ("train", self.retain),
            "test": ("test", self.test),
        }


def balanced_pick(labels: torch.Tensor, pool: torch.Tensor, count: int, generator) -> torch.Tensor:
    """Up to `count` of the indices `pool` (k,), as evenly spread over the classes of
    labels[pool] as they allow, in a seeded order; sorted."""
    shuffled = pool[torch.randperm(pool.numel(), generator=generator)]
    classes = labels[shuffled]
    # rank of each index within its class: take rank 0 of every class, then rank 1, ...
    rank = torch.empty_like(shuffled)
    for c in classes.unique():
        where = torch.nonzero(classes == c).flatten()
        rank[where] = torch.arange(where.numel())
    order = torch.sort(rank, stable=True).indices
    return torch.sort(shuffled[order][:count]).values


def representation_sample(
    data: ImageDataset, request: ForgetRequest, per_group: int, seed: int
) -> RepresentationSample:
    """A seeded, class-balanced sample of at most `per_group` images from each of the forget
    set, the retain set and the test split. UserError for an empty or oversized sample."""
    if not 1 <= per_group <= MAX_PER_GROUP:
        raise UserError(f"the sample size must be between 1 and {MAX_PER_GROUP} per group.")
    if request.forget_indices.numel() == 0:
        raise UserError("the forget request is empty: there is nothing to look for.")
    generator = torch.Generator().manual_seed(seed)
    test_pool = torch.arange(data.test_y.numel())
    return RepresentationSample(
        forget=balanced_pick(data.train_y, request.forget_indices, per_group, generator),
        retain=balanced_pick(data.train_y, request.retain_indices, per_group, generator),
        test=balanced_pick(data.test_y, test_pool, per_group, generator),
    )


def feature_layers(model: nn.Module) -> list[str]:
    """The layers whose outputs can be compared: every Conv2d and Linear, in forward order,
    then the penultimate representation."""
    names = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return [*names, PENULTIMATE]


def _hooks(model: nn.Module, layers: list[str]) -> tuple[dict, dict]:
    """Modules to record, split into output hooks and the penultimate input hook."""
    modules = dict(model.named_modules())
    unknown = [name for name in layers if name != PENULTIMATE and name not in modules]
    if unknown:
        known = ", ".join(feature_layers(model))
        raise UserError(f"no layer {unknown[0]!r} in the model; layers: {known}.")
    outputs = {name: modules[name] for name in layers if name != PENULTIMATE}
    inputs = {PENULTIMATE: penultimate_layer(model)[1]} if PENULTIMATE in layers else {}
    return outputs, inputs


@torch.no_grad()
def layer_features(
    model: nn.Module,
    data: ImageDataset,
    split: str,
    indices: torch.Tensor,
    layers: list[str],
    batch_size: int = 256,
) -> dict[str, torch.Tensor]:
    """{layer: activations (n, d) float32 on the CPU, flattened} for the images `indices` of
    `split`, computed in batches on the model's device in eval mode.

    The hooks go on a per-call copy: the model may be shared (the app's cached model, which a
    job or another session may be running at the same time), and hooks on it would record
    their batches too."""
    model = copy.deepcopy(model)
    images = split_tensors(data, split)[0][indices]
    outputs, inputs = _hooks(model, layers)
    device = next(model.parameters()).device
    flat = lambda _name, t: t.flatten(1).float().cpu()  # noqa: E731
    with (
        evaluating(model),
        recording(outputs, transform=flat) as out,
        recording(inputs, inputs=True, transform=flat) as inp,
    ):
        for start in range(0, len(images), batch_size):
            model(data.normalize(images[start : start + batch_size]).to(device))
    recorded = {**out, **inp}
    return {
        name: torch.cat(recorded[name]) if recorded[name] else torch.empty(0, 0) for name in layers
    }


def layer_similarity(
    models: dict[str, nn.Module | None],
    data: ImageDataset,
    sample: RepresentationSample,
    layers: list[str] | None = None,
) -> dict:
    """Linear CKA per layer between original and unlearned and between unlearned and retrained,
    on the sample's forget and retain images: {layers, original_vs_unlearned,
    unlearned_vs_retrained, original_vs_unlearned_retain, unlearned_vs_retrained_retain}, the
    retrained lists None without a retrained model."""
    layers = layers or feature_layers(models["original"])
    feats = {
        (name, group): layer_features(model, data, "train", idx, layers)
        for name, model in models.items()
        if model is not None
        for group, idx in (("forget", sample.forget), ("retain", sample.retain))
    }
    summary: dict = {"layers": layers}
    for group, suffix in (("forget", ""), ("retain", "_retain")):
        for a, b in (("original", "unlearned"), ("unlearned", "retrained")):
            key = f"{a}_vs_{b}{suffix}"
            if (a, group) not in feats or (b, group) not in feats:
                summary[key] = None
                continue
            summary[key] = [
                linear_cka(feats[(a, group)][layer], feats[(b, group)][layer]) for layer in layers
            ]
    return summary


def _probe_split(
    data: ImageDataset, request: ForgetRequest, sample: RepresentationSample, seed: int
) -> tuple[tuple[str, torch.Tensor, np.ndarray], tuple[str, torch.Tensor, np.ndarray]]:
    """((split, indices, labels) to fit the probe on, (split, indices, labels) to score it on).

    Class requests: the forgotten classes (1) against the rest (0), fitted on training images
    (the sample's forget and retain images), scored on as many held-out test images of each
    kind, so chance is 0.5.
    Sample requests: member (1, the forgotten training images) against non-member (0, test
    images), each half fitted and half scored."""
    generator = torch.Generator().manual_seed(seed + 1)
    if request.kind == "classes":
        pool = torch.arange(data.test_y.numel())
        forgotten = torch.isin(data.test_y, torch.tensor(request.classes))
        n = sample.forget.numel()
        pos = balanced_pick(data.test_y, pool[forgotten], n, generator)
        neg = balanced_pick(data.test_y, pool[~forgotten], n, generator)
        others = _other_classes(data, request, sample.retain)
        k = min(pos.numel(), neg.numel(), n, others.numel())
        fit = torch.cat([sample.forget[:k], others[:k]])
        score = torch.cat([pos[:k], neg[:k]])
        labels = np.repeat([1, 0], k)
        return ("train", fit, labels), ("test", score, labels)
    members = sample.forget[torch.randperm(sample.forget.numel(), generator=generator)]
    nonmembers = sample.test[torch.randperm(sample.test.numel(), generator=generator)]
    k = min(members.numel(), nonmembers.numel()) // 2
    if k == 0:
        raise UserError("a membership probe needs at least two forgotten samples.")
    fit = (members[:k], nonmembers[:k])
    score = (members[k : 2 * k], nonmembers[k : 2 * k])
    labels = np.repeat([1, 0], k)
    return ("mixed", fit, labels), ("mixed", score, labels)


def _other_classes(
    data: ImageDataset, request: ForgetRequest, retain: torch.Tensor
) -> torch.Tensor:
    return retain[~torch.isin(data.train_y[retain], torch.tensor(request.classes))]


def _probe_features(model: nn.Module, data: ImageDataset, part: tuple, layer: str) -> torch.Tensor:
    split, indices, _ = part
    if split != "mixed":
        return layer_features(model, data, split, indices, [layer])[layer]
    train_idx, test_idx = indices  # members (training split), non-members (test split)
    return torch.cat(
        [
            layer_features(model, data, "train", train_idx, [layer])[layer],
            layer_features(model, data, "test", test_idx, [layer])[layer],
        ]
    )


def probe_report(
    models: dict[str, nn.Module | None],
    data: ImageDataset,
    request: ForgetRequest,
    sample: RepresentationSample,
    *,
    layer: str = PENULTIMATE,
    seed: int = 0,
) -> dict:
    """A linear probe per model for the forgotten class (class requests) or membership (sample
    requests): {task, layer, probe: {model: ProbeResult dict | None}, probe_accuracy: {model:
    accuracy | None}, flag}. flag: the unlearned model's probe is above the retrained model's
    95% interval (the features still encode what was forgotten); None without a retrained
    model."""
    fit, score = _probe_split(data, request, sample, seed)
    if len(fit[2]) < 2:
        raise UserError("the sample is too small for a probe: raise the sample size.")
    results: dict[str, ProbeResult | None] = {}
    for name, model in models.items():
        if model is None:
            results[name] = None
            continue
        x_fit = _probe_features(model, data, fit, layer).numpy()
        x_score = _probe_features(model, data, score, layer).numpy()
        results[name] = probe_accuracy(x_fit, fit[2], x_score, score[2], seed=seed)
    unlearned, retrained = results.get("unlearned"), results.get("retrained")
    flag = None
    if unlearned is not None and retrained is not None:
        flag = unlearned.accuracy > retrained.ci_high
    return {
        "task": "forgotten class vs rest" if request.kind == "classes" else "member vs non-member",
        "layer": layer,
        "probe": {k: (v.to_dict() if v else None) for k, v in results.items()},
        "probe_accuracy": {k: (v.accuracy if v else None) for k, v in results.items()},
        "flag": flag,
    }


def embedding_view(
    models: dict[str, nn.Module | None],
    data: ImageDataset,
    sample: RepresentationSample,
    *,
    layer: str = PENULTIMATE,
    seed: int = 0,
    method: str = "umap",
) -> dict:
    """2-D maps of each model's `layer` features on the sample's forget, retain and test images,
    fitted once on the union (metrics/embedding.py): {method, reason, layer, coordinates: {model:
    (n, 2)}, labels (n,), group (n,) of "forget" | "retain" | "test"}."""
    from unlearn_core.metrics.embedding import embed

    groups = sample.groups()
    feats = {
        name: torch.cat(
            [
                layer_features(model, data, split, idx, [layer])[layer]
                for split, idx in groups.values()
            ]
        ).numpy()
        for name, model in models.items()
        if model is not None
    }
    result = embed(feats, seed=seed, method=method)
    labels = torch.cat([split_tensors(data, split)[1][idx] for split, idx in groups.values()])
    group = np.concatenate([[g] * idx.numel() for g, (_, idx) in groups.items()])
    return {
        "method": result.method,
        "reason": result.reason,
        "layer": layer,
        "coordinates": result.coordinates,
        "labels": labels.numpy(),
        "group": group,
    }


REPORT_PER_GROUP = 100  # images per group for the summary every run with the oracle carries


def report_summary(
    models: dict[str, nn.Module | None], data: ImageDataset, request: ForgetRequest, seed: int
) -> dict | None:
    """The linear probe (with its flag) and the layer CKA on a sample of REPORT_PER_GROUP
    images per group: what report.json and the audit record keep. None without a retrained
    model (no yardstick) or when the sample is too small for a probe."""
    if models.get("retrained") is None:
        return None
    sample = representation_sample(data, request, REPORT_PER_GROUP, seed)
    try:
        probe = probe_report(models, data, request, sample, seed=seed)
    except UserError:  # too few forgotten samples to fit and score a probe
        return None
    return {
        "per_group": REPORT_PER_GROUP,
        "seed": seed,
        "probe": {k: probe[k] for k in ("task", "layer", "probe", "flag")},
        "cka": layer_similarity(models, data, sample),
    }
