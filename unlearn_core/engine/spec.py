"""A job: the serialisable spec of one run, and its check before anything is queued.

A spec and an `unlearn` command line are two spellings of one thing: `JobSpec.command()` is
the command, and the CLI builds specs from the same options. Validation runs at submit time, in
the submitting process, so a bad spec is one line there and never reaches a worker.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from unlearn_core.errors import UserError

MAX_THREADS = 256


@dataclass(frozen=True)
class JobSpec:
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
    threads: int = 1  # torch threads: bitwise reproducibility holds at a fixed thread count
    reproducible: bool = False  # --reproducible: CUDA determinism, and the ISA where pinned
    sweep_id: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> JobSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise UserError(
                f"unknown job field {unknown[0]!r}; fields: {', '.join(sorted(names))}."
            )
        return cls(**values)

    def command(self) -> str:
        """The `unlearn` command that makes the same run in the foreground."""
        from unlearn_core.cli.commands import unlearn_command

        names = (
            *("overrides", "oracle", "oracle_convention", "seed", "relearn", "privacy_risk"),
            *("reproducible", "threads", "dataset", "data_root", "arch"),
        )
        flags = {k: getattr(self, k) for k in names}
        return unlearn_command(self.checkpoint, self.method, self.forget, **flags)


def validate(spec: JobSpec):
    """Check everything a worker would trip over: the method and its settings, the request
    kind, the checkpoint file and hash, the data set and the forget request. Returns the loaded
    data set (ImageDataset) for the caller to reuse. UserError with one line otherwise."""
    from unlearn_core.checkpoint import checkpoint_dataset, sha256_file
    from unlearn_core.data import load_dataset
    from unlearn_core.methods import check_request, get_method, parse_config
    from unlearn_core.request import ForgetRequest
    from unlearn_core.training import check_convention

    check_convention(spec.oracle_convention)
    method = get_method(spec.method)
    parse_config(method.config_cls, spec.overrides)
    if not isinstance(spec.seed, int) or not 0 <= spec.seed < 2**63:
        raise UserError(f"seed {spec.seed!r} must be a whole number in [0, 2**63).")
    if not 1 <= spec.threads <= MAX_THREADS:
        raise UserError(f"threads must be between 1 and {MAX_THREADS}, not {spec.threads}.")
    path = Path(spec.checkpoint)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist; check the path.")
    if sha256_file(path) != spec.checkpoint_sha256:
        raise UserError(f"checkpoint {path} changed since the job was made (sha256 differs).")
    data = load_dataset(spec.dataset or checkpoint_dataset(path) or "demo", spec.data_root)
    request = ForgetRequest.from_dict(data, spec.forget)
    check_request(method, request)
    return data
