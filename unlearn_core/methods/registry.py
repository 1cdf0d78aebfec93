"""The method registry (timm's pattern): `@register(name, Config, card)` writes into METHODS."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from torch import nn

from unlearn_core.errors import UserError


@dataclass
class UnlearnResult:
    """What a method returns: the new model (CPU, eval mode) and method-specific report fields."""

    model: nn.Module
    info: dict = field(default_factory=dict)  # e.g. selected_slices, solver, notes


@dataclass(frozen=True)
class MethodSpec:
    name: str
    config_cls: type
    run: Callable[..., UnlearnResult]
    card: str  # one paragraph: what data it needs, what it changes, where it comes from
    requests: tuple[str, ...] = ("classes", "samples")  # kinds it accepts; others: UserError

    @property
    def summary(self) -> str:
        return self.card.split(". ")[0].rstrip(".") + "."


METHODS: dict[str, MethodSpec] = {}
OWNERS: dict[str, str] = {}  # method name -> who registered it (BUILTIN or "plug-in NAME")
BUILTIN = "unlearn_core"
_registering: contextvars.ContextVar[str | None] = contextvars.ContextVar("owner", default=None)


@contextlib.contextmanager
def registering_as(owner: str):
    """Within the block, `register` credits every method to `owner` (an entry point's name, as
    "plug-in NAME", or BUILTIN): identity comes from who is being loaded, never from the
    function's own __module__ or __qualname__, which any code can set."""
    token = _registering.set(owner)
    try:
        yield
    finally:
        _registering.reset(token)


def register(name: str, config_cls: type, card: str, requests=("classes", "samples")):
    """Decorator: register `fn` as method `name`. A name registered by another owner (a
    plug-in shadowing a built-in, or another plug-in) is refused, so no method is ever replaced.
    A method's result is checked (check_result); a plug-in's failure, even SystemExit, becomes
    one UserError line naming it."""

    def wrap(fn):
        owner = _registering.get() or f"the module {fn.__module__}"
        known = OWNERS.get(name)
        if known is not None and known != owner:
            raise UserError(f"method {name!r} is already registered by {known}.")
        run = _guarded(name, fn, contain=owner != BUILTIN)
        METHODS[name] = MethodSpec(name, config_cls, run, " ".join(card.split()), tuple(requests))
        OWNERS[name] = owner
        return fn

    return wrap


def unregister_owner(owner: str) -> None:
    """Remove every method `owner` registered (a plug-in that failed half-way)."""
    for name in [n for n, o in OWNERS.items() if o == owner]:
        METHODS.pop(name, None)
        OWNERS.pop(name, None)


def _guarded(name: str, fn: Callable[..., UnlearnResult], contain: bool):
    """`fn` with its return value checked; for a plug-in (contain=True), also any exception but
    UserError and KeyboardInterrupt (SystemExit included) turned into one UserError line."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            result = fn(*args, **kwargs)
        except (UserError, KeyboardInterrupt):
            raise
        except BaseException as err:
            if not contain:
                raise
            raise UserError(f"method {name!r} failed: {one_line(err)}") from None
        return check_result(name, result)

    return run


def one_line(err: BaseException) -> str:
    """`Type: first line of the message` of an exception (the type alone when it says nothing)."""
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0][:200]}" if text else type(err).__name__


def check_result(name: str, result) -> UnlearnResult:
    """`result` if it is an UnlearnResult holding a model and a dict; UserError otherwise."""
    if not isinstance(result, UnlearnResult):
        raise UserError(f"method {name!r} returned {type(result).__name__}, not an UnlearnResult.")
    if not isinstance(result.model, nn.Module) or not isinstance(result.info, dict):
        raise UserError(f"method {name!r} returned no model (or info that is not a dict).")
    return result


# run once, the first time something needs more than the built-in methods (methods/__init__.py
# adds the plug-ins' loader): a command that names a built-in method, or none, never waits for
# a plug-in's import
PENDING_LOADERS: list[Callable[[], object]] = []


def all_methods() -> dict[str, MethodSpec]:
    """Every method, plug-ins included (loading them on first use)."""
    while PENDING_LOADERS:
        PENDING_LOADERS.pop()()
    return METHODS


def method_names() -> list[str]:
    return list(all_methods())


def get_method(name: str) -> MethodSpec:
    if name not in METHODS:  # a plug-in's, perhaps: a plug-in never shadows a built-in name
        all_methods()
    if name not in METHODS:
        raise UserError(f"unknown method {name!r}; known: {', '.join(METHODS)}.")
    return METHODS[name]


def _convert(text: str, kind, key: str):
    try:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        return kind(text)
    except ValueError:
        raise UserError(f"--set {key}={text}: expected a {kind.__name__}.") from None


def check_request(spec: MethodSpec, request) -> None:
    """The one check of a request's kind against what the method accepts (spec.requests):
    UserError with one line naming the kinds it takes. Methods do not check again."""
    if request.kind not in spec.requests:
        flag = {"classes": "--forget-classes", "samples": "--forget-indices"}
        takes = " or ".join(f"{kind} ({flag.get(kind, kind)})" for kind in spec.requests)
        raise UserError(f"{spec.name} takes a {takes} request, not {request.kind}.")


def setting(default, text: str, choices: tuple[str, ...] | None = None):
    """A method config field: its default, its help text and, for a word setting, the words it
    takes (shown by the app's settings form, `field_help` and `field_choices`), i.e.
    dataclasses.field(default=default, metadata={"help": text, "choices": choices})."""
    return field(default=default, metadata={"help": text, "choices": choices})


def field_help(config_cls: type) -> dict[str, str]:
    """field name -> its help text (dataclasses.field metadata "help"; "" where none)."""
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(config_cls)}


def field_choices(config_cls: type) -> dict[str, tuple[str, ...]]:
    """field name -> the words a word setting takes, for the fields that name them."""
    fields = dataclasses.fields(config_cls)
    return {f.name: f.metadata["choices"] for f in fields if f.metadata.get("choices")}


def setting_ranges(config_cls: type) -> dict[str, tuple[float, float, str]]:
    """field name -> (lowest, highest, why) of the numeric settings a config checks: its RANGES,
    and OPTIMISER_RANGES for the SGD methods' settings."""
    ranges = dict(getattr(config_cls, "RANGES", {}))
    if issubclass(config_cls, SgdSettings):
        ranges = {**OPTIMISER_RANGES, **ranges}
    names = {f.name for f in dataclasses.fields(config_cls)}
    return {name: bounds for name, bounds in ranges.items() if name in names}


def check_optimiser_settings(config) -> None:
    """UserError unless every learning rate (a field named lr or ending in _lr) is > 0, every
    epochs/batch_size field is >= 1 and momentum is in [0, 1): the settings the SGD loops divide
    by or step with, checked before a run starts rather than failing inside torch."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if (f.name == "lr" or f.name.endswith("_lr")) and not value > 0:
            raise UserError(f"{f.name} must be > 0, not {value}.")
        if f.name in ("epochs", "batch_size") and value < 1:
            raise UserError(f"{f.name} must be >= 1, not {value}.")
        if f.name == "momentum" and not 0 <= value < 1:
            raise UserError(f"momentum must be in [0, 1), not {value}.")


# setting -> (lowest, highest, why): the ranges every SGD loop's settings may take, for
# check_ranges; a config lacking a setting skips it
OPTIMISER_RANGES = {
    "epochs": (1, 1000, "each epoch is a pass over the data; more costs many retrains"),
    "batch_size": (1, 65_536, "a batch is held in memory at once"),
    "lr": (1e-12, 10.0, "larger steps diverge at the first batch"),
    "noise_lr": (1e-12, 10.0, "larger steps diverge at the first batch"),
    "impair_lr": (1e-12, 10.0, "larger steps diverge at the first batch"),
    "repair_lr": (1e-12, 10.0, "larger steps diverge at the first batch"),
    "momentum": (0.0, 0.999, "momentum 1 or more never forgets a step"),
}


def check_ranges(config, ranges: dict[str, tuple[float, float, str]]) -> None:
    """UserError unless each numeric setting named in `ranges` that `config` has lies in
    [lowest, highest] (NaN never does); the message gives the range and why it exists."""
    for name, (low, high, why) in ranges.items():
        if not hasattr(config, name):
            continue
        value = getattr(config, name)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not low <= value <= high:
            raise UserError(f"{name} must lie in [{low:g}, {high:g}] ({why}), not {value!r}.")


@dataclass(frozen=True)
class SgdSettings:
    """Base of the configs of methods that take SGD steps: a config is checked when it is made
    (OPTIMISER_RANGES and the class's own RANGES, then check_optimiser_settings), so a bad
    setting is one line before any work."""

    RANGES: ClassVar[dict[str, tuple[float, float, str]]] = {}

    def __post_init__(self):
        check_ranges(self, {**OPTIMISER_RANGES, **self.RANGES})  # first: its lines say why
        check_optimiser_settings(self)


@dataclass(frozen=True)
class SgdConfig(SgdSettings):
    """The settings of a method that runs SGD over a data set; a method redeclares the fields
    whose default or meaning differ (the declaration order stays this one)."""

    epochs: int = setting(1, "passes over the method's training set")
    lr: float = setting(0.01, "SGD learning rate")
    batch_size: int = setting(64, "samples per SGD step")
    momentum: float = setting(0.9, "SGD momentum")


def parse_config(config_cls: type, overrides: dict[str, str] | None = None):
    """A config dataclass from `key=value` strings (the `--set` options), typed by its fields."""
    overrides = overrides or {}
    hints = typing.get_type_hints(config_cls)
    fields = {f.name for f in dataclasses.fields(config_cls)}
    unknown = [k for k in overrides if k not in fields]
    if unknown:
        known = ", ".join(sorted(fields)) or "none"
        raise UserError(f"unknown setting {unknown[0]!r} for this method; settings: {known}.")
    values = {}
    for key, text in overrides.items():
        kind = hints[key]
        kind = next((a for a in typing.get_args(kind) if a is not type(None)), kind)
        values[key] = text if not isinstance(text, str) else _convert(text, kind, key)
    try:
        return config_cls(**values)
    except (TypeError, ValueError) as err:
        raise UserError(f"invalid settings: {err}") from None
