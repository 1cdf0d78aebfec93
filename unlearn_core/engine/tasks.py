"""Jobs that are not unlearning runs: a privacy audit (privacy.spec.AuditSpec) and a large
embedding (run.embedding_job.EmbeddingSpec). A task spec is plain data with a `kind`; this module
checks it, runs it and stores its result, so the job manager and the executors treat every kind
alike. Storing happens in the submitting process (the manager), as for runs."""

from __future__ import annotations

from unlearn_core.errors import UserError
from unlearn_core.progress import Progress


def task_from_dict(values: dict):
    """The task spec a job record's `spec` holds."""
    from unlearn_core.privacy.spec import AuditSpec
    from unlearn_core.run.embedding_job import EmbeddingSpec

    kinds = {spec.KIND: spec for spec in (AuditSpec, EmbeddingSpec)}
    if values.get("kind") not in kinds:
        raise UserError(f"unknown job kind {values.get('kind')!r}; kinds: {', '.join(kinds)}.")
    return kinds[values["kind"]].from_dict(values)


def check_task(spec) -> None:
    """One UserError line for anything a worker would trip over."""
    from unlearn_core.privacy.spec import AuditSpec, validate_audit
    from unlearn_core.run.embedding_job import validate_embedding

    (validate_audit if isinstance(spec, AuditSpec) else validate_embedding)(spec)


def run_task(spec, progress: Progress | None = None, ray_board: tuple | None = None):
    """Run the task here; ray_board = (progress actor, job id) inside a Ray task, where an
    audit fans its models out as Ray tasks reporting to that actor."""
    from unlearn_core.privacy.run import inline_members, ray_members, run_audit
    from unlearn_core.privacy.spec import AuditSpec
    from unlearn_core.run.embedding_job import run_embedding

    if isinstance(spec, AuditSpec):
        members = ray_members(*ray_board) if ray_board else inline_members
        return run_audit(spec, progress, members=members)
    return run_embedding(spec, progress)


def store_task(root, spec, result) -> dict:
    """Store a finished task's result in the run store at `root`; -> the job record's fields
    that name it (audit_id or embedding_id)."""
    from unlearn_core.privacy.spec import AuditSpec
    from unlearn_core.privacy.store import AuditStore
    from unlearn_core.run.embedding_job import EmbeddingStore

    if isinstance(spec, AuditSpec):
        return {"audit_id": AuditStore(root).save(result.privacy)}
    return {"embedding_id": EmbeddingStore(root).save(spec, result.values)}
