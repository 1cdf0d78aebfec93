"""Unlearning methods: one registry, one signature.

Every method is `unlearn(model, request, data, config, *, seed=0, progress=None) -> UnlearnResult`,
with `model` a TrainedModel (the trained weights and their recipe), which it never mutates: it
works on `model.copy_model()`; every random draw comes from `seed` (randomness.as_generator),
none from the global torch RNG. Request kinds are checked once, by `check_request`. Importing
this package registers every method module listed below.
"""

from unlearn_core.methods import (  # noqa: F401  (importing registers them)
    finetune,
    lfoci,
    neggrad,
    neggrad_plus,
    random_label,
    retrain,
    single_gradient,
    unsir,
)
from unlearn_core.methods.registry import (
    METHODS,
    MethodSpec,
    UnlearnResult,
    check_request,
    field_help,
    get_method,
    method_names,
    parse_config,
    register,
    setting,
)

__all__ = [
    "METHODS",
    "MethodSpec",
    "UnlearnResult",
    "check_request",
    "field_help",
    "get_method",
    "method_names",
    "parse_config",
    "register",
    "setting",
]
