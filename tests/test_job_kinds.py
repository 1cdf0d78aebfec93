"""Job kinds (engine/kinds): CONTRIBUTING.md's "Add a job kind" is true, a throw-away kind added
by exactly its steps is submitted, run on both executors, listed and stored; and job files that
the code before the registry wrote still open, each as its own kind."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
from conftest import ROOT

from unlearn_core.cli.sweep import run_jobs
from unlearn_core.engine.executors import InlineExecutor
from unlearn_core.engine.jobs import JobManager
from unlearn_core.engine.kinds import registry
from unlearn_core.engine.kinds.registry import JobKind, opens_runs, spec_from_dict, title_of
from unlearn_core.engine.state import JobBoard
from unlearn_core.errors import UserError
from unlearn_core.files import write_bytes_atomic
from unlearn_core.privacy.spec import AuditSpec
from unlearn_core.run.embedding_job import EmbeddingSpec
from unlearn_core.specs.base import Spec
from unlearn_core.specs.run import RunSpec


# Step 1: the spec, plain data that validates, titles and labels itself.
@dataclass(frozen=True)
class CountSpec(Spec):
    KIND: ClassVar[str] = "count"

    upto: int

    def validate(self) -> None:
        if not 1 <= self.upto <= 100:
            raise UserError(f"count up to 1..100, not {self.upto}.")

    def title(self) -> str:
        return f"**count** to {self.upto}"

    def label(self) -> str:
        return f"count-{self.upto}"


@dataclass(frozen=True)
class CountResult:
    numbers: list
    seconds: float


# Step 2: the kind, which runs it (in a worker) and stores what it made (in the owner).
class CountKind(JobKind):
    spec = CountSpec

    def run(self, spec: CountSpec, inputs: tuple, progress) -> CountResult:
        for i in range(spec.upto):
            progress((i + 1) / spec.upto, f"{i + 1} of {spec.upto}")
        return CountResult(list(range(1, spec.upto + 1)), 0.01)

    def store(self, spec: CountSpec, root, result: CountResult, job, node) -> str:
        write_bytes_atomic(
            Path(root) / "counts" / f"{job.id}.json", json.dumps(result.numbers).encode()
        )
        return job.id


@pytest.fixture
def count_kind(monkeypatch):
    """Step 3, registered with the package's decorator, for this test only."""
    monkeypatch.setattr(registry, "KINDS", dict(registry.KINDS))
    registry.register_kind(CountKind)


def submit_run_and_list(manager: JobManager, root: Path, capsys) -> str:
    """Submit a count to 3, wait for it; check what it stored and how it is listed."""
    job = manager.submit(CountSpec(3))
    (ended,) = manager.wait([job.id])
    assert ended.state == "done", ended.error
    assert ended.result_id == job.id and ended.progress == 1.0
    assert json.loads((root / "counts" / f"{job.id}.json").read_text()) == [1, 2, 3]
    run_jobs(argparse.Namespace(action="list", job_id=None, store=str(root)))
    assert capsys.readouterr().out.split() == [job.id, "done", "100%", job.id]
    assert title_of(ended.spec) == "**count** to 3"  # the jobs panel's line (ui.jobs.job_title)
    assert isinstance(spec_from_dict(ended.spec), CountSpec)  # what "Submit again" queues
    return job.id


def test_a_new_kind_runs_inline_is_listed_and_stored(count_kind, tmp_path, capsys):
    manager = JobManager(tmp_path, InlineExecutor())
    assert "count-3" in submit_run_and_list(manager, tmp_path, capsys)
    with pytest.raises(UserError, match="1..100"):
        manager.submit(CountSpec(0))  # its own check, before anything is queued
    assert len(manager.board.list()) == 1


@pytest.mark.ray
def test_a_new_kind_runs_on_ray(count_kind, tmp_path, capsys):
    ray = pytest.importorskip("ray")
    from unlearn_core.engine.executors import RayExecutor

    # a kind outside the package is not importable in Ray's workers: it travels by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    executor = RayExecutor(workers=1)
    try:
        submit_run_and_list(JobManager(tmp_path, executor), tmp_path, capsys)
    finally:
        executor.close()


def test_the_panel_and_the_pages_reach_kinds_through_the_registry(count_kind):
    values = CountSpec(3).to_dict()
    assert values == {"kind": "count", "upto": 3}
    assert not opens_runs(values)  # the Unlearn page opens runs only
    assert title_of({"kind": "gone", "x": 1}) == "**gone** job"  # a kind since removed
    with pytest.raises(UserError, match="unknown job kind 'gone'; kinds: count, embedding"):
        spec_from_dict({"kind": "gone"})


OLD_JOBS = ROOT / "tests" / "fixtures" / "jobs_written_by_main"


def test_job_files_written_before_the_registry_still_open(tmp_path):
    """Job files as main wrote them (a run's spec names no kind) list, title and parse."""
    shutil.copytree(OLD_JOBS, tmp_path / "jobs")
    jobs = {job.id.split("-")[3]: job for job in JobBoard(tmp_path).list()}
    assert set(jobs) == {"finetune", "privacy", "embedding"}
    specs = {k: spec_from_dict(job.spec) for k, job in jobs.items()}
    kinds = {"finetune": RunSpec, "privacy": AuditSpec, "embedding": EmbeddingSpec}
    assert {k: type(spec) for k, spec in specs.items()} == kinds
    titles = {k: title_of(job.spec) for k, job in jobs.items()}
    assert titles == {
        "finetune": "**finetune** seed 2",
        "privacy": "**privacy audit of unsir**, 6 models",
        "embedding": "**umap embedding**, 400 images per group",
    }
    assert {k: opens_runs(job.spec) for k, job in jobs.items()} == {
        "finetune": True,
        "privacy": False,
        "embedding": False,
    }
    assert [jobs[k].stored() for k in ("finetune", "embedding")] == ["run-x", "k" * 20]
    run = specs["finetune"]
    assert run.sweep_id == "sweep-20261207-170000-abcdef" and run.overrides == {"epochs": "1"}
    assert spec_from_dict(run.to_dict()) == run  # written again, now with its kind
