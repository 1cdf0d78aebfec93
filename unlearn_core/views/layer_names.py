"""Names a reader can place for a model's parameter tensors: "conv 1 (0.weight)", "linear 2
(9.bias)", not only the bare `0.weight` of torch's state dict. Module in, labels out."""

from __future__ import annotations

from torch import nn

KINDS = (  # (module type, the word a student knows it by), the first match wins
    (nn.Conv1d, "conv"),
    (nn.Conv2d, "conv"),
    (nn.Conv3d, "conv"),
    (nn.Linear, "linear"),
    (nn.modules.batchnorm._BatchNorm, "batch norm"),
    (nn.LayerNorm, "layer norm"),
    (nn.GroupNorm, "group norm"),
    (nn.Embedding, "embedding"),
)


def _kind(module: nn.Module) -> str:
    return next((word for cls, word in KINDS if isinstance(module, cls)), type(module).__name__)


def parameter_labels(model: nn.Module) -> dict[str, str]:
    """{parameter name: label}, the layers of each kind numbered in the order the model holds
    them: "conv 1 (0.weight)", "conv 1 bias (0.bias)", ..., "linear 2 (9.weight)"."""
    counts: dict[str, int] = {}
    labels = {}
    for prefix, module in model.named_modules():
        own = list(module.named_parameters(recurse=False))
        if not own:
            continue
        kind = _kind(module)
        counts[kind] = counts.get(kind, 0) + 1
        for short, _ in own:
            name = f"{prefix}.{short}" if prefix else short
            part = "" if short == "weight" else f" {short}"
            labels[name] = f"{kind} {counts[kind]}{part} ({name})"
    return labels
