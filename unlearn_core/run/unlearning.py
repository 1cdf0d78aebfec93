"""The run a RunSpec names: what `unlearn` on the command line and every unlearning job run
(engine/runner.execute), so the two doors make one run from one spelling of it.

The spec says what (method, settings, forget request and its origin, a sequence of further
class requests, the oracle and its convention, relearn time, privacy risk, threads and pins);
`inputs` are the loaded data set and checkpoint (run/inputs.py). Nothing is written here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from torch import nn

from unlearn_core.metrics.relearn import RelearnConfig
from unlearn_core.progress import Progress
from unlearn_core.request import ForgetRequest
from unlearn_core.run import reproducible
from unlearn_core.run.inputs import SharedInputs
from unlearn_core.run.pipeline import RunRecord, unlearn_model
from unlearn_core.run.sequential import run_sequence
from unlearn_core.specs.run import RunSpec


def run_unlearning(
    spec: RunSpec,
    inputs: SharedInputs,
    progress: Progress | None = None,
    *,
    shared_oracle: Callable[[], tuple[nn.Module, float]] | None = None,
) -> RunRecord:
    """Unlearn what `spec` asks from `inputs.trained` (never changed) at the spec's threads
    (and, reproducible, its pins), restored afterwards; the report records who asked and when,
    and the command that makes the same run (`spec.command()`). shared_oracle: the retrain of
    the forget set computed once elsewhere (a sweep's; pipeline.unlearn_model)."""
    request = ForgetRequest.from_dict(inputs.data, spec.forget)
    pin = reproducible.pinned if spec.reproducible else reproducible.torch_threads
    with pin(spec.threads):
        record = _run(spec, inputs, request, progress, shared_oracle)
    report = record.report.with_origin(request.requester, request.request_date)
    record.report = report.with_command(spec.command())  # the same run from a shell
    if spec.reproducible and reproducible.pinned_isa() is None:
        warnings = [*record.report.warnings, reproducible.NOT_PINNED]
        record.report = dataclasses.replace(record.report, warnings=warnings)
    return record


def _run(spec: RunSpec, inputs: SharedInputs, request, progress, shared_oracle) -> RunRecord:
    """One request, or (then_classes) a sequence of class requests (run/sequential.py)."""
    relearn = None
    if spec.relearn:
        relearn = RelearnConfig(spec.relearn_samples, spec.relearn_max_epochs, seed=spec.seed)
    common = dict(
        oracle=spec.oracle,
        oracle_convention=spec.oracle_convention,
        seed=spec.seed,
        progress=progress,
        relearn=relearn,
    )
    if spec.then_classes:
        steps = [request.classes, *spec.then_classes]
        return run_sequence(*_loaded(inputs), steps, spec.method, spec.overrides, **common)
    return unlearn_model(
        *_loaded(inputs),
        request,
        spec.method,
        spec.overrides,
        privacy_risk=spec.privacy_risk,
        shared_oracle=shared_oracle,
        **common,
    )


def _loaded(inputs: SharedInputs) -> tuple:
    return inputs.trained, inputs.meta, inputs.data
