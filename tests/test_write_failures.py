"""Issue 28, finding 4: a write that fails (a read-only store, a full disk) is one line naming
it, --out is written even when the run store fails, and two writers to one --out do not both
say "wrote"."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from safetensors import SafetensorError

from unlearn_core import checkpoint
from unlearn_core.cli.main import main
from unlearn_core.files import out_lock, write_bytes_atomic

READ_ONLY = "/proc/unlearn-store"  # a read-only file system, for root too


@pytest.fixture(scope="module")
def logreg(logreg_checkpoint) -> Path:
    return logreg_checkpoint


def unlearn(checkpoint_path: Path, out: Path, *more: str) -> int:
    return main(
        ["unlearn", "--checkpoint", str(checkpoint_path), "--method", "none",
         "--forget-classes", "3", "--out", str(out), *more]
    )  # fmt: skip


def one_error(capsys) -> str:
    """The one error line (progress lines may precede it on stderr; no traceback)."""
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def test_a_read_only_store_still_gets_out_written(logreg, tmp_path, capsys):
    out = tmp_path / "run"
    assert unlearn(logreg, out, "--store", READ_ONLY) == 2
    assert one_error(capsys).startswith(f"error: wrote {out}, but the run store failed: cannot ")
    assert (out / "report.json").is_file() and (out / "model.safetensors").is_file()


def test_a_full_disk_is_one_line_and_leaves_nothing(logreg, tmp_path, monkeypatch, capsys):
    def full(*args, **kwargs):
        raise SafetensorError("No space left on device (os error 28)")

    monkeypatch.setattr(checkpoint, "save_file", full)
    out = tmp_path / "run"
    assert unlearn(logreg, out, "--no-store") == 2
    assert "No space left on device" in one_error(capsys)
    assert not out.exists() and not list(tmp_path.iterdir())
    ckpt = tmp_path / "m.safetensors"
    code = main(
        ["train", "--dataset", "demo", "--arch", "logreg", "--epochs", "1", "--out", str(ckpt)]
    )
    assert code == 2 and "No space left on device" in one_error(capsys)
    assert not list(tmp_path.iterdir())


def test_an_os_error_anywhere_is_one_line(tmp_path, capsys):
    """explain's --out at an existing file or below /proc: no traceback, exit 2."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out in (afile, Path("/proc/nope")):
        code = main(
            ["explain", "--kind", "probe", "--checkpoint", "nowhere.safetensors",
             "--unlearned", str(tmp_path), "--out", str(out)]
        )  # fmt: skip
        assert code == 2
        one_error(capsys)


def test_atomic_write_names_the_file_it_could_not_write(tmp_path):
    from unlearn_core.errors import UserError

    with pytest.raises(UserError, match=r"cannot write /proc/x/y \(.*\); nothing was written"):
        write_bytes_atomic("/proc/x/y", b"data")


def test_a_second_writer_to_the_same_out_is_refused(logreg, tmp_path, capsys):
    out = tmp_path / "run"
    with out_lock(out):  # the first writer, still running
        assert unlearn(logreg, out, "--no-store") == 2
        assert "is being written by another process right now" in one_error(capsys)
    assert not out.exists()
    assert unlearn(logreg, out, "--no-store") == 0  # once it is done, the next one may
    assert not list(tmp_path.glob(".*.lock"))  # and no lock is left behind


def test_audit_run_on_a_full_disk_is_one_line(logreg, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    assert unlearn(logreg, out, "--no-store") == 0
    capsys.readouterr()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    import unlearn_core.files as files

    monkeypatch.setattr(files.tempfile, "mkstemp", full)
    target = tmp_path / "record.zip"
    assert main(["audit", "--run", str(out), "--out", str(target)]) == 2
    assert "No space left on device" in one_error(capsys)
    assert not target.exists()
