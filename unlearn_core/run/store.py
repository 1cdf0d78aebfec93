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
from unlearn_core.training import initial_model

REPORT, MODEL, REQUEST, SUMS = "report.json", "model.safetensors", "request.json", "SHA256SUMS"
RETRAINED = "retrained.safetensors"
MODEL_FILES = {"unlearned": MODEL, "retrained": RETRAINED}


def default_store_root() -> Path:
    return Path(os.environ.get("UNLEARN_RUNS_DIR", "runs"))


def write_run_folder(record: RunRecord, target: str | Path) -> Path:
    """Write the run to `target` atomically; a previous run folder there is replaced whole.

    Fills report["checkpoints"]["unlearned_sha256"]. Refuses a target that exists and is
    not a run folder, so nothing else is ever overwritten.
    """
    target = Path(target)
    if target.exists() and any(target.iterdir()) and not (target / REPORT).is_file():
        raise UserError(f"{target} exists and is not a run folder; choose a new --out folder.")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        report = record.report
        meta = {k: report[k] for k in ("method", "dataset", "arch")}
        report["checkpoints"]["unlearned_sha256"] = save_model(record.model, tmp / MODEL, meta)
        files = [REPORT, MODEL, REQUEST]
        if record.retrained is not None:
            digest = save_model(record.retrained, tmp / RETRAINED, {**meta, "method": "retrain"})
            report["checkpoints"]["retrained_sha256"] = digest
            files.append(RETRAINED)
        _write_json(tmp / REPORT, report)
        _write_json(tmp / REQUEST, report["forget"])
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


def read_report(folder: str | Path) -> dict:
    path = Path(folder) / REPORT
    if not path.is_file():
        raise UserError(f"{folder} is not a run folder (no {REPORT}).")
    return json.loads(path.read_text())


def load_run_model(folder: str | Path, data: ImageDataset, which: str = "unlearned") -> nn.Module:
    """The unlearned (or, with which="retrained", the oracle's) model of a run folder, rebuilt on
    its recorded architecture (CPU, eval). UserError if the run has no such model."""
    report = read_report(folder)
    path = Path(folder) / MODEL_FILES[which]
    if not path.is_file():
        raise UserError(f"run {Path(folder).name} has no {which} model; rerun it with the oracle.")
    tensors, _ = read_weights(path)
    state = {k.removeprefix("model."): v for k, v in tensors.items()}
    model = initial_model(report["arch"], data, 0)
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
        run_id = self.new_id(record.report["method"])
        record.report["run_id"] = run_id
        record.report.setdefault("created", dt.datetime.now(dt.timezone.utc).isoformat())
        write_run_folder(record, self.root / run_id)
        return run_id

    def path(self, run_id: str) -> Path:
        folder = self.root / run_id
        if run_id.startswith(".") or "/" in run_id or not (folder / REPORT).is_file():
            raise UserError(f"no run {run_id!r} in {self.root}; list runs to see the ids.")
        return folder

    def list(self) -> list[dict]:
        """One summary per complete run: id, created, method, dataset, arch, forget count."""
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
                    "created": report.get("created"),
                    "method": report["method"],
                    "dataset": report["dataset"],
                    "arch": report["arch"],
                    "forget_count": report["forget"]["count"],
                    "forget_classes": report["forget"]["classes"],
                }
            )
        return sorted(rows, key=lambda r: r["run_id"], reverse=True)

    def open(self, run_id: str) -> dict:
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
