"""The unlearning run as a job kind: shared inputs and a shared oracle per forget set, the
pipeline at the spec's threads, and the run stored in the run store."""

from __future__ import annotations

import dataclasses

from unlearn_core.engine.kinds.registry import JobKind, Launch, register_kind
from unlearn_core.engine.runner import execute, job_memory, spec_batch_size
from unlearn_core.run.store import RunStore
from unlearn_core.specs.run import RunSpec


@register_kind
class UnlearnKind(JobKind):
    spec = RunSpec
    record_field = "run_id"
    opens_runs = True

    def launch(self, spec: RunSpec, cache, executor, job_id: str) -> Launch:
        """The checkpoint's inputs (shared by the jobs of one checkpoint) and, with the oracle,
        the one retrain of its forget set (retrain is its own oracle)."""
        inputs, shared = cache.get(spec, executor)
        oracle = None
        if spec.oracle and spec.method != "retrain":
            oracle = cache.oracle(spec, inputs, shared, executor)
        memory = job_memory(inputs, spec_batch_size(spec, inputs))
        return Launch((shared, oracle), spec.threads, memory, gpu=True, oracle=oracle)

    def run(self, spec: RunSpec, inputs: tuple, progress):
        shared, oracle = inputs
        return execute(spec, shared, progress, oracle=oracle)

    def store(self, spec: RunSpec, root, result, job, node) -> str:
        """The run, its report tagged with the job that made it."""
        info = {
            "id": job.id,
            "sweep_id": spec.sweep_id,
            "executor": job.executor,
            "node": node,
            "threads": spec.threads,
            "seconds": result.seconds,
        }
        report = result.record.report.with_job(info)
        return RunStore(root).save(dataclasses.replace(result.record, report=report))
