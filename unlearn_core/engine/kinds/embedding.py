"""The Representations page's large embedding as a job kind: stored under
<store>/embeddings/<key>.npz, where the page finds it."""

from __future__ import annotations

from unlearn_core.engine.kinds.registry import JobKind, register_kind
from unlearn_core.run.embedding_job import EmbeddingSpec, EmbeddingStore, run_embedding


@register_kind
class EmbeddingKind(JobKind):
    spec = EmbeddingSpec
    record_field = "embedding_id"

    def run(self, spec: EmbeddingSpec, inputs: tuple, progress):
        return run_embedding(spec, progress)

    def store(self, spec: EmbeddingSpec, root, result, job, node) -> str:
        return EmbeddingStore(root).save(spec, result.values)
