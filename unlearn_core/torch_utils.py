"""What every module that looks inside a model uses.

`recording` owns forward hooks (pytorch-grad-cam's rule: hooks are always removed, also on an
error, and never left on a model someone else holds); `evaluating` puts a model in eval mode and
restores the mode it had; `slice_layers` lists a model's slices (L-FOCI's unit of selection,
Mehta et al., CVPR 2022, Sec. 5: one output unit of a Linear layer or one output channel of a
Conv2d layer, owning weight[k] and bias[k]), for the method and for the metric of how far its
slices moved; the weights' hash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

SLICED = (nn.Linear, nn.Conv2d)  # the layer types whose output units are slices


@dataclass(frozen=True)
class SliceLayer:
    name: str  # qualified module name, from named_modules
    units: int  # slices in the layer: out_features or out_channels


def slice_layers(model: nn.Module) -> list[SliceLayer]:
    """Every Linear and Conv2d of `model`, in `named_modules` order (each shared module once)."""
    return [
        SliceLayer(name, m.out_features if isinstance(m, nn.Linear) else m.out_channels)
        for name, m in model.named_modules()
        if isinstance(m, SLICED)
    ]


@contextmanager
def recording(
    modules: Mapping[str, nn.Module],
    *,
    inputs: bool = False,
    transform: Callable[[str, torch.Tensor], torch.Tensor] | None = None,
) -> Iterator[dict[str, list[torch.Tensor]]]:
    """Record what flows out of each named module (with inputs=True: its first input) on every
    forward call, detached and passed through `transform(name, tensor)`, into `record[name]`
    (one tensor per call); every hook is removed on exit, also on an exception."""
    record: dict[str, list[torch.Tensor]] = {name: [] for name in modules}
    handles = []

    def keep(name: str, tensor: torch.Tensor) -> None:
        tensor = tensor.detach()
        record[name].append(transform(name, tensor) if transform else tensor)

    try:
        for name, module in modules.items():
            if inputs:
                hook = lambda _m, args, name=name: keep(name, args[0])  # noqa: E731
                handles.append(module.register_forward_pre_hook(hook))
            else:
                hook = lambda _m, _args, out, name=name: keep(name, out)  # noqa: E731
                handles.append(module.register_forward_hook(hook))
        yield record
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode (BatchNorm and dropout frozen), its previous mode restored after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def hash_tensor(digest, tensor: torch.Tensor) -> None:
    """Feed `tensor` into a hashlib digest: its dtype and shape, then its bytes (CPU,
    contiguous), so equal digests mean bitwise-equal tensors of the same type and shape."""
    t = tensor.detach().cpu().contiguous()
    digest.update(f"{t.dtype} {tuple(t.shape)};".encode())
    digest.update(t.reshape(-1).view(torch.uint8).numpy())


def weights_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 over a state dict's names and tensors, in name order: equal for bitwise-equal
    weights whatever file holds them (a safetensors file's own hash also covers its metadata,
    which names versions and the command)."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(f"{name}:".encode())
        hash_tensor(digest, state[name])
    return digest.hexdigest()
