"""Unlearning methods: one registry, one signature.

Every method is `unlearn(model, request, data, config, *, progress=None) -> UnlearnResult`, with
`model` a TrainedModel (the trained weights and their recipe), which it never mutates: it works on
`model.copy_model()`. Importing this package registers every method module listed below.
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
    get_method,
    method_names,
    parse_config,
    register,
)

__all__ = [
    "METHODS",
    "MethodSpec",
    "UnlearnResult",
    "get_method",
    "method_names",
    "parse_config",
    "register",
]
