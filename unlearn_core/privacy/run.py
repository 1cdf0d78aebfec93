"""Running an audit: its pool trained as one ensemble first where that is faster (privacy/
pool_training.py), its N model tasks in this process one after another (inline), or by
whatever `members` runs them (the engine's Ray executor spreads them over the cluster), then
the summary. Nothing is written here: the job manager stores the result (privacy/store.py), so
a killed audit leaves no half record."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from unlearn_core.privacy.audit import MemberResult, audit_member, summarise, train_pool_together
from unlearn_core.privacy.spec import AuditSpec
from unlearn_core.progress import Progress, sub_progress
from unlearn_core.request import ForgetRequest
from unlearn_core.run.inputs import load_inputs

MODELS_SHARE = 0.95  # of the progress bar; the summary's bootstraps take the rest
TOGETHER_SHARE = 0.4  # of the models' share, when the pool trains as one ensemble first


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
    start = time.perf_counter()

    def report(fraction: float, phase: str) -> None:
        if progress:
            progress(fraction, phase)

    inputs = load_inputs(spec.job_spec())
    together = sub_progress(report, 0.0, TOGETHER_SHARE * MODELS_SHARE, "pool")
    trained_together = train_pool_together(spec, inputs, together)
    first = TOGETHER_SHARE * MODELS_SHARE if trained_together else 0.0
    results = members(spec, sub_progress(report, first, MODELS_SHARE, "models"))
    report(MODELS_SHARE, "attacks and intervals")
    request = ForgetRequest.from_dict(inputs.data, spec.forget)
    seconds = time.perf_counter() - start
    privacy = summarise(spec, sorted(results, key=lambda m: m.seed), request, seconds)
    privacy["recipe"] = recipe_used(spec, inputs.trained)
    report(1.0, "done")
    return AuditResult(privacy, seconds)
