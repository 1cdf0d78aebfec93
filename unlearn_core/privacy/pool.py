"""The audit's models: N models trained by a checkpoint's recorded recipe with seeds 0..N-1,
and models retrained without a forget set by the same recipe (from seeds of their own), cached
in the run store and reused by later audits of the same recipe and data.

    <store>/pools/<recipe key>/seed-<j>.safetensors                 the original model j
    <store>/pools/<recipe key>/retrained-<forget key>/seed-<j>.safetensors

The recipe key hashes the architecture, the data set's content and the recipe without its seed
and probe settings (NOT_IN_KEY); the forget key hashes the indices left out and the oracle
convention. Files are written atomically, so a worker killed mid-training leaves no half model,
and two audits that need the same model at once both end with a whole one (the last writer's,
bitwise the same on the CPU).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from unlearn_core.checkpoint import (
    load_checkpoint,
    load_into,
    read_weights,
    save_checkpoint,
    save_model,
)
from unlearn_core.data import ImageDataset
from unlearn_core.progress import Progress
from unlearn_core.training import TrainedModel, initial_model, train

# recipe fields that do not change a pool model's weights: the seed (each model has its own),
# and the Hessian probes (pool models train without them), so a recipe given without probe
# settings finds the pool of the same recipe recorded with them
NOT_IN_KEY = ("seed", "probe_every", "probe_size", "probe_iters")


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


class ModelPool:
    """Pool models and their retrains for one recipe (`template`: the audited checkpoint)."""

    def __init__(
        self, root: str | Path, template: TrainedModel, data: ImageDataset, data_sha256: str
    ):
        recipe = {k: v for k, v in template.recipe.to_dict().items() if k not in NOT_IN_KEY}
        key = _digest({"arch": template.arch, "data": data_sha256, "recipe": recipe})
        self.folder = Path(root) / "pools" / key
        self.template, self.data = template, data

    def original(self, seed: int, progress: Progress | None = None) -> TrainedModel:
        """Model `seed`: the recipe with that seed, trained once (without Hessian probes)."""
        path = self.folder / f"seed-{seed}.safetensors"
        if path.is_file():
            return load_checkpoint(path, self.data, self.template.arch)[0]
        recipe = dataclasses.replace(self.template.recipe, seed=seed)
        trained = train(
            self.template.arch, self.data, recipe, progress=progress, device=None, probes=False
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(trained, path)
        return trained

    def retrained(
        self,
        seed: int,
        forget_indices: torch.Tensor,
        convention: str,
        progress: Progress | None = None,
    ) -> nn.Module:
        """The recipe with `seed`, trained without `forget_indices` (k,) by `convention`
        (training.py), trained once per forget set: bitwise what `retrain` makes of pool model
        `seed`. The audit's references take seeds no audited model has, so they are
        independent draws of the retrained distribution."""
        forget_key = _digest({"forget": sorted(forget_indices.tolist()), "convention": convention})
        path = self.folder / f"retrained-{forget_key}" / f"seed-{seed}.safetensors"
        if path.is_file():
            tensors, _ = read_weights(path)
            state = {k.removeprefix("model."): v for k, v in tensors.items()}
            model = initial_model(self.template.arch, self.data, 0)
            return load_into(model, state, path.name).eval()
        recipe = dataclasses.replace(self.template.recipe, seed=seed)
        model = train(
            self.template.arch,
            self.data,
            recipe,
            exclude=forget_indices,
            convention=convention,
            progress=progress,
            device=None,
            probes=False,
        ).model
        path.parent.mkdir(parents=True, exist_ok=True)
        save_model(model, path)
        return model
