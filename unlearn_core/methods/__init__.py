"""Unlearning methods: one registry, one signature.

Every method is `unlearn(model, request, data, config, *, seed=0, progress=None) -> UnlearnResult`,
with `model` a TrainedModel (the trained weights and their recipe), which it never mutates: it
works on `model.copy_model()`; every random draw comes from `seed` (randomness.as_generator),
none from the global torch RNG. Request kinds are checked once, by `check_request`.

Importing this package registers every built-in method: each module of this package (a new file
is found without being listed anywhere; CONTRIBUTING.md, "Add a method"). The plug-ins that
installed distributions declare under the entry-point group `unlearn_core.methods` are imported
the first time something needs them (all_methods, method_names, or get_method of a name no
built-in has), so a slow or broken plug-in costs nothing to a command that does not. A plug-in
that fails to import is kept in PLUGIN_ERRORS with its one-line error and never breaks the rest;
one slow to import is named in PLUGIN_WARNINGS, which the command line prints.
"""

import importlib
import pkgutil
import time
from importlib.metadata import entry_points

from unlearn_core.methods.registry import (
    BUILTIN,
    METHODS,
    PENDING_LOADERS,
    MethodSpec,
    UnlearnResult,
    all_methods,
    check_request,
    field_help,
    get_method,
    method_names,
    one_line,
    parse_config,
    register,
    registering_as,
    setting,
    unregister_owner,
)

ENTRY_POINT_GROUP = "unlearn_core.methods"
PLUGIN_ERRORS: dict[str, str] = {}  # entry-point name -> why it could not be loaded
PLUGIN_WARNINGS: dict[str, str] = {}  # entry-point name -> a note (a slow import)
LOADED: set[str] = set()  # entry points imported once already
SLOW_PLUGIN_SECONDS = 5.0


def _register_builtin() -> None:
    with registering_as(BUILTIN):
        for module in pkgutil.iter_modules(__path__):
            if module.name != "registry":
                importlib.import_module(f"{__name__}.{module.name}")


def load_plugins() -> dict[str, str]:
    """Import every `unlearn_core.methods` entry point (its module registers its methods, each
    credited to the entry point); returns PLUGIN_ERRORS. A plug-in that fails, with any
    exception or SystemExit, registers nothing and is named with its error; one slower than
    SLOW_PLUGIN_SECONDS to import is named in PLUGIN_WARNINGS (every command waits for it)."""
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name in PLUGIN_ERRORS or point.name in LOADED:
            continue
        owner, start = f"plug-in {point.name}", time.perf_counter()
        try:
            with registering_as(owner):
                point.load()
            LOADED.add(point.name)
        except KeyboardInterrupt:
            unregister_owner(owner)
            raise
        except BaseException as err:  # noqa: BLE001  (a broken plug-in is listed, never fatal)
            unregister_owner(owner)
            PLUGIN_ERRORS[point.name] = one_line(err)
        seconds = time.perf_counter() - start
        if seconds > SLOW_PLUGIN_SECONDS:
            PLUGIN_WARNINGS[point.name] = f"took {seconds:.1f} s to import; every command waits"
    return PLUGIN_ERRORS


_register_builtin()
PENDING_LOADERS.append(load_plugins)

__all__ = [
    "ENTRY_POINT_GROUP",
    "METHODS",
    "PLUGIN_ERRORS",
    "PLUGIN_WARNINGS",
    "MethodSpec",
    "UnlearnResult",
    "all_methods",
    "check_request",
    "field_help",
    "get_method",
    "load_plugins",
    "method_names",
    "parse_config",
    "register",
    "setting",
]
