"""Job kinds: one module per kind, registered with `@register_kind` (registry.py). Importing
this package registers every kind in it: each module of the package is imported, so a new kind
is one file here (CONTRIBUTING.md, "Add a job kind")."""

import importlib
import pkgutil

from unlearn_core.engine.kinds.registry import (
    KINDS,
    JobKind,
    Launch,
    get_kind,
    kind_of,
    opens_runs,
    register_kind,
    same_job,
    spec_from_dict,
    title_of,
)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "registry":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "KINDS",
    "JobKind",
    "Launch",
    "get_kind",
    "kind_of",
    "opens_runs",
    "register_kind",
    "same_job",
    "spec_from_dict",
    "title_of",
]
