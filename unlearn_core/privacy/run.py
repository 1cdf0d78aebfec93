"""Running an audit: its N model tasks in this process one after another (inline), or as Ray
tasks spread over the cluster, then the summary. Nothing is written here: the job manager
stores the result (privacy/store.py), so a killed audit leaves no half record."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from unlearn_core.privacy.audit import MemberResult, audit_member, summarise
from unlearn_core.privacy.spec import AuditSpec
from unlearn_core.progress import Progress, sub_progress

MODELS_SHARE = 0.95  # of the progress bar; the summary's bootstraps take the rest


@dataclass(frozen=True)
class AuditResult:
    privacy: dict  # privacy.json's content
    seconds: float


Members = Callable[[AuditSpec, Progress], list[MemberResult]]


def inline_members(spec: AuditSpec, progress: Progress) -> list[MemberResult]:
    """The N model tasks in this process, in seed order."""
    n = spec.models
    return [
        audit_member(spec, j, sub_progress(progress, j / n, (j + 1) / n, f"model {j + 1}/{n}"))
        for j in range(n)
    ]


def ray_members(board=None, job_id: str = "") -> Members:
    """The N model tasks as Ray tasks (`spec.threads` CPUs each), from inside a Ray task or a
    driver. With a progress board (executors' actor), each task writes its own progress there
    under "<job_id>#<seed>" and the audit's progress is their mean."""

    def members(spec: AuditSpec, progress: Progress) -> list[MemberResult]:
        import ray

        from unlearn_core.engine.executors import remote_task

        task = remote_task("audit_member").options(num_cpus=spec.threads, max_retries=0)
        refs = [task.remote(spec.to_dict(), j, board, f"{job_id}#{j}") for j in range(spec.models)]
        pending = list(refs)
        while pending:
            _, pending = ray.wait(pending, num_returns=1, timeout=2.0)
            done = spec.models - len(pending)
            progress(
                _mean_progress(board, job_id, spec.models, done), f"{done} of {spec.models} models"
            )
        return ray.get(refs)

    return members


def _mean_progress(board, job_id: str, models: int, done: int) -> float:
    if board is None:
        return done / models
    import ray

    seen = ray.get(board.read.remote(), timeout=30)
    mean = sum(seen.get(f"{job_id}#{j}", (0.0, ""))[0] for j in range(models)) / models
    return max(mean, done / models)  # a finished task's last report may fall short of 1


def recipe_used(spec: AuditSpec, trained) -> dict:
    """privacy.json's record of the recipe the pool was trained by and where it came from."""
    template = spec.pool_template(trained)
    source = "given" if spec.recipe is not None else "checkpoint"
    return {
        "dataset": template.dataset,
        "arch": template.arch,
        "source": source,
        **template.recipe.to_dict(),
    }


def run_audit(
    spec: AuditSpec,
    progress: Progress | None = None,
    members: Members = inline_members,
) -> AuditResult:
    """The audit, end to end; progress may raise to stop it (the engine's cancel)."""
    from unlearn_core.engine.runner import load_inputs
    from unlearn_core.request import ForgetRequest

    start = time.perf_counter()

    def report(fraction: float, phase: str) -> None:
        if progress:
            progress(fraction, phase)

    results = members(spec, sub_progress(report, 0.0, MODELS_SHARE, "models"))
    report(MODELS_SHARE, "attacks and intervals")
    inputs = load_inputs(spec.job_spec())
    request = ForgetRequest.from_dict(inputs.data, spec.forget)
    seconds = time.perf_counter() - start
    privacy = summarise(spec, sorted(results, key=lambda m: m.seed), request, seconds)
    privacy["recipe"] = recipe_used(spec, inputs.trained)
    report(1.0, "done")
    return AuditResult(privacy, seconds)
