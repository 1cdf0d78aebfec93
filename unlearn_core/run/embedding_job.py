"""The Representations page's embedding of a large sample, as a job: a UMAP of thousands of
points takes minutes, which a page must not block on and a closed browser must not lose.

The job loads the run's three models (the original from its checkpoint, the unlearned and
retrained ones from the run folder), computes `metrics.representations.embedding_view` and
returns it; the job manager stores it under <store>/embeddings/<key>.npz, keyed by the run,
the checkpoint and the settings, where the page finds it.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from unlearn_core.errors import UserError
from unlearn_core.files import write_bytes_atomic
from unlearn_core.progress import Progress
from unlearn_core.specs.base import Spec

MAX_PER_GROUP = 5000


@dataclass(frozen=True)
class EmbeddingSpec(Spec):
    KIND: ClassVar[str] = "embedding"

    run_id: str
    store_root: str
    checkpoint: str  # the run's original model
    checkpoint_sha256: str
    per_group: int  # images per group (forget, retain, test)
    seed: int = 0
    layer: str | None = None  # None: the penultimate layer
    method: str = "umap"  # or "pca"
    threads: int = 1

    @property
    def key(self) -> str:
        """What the result depends on: the run, the original model and the settings."""
        from unlearn_core.metrics.representations import PENULTIMATE

        layer = self.layer or PENULTIMATE  # None names the default layer
        parts = [self.run_id, self.checkpoint_sha256, self.per_group, self.seed, layer]
        return hashlib.sha256(json.dumps([*parts, self.method]).encode()).hexdigest()[:20]

    def validate(self) -> None:
        validate_embedding(self)

    def title(self) -> str:
        return f"**{self.method} embedding**, {self.per_group} images per group"

    def label(self) -> str:
        return f"{self.KIND}-{self.method}"

    def same_job(self, values: dict) -> bool:
        """The same embedding: what its result depends on (its key) is equal."""
        return EmbeddingSpec.from_dict(values).key == self.key


def validate_embedding(spec: EmbeddingSpec) -> None:
    """One UserError line for a missing run or checkpoint, or an absurd sample size."""
    from unlearn_core.checkpoint import sha256_file
    from unlearn_core.run.store import RunStore

    if not isinstance(spec.per_group, int) or not 1 <= spec.per_group <= MAX_PER_GROUP:
        raise UserError(
            f"images per group must be from 1 to {MAX_PER_GROUP}, not {spec.per_group!r}."
        )
    if spec.method not in ("umap", "pca"):
        raise UserError(f"unknown map {spec.method!r}; use umap or pca.")
    RunStore(spec.store_root).open(spec.run_id)  # UserError for a missing or corrupt run
    path = Path(spec.checkpoint)
    if not path.is_file() or sha256_file(path) != spec.checkpoint_sha256:
        raise UserError(f"checkpoint {path} is missing or changed; choose the run's checkpoint.")


@dataclass(frozen=True)
class EmbeddingResult:
    values: dict  # embedding_view's
    seconds: float


def run_embedding(spec: EmbeddingSpec, progress: Progress | None = None) -> EmbeddingResult:
    """embedding_view of the run's models on its request's sample (the page's computation)."""
    import torch

    from unlearn_core.checkpoint import load_checkpoint
    from unlearn_core.data import load_dataset
    from unlearn_core.metrics import representations as rep
    from unlearn_core.request import ForgetRequest
    from unlearn_core.run.store import RunStore, load_run_model

    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(spec.threads)
    try:
        store = RunStore(spec.store_root)
        report, folder = store.open(spec.run_id), store.path(spec.run_id)
        data = load_dataset(report.dataset)
        if progress:
            progress(0.1, "loading the models")
        models = {
            "original": load_checkpoint(spec.checkpoint, data)[0].model,
            "unlearned": load_run_model(folder, data),
            "retrained": load_run_model(folder, data, "retrained")
            if report.checkpoints.retrained_sha256
            else None,
        }
        request = ForgetRequest.from_dict(data, report.forget.to_dict())
        sample = rep.representation_sample(data, request, spec.per_group, spec.seed)
        if progress:
            progress(0.3, f"{spec.method} of {3 * spec.per_group} images per model")
        layer = spec.layer or rep.PENULTIMATE
        values = rep.embedding_view(
            models, data, sample, layer=layer, seed=spec.seed, method=spec.method
        )
    finally:
        torch.set_num_threads(threads)
    return EmbeddingResult(values, time.perf_counter() - start)


class EmbeddingStore:
    """Embeddings computed by jobs: <store>/embeddings/<spec.key>.npz, written atomically."""

    def __init__(self, root: str | Path):
        self.folder = Path(root) / "embeddings"

    def save(self, spec: EmbeddingSpec, values: dict) -> str:
        arrays = {f"coordinates_{m}": c for m, c in values["coordinates"].items()}
        meta = {k: values[k] for k in ("method", "reason", "layer")}
        buffer = io.BytesIO()
        np.savez(
            buffer,
            labels=values["labels"],
            group=values["group"],
            meta=np.array(json.dumps(meta)),
            **arrays,
        )
        write_bytes_atomic(self.folder / f"{spec.key}.npz", buffer.getvalue())
        return spec.key

    def get(self, spec: EmbeddingSpec) -> dict | None:
        path = self.folder / f"{spec.key}.npz"
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            coordinates = {
                k.removeprefix("coordinates_"): z[k]
                for k in z.files
                if k.startswith("coordinates_")
            }
            return {**meta, "coordinates": coordinates, "labels": z["labels"], "group": z["group"]}
