"""Data loss (issue 12): the unlearn command is SIGKILLed at each step of writing a run, then
started again; and --out never replaces a folder holding the user's files nor writes into the
run store. A hook (a sitecustomize on PYTHONPATH) replaces unlearn_core.run.store.reached so the
real `python -m unlearn_core unlearn` stops at the named step and the test kills it there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT

from unlearn_core.cli.main import main
from unlearn_core.run.integrity import verify_run
from unlearn_core.run.store import RunStore

HOOK = """
import os, time
_step = os.environ.get("UNLEARN_TEST_KILL_AT")
if _step:
    import unlearn_core.run.store as _store

    def reached(name):
        if name == _step:
            open(os.environ["UNLEARN_TEST_KILL_MARK"], "w").close()
            time.sleep(600)

    _store.reached = reached
"""


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A logistic regression on scikit-learn's digits: unlearning it takes a second."""
    path = tmp_path_factory.mktemp("crash") / "digits.safetensors"
    argv = ["train", "--dataset", "digits", "--arch", "logreg", "--epochs", "1"]
    assert main([*argv, "--out", str(path)]) == 0
    return path


def unlearn_argv(checkpoint: Path, out: Path, store: Path, *extra: str) -> list[str]:
    return [
        "unlearn",
        "--checkpoint",
        str(checkpoint),
        "--method",
        "none",
        "--forget-indices",
        "1,2",
        "--store",
        str(store),
        "--out",
        str(out),
        *extra,
    ]


def killed_at(step: str, argv: list[str], tmp_path: Path) -> None:
    """Run `python -m unlearn_core ARGV` and SIGKILL it when it reaches `step`."""
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOOK)
    mark = tmp_path / f"reached-{step}"
    env = {
        **os.environ,
        "PYTHONPATH": f"{hook}{os.pathsep}{ROOT}",
        "UNLEARN_TEST_KILL_AT": step,
        "UNLEARN_TEST_KILL_MARK": str(mark),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "unlearn_core", *argv],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 180
    while not mark.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"never reached {step}: {proc.communicate()[1].decode()[-500:]}")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def next_start(checkpoint: Path, out: Path, store: Path) -> None:
    """Start the command again in a new process; it stops (an unknown index) after start-up."""
    argv = unlearn_argv(checkpoint, out, store, "--forget-indices", "99999")
    proc = subprocess.run(
        [sys.executable, "-m", "unlearn_core", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 2 and "out of range" in proc.stderr, proc.stderr


@pytest.mark.parametrize("step", ["written", "old-moved", "swapped"])
def test_a_kill_while_replacing_out_loses_nothing(checkpoint, tmp_path, step):
    out, store = tmp_path / "out", tmp_path / "store"
    assert main(unlearn_argv(checkpoint, out, store, "--no-store")) == 0
    before = (out / "report.json").read_bytes()
    killed_at(step, unlearn_argv(checkpoint, out, store, "--no-store", "--seed", "1"), tmp_path)
    assert hidden(tmp_path)  # the kill left a temporary or the old copy beside --out
    next_start(checkpoint, out, store)
    assert hidden(tmp_path) == []  # nothing left behind after the next start
    verify_run(out)  # a whole run: the old one restored, or the new one
    if step != "swapped":
        assert (out / "report.json").read_bytes() == before
    assert main(unlearn_argv(checkpoint, out, store, "--no-store")) == 0


def test_a_kill_while_storing_shows_no_half_run(checkpoint, tmp_path):
    out, store = tmp_path / "out", tmp_path / "store"
    killed_at("written", unlearn_argv(checkpoint, out, store), tmp_path)
    assert hidden(store)  # the hidden temporary of the half-written run
    assert RunStore(store).list() == []  # no half run shown
    next_start(checkpoint, out, store)
    assert RunStore(store).list() == [] and hidden(store) == []  # the leftover is gone
    assert not out.exists()


def test_out_holding_the_users_files_is_refused_untouched(checkpoint, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "report.json").write_text('{"mine": true}')
    (out / "thesis.tex").write_text("years of work")
    assert main(unlearn_argv(checkpoint, out, tmp_path / "store")) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert (out / "thesis.tex").read_text() == "years of work"
    assert (out / "report.json").read_text() == '{"mine": true}'
    assert not (tmp_path / "store").exists()  # refused before anything ran


def test_out_inside_the_run_store_is_refused(checkpoint, tmp_path, capsys):
    store = tmp_path / "store"
    assert main(unlearn_argv(checkpoint, tmp_path / "out", store)) == 0
    [row] = RunStore(store).list()
    stored = store / row["run_id"]
    before = {p.name: p.read_bytes() for p in stored.iterdir()}
    for out in (stored, store / "another"):
        assert main(unlearn_argv(checkpoint, out, store)) == 2
        assert "inside the run store" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in stored.iterdir()} == before
    assert [r["run_id"] for r in RunStore(store).list()] == [row["run_id"]]


@pytest.mark.parametrize(
    "out, fragment",
    [("file", "not a folder"), ("file/below", "not a folder"), ("/proc/x/run", "cannot write")],
)
def test_out_that_cannot_hold_a_run_is_one_line(checkpoint, tmp_path, capsys, out, fragment):
    (tmp_path / "file").write_text("keep")
    target = Path(out) if out.startswith("/") else tmp_path / out
    assert main(unlearn_argv(checkpoint, target, tmp_path / "store")) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "\n" not in err
    assert (tmp_path / "file").read_text() == "keep"


def test_ctrl_c_mid_run_ends_at_once_and_writes_nothing(tmp_path):
    """The command line runs its job on the inline executor's thread: Ctrl-C still ends it in
    seconds (the job stops at its next progress step), with exit 130 and no --out folder."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "unlearn_core", "unlearn", "--checkpoint"]
    command += [str(ROOT / "assets/models/demo_smallcnn.safetensors"), "--method", "retrain"]
    command += ["--forget-classes", "3", "--no-store", "--out", str(out)]
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as in a terminal
    )
    seen, deadline = "", time.monotonic() + 120
    while "epoch 2/" not in seen and time.monotonic() < deadline:  # mid-run, not at start-up
        seen += os.read(proc.stderr.fileno(), 4096).decode()  # progress ends lines with \r
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and time.monotonic() - sent < 30
    assert err.strip().splitlines()[-1] == "error: interrupted; nothing was written."
    assert not out.exists()
