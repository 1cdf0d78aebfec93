"""Retrain: the oracle every other method is measured against."""

from __future__ import annotations

from dataclasses import dataclass

from unlearn_core.data import ImageDataset
from unlearn_core.methods.registry import UnlearnResult, register, setting
from unlearn_core.request import ForgetRequest
from unlearn_core.training import CONVENTIONS, TrainedModel, check_convention, retrain_without


@dataclass(frozen=True)
class RetrainConfig:
    """Retraining replays the model's own recipe; its one setting is how a batch that lost
    samples is divided (training.py's conventions)."""

    convention: str = setting(
        "standard",
        'a batch that lost samples: "standard" takes the mean over what it kept (retraining '
        'as usually meant); "replay" keeps the nominal batch size b (Unrolling SGD, Eq. 4)',
        choices=CONVENTIONS,
    )

    def __post_init__(self):
        check_convention(self.convention)


@register(
    "retrain",
    RetrainConfig,
    """Retrain from scratch: replays the model's recorded recipe (same w_0, same seeded data
    order, same optimiser) on the retain set only, each batch losing its forgotten samples and
    taking the mean loss over those it kept (convention=replay keeps the nominal divisor b).
    Needs the whole retain set and the recipe; changes every weight. This is the gold standard
    (exact unlearning) and the slowest method: every other method is judged by its distance to
    this model. For a checkpoint without a recorded w_0, w_0 is re-drawn from the recipe's seed.""",
)
def unlearn(
    model: TrainedModel,
    request: ForgetRequest,
    data: ImageDataset,
    config: RetrainConfig,
    *,
    seed: int = 0,
    progress=None,
) -> UnlearnResult:
    """The recipe fixes w_0 and the data order: `seed` is accepted, as by every method, and
    draws nothing."""
    removed = request.outside_retain(data.train_y.numel())  # in a sequence: earlier steps too
    retrained = retrain_without(
        model, data, removed, convention=config.convention, progress=progress
    )
    notes = [] if model.w0 is not None else ["w_0 not recorded: re-initialised from recipe seed"]
    return UnlearnResult(retrained, {"notes": notes})
