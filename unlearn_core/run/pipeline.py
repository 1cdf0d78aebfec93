"""One unlearning run, end to end: the function both the app and the command line call.

Runs the method on a copy of the model, optionally the retrained oracle, evaluates all three
models and assembles the report.json contract (DESIGN.md).
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn

import unlearn_core
from unlearn_core.data import ImageDataset
from unlearn_core.device import default_device
from unlearn_core.errors import UserError
from unlearn_core.methods import get_method, parse_config
from unlearn_core.metrics.distance import layer_distance
from unlearn_core.metrics.evaluate import evaluate
from unlearn_core.metrics.mia import membership_report, mia_flags
from unlearn_core.metrics.privacy_risk import privacy_risk as privacy_risk_scores
from unlearn_core.metrics.relearn import RelearnConfig, relearn_times
from unlearn_core.metrics.verification_error import verification_errors
from unlearn_core.progress import Progress, sub_progress
from unlearn_core.request import ForgetRequest
from unlearn_core.training import TrainedModel, retrain_without

GAP_KEYS = ("forget_acc", "retain_acc", "test_acc", "mia_auc", "forget_loss")


@dataclass
class RunRecord:
    """A finished run: report.json's content and the unlearned model (CPU, eval mode)."""

    report: dict
    model: nn.Module
    retrained: nn.Module | None = None


def run_unlearning(
    trained: TrainedModel,
    checkpoint_meta: dict,
    data: ImageDataset,
    request: ForgetRequest,
    method: str,
    overrides: dict[str, str] | None = None,
    *,
    oracle: bool = False,
    seed: int = 0,
    progress: Progress | None = None,
    privacy_risk: bool = False,
    relearn: RelearnConfig | None = None,
) -> RunRecord:
    """Unlearn `request` from `trained` with `method`; never changes `trained`.

    privacy_risk: also score the forget set's privacy risk (Song and Mittal) under each model,
    which trains (or reuses from the cache) a shadow model by the same recipe on half the data.
    relearn: also measure each model's relearn time (metrics/relearn.py), which trains copies.
    """
    spec = get_method(method)
    config = parse_config(spec.config_cls, overrides)
    unlearn_share = 0.45 if oracle else 0.9
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        start = time.perf_counter()
        result = spec.run(
            trained,
            request,
            data,
            config,
            progress=sub_progress(progress, 0.0, unlearn_share, spec.name),
        )
        unlearn_seconds = time.perf_counter() - start
    if not all(
        torch.isfinite(p).all() for p in result.model.state_dict().values() if p.is_floating_point()
    ):
        raise UserError(
            f"{spec.name} produced NaN or infinite weights; lower its learning rate (--set lr=...)."
        )

    retrained, retrain_seconds = None, None
    if oracle:
        if method == "retrain":
            retrained, retrain_seconds = result.model, unlearn_seconds
        else:
            start = time.perf_counter()
            retrained = retrain_without(
                trained,
                data,
                request.outside_retain(data.train_y.numel()),
                progress=sub_progress(progress, unlearn_share, 0.9, "oracle retrain"),
            )
            retrain_seconds = time.perf_counter() - start

    verification = {}
    if retrained is not None:  # Unrolling SGD's verification error, with and without the update
        verification = verification_errors(result.model, trained.model, retrained)
    risk = None
    if privacy_risk:
        risk = privacy_risk_scores(
            trained,
            data,
            request,
            {"original": trained.model, "unlearned": result.model, "retrained": retrained},
            checkpoint_meta.get("sha256"),
            progress=sub_progress(progress, 0.9, 0.92, "shadow model"),
        )

    if progress:
        progress(0.92, "evaluating")
    metrics = {
        "original": evaluate(trained.model, data, request),
        "unlearned": evaluate(result.model, data, request),
        "retrained": evaluate(retrained, data, request) if retrained is not None else None,
    }
    distribution = {k: (m.pop("forget_predictions") if m else None) for k, m in metrics.items()}
    mia = membership_report(  # the attacks of METHODS.md section 4, on shared samples
        {"original": trained.model, "unlearned": result.model, "retrained": retrained},
        data,
        request,
        seed=seed,
    )
    relearn_time = dict.fromkeys(metrics)  # null unless asked for: it costs training time
    if relearn is not None:
        relearn_time = relearn_times(
            {"original": trained.model, "unlearned": result.model, "retrained": retrained},
            data,
            request.forget_indices,
            metrics["original"]["forget_acc"],
            trained.recipe,
            relearn,
            progress=sub_progress(progress, 0.93, 0.99, "relearn time"),
        )
    report = {
        "method": spec.name,
        "config": asdict(config),
        "seed": seed,
        "dataset": data.name,
        "arch": trained.arch,
        "device": str(default_device()),
        "forget": request.to_dict(),
        "timing": {"unlearn_seconds": unlearn_seconds, "retrain_seconds": retrain_seconds},
        "metrics": metrics,
        "gaps_to_retrained": _gaps(metrics),
        "mia": mia,
        "mia_flags": mia_flags(mia),
        "speedup_over_retrain": (
            retrain_seconds / unlearn_seconds if retrain_seconds and unlearn_seconds else None
        ),
        "layer_distance": layer_distance(result.model, trained.model, retrained),
        "prediction_distribution": distribution,
        "selected_slices": result.info.get("selected_slices"),
        "unlearning_error": result.info.get("unlearning_error"),
        "verification_error": verification.get(
            "verification_error", result.info.get("verification_error")
        ),
        "verification_error_without_update": verification.get("verification_error_without_update"),
        "verification_error_per_layer": verification.get("verification_error_per_layer"),
        "privacy_risk": risk,
        "relearn_time": relearn_time,
        "sequence": None,  # the steps of a sequence of requests (run/sequential.py)
        "method_info": {k: v for k, v in result.info.items() if k not in _TOP_LEVEL_INFO},
        "checkpoints": {
            "original_sha256": checkpoint_meta.get("sha256"),
            "unlearned_sha256": None,  # filled in when the run folder is written
        },
        "recipe": trained.recipe.to_dict(),
        "recipe_recorded": checkpoint_meta.get("recipe_recorded", True),
        "data_source": data.source,
        "versions": {
            "unlearn_core": unlearn_core.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    }
    if progress:
        progress(1.0, "done")
    return RunRecord(report, result.model, retrained)


_TOP_LEVEL_INFO = ("selected_slices", "unlearning_error", "verification_error")


def _gaps(metrics: dict) -> dict | None:
    """unlearned minus retrained for each headline metric (None without the oracle)."""
    unlearned, retrained = metrics["unlearned"], metrics["retrained"]
    if retrained is None:
        return None
    return {
        key: (unlearned[key] - retrained[key])
        if unlearned[key] is not None and retrained[key] is not None
        else None
        for key in GAP_KEYS
    }
