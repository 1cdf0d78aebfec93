"""The privacy audit as a job kind: an adapter over privacy/'s public entry points (privacy/
knows nothing of the engine). On Ray its N models fan out as Ray tasks; inline they run one
after another in the job's thread."""

from __future__ import annotations

from unlearn_core.engine.kinds.registry import JobKind, Launch, register_kind
from unlearn_core.privacy.audit import audit_member
from unlearn_core.privacy.run import inline_members, run_audit
from unlearn_core.privacy.spec import AuditSpec
from unlearn_core.privacy.store import AuditStore


@register_kind
class AuditKind(JobKind):
    spec = AuditSpec
    record_field = "audit_id"

    def launch(self, spec: AuditSpec, cache, executor, job_id: str) -> Launch:
        # its own CPUs: it may train its pool as one ensemble before it fans out its models
        return Launch((executor.fan_out(job_id),), cpus=spec.threads, fans_out=True)

    def run(self, spec: AuditSpec, inputs: tuple, progress):
        (fan_out,) = inputs
        if fan_out is None:
            return run_audit(spec, progress, members=inline_members)

        def members(spec: AuditSpec, progress) -> list:
            calls = [(spec, j) for j in range(spec.models)]
            return fan_out.map(audit_member, calls, spec.threads, "models", progress)

        return run_audit(spec, progress, members=members)

    def store(self, spec: AuditSpec, root, result, job, node) -> str:
        return AuditStore(root).save(result.privacy)
