"""The registry of job kinds, the one place that tells kinds apart (timm's registry, as for
methods): `@register_kind` on a JobKind subclass writes it into KINDS under its spec's KIND.
The job manager, both executors, the jobs panel, "submit again" and the pages reach a kind only
through these functions, never by its type or its name.

A job is two things: its spec (unlearn_core/specs/base.py: plain data that validates itself,
titles itself and spells its command line) and its kind (here: how the engine launches, runs
and stores it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from unlearn_core.errors import UserError
from unlearn_core.specs.run import RUN_KIND


@dataclass(frozen=True)
class Launch:
    """What the manager hands an executor to start a job: `inputs`, the worker's arguments
    (a Ray object ref among them arrives fetched), and what the job takes of a node."""

    inputs: tuple = ()
    cpus: int = 1  # CPUs to reserve (a task waiting on its children hands them back meanwhile)
    memory: int | None = None  # bytes at its peak; None: not declared
    gpu: bool = False  # takes the executor's share of a GPU where there is one
    oracle: object = None  # a shared oracle the job waits on: dropped when the job fails
    fans_out: bool = False  # it spreads its work over the cluster (executor.fan_out) and waits


class JobKind:
    """A registered job kind. `spec` is its spec class (specs.base.Spec); `record_field` the
    job record's field that names what `store` kept; `opens_runs`: its results are runs (the
    Unlearn page opens them and shows its failures)."""

    spec: ClassVar[type]
    record_field: ClassVar[str] = "result_id"
    opens_runs: ClassVar[bool] = False

    def launch(self, spec, cache, executor, job_id: str) -> Launch:
        """Load or share what the worker needs (cache: the manager's engine.runner.SharedCache,
        executor: the one that will run it). Default: nothing, one CPU."""
        return Launch()

    def run(self, spec, inputs: tuple, progress):
        """Compute, store nothing; the result has `.seconds`. `progress(fraction, phase)` may
        raise to stop the job (its cancel). Runs in a worker: on Ray, in another process."""
        raise NotImplementedError

    def store(self, spec, root, result, job, node) -> str:
        """Keep `result` in the run store at `root` (in the owner's process, once the job has
        succeeded); -> the id the job record names under `record_field`."""
        raise NotImplementedError


KINDS: dict[str, JobKind] = {}


def register_kind(cls: type[JobKind]) -> type[JobKind]:
    """Class decorator: register one instance of `cls` under its spec's KIND."""
    KINDS[cls.spec.KIND] = cls()
    return cls


def get_kind(name: str) -> JobKind:
    if name not in KINDS:
        raise UserError(f"unknown job kind {name!r}; kinds: {', '.join(sorted(KINDS))}.")
    return KINDS[name]


def kind_of(spec) -> JobKind:
    """The kind that launches, runs and stores `spec`."""
    return get_kind(spec.KIND)


def _kind_name(values: dict) -> str:
    """A job record's spec names its kind; one written before kinds existed is a run's."""
    return values.get("kind", RUN_KIND)


def spec_from_dict(values: dict):
    """The spec a job record's `spec` dict holds, of whatever kind (UserError if unknown)."""
    return get_kind(_kind_name(values)).spec.from_dict(values)


def title_of(values: dict) -> str:
    """The jobs panel's title of a job record's spec (markdown); its kind's name when the
    spec no longer reads (a kind since removed, a field since renamed)."""
    try:
        return spec_from_dict(values).title()
    except (UserError, TypeError):
        return f"**{_kind_name(values)}** job"


def same_job(values: dict, spec) -> bool:
    """Whether a job record's spec asks for what `spec` asks (its kind's `same_job`): a page
    follows the jobs that will make the result it shows."""
    return _kind_name(values) == spec.KIND and spec.same_job(values)


def opens_runs(values: dict) -> bool:
    """Whether a job record's kind makes runs (unknown kinds: no)."""
    kind = KINDS.get(_kind_name(values))
    return bool(kind and kind.opens_runs)
