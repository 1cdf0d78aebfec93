"""A local Ray instance the engine starts ends with the process that started it (marked `ray`;
CI runs them). Each test runs its owner in a subprocess with a Ray temp folder of its own, and
kills only that instance's processes: an owner killed with SIGKILL leaves none of them behind
(Ray's agents outlived it, ignoring SIGTERM), and a raylet killed under a sweep ends the
command in seconds with one line of ours and exit status 2 (it took 15 s and 46 lines of
Ray's log, exit 1)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from ray_session import session_pids, title

pytest.importorskip("ray")
pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parent.parent

OWNER = """
import ray, time
from unlearn_core.engine.executors import RayExecutor
RayExecutor(workers=1)
print(ray._private.worker._global_node.get_session_dir_path(), flush=True)
time.sleep(600)
"""


@pytest.fixture
def ray_tmp():
    """A Ray temp folder of this test's own (short: Ray's socket paths must fit 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="ur", dir="/tmp") as folder:
        yield folder


def _wait_for(ready, what: str, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < end, f"{what} did not happen within {timeout} s"
        time.sleep(0.2)


def test_an_owner_killed_leaves_no_ray_process_behind(ray_tmp):
    env = {**os.environ, "RAY_TMPDIR": ray_tmp, "PYTHONPATH": str(ROOT)}
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    try:
        session = owner.stdout.readline().strip()
        assert session.startswith(ray_tmp), "the owner did not start Ray"
        agents = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")

        def agents_up() -> bool:
            return all(a in [title(p) for p in session_pids(session)] for a in agents)

        _wait_for(agents_up, "the agents' start", 60)
    finally:
        owner.kill()
        owner.wait()
    killed = time.monotonic()
    _wait_for(lambda: not session_pids(session), "the end of every Ray process", 20)
    print(f"no Ray process left {time.monotonic() - killed:.1f} s after the owner's kill -9")


def _raylet(ray_tmp: str) -> int | None:
    """The pid of the raylet whose sockets are in ray_tmp (ours, not another user's)."""
    for entry in Path("/proc").iterdir():
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if args[0].endswith(b"/raylet") and any(ray_tmp.encode() in a for a in args):
            return int(entry.name)
    return None


def test_a_killed_raylet_ends_a_sweep_with_one_line(ray_tmp, tmp_path):
    from conftest import DEMO_CHECKPOINT

    command = [sys.executable, "-m", "unlearn_core", "sweep", "--checkpoint", DEMO_CHECKPOINT]
    command += ["--methods", "finetune", "--seeds", "0", "--set", "finetune.epochs=500"]
    command += ["--forget-classes", "3", "--executor", "ray", "--workers", "1"]
    command += ["--out", tmp_path / "out", "--store", tmp_path / "store"]
    env = {**os.environ, "RAY_TMPDIR": ray_tmp, "PYTHONPATH": str(ROOT)}
    sweep = subprocess.Popen(
        [str(c) for c in command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    lines = []
    try:
        while "running" not in (line := sweep.stderr.readline()):
            assert line, f"the sweep ended before its job ran: {lines}"
            lines.append(line)
        os.kill(_raylet(ray_tmp), signal.SIGKILL)
        killed = time.monotonic()
        out, err = sweep.communicate(timeout=60)
    finally:
        sweep.kill()
    ended = time.monotonic() - killed
    print(f"the sweep ended {ended:.1f} s after the raylet's kill -9")
    assert sweep.returncode == 2 and out == ""
    assert err.splitlines() == [err.splitlines()[-1]], "more than our one line after the kill"
    assert err.startswith("error: Ray's local node died") and ended < 15
    _wait_for(lambda: not session_pids(ray_tmp), "the end of every Ray process", 20)
