"""A job past its timeout (JobManager(timeout_s=...), $UNLEARN_JOB_TIMEOUT_S) is cancelled and
failed in one line that says what the executor knows of it (issue 26: a stall is never silent
again): on Ray, a job that never got a worker says what is free; a running one gives its last
phase and its worker's last log lines. A job that ends in time is untouched."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import ClassVar

import pytest

from unlearn_core.engine.executors import InlineExecutor
from unlearn_core.engine.jobs import JobManager
from unlearn_core.engine.kinds import registry
from unlearn_core.engine.kinds.registry import JobKind
from unlearn_core.specs.base import Spec


@dataclass(frozen=True)
class NapSpec(Spec):
    KIND: ClassVar[str] = "nap"

    seconds: float

    def validate(self) -> None:
        pass

    def title(self) -> str:
        return f"nap {self.seconds} s"

    def label(self) -> str:
        return "nap"


@dataclass(frozen=True)
class NapResult:
    seconds: float


class NapKind(JobKind):
    spec = NapSpec

    def run(self, spec: NapSpec, inputs: tuple, progress) -> NapResult:
        print("nap: falling asleep", file=sys.stderr, flush=True)  # the worker's log
        end = time.monotonic() + spec.seconds
        while time.monotonic() < end:
            progress(0.5, "napping")
            time.sleep(0.1)
        return NapResult(spec.seconds)

    def store(self, spec, root, result, job, node) -> str:
        return job.id


@pytest.fixture
def nap_kind(monkeypatch):
    monkeypatch.setattr(registry, "KINDS", dict(registry.KINDS))
    registry.register_kind(NapKind)


def test_inline_a_job_past_its_timeout_fails_with_its_phase(nap_kind, tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARN_JOB_TIMEOUT_S", "1.5")
    manager = JobManager(tmp_path, InlineExecutor())
    quick, slow = manager.submit(NapSpec(0.2)), manager.submit(NapSpec(30))
    ended = {j.id: j for j in manager.wait([quick.id, slow.id])}
    assert ended[quick.id].state == "done"
    error = ended[slow.id].error
    assert ended[slow.id].state == "failed" and "\n" not in error
    assert "no end 1.5 s after its launch (UNLEARN_JOB_TIMEOUT_S)" in error
    assert "its last phase, in this process: napping (50%)" in error


@pytest.mark.ray
def test_on_ray_the_failure_says_never_placed_or_what_the_worker_logged(nap_kind, tmp_path):
    ray = pytest.importorskip("ray")
    from unlearn_core.engine.executors import RayExecutor

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    executor = RayExecutor(workers=1)  # one CPU: the second job waits for the first
    try:
        manager = JobManager(tmp_path, executor, timeout_s=20)
        running, waiting = manager.submit(NapSpec(120)), manager.submit(NapSpec(120))
        start = time.monotonic()
        ended = {j.id: j for j in manager.wait([running.id, waiting.id])}
        assert time.monotonic() - start < 90  # both failed at the timeout, not after the nap
    finally:
        executor.close()
    assert {j.state for j in ended.values()} == {"failed"}
    placed = ended[running.id].error
    assert "its last phase: napping (50%)" in placed and "nap: falling asleep" in placed
    assert "it never started on a worker: Ray could not place it" in ended[waiting.id].error
    # it waited at the head of the warm workers' queue (the report reads it before dispatching)
    assert "0 calls ahead of it in the worker pool" in ended[waiting.id].error
