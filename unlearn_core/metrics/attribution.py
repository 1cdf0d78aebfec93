"""Where does a model look? GradCAM and activation maps of the original, unlearned and retrained
models side by side, with a faithfulness check beside each map.

- GradCAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
  Localization", ICCV 2017, Eq. 1-2), through captum's `LayerGradCam`: with A^k the k-th channel of
  a layer's output and y^c the logit of class c, alpha_k = mean_ij dy^c / dA^k_ij and
  L = ReLU(sum_k alpha_k A^k), upsampled bilinearly to the input's size. UNSIR (Tarun et al.,
  Sec. 5.5.5, Fig. 6) shows it for images of the forgotten classes before and after unlearning.
- Activation maps (L-CODEC, Mehta et al., CVPR 2022, Fig. 8): the channel mean of a layer's
  output, upsampled the same way; they change for a scrubbed sample and stay for the others.
- Faithfulness, by deletion (Samek et al., "Evaluating the visualization of what a deep neural
  network has learned", IEEE TNNLS 2017; Petsiuk et al., RISE, BMVC 2018): the drop in the target
  class's softmax probability when the `fraction` most-attributed pixels are set to the data set's
  mean (0 after normalisation), beside the drop for as many random pixels. A map that points at
  what the model uses gives a larger drop than the random pixels do.

The target class defaults to each sample's true class, so the three models' maps answer the same
question. Hooks are owned by context managers (captum's by its own try/finally) and never outlive
a call, and they are never put on the caller's model: every call works on its own copy
(copy.deepcopy, cheap for these models), so the one cached model that all sessions of the app
share is never hooked and two concurrent callers never see each other's batch.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
from captum.attr import LayerAttribution, LayerGradCam
from torch import nn

from unlearn_core.data import ImageDataset
from unlearn_core.errors import UserError
from unlearn_core.metrics.accuracy import split_tensors
from unlearn_core.torch_utils import evaluating, recording

KINDS = ("gradcam", "activation")
MODEL_ORDER = ("original", "unlearned", "retrained")
# (minuend, subtrahend): what unlearning changed, what retraining changed, and the gap between them
DIFFERENCES = (
    ("unlearned", "original"),
    ("retrained", "original"),
    ("unlearned", "retrained"),
)


def find_layer(model: nn.Module, name: str | None = None) -> tuple[str, nn.Module]:
    """-> (qualified name, module): the module called `name`, or the last nn.Conv2d in
    `named_modules()` order when name is None. UserError naming the choices otherwise."""
    modules = dict(model.named_modules())
    convs = [n for n, m in modules.items() if isinstance(m, nn.Conv2d)]
    if name is None:
        if not convs:
            raise UserError("the model has no convolutional layer; name a layer with --layer.")
        return convs[-1], modules[convs[-1]]
    if name not in modules or not name:
        known = ", ".join(convs) or ", ".join(n for n in modules if n)
        raise UserError(f"no layer {name!r} in the model; convolutional layers: {known}.")
    return name, modules[name]


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters(), torch.empty(0)).device


def _to_input_size(maps: torch.Tensor, size: tuple[int, int], layer: str) -> torch.Tensor:
    """(n, 1, h, w) -> (n, H, W) by bilinear interpolation (align_corners=False)."""
    if maps.dim() != 4:
        raise UserError(f"layer {layer!r} has no spatial output; choose a convolutional layer.")
    return LayerAttribution.interpolate(maps, size, interpolate_mode="bilinear")[:, 0]


def gradcam(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    layer: str | None = None,
) -> torch.Tensor:
    """GradCAM maps (Selvaraju et al., 2017) through captum's LayerGradCam.

    Args:
        model: a classifier returning logits (n, k); not changed (mode restored, no grads kept).
        inputs: normalised images (n, C, H, W).
        targets: (n,) the class whose logit each map explains.
        layer: qualified module name; None for the last nn.Conv2d.

    Returns:
        (n, H, W) float32 on the CPU: ReLU(sum_k alpha_k A^k) upsampled to the input's size, in
        units of logit per unit of activation times activation (comparable across models).
    """
    return _gradcam(copy.deepcopy(model), inputs, targets, layer)


def _gradcam(model: nn.Module, inputs, targets, layer: str | None) -> torch.Tensor:
    """gradcam on a model this call owns (it hooks it)."""
    name, module = find_layer(model, layer)
    device = _device(model)
    with evaluating(model), torch.enable_grad():
        cam = LayerGradCam(model, module).attribute(
            inputs.to(device), target=targets.to(device), relu_attributions=True
        )  # (n, 1, h, w)
    return _to_input_size(cam.detach().float(), tuple(inputs.shape[2:]), name).cpu()


@torch.no_grad()
def activation_map(
    model: nn.Module, inputs: torch.Tensor, layer: str | None = None
) -> torch.Tensor:
    """Activation maps (L-CODEC, Mehta et al., 2022, Fig. 8): the mean over channels of the
    layer's output (n, C', h, w), upsampled to (n, H, W) float32 on the CPU.

    inputs: normalised images (n, C, H, W). layer: qualified name; None for the last nn.Conv2d.
    The caller's model is not hooked: the hook goes on a copy.
    """
    return _activation_map(copy.deepcopy(model), inputs, layer)


@torch.no_grad()
def _activation_map(model: nn.Module, inputs, layer: str | None) -> torch.Tensor:
    """activation_map on a model this call owns (it hooks it)."""
    name, module = find_layer(model, layer)
    with evaluating(model), recording({name: module}) as record:
        model(inputs.to(_device(model)))
    out = record[name][0]
    if out.dim() != 4:
        raise UserError(f"layer {name!r} has no spatial output; choose a convolutional layer.")
    return _to_input_size(out.float().mean(1, keepdim=True), tuple(inputs.shape[2:]), name).cpu()


@torch.no_grad()
def target_probability(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """(n,) softmax probability of each sample's target class, in eval mode."""
    with evaluating(model):
        logits = model(inputs.to(_device(model))).float().cpu()
    return torch.softmax(logits, 1).gather(1, targets[:, None]).squeeze(1)


def deletion_drop(
    model: nn.Module,
    inputs: torch.Tensor,
    maps: torch.Tensor,
    targets: torch.Tensor,
    fraction: float = 0.1,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """The deletion check of a map's faithfulness (Samek et al., 2017; Petsiuk et al., 2018).

    Sets the ceil(fraction * H * W) pixels with the largest map values, in every channel, to 0
    (the data set's mean after normalisation) and measures the target class's probability.

    Args:
        inputs: normalised images (n, C, H, W); maps: (n, H, W); targets: (n,).
        seed: seeds the random pixels of the control.

    Returns:
        {confidence (n,): p before; drop (n,): p before - p after deleting the top pixels;
        random_drop (n,): the same for as many pixels drawn at random}.
    """
    if not 0 < fraction <= 1:
        raise UserError(f"the deleted fraction must lie in (0, 1], not {fraction}.")
    n, _, h, w = inputs.shape
    count = math.ceil(fraction * h * w)
    top = maps.reshape(n, h * w).topk(count, dim=1).indices  # (n, count)
    generator = torch.Generator().manual_seed(seed)
    rand = torch.stack([torch.randperm(h * w, generator=generator)[:count] for _ in range(n)])
    before = target_probability(model, inputs, targets)
    drops = {}
    for key, chosen in (("drop", top), ("random_drop", rand)):
        keep = torch.ones(n, h * w).scatter_(1, chosen, 0.0).reshape(n, 1, h, w)
        drops[key] = before - target_probability(model, inputs * keep, targets)
    return {"confidence": before, **drops}


@dataclass
class Explanation:
    """Maps of several models for the same samples and target classes.

    images (n, C, H, W) uint8 and labels (n,) of the samples; maps: model name -> (n, H, W);
    differences: "a-b" -> (n, H, W) maps[a] - maps[b]; faithfulness: model name ->
    deletion_drop's dict of (n,) tensors.
    """

    kind: str
    layer: str
    split: str
    indices: list[int]
    targets: torch.Tensor  # (n,)
    labels: torch.Tensor  # (n,)
    images: torch.Tensor  # (n, C, H, W) uint8
    fraction: float
    maps: dict[str, torch.Tensor] = field(default_factory=dict)
    differences: dict[str, torch.Tensor] = field(default_factory=dict)
    faithfulness: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)


def map_differences(maps: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """ "unlearned-original", "retrained-original" and "unlearned-retrained" for the models
    present: what unlearning changed, what retraining changed, and how far apart they end up."""
    return {f"{a}-{b}": maps[a] - maps[b] for a, b in DIFFERENCES if a in maps and b in maps}


def explain(
    models: dict[str, nn.Module | None],
    data: ImageDataset,
    indices: list[int],
    kind: str = "gradcam",
    *,
    layer: str | None = None,
    target_class: int | None = None,
    split: str = "train",
    fraction: float = 0.1,
    seed: int = 0,
) -> Explanation:
    """GradCAM or activation maps of every model given (None entries are skipped) for the same
    samples, their differences and the deletion check of each.

    Args:
        models: e.g. {"original": ..., "unlearned": ..., "retrained": ...}, same architecture.
        indices: positions in `split` ("train": the contract's training indices).
        kind: "gradcam" or "activation".
        layer: a qualified module name; None for the last convolutional layer.
        target_class: the class every map explains; None for each sample's true class.
        fraction: share of the pixels removed by the deletion check.
    """
    if kind not in KINDS:
        raise UserError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}.")
    images, labels = split_tensors(data, split)
    if not indices:
        raise UserError("name at least one sample index to explain.")
    bad = [i for i in indices if not 0 <= i < len(labels)]
    if bad:
        raise UserError(f"index {bad[0]} is out of range: the {split} split has {len(labels)}.")
    if target_class is not None and not 0 <= target_class < data.num_classes:
        raise UserError(f"target class {target_class} is not one of 0..{data.num_classes - 1}.")
    chosen = torch.tensor(indices, dtype=torch.int64)
    labels = labels[chosen]
    targets = labels.clone() if target_class is None else torch.full_like(labels, target_class)
    inputs = data.normalize(images[chosen])  # (n, C, H, W)
    present = {k: m for k, m in models.items() if m is not None}
    if not present:
        raise UserError("no model to explain.")
    name = find_layer(next(iter(present.values())), layer)[0]
    result = Explanation(
        kind, name, split, list(indices), targets, labels, images[chosen], fraction
    )
    for key, shared in present.items():
        model = copy.deepcopy(shared)  # this call's own: hooked and switched freely
        if kind == "gradcam":
            result.maps[key] = _gradcam(model, inputs, targets, name)
        else:
            result.maps[key] = _activation_map(model, inputs, name)
        result.faithfulness[key] = deletion_drop(
            model, inputs, result.maps[key], targets, fraction, seed
        )
    result.differences = map_differences(result.maps)
    return result


def faithfulness_summary(expl: Explanation) -> dict[str, dict]:
    """Model name -> {mean_drop, mean_random_drop, drop [n], random_drop [n], confidence [n]}:
    the JSON form of the deletion check."""
    out = {}
    for key, f in expl.faithfulness.items():
        out[key] = {
            "mean_drop": float(f["drop"].mean()),
            "mean_random_drop": float(f["random_drop"].mean()),
            **{k: [float(v) for v in f[k]] for k in ("drop", "random_drop", "confidence")},
        }
    return out
