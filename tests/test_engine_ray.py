"""The job engine on Ray (marked `ray`; CI runs them): a two-node cluster on this machine gives
the inline executor's weights bit for bit, a worker killed mid-job fails the job and stores
nothing, a cancelled job stops within seconds, and an owner killed mid-job leaves the job
interrupted with no half run."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time

import pytest

from unlearn_core.checkpoint import sha256_file
from unlearn_core.engine.executors import InlineExecutor, RayExecutor
from unlearn_core.engine.jobs import JobManager
from unlearn_core.engine.runner import load_inputs
from unlearn_core.engine.state import JobBoard
from unlearn_core.engine.sweep import new_sweep_id, run_sweep, split_overrides, sweep_specs
from unlearn_core.run.store import RunStore

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray


@pytest.fixture
def local_ray():
    yield
    ray.shutdown()


def _sweep(executor, spec, tmp_path, name):
    base = dataclasses.replace(spec, oracle=True, sweep_id=new_sweep_id())
    inputs = load_inputs(base)
    methods = ["finetune", "random-label"]
    overrides = split_overrides([(f"{m}.epochs", "1") for m in methods], methods)
    specs, _ = sweep_specs(base, overrides, [0, 1])
    manager = JobManager(tmp_path / name, executor)
    sweep = run_sweep(manager, specs, inputs, tmp_path / f"{name}-out")
    store = RunStore(tmp_path / name)
    hashes = {
        (j["method"], j["seed"]): store.open(j["run_id"]).checkpoints.unlearned_sha256
        for j in sweep["jobs"]
    }
    return sweep, hashes


def test_a_two_node_cluster_runs_on_both_nodes_and_matches_inline(spec, tmp_path, monkeypatch):
    from ray._private import ray_constants
    from ray.cluster_utils import Cluster

    # two nodes on 127.0.0.1: keep every Ray process on loopback (executors._stay_on_loopback)
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
    node = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "object_store_memory": 200 * 2**20}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    try:
        cluster.add_node(**node)
        cluster.wait_for_nodes()
        on_ray, ray_hashes = _sweep(RayExecutor(cluster.address), spec, tmp_path, "ray")
        ray.shutdown()
    finally:
        cluster.shutdown()
    inline, inline_hashes = _sweep(InlineExecutor(), spec, tmp_path, "inline")
    assert all(j["state"] == "done" for j in on_ray["jobs"] + inline["jobs"])
    assert len(on_ray["nodes"]) == 2, "every job ran on one node"
    assert ray_hashes == inline_hashes and len(set(ray_hashes.values())) == 4


def _wait_running(manager: JobManager, job_id: str, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while (job := manager.board.get(job_id)).state != "running":
        assert job.state in ("queued",), f"the job ended {job.state}: {job.error}"
        assert time.monotonic() < end, "the job never started"
        manager.poll()
        time.sleep(0.1)


def test_a_worker_killed_mid_job_fails_the_job_and_stores_nothing(spec, tmp_path, local_ray):
    manager = JobManager(tmp_path, RayExecutor(workers=2))
    long = dataclasses.replace(spec, overrides={"epochs": "500"})
    job = manager.submit(long, load_inputs(long))  # shared: the workers load nothing
    _wait_running(manager, job.id)
    pids = subprocess.run(["pgrep", "-f", "ray::run_job"], capture_output=True, text=True)
    assert pids.stdout.split(), "no worker runs the job"
    for pid in pids.stdout.split():
        os.kill(int(pid), signal.SIGKILL)
    (ended,) = manager.wait([job.id])
    assert ended.state == "failed" and "died" in ended.error and "\n" not in ended.error
    assert RunStore(tmp_path).list() == []


def test_a_cancelled_ray_job_stops_within_seconds(spec, tmp_path, local_ray):
    manager = JobManager(tmp_path, RayExecutor(workers=2))
    long = dataclasses.replace(spec, overrides={"epochs": "500"})
    job = manager.submit(long, load_inputs(long))  # shared: the workers load nothing
    _wait_running(manager, job.id)
    asked = time.perf_counter()
    JobBoard(tmp_path).request_cancel(job.id)
    (ended,) = manager.wait([job.id])
    assert ended.state == "cancelled" and time.perf_counter() - asked < 10
    assert RunStore(tmp_path).list() == []


OWNER = """
import sys, time
from unlearn_core.engine.jobs import JobManager
from unlearn_core.specs.run import RunSpec
manager = JobManager(sys.argv[1])
spec = RunSpec(checkpoint=sys.argv[2], checkpoint_sha256=sys.argv[3], method="finetune",
               forget={"classes": [3]}, overrides={"epochs": "500"})
job = manager.submit(spec)
print(job.id, flush=True)
manager.wait([job.id])
"""


def test_an_owner_killed_mid_job_leaves_it_interrupted_and_no_half_run(tmp_path):
    from conftest import DEMO_CHECKPOINT, ROOT

    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}"}
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            OWNER,
            str(tmp_path),
            str(DEMO_CHECKPOINT),
            sha256_file(DEMO_CHECKPOINT),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    job_id = owner.stdout.readline().strip()
    board = JobBoard(tmp_path)
    end = time.monotonic() + 120
    while board.get(job_id).state != "running":
        assert time.monotonic() < end and owner.poll() is None
        time.sleep(0.2)
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    assert board.get(job_id).state == "interrupted"
    assert RunStore(tmp_path).list() == []
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
