"""None: the control that shows what "did not forget" looks like in every view."""

from __future__ import annotations

from dataclasses import dataclass

from unlearn_core.data import ImageDataset
from unlearn_core.methods.registry import UnlearnResult, register
from unlearn_core.request import ForgetRequest
from unlearn_core.training import TrainedModel


@dataclass(frozen=True)
class NoneConfig:
    """Doing nothing has no settings."""


@register(
    "none",
    NoneConfig,
    """Do nothing: returns a copy of the original model, weights unchanged. Needs no data and
    changes nothing. It is the control every evaluation needs: a test of forgetting that this
    method passes cannot tell forgetting from remembering (say "inconclusive", not "forgotten").""",
)
def unlearn(
    model: TrainedModel,
    request: ForgetRequest,
    data: ImageDataset,
    config: NoneConfig,
    *,
    seed: int = 0,
    progress=None,
) -> UnlearnResult:
    if progress:
        progress(1.0, "nothing to do")
    return UnlearnResult(model.copy_model().eval(), {"notes": ["the control: weights unchanged"]})
