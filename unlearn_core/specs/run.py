"""An unlearning run as a job: the serialisable spec of one run, and its check before anything
is queued.

A spec and an `unlearn` command line are two spellings of one thing: `RunSpec.command()` is
the command, and the command line builds specs from the same options. Validation runs at submit
time, in the submitting process, so a bad spec is one line there and never reaches a worker.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from unlearn_core.errors import UserError
from unlearn_core.specs.base import Spec
from unlearn_core.specs.commands import unlearn_command

MAX_THREADS = 256
RUN_KIND = "unlearn"  # the kind of a job record whose spec names none (written before kinds)


@dataclass(frozen=True)
class RunSpec(Spec):
    KIND: ClassVar[str] = RUN_KIND

    checkpoint: str  # path of the original model's checkpoint
    checkpoint_sha256: str  # its sha256: a worker refuses a different file at that path
    method: str
    forget: dict  # {"classes": [...]} or {"indices": [...]} (request.to_dict's shape)
    seed: int = 0
    overrides: dict[str, str] = field(default_factory=dict)  # --set key=value
    oracle: bool = False
    oracle_convention: str = "standard"  # the oracle's batch normaliser (training.CONVENTIONS)
    dataset: str | None = None  # default: the one the checkpoint records
    data_root: str | None = None
    arch: str | None = None
    privacy_risk: bool = False
    relearn: bool = False
    relearn_samples: int = 500  # --relearn-samples (metrics.relearn.RelearnConfig's default)
    relearn_max_epochs: int = 50  # --relearn-max-epochs (RelearnConfig's default)
    then_classes: list[list[int]] = field(default_factory=list)  # further class requests
    threads: int = 1  # torch threads: bitwise reproducibility holds at a fixed thread count
    reproducible: bool = False  # --reproducible: CUDA determinism, and the ISA where pinned
    sweep_id: str | None = None

    @classmethod
    def from_dict(cls, values: dict) -> RunSpec:
        """Strict, unlike other kinds: a run's record must say exactly what ran."""
        names = {f.name for f in dataclasses.fields(cls)}
        given = {k: v for k, v in values.items() if k != "kind"}
        unknown = sorted(set(given) - names)
        if unknown:
            raise UserError(
                f"unknown job field {unknown[0]!r}; fields: {', '.join(sorted(names))}."
            )
        return cls(**given)

    def command(self) -> str:
        """The `unlearn` command that makes the same run in the foreground."""
        names = (
            *("overrides", "oracle", "oracle_convention", "seed", "relearn", "privacy_risk"),
            *("reproducible", "threads", "dataset", "data_root", "arch", "then_classes"),
        )
        flags = {k: getattr(self, k) for k in names}
        for name in ("relearn_samples", "relearn_max_epochs"):  # named where not the default
            if self.relearn and getattr(self, name) != RUN_DEFAULTS[name]:
                flags[name] = getattr(self, name)
        return unlearn_command(self.checkpoint, self.method, self.forget, **flags)

    def title(self) -> str:
        return f"**{self.method}** seed {self.seed}"

    def label(self) -> str:
        return self.method

    def validate(self):
        """Check everything a worker would trip over: the method and its settings, the request
        kind, the checkpoint file and hash, the data set and the forget request. Returns the
        loaded data set (ImageDataset) for the caller to reuse. UserError with one line
        otherwise."""
        from unlearn_core.checkpoint import checkpoint_dataset, sha256_file
        from unlearn_core.data import load_dataset
        from unlearn_core.methods import check_request, get_method, parse_config
        from unlearn_core.request import ForgetRequest
        from unlearn_core.training import check_convention

        check_convention(self.oracle_convention)
        method = get_method(self.method)
        parse_config(method.config_cls, self.overrides)
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise UserError(f"seed {self.seed!r} must be a whole number in [0, 2**63).")
        if not 1 <= self.threads <= MAX_THREADS:
            raise UserError(f"threads must be between 1 and {MAX_THREADS}, not {self.threads}.")
        path = Path(self.checkpoint)
        if not path.is_file():
            raise UserError(f"checkpoint {path} does not exist; check the path.")
        if sha256_file(path) != self.checkpoint_sha256:
            raise UserError(f"checkpoint {path} changed since the job was made (sha256 differs).")
        data = load_dataset(self.dataset or checkpoint_dataset(path) or "demo", self.data_root)
        request = ForgetRequest.from_dict(data, self.forget)
        check_request(method, request)
        return data


RUN_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunSpec)}
