"""A typed block of a JSON record that gives back exactly what it read.

`Block.from_dict(d)` has a field per known key (a key missing from an older record reads as
None); `to_dict()` writes every key of `d`, known or not, in `d`'s own order, and adds none, so
`Block.from_dict(d).to_dict() == d` key for key and value for value. privacy.json's blocks
(privacy/audit_result.py) and report.json's measured blocks (run/measured.py) are built on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeVar

T = TypeVar("T")


def plain(value):
    """A record's value as JSON-ready data: blocks through their to_dict, dicts value-wise,
    lists element-wise."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def optional(load: Callable[[Any], T]) -> Callable[[Any], T | None]:
    """`load` for a value that may be null (or missing): None stays None."""
    return lambda raw: None if raw is None else load(raw)


def rows(load: Callable[[Any], T]) -> Callable[[Any], list[T] | None]:
    """`load` for each element of a list that may be null (or missing): None stays None."""
    return optional(lambda raw: [load(r) for r in raw])


@dataclass(frozen=True, kw_only=True)
class Block:
    """Base of a record's blocks: a field per known key (_LOADERS: how to read one, called
    with None for a missing key); `keys` the record's keys in its order, `extra` the unknown
    ones. Build one with from_dict: `keys` decides what to_dict writes, so a block made from
    keyword arguments alone writes {}."""

    _LOADERS: ClassVar[dict[str, Callable[[Any], Any]]] = {}

    keys: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict | None):
        values = values if isinstance(values, dict) else {}
        names = [f.name for f in fields(cls) if f.name not in ("keys", "extra")]
        known = {n: cls._LOADERS.get(n, lambda raw: raw)(values.get(n)) for n in names}
        extra = {k: v for k, v in values.items() if k not in names}
        return cls(**known, keys=tuple(values), extra=extra)

    def to_dict(self) -> dict:
        return {k: self.extra[k] if k in self.extra else plain(getattr(self, k)) for k in self.keys}
