"""Issue 28, finding 3: every read from a store, a record or the command line is bounded and
regular-file-only, so a link to /dev/zero, a FIFO, a JSON bomb or a huge architecture named in
a record ends in one line (exit 2), fast and in little memory."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from conftest import DEMO_CHECKPOINT

from unlearn_core.cli.main import main
from unlearn_core.engine.state import JobBoard, JobRecord
from unlearn_core.errors import UserError
from unlearn_core.files import parse_json_bounded, read_regular
from unlearn_core.run.store import RunStore

MiB = 2**20


@contextlib.contextmanager
def bounded(seconds: int = 20, megabytes: int = 300):
    """Fails the test when the block runs longer than `seconds` (a hang) or allocates more
    than `megabytes` at its peak (a blow-up)."""

    def hang(*_):
        raise TimeoutError(f"still running after {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
        assert peak < megabytes * MiB, f"peak {peak >> 20} MiB"
    finally:
        tracemalloc.stop()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def one_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    return lines[0]


@pytest.fixture
def jobs_folder() -> Path:
    board = JobBoard(RunStore().root)
    board.write(JobRecord(id="job-20260101-000000-finetune-aaaaaa", spec={"method": "finetune"}))
    return board.folder


HOSTILE_JOBS = {
    "zero": lambda p: p.symlink_to("/dev/zero"),
    "fifo": lambda p: os.mkfifo(p),
    "list": lambda p: p.write_text("[]"),
    "owner-string": lambda p: p.write_text('{"id": "x", "spec": {}, "owner": "me"}'),
    "owner-no-pid": lambda p: p.write_text('{"id": "x", "spec": {}, "owner": {"host": "h"}}'),
    "progress-string": lambda p: p.write_text(
        '{"id": "x", "spec": {}, "progress": "half", "owner": {"host": "h", "pid": 1}}'
    ),
    "progress-nan": lambda p: p.write_text(
        '{"id": "x", "spec": {}, "progress": NaN, "owner": {"host": "h", "pid": 1}}'
    ),
    "deep": lambda p: p.write_text("[" * 100_000 + "]" * 100_000),
}


@pytest.mark.parametrize("kind", HOSTILE_JOBS)
def test_a_hostile_job_file_is_skipped_and_the_others_listed(jobs_folder, kind, capsys):
    HOSTILE_JOBS[kind](jobs_folder / f"job-{kind}.json")
    with bounded(10, 50):
        assert main(["jobs"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["job-20260101-000000-finetune-aaaaaa"]


@pytest.mark.parametrize("kind", HOSTILE_JOBS)
def test_a_hostile_job_file_asked_for_by_id_is_one_line(jobs_folder, kind, capsys):
    HOSTILE_JOBS[kind](jobs_folder / f"job-{kind}.json")
    with bounded(10, 50):
        assert main(["jobs", "cancel", f"job-{kind}"]) == 2
    assert "job file job-" in one_error(capsys)


def test_a_5000_character_job_id_is_one_line(jobs_folder, capsys):
    assert main(["jobs", "cancel", "j" * 5000]) == 2
    assert one_error(capsys).startswith("error: no job 'jjjj")


def test_a_json_bomb_in_a_record_is_refused_in_little_memory(tmp_path, capsys):
    """A 100 MB report.json of `[{},…]` (a few MB zipped, gigabytes as Python objects)."""
    report = b"[" + b"{}," * (33 * 2**20) + b"{}]"
    sums = f"{hashlib.sha256(report).hexdigest()}  report.json\n".encode()
    record = tmp_path / "bomb.zip"
    with zipfile.ZipFile(record, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("report.json", report)
        zf.writestr("SHA256SUMS", sums)
    del report
    with bounded(30, 400):
        assert main(["audit", "--verify", str(record)]) == 2
    assert "(the cap)" in one_error(capsys)


def test_json_depth_and_containers_are_capped():
    with pytest.raises(UserError, match="nests deeper than 64 levels"):
        parse_json_bounded(b"[" * 65 + b"]" * 65, "x")
    with pytest.raises(UserError, match="over 10 JSON objects"):
        parse_json_bounded(b"[" + b"{}," * 10 + b"{}]", "x", max_containers=10)
    with pytest.raises(UserError, match="not valid JSON"):
        parse_json_bounded(b'{"a": NaN}', "x")
    assert parse_json_bounded(b"[" * 64 + b"]" * 64, "x") is not None


@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "folder"])
def test_read_regular_refuses_what_is_no_regular_file(tmp_path, target):
    path = tmp_path / "link"
    if target == "fifo":
        os.mkfifo(tmp_path / "fifo")
        target = tmp_path / "fifo"
    elif target == "folder":
        target = tmp_path
    path.symlink_to(target)
    with bounded(5, 20), pytest.raises(UserError, match="is not a regular file"):
        read_regular(path, 1024)
    big = tmp_path / "big"
    big.write_bytes(bytes(2048))
    with pytest.raises(UserError, match="over the cap of 1024 bytes"):
        read_regular(big, 1024)


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
@pytest.mark.parametrize(
    "command",
    [
        ["sweep", "--methods", "finetune", "--forget-classes", "3", "--seeds", "0"],
        ["privacy-audit", "--method", "finetune", "--forget-classes", "3", "--models", "2"],
    ],
)
def test_a_checkpoint_that_is_no_file_is_refused_before_hashing(tmp_path, capsys, target, command):
    if target == "fifo":
        os.mkfifo(tmp_path / "fifo")
        target = str(tmp_path / "fifo")
    out = tmp_path / "out"
    with bounded(20, 100):
        assert main([*command, "--checkpoint", target, "--out", str(out)]) == 2
    assert "error: " in one_error(capsys)
    assert not out.exists()


def test_a_record_naming_a_huge_architecture_is_refused_before_it_is_built(
    demo, tmp_path, monkeypatch
):
    """The weights are checked against the architecture on the meta device first."""
    from test_reproduce_forgeries import forge  # the forger's helper

    from unlearn_core.run import store

    record = tmp_path / "record.zip"
    _small_record(demo, tmp_path, record)
    built = []
    monkeypatch.setattr(store, "initial_model", lambda *a: built.append(a))

    def to_vit(files, report):
        report["arch"] = "vit_h_14"

    from unlearn_core.records.reproduce import verify_record

    forged = forge(record, tmp_path / "vit.zip", to_vit)
    with bounded(60, 300):
        checks = verify_record(forged, lambda name: demo)
    failed = next(c for c in checks if not c.passed)
    assert "does not fit this architecture" in failed.line and not built


def _small_record(demo, tmp_path: Path, target: Path) -> Path:
    from unlearn_core.request import ForgetRequest
    from unlearn_core.run.pipeline import unlearn_model
    from unlearn_core.run.store import write_run_folder
    from unlearn_core.training import Recipe, train
    from unlearn_core.views.audit_record import write_audit_record

    recipe = Recipe(lr=0.05, batch_size=64, epochs=1, seed=0, probe_every=0)
    trained = train("logreg", demo, recipe, device="cpu", probes=False)
    request = ForgetRequest.for_classes(demo, [3])
    run = unlearn_model(trained, {}, demo, request, "none")
    folder = write_run_folder(run, tmp_path / "run")
    return write_audit_record(folder, target)


def test_a_batch_size_that_cannot_fit_is_refused_before_training(tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    with bounded(60, 200):
        code = main(
            ["train", "--dataset", "demo", "--arch", "resnet18-cifar", "--epochs", "1",
             "--batch-size", "65536", "--out", str(out)]
        )  # fmt: skip
    assert code == 2
    line = one_error(capsys)
    assert "--batch-size 65536 needs about" in line and "use at most" in line
    assert not out.exists()


def test_the_record_json_readers_name_the_cap(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "report.json").symlink_to("/dev/zero")
    from unlearn_core.run.store import read_report_dict

    with pytest.raises(UserError, match="not a run folder"):
        read_report_dict(folder)
    (folder / "report.json").unlink()
    (folder / "report.json").write_text(json.dumps([{}] * 20))
    with pytest.raises(UserError, match="holds a list, not a report"):
        read_report_dict(folder)


@pytest.mark.parametrize(
    ("method", "setting"),
    [("salun", "batch_size=6000"), ("scrub", "forget_batch_size=6000")],
)
def test_a_methods_batch_that_cannot_fit_is_refused_before_it_runs(
    tmp_path, capsys, monkeypatch, method, setting
):
    """Issue 28: only `train --batch-size` was bounded by memory; a method's batch setting is
    too, in one line. A batch holds at most the 6000 demo images (about 4 GiB on the CNN):
    refused with 1 GiB free."""
    monkeypatch.setattr("unlearn_core.run.memory.memory_budget", lambda: 2**30)
    out = tmp_path / "run"
    with bounded(120, 300):
        code = main(
            ["unlearn", "--checkpoint", str(DEMO_CHECKPOINT), "--method", method,
             "--forget-classes", "3", "--set", setting, "--no-store", "--out", str(out)]
        )  # fmt: skip
    line = one_error(capsys)
    name = setting.split("=")[0]
    assert code == 2 and f"--set {name} 6000 needs about" in line and "use at most" in line
    assert not out.exists()


def test_an_audits_batch_that_cannot_fit_is_refused_at_submit(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("unlearn_core.run.memory.memory_budget", lambda: 2**30)
    with bounded(120, 300):
        code = main(
            ["privacy-audit", "--checkpoint", str(DEMO_CHECKPOINT), "--method", "salun",
             "--forget-classes", "3", "--set", "batch_size=6000", "--executor", "inline",
             "--store", str(tmp_path / "store"), "--out", str(tmp_path / "o")]
        )  # fmt: skip
    line = one_error(capsys)
    assert code == 2 and "--set batch_size 6000 needs about" in line
    assert not (tmp_path / "o").exists() and not (tmp_path / "store" / "pools").exists()
