"""The base of every job spec: a frozen dataclass of plain data that names its kind, so a job
record's `spec` dict says which registered kind (engine/kinds) reads it back."""

from __future__ import annotations

import dataclasses
from typing import ClassVar


class Spec:
    """Mixed into a job kind's frozen dataclass. `to_dict` adds "kind": KIND; `from_dict` takes
    back the fields it knows (the kind and any key a later version added are left out).

    A kind's spec also says, for the job manager and the jobs panel: `validate()` (one
    UserError line for anything a worker would trip over), `title()` (the panel's line),
    `label()` (the middle of its job id), `command()` (the command line that does the same,
    or None) and `same_job(values)` (whether a job record's spec dict is this job again)."""

    KIND: ClassVar[str]

    def to_dict(self) -> dict:
        return {"kind": self.KIND, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, values: dict):
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def command(self) -> str | None:
        """No command line spells this kind (an audit of the app, an embedding)."""
        return None

    def same_job(self, values: dict) -> bool:
        """Whether `values` (a job record's spec of this kind) asks for this job again."""
        return self.to_dict() == values
