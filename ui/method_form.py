"""Streamlit glue: a settings form for any registered method, built from its config dataclass.

Each field becomes a widget by its type (bool: checkbox, int and float: number input, anything
else: text), starts at the dataclass default (the paper's value) and takes its help text from the
field's metadata (`dataclasses.field(metadata={"help": ...})`, read by the registry's
`field_help`). What the user changed comes back as `key=value` strings, the command line's
`--set` options, for `unlearn_core.methods.parse_config` to type and validate.
"""

from __future__ import annotations

import dataclasses
import typing

import streamlit as st

from unlearn_core.cli.commands import unlearn_command
from unlearn_core.methods import MethodSpec, field_help


def _kind(hint) -> type:
    """int for `int` and `int | None` alike."""
    return next((a for a in typing.get_args(hint) if a is not type(None)), hint)


def setting_inputs(spec: MethodSpec, key_prefix: str) -> dict[str, object]:
    """Draw one widget per config field of `spec`, three to a row (call inside an st.form), and
    return the values, field name -> value. Number inputs refuse negatives where the default is
    not negative: no setting of a registered method is a negative number."""
    hints = typing.get_type_hints(spec.config_cls)
    helps = field_help(spec.config_cls)
    values = {}
    fields = dataclasses.fields(spec.config_cls)
    if not fields:
        st.caption("This method has no settings.")
    columns = st.columns(3) if fields else []
    for i, field in enumerate(fields):
        kind, default = _kind(hints[field.name]), field.default
        column = columns[i % 3]
        key, help_text = f"{key_prefix}_{field.name}", helps.get(field.name) or None
        if kind is bool:
            values[field.name] = column.checkbox(field.name, value=default, key=key, help=help_text)
        elif kind in (int, float) and default is not None:
            floor = None if default < 0 else kind(0)
            # a step a tenth of the default moves 1e-4 tolerances as usefully as 0.9 momenta
            step = 1 if kind is int else (abs(default) / 10 or 0.01)
            values[field.name] = column.number_input(
                field.name,
                value=kind(default),
                min_value=floor,
                step=step,
                format=None if kind is int else "%g",
                key=key,
                help=help_text,
            )
        else:
            text = "" if default is None else str(default)
            values[field.name] = column.text_input(field.name, value=text, key=key, help=help_text)
    return values


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def changed_settings(spec: MethodSpec, values: dict[str, object]) -> dict[str, str]:
    """The values that differ from the dataclass defaults, as `--set` strings."""
    defaults = {f.name: f.default for f in dataclasses.fields(spec.config_cls)}
    return {
        name: _text(value)
        for name, value in values.items()
        if _text(value) != ("" if defaults[name] is None else _text(defaults[name]))
    }


def cli_command(
    checkpoint: str, method: str, forget: dict, overrides: dict[str, str], oracle: bool, seed: int
) -> str:
    """The `python -m unlearn_core unlearn` command that makes the same run (DESIGN.md)."""
    return unlearn_command(
        checkpoint, method, forget, overrides=overrides, oracle=oracle, seed=seed
    )
