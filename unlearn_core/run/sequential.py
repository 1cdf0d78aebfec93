"""A sequence of class-forgetting requests, each applied to the result of the one before.

UNSIR (Tarun et al., 2023) Sec. 5.6.2 and Fig. 5: forget class 0, then class 1, then class 2.
Step k calls `run_unlearning` on the model left by step k - 1, handed over as a TrainedModel with
the original recipe and w_0. Its request forgets step k's classes, and its retain set leaves out
everything forgotten so far: deleted data stays deleted (no later step trains on it), and step
k's oracle is the retrain without the union of steps 1..k.

The returned report is report.json's contract for the union of the steps: `forget` names every
forgotten class; `metrics` compare the original model, the final model and (with the oracle) the
retrain without the union; `timing.unlearn_seconds` sums the steps. `sequence` lists the steps:
    {step, classes, forgotten_so_far, timing, metrics, gaps_to_retrained,
     mia, prediction_distribution, method_info, cumulative}
where `metrics` is that step's own M block (`original` is the model before the step, forget
accuracy is over the step's classes) and `cumulative` is M of the model after the step against
everything forgotten so far (its forget_acc covers all classes forgotten up to that step).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence

from unlearn_core.data import ImageDataset
from unlearn_core.errors import UserError
from unlearn_core.metrics.distance import layer_distance
from unlearn_core.metrics.evaluate import evaluate
from unlearn_core.metrics.mia import membership_report, mia_flags
from unlearn_core.metrics.relearn import RelearnConfig, relearn_times
from unlearn_core.progress import Progress, sub_progress
from unlearn_core.request import ForgetRequest
from unlearn_core.run.pipeline import RunRecord, _gaps, run_unlearning
from unlearn_core.training import TrainedModel

# report fields that compare a step's model with the model before that step; the union's report
# does not recompute them (each step's own values are not kept either): they are null there
STEP_RELATIVE = (
    "selected_slices",
    "unlearning_error",
    "verification_error",
    "verification_error_without_update",
    "verification_error_per_layer",
    "privacy_risk",
)


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
    seed: int = 0,
    relearn: RelearnConfig | None = None,
    progress: Progress | None = None,
) -> RunRecord:
    """Forget `steps` (lists of classes) one after another with `method`; never changes `trained`.

    oracle: retrain at every step (k retrains in all); the last one, the retrain without the
    union, is the report's `retrained`. relearn: relearn times of the original, final and
    retrained models on the union's forget set.
    """
    requests = sequence_requests(data, steps)
    union = ForgetRequest.for_classes(data, [c for r in requests for c in r.classes])
    current, records, entries, so_far = trained, [], [], []
    for k, request in enumerate(requests):
        record = run_unlearning(
            current,
            checkpoint_meta,
            data,
            request,
            method,
            overrides,
            oracle=oracle,
            seed=seed,
            progress=sub_progress(
                progress, 0.9 * k / len(requests), 0.9 * (k + 1) / len(requests), f"step {k + 1}"
            ),
        )
        records.append(record)
        so_far += request.classes
        cumulative = evaluate(record.model, data, ForgetRequest.for_classes(data, so_far))
        cumulative.pop("forget_predictions")
        step = record.report
        entries.append(
            {
                "step": k + 1,
                "classes": list(request.classes),
                "forgotten_so_far": sorted(so_far),
                "timing": step["timing"],
                "metrics": step["metrics"],
                "gaps_to_retrained": step["gaps_to_retrained"],
                "mia": step["mia"],
                "prediction_distribution": step["prediction_distribution"],
                "method_info": step["method_info"],
                "cumulative": cumulative,
            }
        )
        current = dataclasses.replace(trained, model=record.model)

    final, retrained = records[-1].model, records[-1].retrained
    if progress:
        progress(0.9, "evaluating the whole sequence")
    metrics = {
        "original": evaluate(trained.model, data, union),
        "unlearned": evaluate(final, data, union),
        "retrained": evaluate(retrained, data, union) if retrained is not None else None,
    }
    distribution = {k: (m.pop("forget_predictions") if m else None) for k, m in metrics.items()}
    models = {"original": trained.model, "unlearned": final, "retrained": retrained}
    mia = membership_report(models, data, union, seed=seed)  # the union's, not the last step's
    relearn_time = dict.fromkeys(metrics)
    if relearn is not None:
        relearn_time = relearn_times(
            models,
            data,
            union.forget_indices,
            metrics["original"]["forget_acc"],
            trained.recipe,
            relearn,
            progress=sub_progress(progress, 0.92, 0.99, "relearn time"),
        )
    unlearn_seconds = sum(e["timing"]["unlearn_seconds"] for e in entries)
    retrain_seconds = entries[-1]["timing"]["retrain_seconds"]
    # method, config, seed, data set, recipe, versions and checkpoints are those of every step
    report = copy.deepcopy(records[-1].report)
    report.update(
        {
            "forget": union.to_dict(),
            "timing": {
                **report["timing"],
                "unlearn_seconds": unlearn_seconds,
                "retrain_seconds": retrain_seconds,
            },
            "metrics": metrics,
            "gaps_to_retrained": _gaps(metrics),
            "mia": mia,
            "mia_flags": mia_flags(mia),
            "speedup_over_retrain": (
                retrain_seconds / unlearn_seconds if retrain_seconds and unlearn_seconds else None
            ),
            "layer_distance": layer_distance(final, trained.model, retrained),
            "prediction_distribution": distribution,
            "method_info": {},
            "relearn_time": relearn_time,
            "sequence": entries,
        }
    )
    report.update({key: None for key in STEP_RELATIVE if key in report})
    if progress:
        progress(1.0, "done")
    return RunRecord(report, final, retrained)
