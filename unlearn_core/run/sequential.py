"""A sequence of class-forgetting requests, each applied to the result of the one before.

UNSIR (Tarun et al., 2023) Sec. 5.6.2 and Fig. 5: forget class 0, then class 1, then class 2.
Step k calls `unlearn_model` on the model left by step k - 1, handed over as a TrainedModel with
the original recipe and w_0. Its request forgets step k's classes, and its retain set leaves out
everything forgotten so far: deleted data stays deleted (no later step trains on it), and step
k's oracle is the retrain without the union of steps 1..k.

The returned report (built by run.pipeline.build_report, as a single run's is) is report.json's
contract for the union of the steps: `forget` names every forgotten class; `metrics` compare the
original model, the final model and (with the oracle) the retrain without the union;
`timing.unlearn_seconds` sums the steps. `sequence` lists the steps (run.report.SequenceStep):
    {step, classes, forgotten_so_far, timing, metrics, gaps_to_retrained,
     mia, prediction_distribution, method_info, cumulative}
where `metrics` is that step's own M block (`original` is the model before the step, forget
accuracy is over the step's classes) and `cumulative` is M of the model after the step against
everything forgotten so far (its forget_acc covers all classes forgotten up to that step).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from unlearn_core.data import ImageDataset
from unlearn_core.errors import UserError
from unlearn_core.metrics.evaluate import evaluate
from unlearn_core.metrics.relearn import RelearnConfig
from unlearn_core.progress import Progress, sub_progress
from unlearn_core.request import ForgetRequest
from unlearn_core.run.pipeline import RunRecord, RunSetup, build_report, measure, unlearn_model
from unlearn_core.run.report import ModelMetrics, PerModel, SequenceStep, Timing
from unlearn_core.training import TrainedModel


def sequence_requests(data: ImageDataset, steps: Sequence[Sequence[int]]) -> list[ForgetRequest]:
    """One request per step: forget the step's classes, retain what no step so far forgets."""
    if not steps:
        raise UserError("a sequence of requests needs at least one step.")
    so_far: list[int] = []
    requests = []
    for k, classes in enumerate(steps, 1):
        step = ForgetRequest.for_classes(data, classes)
        again = sorted(set(step.classes) & set(so_far))
        if again:
            raise UserError(f"class {again[0]} is forgotten again in step {k}; name it once.")
        so_far += step.classes
        retain = ForgetRequest.for_classes(data, so_far).retain_indices
        requests.append(dataclasses.replace(step, retain_indices=retain))
    return requests


def run_sequence(
    trained: TrainedModel,
    checkpoint_meta: dict,
    data: ImageDataset,
    steps: Sequence[Sequence[int]],
    method: str,
    overrides: dict[str, str] | None = None,
    *,
    oracle: bool = False,
    oracle_convention: str = "standard",
    seed: int = 0,
    relearn: RelearnConfig | None = None,
    progress: Progress | None = None,
) -> RunRecord:
    """Forget `steps` (lists of classes) one after another with `method`; never changes `trained`.

    oracle: retrain at every step (k retrains in all); the last one, the retrain without the
    union, is the report's `retrained`; oracle_convention: how it divides a batch that lost
    samples (training.py). relearn: relearn times of the original, final and
    retrained models on the union's forget set.
    """
    requests = sequence_requests(data, steps)
    union = ForgetRequest.for_classes(data, [c for r in requests for c in r.classes])
    records, entries = _run_steps(
        trained, checkpoint_meta, data, requests, method, overrides, progress,
        oracle=oracle, oracle_convention=oracle_convention, seed=seed,
    )  # fmt: skip
    final, retrained = records[-1].model, records[-1].retrained
    if progress:
        progress(0.9, "evaluating the whole sequence")
    models = PerModel(trained.model, final, retrained)
    relearn_progress = sub_progress(progress, 0.92, 0.99, "relearn time")
    measured = measure(models, trained, data, union, seed, relearn, relearn_progress)
    timing = Timing(
        unlearn_seconds=sum(e.timing.unlearn_seconds for e in entries),
        retrain_seconds=entries[-1].timing.retrain_seconds,
    )
    # method, config, seed, data set, recipe, versions and checkpoints are those of every step;
    # the step-relative fields (selected slices, errors, privacy risk) are null here
    first = records[0].report
    setup = RunSetup(
        first.method, first.config, seed, trained, checkpoint_meta, data, oracle_convention
    )
    report = build_report(setup, union, timing, measured, method_info={}, sequence=entries)
    if progress:
        progress(1.0, "done")
    return RunRecord(report, final, retrained)


def _run_steps(
    trained: TrainedModel,
    checkpoint_meta: dict,
    data: ImageDataset,
    requests: list[ForgetRequest],
    method: str,
    overrides: dict[str, str] | None,
    progress: Progress | None,
    **run_options,
) -> tuple[list[RunRecord], list]:
    """Each request unlearnt from the previous step's model: (run records, report entries)."""
    current, records, entries, so_far = trained, [], [], []
    for k, request in enumerate(requests):
        share = (0.9 * k / len(requests), 0.9 * (k + 1) / len(requests))
        record = unlearn_model(
            current,
            checkpoint_meta,
            data,
            request,
            method,
            overrides,
            progress=sub_progress(progress, *share, f"step {k + 1}"),
            **run_options,
        )
        records.append(record)
        so_far += request.classes
        entries.append(_step(k + 1, request, sorted(so_far), record, data))
        current = dataclasses.replace(trained, model=record.model)
    return records, entries


def _step(
    number: int, request: ForgetRequest, so_far: list[int], record: RunRecord, data: ImageDataset
) -> SequenceStep:
    """A step's entry: its own report's blocks and `cumulative`, the M block of its model
    against everything forgotten so far."""
    cumulative = evaluate(record.model, data, ForgetRequest.for_classes(data, so_far))
    cumulative.pop("forget_predictions")
    step = record.report
    return SequenceStep(
        step=number,
        classes=list(request.classes),
        forgotten_so_far=so_far,
        timing=step.timing,
        metrics=step.metrics,
        mia=step.mia,
        prediction_distribution=step.prediction_distribution,
        method_info=step.method_info,
        cumulative=ModelMetrics.from_dict(cumulative),
    )
