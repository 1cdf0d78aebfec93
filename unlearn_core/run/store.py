"""The run store: every run is a folder written atomically, listed and reopened after restarts.

A run folder holds report.json, model.safetensors (the unlearned weights),
retrained.safetensors (the oracle's weights, when the run retrained), request.json and
SHA256SUMS. It is assembled in a hidden temporary folder beside its destination and renamed
into place in one step, so a crash mid-write leaves no half run (only a hidden leftover that
listing ignores).
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from torch import nn

from unlearn_core.checkpoint import (
    check_fits,
    expected_state,
    load_into,
    read_weights,
    save_model,
    sha256_file,
)
from unlearn_core.data import ImageDataset
from unlearn_core.errors import UserError
from unlearn_core.files import parse_json_bounded, read_regular, writing
from unlearn_core.run.integrity import (
    MAX_JSON_BYTES,
    MODEL,
    REPORT,
    REQUEST,
    RETRAINED,
    SUMS,
    report_from_values,
    verify_run,
)
from unlearn_core.run.pipeline import RunRecord
from unlearn_core.run.report import Report
from unlearn_core.training import initial_model

MODEL_FILES = {"unlearned": MODEL, "retrained": RETRAINED}
_STARTED = time.time()  # temporaries older than this process are leftovers of a killed one


def default_store_root() -> Path:
    return Path(os.environ.get("UNLEARN_RUNS_DIR", "runs"))


def is_run_folder(folder: Path) -> bool:
    """Whether `folder` holds exactly the files of a run written here (regular files: report,
    request, weights and SHA256SUMS; the retrained weights optional) and nothing else."""
    try:
        entries = {e.name: e.is_file(follow_symlinks=False) for e in os.scandir(folder)}
    except OSError:
        return False
    required = {REPORT, REQUEST, MODEL, SUMS}
    return required <= set(entries) <= required | {RETRAINED} and all(entries.values())


def check_out_target(target: str | Path) -> Path:
    """UserError unless a run folder may be written to `target`: a new path below a folder, an
    empty folder, or a run folder written by this tool (replaced whole). Anything else, a file,
    a link or a folder holding other files, is never touched."""
    target = Path(target)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise UserError(f"{target} exists and is not a folder; choose a new --out folder.")
    if target.is_dir():
        if any(target.iterdir()) and not is_run_folder(target):
            raise UserError(
                f"{target} exists and is not a run folder written by this tool (it holds other "
                "files); choose a new --out folder."
            )
        return target
    above = next((p for p in target.parents if p.exists() or p.is_symlink()), None)
    if above is not None and not above.is_dir():
        raise UserError(f"{target} lies below {above}, which is not a folder; choose another.")
    return target


def recover_interrupted(target: str | Path) -> None:
    """Finish a replacement of `target` that a killed process left half done: restore the
    hidden `.NAME.old-*` copy when `target` is missing (killed between the two renames), else
    remove it; remove `.NAME.tmp-*` folders older than this process (killed mid-write)."""
    target = Path(target)
    parent = target.parent
    if not parent.is_dir():
        return
    pattern = glob.escape(target.name)
    olds = sorted(parent.glob(f".{pattern}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds and not target.exists() and not target.is_symlink():
        os.rename(olds.pop(), target)
    for path in olds:
        shutil.rmtree(path, ignore_errors=True)
    remove_stale_temporaries(parent, pattern)


def remove_stale_temporaries(folder: Path, pattern: str = "*") -> None:
    """Remove the `.<name>.tmp-*` folders in `folder` that are older than this process."""
    for path in folder.glob(f".{pattern}.tmp-*"):
        try:
            stale = path.is_dir() and not path.is_symlink() and path.stat().st_mtime < _STARTED
        except OSError:
            continue
        if stale:
            shutil.rmtree(path, ignore_errors=True)


def write_run_folder(record: RunRecord, target: str | Path) -> Path:
    """Write the run to `target` atomically; a previous run folder there is replaced whole.

    The report written records the weights' sha256 (`Report.with_hashes`); `record` is not
    changed. Refuses a target that is not a run folder (check_out_target), so nothing else is
    ever overwritten; finishes a replacement a killed process left first (recover_interrupted).
    """
    target = Path(target)
    try:
        recover_interrupted(target)
        check_out_target(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    except OSError as err:
        raise UserError(f"cannot write the run folder {target} ({err.strerror or err}).") from None
    try:
        with writing(f"the run folder {target}"):  # OSError or safetensors' (a full disk)
            _fill(record, tmp)
            reached("written")
            _swap_into_place(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return target


def reached(step: str) -> None:
    """A named point of a run folder's write (written, old-moved, swapped): nothing happens;
    the crash tests replace it to kill the process exactly there."""


def _fill(record: RunRecord, tmp: Path) -> None:
    report = record.report
    meta = {"method": report.method, "dataset": report.dataset, "arch": report.arch}
    unlearned = save_model(record.model, tmp / MODEL, meta)
    files, retrained = [REPORT, MODEL, REQUEST], None
    if record.retrained is not None:
        retrained = save_model(record.retrained, tmp / RETRAINED, {**meta, "method": "retrain"})
        files.append(RETRAINED)
    report = report.with_hashes(unlearned, retrained)
    _write_json(tmp / REPORT, report.to_dict())
    _write_json(tmp / REQUEST, report.forget.to_dict())
    sums = "".join(f"{sha256_file(tmp / f)}  {f}\n" for f in files)
    (tmp / SUMS).write_text(sums)


def _write_json(path: Path, value) -> None:
    with open(path, "w") as f:
        json.dump(value, f, indent=2, allow_nan=False)
        f.flush()
        os.fsync(f.fileno())


def _swap_into_place(tmp: Path, target: Path) -> None:
    if target.exists():
        old = target.parent / f".{target.name}.old-{secrets.token_hex(4)}"
        os.rename(target, old)
        reached("old-moved")
        os.rename(tmp, target)
        reached("swapped")
        shutil.rmtree(old)
    else:
        os.rename(tmp, target)


def read_report_dict(folder: str | Path) -> dict:
    """A run folder's report.json as stored, untyped (for checks on the file itself).
    UserError, one line, if it is missing, not a regular file, too large, not JSON, not an
    object or lacks the keys every report has."""
    path = Path(folder) / REPORT
    name = Path(folder).name
    if path.is_symlink() or not path.is_file():
        raise UserError(f"{folder} is not a run folder (no {REPORT}).")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise UserError(f"run {name}: {REPORT} is larger than {MAX_JSON_BYTES >> 20} MiB.")
    values = parse_json_bounded(read_regular(path, MAX_JSON_BYTES), f"run {name}: {REPORT}")
    report_from_values(values, f"run {name}")  # UserError unless it reads as a report
    return values


def read_report(folder: str | Path) -> Report:
    """A run folder's report; one written by an older version reads with None where it lacks a
    key. UserError if the folder holds no report.json or it is malformed."""
    return report_from_values(read_report_dict(folder), f"run {Path(folder).name}")


def load_run_model(folder: str | Path, data: ImageDataset, which: str = "unlearned") -> nn.Module:
    """The unlearned (or, with which="retrained", the oracle's) model of a run folder, rebuilt on
    its recorded architecture (CPU, eval). UserError if the run has no such model."""
    report = read_report(folder)
    path = Path(folder) / MODEL_FILES[which]
    if not path.is_file():
        raise UserError(f"run {Path(folder).name} has no {which} model; rerun it with the oracle.")
    if not isinstance(report.arch, str):
        raise UserError(f"run {Path(folder).name} records no architecture.")
    tensors, _ = read_weights(path)
    state = {k.removeprefix("model."): v for k, v in tensors.items()}
    check_fits(state, expected_state(report.arch, data), path.name)  # on the meta device, so
    return load_into(initial_model(report.arch, data, 0), state, path.name).eval()  # first


class RunStore:
    """A folder of run folders, newest first when listed."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root else default_store_root()

    def new_id(self, method: str) -> str:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        return f"{stamp}-{method}-{secrets.token_hex(3)}"

    def save(self, record: RunRecord) -> str:
        """Keep the run under a new id; `record.report` becomes the stored report (with its id
        and time), so a copy written elsewhere afterwards names the stored run."""
        run_id = self.new_id(record.report.method)
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        record.report = record.report.stored_as(run_id, now)
        write_run_folder(record, self.root / run_id)
        return run_id

    def path(self, run_id: str) -> Path:
        folder = self.root / run_id
        if run_id.startswith(".") or "/" in run_id or not (folder / REPORT).is_file():
            raise UserError(f"no run {run_id!r} in {self.root}; list runs to see the ids.")
        return folder

    def list(self) -> list[dict]:
        """One summary per run: id, created, method, dataset, arch, forget count and classes,
        `forgets` ("classes 3" or "4 samples") and `corrupt` (None, or why its report.json cannot
        be read: such a run is listed with the reason, never hiding the others)."""
        if not self.root.is_dir():
            return []
        self.clean()
        rows = []
        for folder in self.root.iterdir():
            report_file = folder / REPORT
            if folder.name.startswith(".") or not (
                report_file.exists() or report_file.is_symlink()
            ):
                continue
            try:
                rows.append(_summary(folder.name, read_report(folder)))
            except UserError as err:
                reason = (str(err).splitlines() or ["unreadable"])[0]
                rows.append(
                    {
                        **dict.fromkeys(SUMMARY_KEYS),
                        "run_id": folder.name,
                        "forgets": "corrupt",
                        "corrupt": reason,
                    }
                )
        return sorted(rows, key=lambda r: r["run_id"], reverse=True)

    def clean(self) -> None:
        """Remove the hidden temporaries that processes killed mid-write left in the store."""
        if self.root.is_dir():
            remove_stale_temporaries(self.root)

    def open(self, run_id: str) -> Report:
        return read_report(self.path(run_id))

    def delete(self, run_id: str) -> None:
        shutil.rmtree(self.path(run_id))


def verify_run_folder(folder: str | Path) -> list[str]:
    """The files of a run folder, checked for an auditor (integrity.verify_run); IntegrityError
    (a UserError) naming the first file at fault."""
    return verify_run(folder)


SUMMARY_KEYS = ("run_id", "created", "method", "dataset", "arch", "forget_count")
SUMMARY_KEYS += ("forget_classes", "forgets", "corrupt")


def _summary(run_id: str, report: Report) -> dict:
    return {
        "run_id": run_id,
        "created": report.created,
        "method": report.method,
        "dataset": report.dataset,
        "arch": report.arch,
        "forget_count": report.forget.count,
        "forget_classes": report.forget.classes,
        "forgets": report.forget.label(),
        "corrupt": None,
    }
