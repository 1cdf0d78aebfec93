"""The Ray engine under faults (marked `ray`; CI runs them): kill -9 of the progress actor, of a
job's worker and of a shared oracle's worker mid-sweep on a local instance. Every job ends done
or failed, with one line, within a bound; the progress board comes back; a rerun works."""

from __future__ import annotations

import dataclasses
import os
import signal
import time

import pytest
from ray_session import session_pids, title

from unlearn_core.checkpoint import save_checkpoint, sha256_file
from unlearn_core.engine.executors import RayExecutor
from unlearn_core.engine.jobs import JobManager
from unlearn_core.engine.runner import load_inputs
from unlearn_core.engine.state import FINAL

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

BOUND_S = 90  # every job ends within this after the kills (they take seconds on 2 busy cores)


@pytest.fixture
def executor():
    executor = RayExecutor(workers=2)
    yield executor
    ray.shutdown()


def _ray_processes(executor: RayExecutor, name: str) -> list[int]:
    """Our instance's processes whose title starts with ray::NAME (not another user's Ray)."""
    pids = session_pids(ray._private.worker._global_node.get_session_dir_path())
    return [pid for pid in pids if title(pid).startswith(f"ray::{name}")]


def _poll_until(manager: JobManager, ready, what: str, timeout: float = 120) -> float:
    """Poll until ready() is true; -> the monotonic time it became true."""
    end = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < end, f"{what} did not happen within {timeout} s"
        manager.poll()
        time.sleep(0.1)
    return time.monotonic()


def _ended(manager: JobManager, ids: list[str]) -> bool:
    return all(manager.board.get(i).state in FINAL for i in ids)


def test_killed_progress_actor_and_worker_leave_the_other_jobs_going(spec, tmp_path, executor):
    manager = JobManager(tmp_path, executor)
    long = dataclasses.replace(spec, overrides={"epochs": "6"})
    inputs = load_inputs(long)
    ids = [manager.submit(dataclasses.replace(long, seed=s), inputs).id for s in range(3)]
    _poll_until(manager, lambda: len(_ray_processes(executor, "run_job")) == 2, "two jobs run")
    _poll_until(manager, lambda: executor.progress(), "a progress report")
    (actor,) = _ray_processes(executor, "ProgressBoard")
    victim = _ray_processes(executor, "run_job")[0]
    before = executor.progress()
    os.kill(actor, signal.SIGKILL)
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    failed_at, advanced = [], []

    def ended() -> bool:
        board = executor.progress()  # the restarted actor's: the jobs write to it again
        advanced.extend(j for j, (f, _) in board.items() if f > before.get(j, (0.0, ""))[0])
        if not failed_at and any(manager.board.get(i).state == "failed" for i in ids):
            failed_at.append(time.monotonic())
        return _ended(manager, ids)

    end = _poll_until(manager, ended, "every job's end", BOUND_S)
    print(
        f"the killed job failed {failed_at[0] - killed:.1f} s and all {len(ids)} jobs ended "
        f"{end - killed:.1f} s after the kills"
    )
    jobs = [manager.board.get(i) for i in ids]
    assert sorted(j.state for j in jobs) == ["done", "done", "failed"]
    (failed,) = [j for j in jobs if j.state == "failed"]
    assert "worker running the job died" in failed.error and "\n" not in failed.error
    assert advanced, "no job's progress reached the board after the actor's kill"
    rerun = manager.submit(dataclasses.replace(spec, seed=7), inputs).id
    _poll_until(manager, lambda: _ended(manager, [rerun]), "the rerun's end")
    assert manager.board.get(rerun).state == "done"


@pytest.fixture
def slow_oracle_checkpoint(tiny_trained, tmp_path):
    """The tiny checkpoint with a recipe of 6 epochs: its oracle retrain takes seconds."""
    recipe = dataclasses.replace(tiny_trained.recipe, epochs=6)
    path = tmp_path / "slow-oracle.safetensors"
    save_checkpoint(dataclasses.replace(tiny_trained, recipe=recipe), path)
    return path


def test_a_killed_oracle_fails_its_jobs_in_one_line_and_a_rerun_retrains_it(
    spec, slow_oracle_checkpoint, tmp_path, executor
):
    manager = JobManager(tmp_path, executor)
    base = dataclasses.replace(
        spec,
        checkpoint=str(slow_oracle_checkpoint),
        checkpoint_sha256=sha256_file(slow_oracle_checkpoint),
        oracle=True,
    )
    inputs = load_inputs(base)
    ids = [manager.submit(dataclasses.replace(base, seed=s), inputs).id for s in range(2)]
    _poll_until(manager, lambda: _ray_processes(executor, "run_oracle"), "the oracle's start")
    for pid in _ray_processes(executor, "run_oracle"):
        os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    ended = _poll_until(manager, lambda: _ended(manager, ids), "every job's end", BOUND_S)
    print(f"both jobs ended {ended - killed:.1f} s after the kill")
    for job in (manager.board.get(i) for i in ids):
        assert job.state == "failed" and "died" in job.error and "\n" not in job.error
    rerun = manager.submit(dataclasses.replace(base, seed=5), inputs).id
    _poll_until(manager, lambda: _ended(manager, [rerun]), "the rerun's end")
    assert manager.board.get(rerun).state == "done", manager.board.get(rerun).error
