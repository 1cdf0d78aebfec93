"""Two context managers every module that looks inside a model uses.

`recording` owns forward hooks (pytorch-grad-cam's rule: hooks are always removed, also on an
error, and never left on a model someone else holds); `evaluating` puts a model in eval mode and
restores the mode it had.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import nn


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
