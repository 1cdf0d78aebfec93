"""Re-verify an audit record someone sent: are its files what SHA256SUMS says (run/integrity.py),
and do its weights reproduce the accuracies its report.json claims?

The second check closes the gap the first leaves: whoever rewrites a weight file can rewrite the
sums too, but cannot make other weights score the recorded accuracies. It loads model.safetensors
(and retrained.safetensors when the run retrained) on the run's architecture, on the run's data
set loaded here, after checking that the data set's content hash (pipeline.dataset_sha256) is
the recorded one, and recomputes forget, retain and test accuracy with the pipeline's own
evaluation (metrics/evaluate.py). Accuracies are counts over N, so a float32 rerun either gets
the same count or differs by at least 1/N: TOLERANCE (1e-6) is far below any data set's 1/N.

An uploaded record is bounded before anything is read (`check_record_zip`): its size, its number
of members, what its members declare they inflate to, and their names (no path, no link).
Weights are read only as safetensors; nothing in a record is ever unpickled.
"""

from __future__ import annotations

import stat
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from unlearn_core.checkpoint import sha256_file
from unlearn_core.data import ImageDataset, load_dataset
from unlearn_core.errors import UserError
from unlearn_core.metrics.evaluate import evaluate
from unlearn_core.reproducible import other_cpu
from unlearn_core.request import ForgetRequest
from unlearn_core.run.integrity import extract_run, verify_run
from unlearn_core.run.pipeline import dataset_sha256
from unlearn_core.run.report import Report
from unlearn_core.run.store import MODEL_FILES, load_run_model, read_report

TOLERANCE = 1e-6  # absolute, on accuracies (counts over N)
ACCURACIES = ("forget_acc", "retain_acc", "test_acc", "forgotten_classes_test_acc")
MAX_RECORD_MB = 256  # an uploaded record: two resnet18 weights and the page fit many times
MAX_MEMBERS = 16  # a record holds at most 7 files
MAX_INFLATED_BYTES = 2**30  # what all members may declare together, uncompressed


@dataclass(frozen=True)
class Check:
    """One line of the verification: what was checked, whether it passed, and why."""

    name: str
    passed: bool
    detail: str

    @property
    def line(self) -> str:
        return f"{'pass' if self.passed else 'FAIL'}: {self.name}: {self.detail}"


def check_record_zip(path: str | Path) -> None:
    """UserError, one line, unless `path` is a zip within MAX_RECORD_MB, of at most MAX_MEMBERS
    plain files with plain names whose declared sizes fit MAX_INFLATED_BYTES."""
    path = Path(path)
    if path.stat().st_size > MAX_RECORD_MB * 2**20:
        raise UserError(f"{path.name} is larger than {MAX_RECORD_MB} MB; no record is that big.")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise UserError(f"{path.name} is not a readable zip ({err}); upload record.zip.") from None
    if len(infos) > MAX_MEMBERS:
        raise UserError(f"{path.name} holds {len(infos)} files; a record holds at most 7.")
    for info in infos:
        name = info.filename
        if "/" in name or "\\" in name or name in ("", ".", "..") or ":" in name:
            raise UserError(f"{path.name}: member {name[:60]!r} is a path, not a file name.")
        if info.is_dir() or stat.S_IFMT(info.external_attr >> 16) == stat.S_IFLNK:
            raise UserError(f"{path.name}: member {name[:60]!r} is not a plain file.")
    declared = sum(info.file_size for info in infos)
    if declared > MAX_INFLATED_BYTES:
        raise UserError(
            f"{path.name} declares {declared >> 20} MiB uncompressed (at most "
            f"{MAX_INFLATED_BYTES >> 20}); refusing it (a zip bomb or no record)."
        )


def verify_record(
    path: str | Path, data_loader: Callable[[str], ImageDataset] | None = None
) -> list[Check]:
    """The checks of a run folder or audit zip at `path`, in order; it stops at the first that
    makes the later ones meaningless. data_loader: data set name -> ImageDataset (default:
    load_dataset from the default root)."""
    path = Path(path)
    try:
        files = verify_run(path)
    except UserError as err:
        return [Check("hashes", False, str(err))]
    checks = [Check("hashes", True, f"{len(files)} files match SHA256SUMS and report.json")]
    if path.is_dir():
        return checks + _reproduce(path, data_loader or load_dataset)
    with tempfile.TemporaryDirectory(prefix="record-") as tmp:
        extract_run(path, tmp)
        return checks + _reproduce(Path(tmp), data_loader or load_dataset)


def _reproduce(folder: Path, data_loader) -> list[Check]:
    """The data, request and metric checks of a verified run folder."""
    report = read_report(folder)
    try:
        data = data_loader(report.dataset)
    except UserError as err:
        return [Check("data set", False, f"{report.dataset} cannot be loaded here ({err})")]
    data_check = _data_check(report, data)
    if not data_check.passed and report.data_sha256 is not None:
        return [data_check]  # other data: the accuracies cannot be compared
    try:
        request = ForgetRequest.from_dict(data, report.forget.to_dict())
    except UserError as err:
        return [data_check, Check("forget set", False, f"report.json's request: {err}")]
    checks = [data_check, _request_check(report, request), *_environment_note(report)]
    for which in ("unlearned", "retrained"):
        if (folder / MODEL_FILES[which]).is_file():
            checks.append(_metrics_check(folder, report, data, request, which))
    return checks


def _environment_note(report: Report) -> list[Check]:
    """A line when the record was made on another CPU or kernel ISA (issue 23): accuracies
    still compare, the weights' bits need not (BENCHMARKS.md, "Reproducibility")."""
    line = other_cpu(report.environment.to_dict())
    return [Check("environment", True, line)] if line else []


def _data_check(report: Report, data: ImageDataset) -> Check:
    here = dataset_sha256(data)
    if report.data_sha256 is None:
        detail = f"the record has no data hash (a run of before); here it is {here[:16]}…"
        return Check("data set", False, detail)
    if here != report.data_sha256:
        return Check(
            "data set",
            False,
            f"{report.dataset} here has sha256 {here[:16]}…, the record {report.data_sha256[:16]}"
            "…: other data, so the accuracies are not compared",
        )
    return Check("data set", True, f"{report.dataset} here has the recorded sha256 {here[:16]}…")


def _request_check(report: Report, request: ForgetRequest) -> Check:
    """A class request's recorded indices must be its training images here."""
    recorded = report.forget.indices or []
    derived = request.forget_indices.tolist()
    if recorded and recorded != derived:
        return Check(
            "forget set",
            False,
            f"report.json lists {len(recorded)} indices, the request's {request.kind} give "
            f"{len(derived)} different ones here",
        )
    how = "the training images of its classes" if request.classes else "the listed indices"
    return Check("forget set", True, f"{request.count} training images, {how}")


def _metrics_check(
    folder: Path, report: Report, data: ImageDataset, request: ForgetRequest, which: str
) -> Check:
    """Recompute one model's accuracies and compare them with report.json's."""
    name = f"{which} model"
    recorded_hash = getattr(report.checkpoints, f"{which}_sha256")
    if sha256_file(folder / MODEL_FILES[which]) != recorded_hash:
        return Check(name, False, f"{MODEL_FILES[which]} changed while it was checked")
    try:
        model = load_run_model(folder, data, which)
    except UserError as err:
        return Check(name, False, str(err))
    got = evaluate(model, data, request)
    claimed = getattr(report.metrics, which)
    shown, wrong = [], []
    for key in ACCURACIES:
        want = getattr(claimed, key, None) if claimed is not None else None
        if got[key] is None and want is None:
            continue
        if got[key] is None or want is None or abs(got[key] - want) > TOLERANCE:
            wrong.append(f"{key} is {_pct(got[key])} here, report.json says {_pct(want)}")
        shown.append(f"{key} {_pct(got[key])}")
    if wrong:
        return Check(name, False, "; ".join(wrong) + " (the weights do not give these numbers)")
    return Check(name, True, f"{', '.join(shown)} reproduce report.json (within {TOLERANCE:g})")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4%}"
