"""Verification error (Thudi et al., Unrolling SGD, Sec. 4): ||w'' - w'||_2 between the unlearned
weights w'' and the weights w' retrained without the forget set by the same recipe and order.

Reported beside the same distance for the model before unlearning, so a reader sees how much of
the gap to the retrained model the update closed. Parameters only, as in the unlearning error.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _squared_distances(model: nn.Module, reference: nn.Module) -> dict[str, float]:
    """name -> ||p - p_ref||_2^2 for every named parameter (in float64)."""
    ref = {name: p.detach().cpu().double() for name, p in reference.named_parameters()}
    with torch.no_grad():
        return {
            name: float((p.detach().cpu().double() - ref[name]).pow(2).sum())
            for name, p in model.named_parameters()
        }


def verification_errors(unlearned: nn.Module, original: nn.Module, retrained: nn.Module) -> dict:
    """-> {verification_error, verification_error_without_update, verification_error_per_layer:
    [{layer, with_update, without_update}]} (with_update: unlearned to retrained; without_update:
    original to retrained)."""
    after = _squared_distances(unlearned, retrained)
    before = _squared_distances(original, retrained)
    return {
        "verification_error": math.sqrt(sum(after.values())),
        "verification_error_without_update": math.sqrt(sum(before.values())),
        "verification_error_per_layer": [
            {
                "layer": name,
                "with_update": math.sqrt(after[name]),
                "without_update": math.sqrt(before[name]),
            }
            for name in after
        ],
    }


def share_removed(with_update: float, without_update: float) -> float | None:
    """1 - with/without: the share of the distance to the retrained weights that the update
    removed; negative when it moved them farther away, None where the original already equals
    the retrained."""
    return 1 - with_update / without_update if without_update > 0 else None
