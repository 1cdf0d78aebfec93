"""Streamlit glue: a settings form for any registered method, built from its config dataclass.

Each field becomes a widget by its type (bool: checkbox, a word setting with named words: a
choice, int and float: number input, anything else: text), starts at the dataclass default (the
paper's value) and takes its help text from the field's metadata (`setting(default, help,
choices)` in the registry), ending with the setting's range and why. What the user changed comes
back as `key=value` strings, the command line's `--set` options, for
`unlearn_core.methods.parse_config` to type and validate.
"""

from __future__ import annotations

import dataclasses
import typing

import streamlit as st

from unlearn_core.methods import MethodSpec, field_help
from unlearn_core.methods.registry import field_choices, setting_ranges


def _kind(hint) -> type:
    """int for `int` and `int | None` alike."""
    return next((a for a in typing.get_args(hint) if a is not type(None)), hint)


def setting_inputs(spec: MethodSpec, key_prefix: str) -> dict[str, object]:
    """Draw one widget per config field of `spec`, three to a row (call inside an st.form), and
    return the values, field name -> value. Number inputs take any number: a value out of the
    setting's range is refused on Run with a line giving the range and why (the help text says
    so beforehand), rather than by a red field that leaves Run doing nothing. A word setting
    that names its words is a choice among them."""
    fields = dataclasses.fields(spec.config_cls)
    if not fields:
        st.caption("This method has no settings.")
        return {}
    hints = typing.get_type_hints(spec.config_cls)
    helps, choices = field_help(spec.config_cls), field_choices(spec.config_cls)
    ranges = setting_ranges(spec.config_cls)
    columns = st.columns(3)
    values = {}
    for i, field in enumerate(fields):
        kind, default, column = _kind(hints[field.name]), field.default, columns[i % 3]
        key, help_text = f"{key_prefix}_{field.name}", _help(helps, ranges, field.name)
        if kind is bool:
            values[field.name] = column.checkbox(field.name, value=default, key=key, help=help_text)
        elif field.name in choices:
            words = list(choices[field.name])
            values[field.name] = column.selectbox(
                field.name, words, index=words.index(default), key=key, help=help_text
            )
        elif kind in (int, float) and default is not None:
            # a step a tenth of the default moves 1e-4 tolerances as usefully as 0.9 momenta
            step = 1 if kind is int else (abs(default) / 10 or 0.01)
            values[field.name] = column.number_input(
                field.name,
                value=kind(default),
                step=step,
                format=None if kind is int else "%g",
                key=key,
                help=help_text,
            )
        else:
            text = "" if default is None else str(default)
            values[field.name] = column.text_input(field.name, value=text, key=key, help=help_text)
    return values


def _help(helps: dict, ranges: dict, name: str) -> str | None:
    """A field's help text, ending with its range and why, where it has one."""
    text = helps.get(name) or ""
    if name in ranges:
        low, high, why = ranges[name]
        text = f"{text}\n\nRange: {low:g} to {high:g} ({why})."
    return text.strip() or None


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


METHODS_KEY = "chosen_methods"  # kept while the widget is not drawn, and in the address
_WIDGET_KEY = "unlearn_methods"


def method_choice(usable: list[str]) -> list[str]:
    """The Unlearn page's choice of methods among `usable`. Streamlit drops a widget's value on
    a page that does not draw it; the choice is kept under METHODS_KEY (ui.session_url puts it
    in the address), so it survives another page and a reload."""
    if _WIDGET_KEY not in st.session_state:
        kept = st.session_state.get(METHODS_KEY, [])
        st.session_state[_WIDGET_KEY] = [m for m in kept if m in usable]
    chosen = st.multiselect(
        "Methods",
        usable,
        key=_WIDGET_KEY,
        help="Each chosen method runs on its own copy of the model; each run is stored.",
    )
    st.session_state[METHODS_KEY] = chosen
    return chosen
