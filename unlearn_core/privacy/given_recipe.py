"""The training recipe an auditor gives for a checkpoint that records none (`privacy-audit
--recipe FILE.json`, or the Privacy page's recipe fields): the audit trains its N models by it.

A recipe is a flat JSON object with the keys `train` records: dataset, arch, epochs, lr,
batch_size, weight_decay, optimizer, seed (and optionally Recipe's other fields). The five
that define training (REQUIRED) must be given: a silent default would audit against models
trained some other way than the one handed over.
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path

from unlearn_core.errors import UserError
from unlearn_core.files import parse_json_bounded, read_regular
from unlearn_core.training import Recipe

MAX_RECIPE_BYTES = 64 * 1024  # a recipe is a dozen keys
REQUIRED = ("epochs", "lr", "batch_size", "weight_decay", "optimizer")
OPTIONAL = tuple(f.name for f in fields(Recipe) if f.name not in REQUIRED)  # seed, momentum, ...
NAMES = ("dataset", "arch")  # where the checkpoint records neither
INTEGERS = ("epochs", "batch_size", "seed")


def read_recipe_file(path: str | Path) -> dict:
    """The checked recipe in the JSON file at `path` (see check_given_recipe); UserError, one
    line naming the file by its name, for anything else."""
    name = Path(path).name
    payload = read_regular(path, MAX_RECIPE_BYTES, f"recipe file {name}")
    return check_given_recipe(parse_json_bounded(payload, f"recipe file {name}"), name)


def check_given_recipe(values, source: str = "the recipe") -> dict:
    """`values` as a recipe dict: its dataset and arch (where given) and every field of Recipe,
    the ones not given at their defaults. UserError naming `source` for an unknown or missing
    key, a wrong type, a value out of range (checkpoint.RECIPE_RANGES) or NaN."""
    from unlearn_core.checkpoint import check_recipe

    if not isinstance(values, dict):
        raise UserError(f"{source} must be a JSON object of recipe settings, not {values!r:.40}.")
    unknown = sorted(set(values) - {*REQUIRED, *OPTIONAL, *NAMES})
    if unknown:
        allowed = ", ".join((*NAMES, *REQUIRED, *OPTIONAL))
        raise UserError(f"{source}: unknown key {unknown[0]!r}; the keys are {allowed}.")
    missing = [key for key in REQUIRED if key not in values]
    if missing:
        raise UserError(f"{source} lacks {', '.join(missing)}: how the model was trained.")
    for key, value in values.items():
        _check_type(key, value, source)
    settings = {k: int(v) if k in INTEGERS else v for k, v in values.items() if k not in NAMES}
    recipe = check_recipe(Recipe.from_dict(settings), source)
    return {**{k: values[k] for k in NAMES if k in values}, **recipe.to_dict()}


def _check_type(key: str, value, source: str) -> None:
    if key in NAMES or key == "optimizer":
        if not isinstance(value, str) or not value:
            raise UserError(f"{source}: {key} must be a name, not {value!r:.40}.")
        return
    integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or (key in INTEGERS and not integral)
    ):
        kind = "a whole number" if key in INTEGERS else "a finite number"
        raise UserError(f"{source}: {key} must be {kind}, not {value!r:.40}.")
