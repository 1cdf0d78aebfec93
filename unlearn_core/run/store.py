"""The run store: every run is a folder written atomically, listed and reopened after restarts.

A run folder holds report.json, model.safetensors (the unlearned weights),
retrained.safetensors (the oracle's weights, when the run retrained), request.json and
SHA256SUMS. It is assembled in a hidden temporary folder beside its destination and renamed
into place in one step, so a crash mid-write leaves no half run (only a hidden leftover that
listing ignores).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
import tempfile
from pathlib import Path

from torch import nn

from unlearn_core.checkpoint import read_weights, save_model, sha256_file
from unlearn_core.data import ImageDataset
from unlearn_core.errors import UserError
from unlearn_core.run.pipeline import RunRecord
from unlearn_core.run.report import Report
from unlearn_core.training import initial_model

REPORT, MODEL, REQUEST, SUMS = "report.json", "model.safetensors", "request.json", "SHA256SUMS"
RETRAINED = "retrained.safetensors"
MODEL_FILES = {"unlearned": MODEL, "retrained": RETRAINED}


def default_store_root() -> Path:
    return Path(os.environ.get("UNLEARN_RUNS_DIR", "runs"))


def write_run_folder(record: RunRecord, target: str | Path) -> Path:
    """Write the run to `target` atomically; a previous run folder there is replaced whole.

    The report written records the weights' sha256 (`Report.with_hashes`); `record` is not
    changed. Refuses a target that exists and is not a run folder, so nothing else is ever
    overwritten.
    """
    target = Path(target)
    if target.exists() and any(target.iterdir()) and not (target / REPORT).is_file():
        raise UserError(f"{target} exists and is not a run folder; choose a new --out folder.")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
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
        _swap_into_place(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return target


def _write_json(path: Path, value) -> None:
    with open(path, "w") as f:
        json.dump(value, f, indent=2, allow_nan=False)
        f.flush()
        os.fsync(f.fileno())


def _swap_into_place(tmp: Path, target: Path) -> None:
    if target.exists():
        old = target.parent / f".{target.name}.old-{secrets.token_hex(4)}"
        os.rename(target, old)
        os.rename(tmp, target)
        shutil.rmtree(old)
    else:
        os.rename(tmp, target)


def read_report_dict(folder: str | Path) -> dict:
    """A run folder's report.json as stored, untyped (for checks on the file itself)."""
    path = Path(folder) / REPORT
    if not path.is_file():
        raise UserError(f"{folder} is not a run folder (no {REPORT}).")
    return json.loads(path.read_text())


def read_report(folder: str | Path) -> Report:
    """A run folder's report; one written by an older version reads with None where it lacks a
    key. UserError if the folder holds no report.json."""
    return Report.from_dict(read_report_dict(folder))


def load_run_model(folder: str | Path, data: ImageDataset, which: str = "unlearned") -> nn.Module:
    """The unlearned (or, with which="retrained", the oracle's) model of a run folder, rebuilt on
    its recorded architecture (CPU, eval). UserError if the run has no such model."""
    report = read_report(folder)
    path = Path(folder) / MODEL_FILES[which]
    if not path.is_file():
        raise UserError(f"run {Path(folder).name} has no {which} model; rerun it with the oracle.")
    tensors, _ = read_weights(path)
    state = {k.removeprefix("model."): v for k, v in tensors.items()}
    model = initial_model(report.arch, data, 0)
    model.load_state_dict(state)
    return model.eval()


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
        """One summary per complete run: id, created, method, dataset, arch, forget count and
        classes, and `forgets` ("classes 3" or "4 samples")."""
        if not self.root.is_dir():
            return []
        rows = []
        for folder in self.root.iterdir():
            if folder.name.startswith(".") or not (folder / REPORT).is_file():
                continue
            report = read_report(folder)
            rows.append(
                {
                    "run_id": folder.name,
                    "created": report.created,
                    "method": report.method,
                    "dataset": report.dataset,
                    "arch": report.arch,
                    "forget_count": report.forget.count,
                    "forget_classes": report.forget.classes,
                    "forgets": report.forget.label(),
                }
            )
        return sorted(rows, key=lambda r: r["run_id"], reverse=True)

    def open(self, run_id: str) -> Report:
        return read_report(self.path(run_id))

    def delete(self, run_id: str) -> None:
        shutil.rmtree(self.path(run_id))


def verify_run_folder(folder: str | Path) -> dict[str, bool]:
    """file -> whether its sha256 still matches SHA256SUMS (for an auditor)."""
    folder = Path(folder)
    out = {}
    for line in (folder / SUMS).read_text().splitlines():
        digest, name = line.split("  ", 1)
        out[name] = hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    return out
