"""The base of a task spec (engine/tasks.py): a job that is not a run, such as a privacy audit
or a large embedding, kept and sent as a plain dict that names its kind."""

from __future__ import annotations

import dataclasses
from typing import ClassVar


class TaskSpec:
    """Mixed into a task's frozen dataclass: `to_dict` adds "kind": KIND, `from_dict` takes
    back the fields it knows (the kind and any key a later version added are left out)."""

    KIND: ClassVar[str]

    def to_dict(self) -> dict:
        return {"kind": self.KIND, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, values: dict):
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})
