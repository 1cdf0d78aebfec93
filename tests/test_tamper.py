"""The tamper suite (issue 12): tampered run folders and audit zips are each refused by
`audit --verify` (non-zero exit, one line naming the file), shown as failed by the Runs page's
helper, and get no audit record; an untouched run and its zip pass."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

from ui.runs import audit_check
from unlearn_core.cli.main import main
from unlearn_core.errors import UserError
from unlearn_core.request import ForgetRequest
from unlearn_core.run.pipeline import unlearn_model
from unlearn_core.run.store import RunStore
from unlearn_core.views.audit_record import write_audit_record

SUMS = "SHA256SUMS"


@pytest.fixture(scope="module")
def base_run(tiny, tiny_trained, tmp_path_factory) -> Path:
    """A finetune run with the oracle on the tiny data set, kept in a run store."""
    request = ForgetRequest.for_indices(tiny, [0, 5, 9])
    record = unlearn_model(
        tiny_trained, {"sha256": "0" * 64}, tiny, request, "finetune", {"epochs": "1"}, oracle=True
    )
    store = RunStore(tmp_path_factory.mktemp("tamper-store"))
    return store.root / store.save(record)


def rehash(folder: Path, names: list[str] | None = None) -> None:
    """Rewrite SHA256SUMS over `names` (default: the files it lists now): a forger's step."""
    if names is None:
        names = [line.split("  ", 1)[1] for line in (folder / SUMS).read_text().splitlines()]
    lines = [f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}\n" for n in names]
    (folder / SUMS).write_text("".join(lines))


def edit_report(folder: Path, change) -> None:
    report = json.loads((folder / "report.json").read_text())
    change(report)
    (folder / "report.json").write_text(json.dumps(report))


def swap_weights(f: Path) -> None:
    (f / "model.safetensors").rename(f / "tmp")
    (f / "retrained.safetensors").rename(f / "model.safetensors")
    (f / "tmp").rename(f / "retrained.safetensors")
    rehash(f)


def report_hash(f: Path) -> None:
    edit_report(f, lambda r: r["checkpoints"].update(unlearned_sha256="ab" * 32))
    rehash(f)


def hide_oracle(f: Path) -> None:
    edit_report(f, lambda r: r["checkpoints"].update(retrained_sha256=None))
    rehash(f)


def edit_request(f: Path) -> None:
    (f / "request.json").write_text(json.dumps({"classes": [], "indices": [1], "count": 1}))
    rehash(f)


def drop_line(name: str):
    def tamper(f: Path) -> None:
        lines = (f / SUMS).read_text().splitlines(keepends=True)
        (f / SUMS).write_text("".join(line for line in lines if not line.endswith(f"  {name}\n")))

    return tamper


def name_in_sums(path: str):
    def tamper(f: Path) -> None:
        with open(f / SUMS, "a") as sums:
            sums.write(f"{'0' * 64}  {path}\n")

    return tamper


def link(name: str, to: str):
    def tamper(f: Path) -> None:
        (f / name).unlink()
        (f / name).symlink_to(to)
        if Path(to).is_file():
            rehash(f)

    return tamper


def fifo(name: str):
    def tamper(f: Path) -> None:
        (f / name).unlink()
        os.mkfifo(f / name)

    return tamper


def as_folder(name: str):
    def tamper(f: Path) -> None:
        (f / name).unlink()
        (f / name).mkdir()

    return tamper


# tamper name -> (change to a copy of the run folder, the file the refusal must name)
TAMPERS = {
    "edited report": (lambda f: edit_report(f, lambda r: r.update(seed=7)), "report.json"),
    "edited weights": (
        lambda f: (f / "model.safetensors").write_bytes(b"\0" * 64),
        "model.safetensors",
    ),
    "unlisted weights": (drop_line("model.safetensors"), "model.safetensors"),
    "unlisted request": (drop_line("request.json"), "request.json"),
    "empty sums": (lambda f: (f / SUMS).write_text(""), "report.json"),
    "missing request": (lambda f: (f / "request.json").unlink(), "request.json"),
    "missing retrained": (
        lambda f: (f / "retrained.safetensors").unlink(),
        "retrained.safetensors",
    ),
    "missing sums": (lambda f: (f / SUMS).unlink(), SUMS),
    "symlinked weights": (link("model.safetensors", "/etc/passwd"), "model.safetensors"),
    "symlinked report": (link("report.json", "/etc/hostname"), "report.json"),
    "dangling link": (link("request.json", "/nonexistent/x"), "request.json"),
    "renamed weights": (
        lambda f: (f / "model.safetensors").rename(f / "model2.safetensors"),
        "model2.safetensors",
    ),
    "extra file": (lambda f: (f / "notes.txt").write_text("hi"), "notes.txt"),
    "extra folder": (lambda f: (f / "sub").mkdir(), "sub"),
    "swapped weights": (swap_weights, "model.safetensors"),
    "report hash mismatch": (report_hash, "model.safetensors"),
    "oracle hidden": (hide_oracle, "retrained.safetensors"),
    "request edited": (edit_request, "request.json"),
    "sums name /dev/zero": (name_in_sums("/dev/zero"), "/dev/zero"),
    "sums name ../": (name_in_sums("../../../../etc/passwd"), "../../../../etc/passwd"),
    "sums garbled": (lambda f: (f / SUMS).write_text("nonsense\n"), SUMS),
    "sums a fifo": (fifo(SUMS), SUMS),
    "weights a fifo": (fifo("model.safetensors"), "model.safetensors"),
    "weights a folder": (as_folder("model.safetensors"), "model.safetensors"),
}


def verify(path: Path, capsys) -> tuple[int, str]:
    """Exit code and what `audit --verify` says; an audit zip's first line, whether it is
    signed (DESIGN.md: "unsigned" here), is checked and left out."""
    code = main(["audit", "--verify", str(path)])
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    if Path(path).is_file() and lines and lines[0].startswith("unsigned: "):
        lines = lines[1:]
    return code, (captured.err + "\n".join(lines)).strip()


def test_an_untouched_run_passes(base_run, tmp_path, capsys):
    code, out = verify(base_run, capsys)
    assert code == 0 and out.startswith("ok: ") and "\n" not in out
    assert audit_check(base_run)[0] is True
    record = write_audit_record(base_run, tmp_path / "record.zip")
    code, out = verify(record, capsys)
    assert code == 0 and out.startswith("ok: ")


@pytest.mark.parametrize("name", list(TAMPERS))
def test_a_tampered_run_is_refused_everywhere(base_run, tmp_path, capsys, name):
    tamper, culprit = TAMPERS[name]
    folder = tmp_path / base_run.name
    shutil.copytree(base_run, folder, symlinks=True)
    tamper(folder)
    code, out = verify(folder, capsys)
    assert code != 0 and "\n" not in out and out.startswith(f"error: {culprit}: "), out
    passed, message = audit_check(folder)
    assert not passed and f"{culprit}: " in message
    for out_name in ("record.zip", "page.html"):
        with pytest.raises(UserError):
            main_raising(["audit", "--run", str(folder), "--out", str(tmp_path / out_name)])
        assert not (tmp_path / out_name).exists()
    with pytest.raises(UserError):
        write_audit_record(folder, tmp_path / "direct.zip")
    assert not (tmp_path / "direct.zip").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def main_raising(argv: list[str]) -> None:
    """The audit command without main's error handling, so the UserError itself is seen."""
    from unlearn_core.cli.main import build_parser

    args = build_parser().parse_args(argv)
    args.run(args)


def rewrite_zip(source: Path, target: Path, change) -> None:
    with zipfile.ZipFile(source) as zf:
        entries = {info.filename: (info, zf.read(info)) for info in zf.infolist()}
    entries = change(entries)
    with zipfile.ZipFile(target, "w") as zf:
        for info, data in entries.values():
            zf.writestr(info, data)


def zip_link(entries):
    info, _ = entries["model.safetensors"]
    info.external_attr = (0o120777 << 16) | info.external_attr & 0xFFFF
    entries["model.safetensors"] = (info, b"/etc/passwd")
    return entries


def zip_extra(entries):
    info = zipfile.ZipInfo("../evil.txt")
    return {**entries, "../evil.txt": (info, b"x")}


def zip_edit(entries):
    info, data = entries["report.json"]
    entries["report.json"] = (info, data.replace(b'"seed": 0', b'"seed": 9'))
    return entries


def zip_drop(entries):
    info, data = entries[SUMS]
    lines = [line for line in data.splitlines(keepends=True) if b"audit.html" not in line]
    entries[SUMS] = (info, b"".join(lines))
    return entries


ZIP_TAMPERS = {
    "edited report": (zip_edit, "report.json"),
    "extra entry": (zip_extra, "../evil.txt"),
    "symlink entry": (zip_link, "model.safetensors"),
    "unlisted page": (zip_drop, "audit.html"),
    "missing request": (
        lambda e: {k: v for k, v in e.items() if k != "request.json"},
        "request.json",
    ),
}


@pytest.mark.parametrize("name", list(ZIP_TAMPERS))
def test_a_tampered_audit_zip_is_refused(base_run, tmp_path, capsys, name):
    change, culprit = ZIP_TAMPERS[name]
    good = write_audit_record(base_run, tmp_path / "good.zip")
    bad = tmp_path / "bad.zip"
    rewrite_zip(good, bad, change)
    code, out = verify(bad, capsys)
    assert code != 0 and "\n" not in out and out.startswith(f"error: {culprit}: "), out


def test_the_command_line_exits_non_zero_with_one_line(base_run, tmp_path):
    folder = tmp_path / base_run.name
    shutil.copytree(base_run, folder)
    command = [sys.executable, "-m", "unlearn_core", "audit", "--verify", str(folder)]
    ok = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    (folder / "model.safetensors").write_bytes(b"forged")
    bad = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode != 0 and len(lines) == 1 and "model.safetensors" in lines[0]
    assert "Traceback" not in bad.stderr
