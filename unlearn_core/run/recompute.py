"""What `audit --verify --reproduce` recomputes from a record's weights and the data set here,
and how a recorded number is compared with its recomputed twin (records/reproduce.py runs the
checks).

Every number a model gives is recomputed: each model's M block (accuracies, per-class
accuracies, membership AUC, forget loss), its prediction counts on the forget set, the
single-model membership attacks (with the run's seed, on the same samples), their flags and the
gaps to the retrained model. A recorded number that is missing, NaN, infinite or not a number is
a mismatch, never a pass (NaN compares false with everything, so `abs(got - want) > tol` would
let it through). Accuracies are counts over N: TOLERANCE (1e-6) is far below any 1/N; the other
numbers (losses, AUCs) are float sums and get LOOSE, relative.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from unlearn_core.data import ImageDataset
from unlearn_core.metrics.evaluate import evaluate
from unlearn_core.metrics.mia import membership_report, mia_flags
from unlearn_core.request import ForgetRequest
from unlearn_core.run.report import MODELS, ModelMetrics, PerModel, gaps_to_retrained

TOLERANCE = 1e-6  # absolute, on accuracies (counts over N)
LOOSE = 1e-4  # relative (and absolute near 0), on losses, AUCs and attack statistics
ACCURACIES = ("forget_acc", "retain_acc", "test_acc", "forgotten_classes_test_acc")


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _close_number(got, want, tol: float, relative: bool) -> bool:
    if not (_number(got) and _number(want)):
        return False
    if not (math.isfinite(got) and math.isfinite(want)):
        return False  # NaN and inf are mismatches, whatever the other side holds
    scale = max(1.0, abs(want)) if relative else 1.0
    return abs(got - want) <= tol * scale


def differences(got, want, path: str = "", tol: float = LOOSE, relative: bool = True) -> list[str]:
    """The dotted paths where `want` (recorded) is not `got` (recomputed): numbers within tol
    (NaN, inf, None or text in place of a number differ), text and booleans equal, dicts with
    the same keys, lists of the same length, element-wise."""
    here = path or "value"
    if isinstance(got, dict):
        if not isinstance(want, dict) or set(got) != set(want):
            return [here]
        return [
            d
            for k in got
            for d in differences(got[k], want[k], f"{path}.{k}".strip("."), tol, relative)
        ]
    if isinstance(got, list | tuple):
        if not isinstance(want, list | tuple) or len(got) != len(want):
            return [here]
        return [
            d
            for i, (a, b) in enumerate(zip(got, want, strict=True))
            for d in differences(a, b, f"{path}[{i}]", tol, relative)
        ]
    if _number(got):
        return [] if _close_number(got, want, tol, relative) else [here]
    return [] if type(got) is type(want) and got == want else [here]


def metrics_differences(got: dict, claimed: ModelMetrics | None) -> list[str]:
    """The keys of one model's recomputed M block (evaluate's, less forget_predictions) that
    report.json records otherwise: accuracies within TOLERANCE, the rest within LOOSE."""
    want = claimed.to_dict() if claimed is not None else {}
    wrong = []
    for key, value in got.items():
        exact = key in ACCURACIES or key == "per_class_acc"
        tol = TOLERANCE if exact else LOOSE
        if differences(value, want.get(key), key, tol, relative=not exact):
            wrong.append(key)
    return wrong


def same_weights(a: nn.Module | None, b: nn.Module | None) -> bool:
    """Whether two models hold bit-identical tensors under the same names."""
    if a is None or b is None:
        return False
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(
        sa[k].shape == sb[k].shape and sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k])
        for k in sa
    )


def recompute(
    models: PerModel[nn.Module], data: ImageDataset, request: ForgetRequest, seed: int
) -> dict:
    """The numbers the record's models give here: {"metrics": PerModel[ModelMetrics],
    "raw": {name: M dict}, "prediction_distribution": {name: [..]}, "mia": {name: A},
    "mia_flags": .., "gaps": dict | None}; a model that is absent (None) has None everywhere."""
    named = models.to_dict()
    raw = {k: evaluate(m, data, request) if m is not None else None for k, m in named.items()}
    predictions = {k: (m.pop("forget_predictions") if m else None) for k, m in raw.items()}
    metrics = PerModel.from_dict(raw, ModelMetrics.from_dict)
    mia = membership_report(named, data, request, seed=seed)
    gaps = gaps_to_retrained(metrics)
    return {
        "metrics": metrics,
        "raw": {k: raw[k] for k in MODELS},
        "prediction_distribution": predictions,
        "mia": mia,
        "mia_flags": mia_flags(mia),
        "gaps": gaps.to_dict() if gaps is not None else None,
    }
