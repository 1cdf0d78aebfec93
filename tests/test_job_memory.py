"""Jobs declare the memory they need (memory.job_bytes) and Ray schedules them within it: two
jobs that together need more than the node has run one after the other even with a CPU free
for each, and a job larger than any node fails at once in one line instead of waiting for
ever. The Ray tests are marked `ray` (CI runs them)."""

from __future__ import annotations

import dataclasses
import time

import pytest

from unlearn_core.data import load_dataset
from unlearn_core.engine.jobs import JobManager
from unlearn_core.engine.runner import load_inputs
from unlearn_core.engine.state import FINAL


def test_the_estimate_grows_with_the_model_the_data_and_the_batch(tiny):
    from unlearn_core.run.memory import WORKER_BASE, job_bytes

    demo = load_dataset("demo")
    small = job_bytes("logreg", tiny, 10**4, 32)
    assert WORKER_BASE < small < job_bytes("logreg", demo, 10**4, 32)  # more data
    assert small < job_bytes("logreg", tiny, 10**7, 32)  # a larger model
    assert job_bytes("smallcnn", tiny, 10**4, 32) < job_bytes("smallcnn", tiny, 10**4, 4096)


@pytest.fixture
def ray_executor():
    ray = pytest.importorskip("ray")
    from unlearn_core.engine.executors import RayExecutor

    yield RayExecutor(workers=2)
    ray.shutdown()


def _largest_node() -> int:
    """The most memory for jobs (Ray's `memory` resource) on one node of the instance."""
    import ray

    return int(max(n["Resources"].get("memory", 0) for n in ray.nodes() if n["Alive"]))


def _run_all(manager: JobManager, ids: list[str], timeout: float = 180) -> int:
    """Poll until the jobs end; -> the most of them seen running at once."""
    most, end = 0, time.monotonic() + timeout
    while not all(manager.board.get(i).state in FINAL for i in ids):
        assert time.monotonic() < end, "the jobs did not end"
        manager.poll()
        most = max(most, sum(manager.board.get(i).state == "running" for i in ids))
        time.sleep(0.1)
    return most


@pytest.mark.ray
def test_jobs_that_do_not_fit_together_run_one_after_the_other(
    spec, tmp_path, ray_executor, monkeypatch
):
    share = int(_largest_node() * 0.6)  # two of them do not fit one node
    monkeypatch.setattr("unlearn_core.engine.kinds.unlearn.job_memory", lambda *a: share)
    manager = JobManager(tmp_path, ray_executor)
    inputs = load_inputs(spec)
    long = dataclasses.replace(spec, overrides={"epochs": "3"})
    ids = [manager.submit(dataclasses.replace(long, seed=s), inputs).id for s in range(2)]
    assert _run_all(manager, ids) == 1
    assert [manager.board.get(i).state for i in ids] == ["done", "done"]


@pytest.mark.ray
def test_a_job_larger_than_any_node_fails_at_once_in_one_line(
    spec, tmp_path, ray_executor, monkeypatch
):
    huge = _largest_node() + 2**30
    monkeypatch.setattr("unlearn_core.engine.kinds.unlearn.job_memory", lambda *a: huge)
    manager = JobManager(tmp_path, ray_executor)
    job = manager.submit(spec, load_inputs(spec))
    manager.poll()
    failed = manager.board.get(job.id)
    assert failed.state == "failed" and "\n" not in failed.error
    assert f"about {huge >> 20} MiB" in failed.error and "largest Ray node" in failed.error
