"""Unlearning methods: one registry, one signature.

Every method is `unlearn(model, request, data, config, *, seed=0, progress=None) -> UnlearnResult`,
with `model` a TrainedModel (the trained weights and their recipe), which it never mutates: it
works on `model.copy_model()`; every random draw comes from `seed` (randomness.as_generator),
none from the global torch RNG. Request kinds are checked once, by `check_request`.

Importing this package registers every method: each module of this package (a new file is
found without being listed anywhere; CONTRIBUTING.md, "Add a method"), then the plug-ins that
installed distributions declare under the entry-point group `unlearn_core.methods`. A plug-in
that fails to import is kept in PLUGIN_ERRORS with its one-line error and never breaks the rest.
"""

import importlib
import pkgutil
from importlib.metadata import entry_points

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

ENTRY_POINT_GROUP = "unlearn_core.methods"
PLUGIN_ERRORS: dict[str, str] = {}  # entry-point name -> why it could not be loaded


def _register_builtin() -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.name != "registry":
            importlib.import_module(f"{__name__}.{module.name}")


def load_plugins() -> dict[str, str]:
    """Import every `unlearn_core.methods` entry point (its module registers its methods);
    returns PLUGIN_ERRORS."""
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name in PLUGIN_ERRORS:
            continue
        try:
            point.load()
        except Exception as err:  # noqa: BLE001  (a broken plug-in is listed, never fatal)
            line = str(err).strip().splitlines()[0] if str(err).strip() else ""
            PLUGIN_ERRORS[point.name] = f"{type(err).__name__}: {line}".rstrip(": ")
    return PLUGIN_ERRORS


_register_builtin()
load_plugins()

__all__ = [
    "ENTRY_POINT_GROUP",
    "METHODS",
    "PLUGIN_ERRORS",
    "MethodSpec",
    "UnlearnResult",
    "check_request",
    "field_help",
    "get_method",
    "load_plugins",
    "method_names",
    "parse_config",
    "register",
    "setting",
]
