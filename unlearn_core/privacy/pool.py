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

import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
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
from unlearn_core.privacy.pool_training import train_seeds
from unlearn_core.progress import Progress
from unlearn_core.training import TrainedModel, initial_model

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
        return self.originals([seed], progress)[0]

    def originals(self, seeds: list[int], progress: Progress | None = None) -> list[TrainedModel]:
        """Models `seeds`, in order: those not in the pool yet trained (together where
        `pool_training.trains_together` says so) and saved, the others read."""
        paths = [self.folder / f"seed-{seed}.safetensors" for seed in seeds]
        train = self._trainer(None, "standard", progress)
        return _cached(seeds, paths, train, save_checkpoint, self._read_original)

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
        return self.retrains([seed], forget_indices, convention, progress)[0]

    def retrains(
        self,
        seeds: list[int],
        forget_indices: torch.Tensor,
        convention: str,
        progress: Progress | None = None,
    ) -> list[nn.Module]:
        """`retrained` for each of `seeds`, in order; the missing ones trained (together where
        `pool_training.trains_together` says so: then within float tolerance of `retrain`'s
        weights, not bitwise) and saved."""
        forget_key = _digest({"forget": sorted(forget_indices.tolist()), "convention": convention})
        paths = [self.folder / f"retrained-{forget_key}" / f"seed-{s}.safetensors" for s in seeds]
        trainer = self._trainer(forget_indices, convention, progress)

        def train(missing: list[int]) -> Iterator[nn.Module]:
            return (trained.model for trained in trainer(missing))

        return _cached(seeds, paths, train, save_model, self._read_retrained)

    def _trainer(
        self, exclude: torch.Tensor | None, convention: str, progress: Progress | None
    ) -> Callable[[list[int]], Iterator[TrainedModel]]:
        """Missing seeds -> their models by the pool's recipe, as `train_seeds` yields them."""
        return functools.partial(
            train_seeds,
            self.template.arch,
            self.data,
            self.template.recipe,
            exclude=exclude,
            convention=convention,
            progress=progress,
            device=None,
        )

    def _read_original(self, path: Path) -> TrainedModel:
        return load_checkpoint(path, self.data, self.template.arch)[0]

    def _read_retrained(self, path: Path) -> nn.Module:
        tensors, _ = read_weights(path)
        state = {k.removeprefix("model."): v for k, v in tensors.items()}
        model = initial_model(self.template.arch, self.data, 0)
        return load_into(model, state, path.name).eval()


def _cached(
    seeds: list[int],
    paths: list[Path],
    train: Callable[[list[int]], Iterable],
    save: Callable[[object, Path], object],
    read: Callable[[Path], object],
) -> list:
    """Each seed's model, in order: read from its path where the file is there; the missing
    ones trained by one call of `train` (which yields them in order; not called when none is
    missing) and each saved as it comes."""
    missing = [seed for seed, path in zip(seeds, paths, strict=True) if not path.is_file()]
    where = dict(zip(seeds, paths, strict=True))
    made = {}
    for seed, model in zip(missing, train(missing) if missing else (), strict=True):
        where[seed].parent.mkdir(parents=True, exist_ok=True)
        save(model, where[seed])
        made[seed] = model
    return [made[seed] if seed in made else read(where[seed]) for seed in seeds]
