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
from pathlib import Path

from torch import nn

from unlearn_core.checkpoint import load_checkpoint, sha256_file
from unlearn_core.data import ImageDataset, load_dataset
from unlearn_core.errors import UserError
from unlearn_core.records import record_checks
from unlearn_core.records.record_checks import Check
from unlearn_core.request import ForgetRequest
from unlearn_core.run.blocks import plain
from unlearn_core.run.integrity import AUDIT_PAGE, PRIVACY, extract_run, read_member, verify_run
from unlearn_core.run.pipeline import dataset_sha256
from unlearn_core.run.recompute import TOLERANCE, differences, metrics_differences, recompute
from unlearn_core.run.report import PerModel, Report
from unlearn_core.run.reproducible import other_cpu
from unlearn_core.run.store import MODEL_FILES, load_run_model, read_report, read_report_dict

MAX_RECORD_MB = 256  # an uploaded record: two resnet18 weights and the page fit many times
MAX_MEMBERS = 16  # a record holds at most 7 files
MAX_INFLATED_BYTES = 2**30  # what all members may declare together, uncompressed


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
    path: str | Path,
    data_loader: Callable[[str], ImageDataset] | None = None,
    checkpoint: str | Path | None = None,
) -> list[Check]:
    """The checks of a run folder or audit zip at `path`, in order; it stops at the first that
    makes the later ones meaningless. data_loader: data set name -> ImageDataset (default:
    load_dataset from the default root). checkpoint: the original model's file, when the
    auditor has it: its sha256 must be the recorded one, and its numbers are then recomputed
    too (without it the original's recorded numbers are not used, so a verdict that rests on
    them, "forgotten", does not reproduce). A check on the weights being the original's
    unchanged comes first."""
    path = Path(path)
    try:
        files = verify_run(path)
    except UserError as err:
        return [Check("hashes", False, str(err))]
    checks = [Check("hashes", True, f"{len(files)} files match SHA256SUMS and report.json")]
    loader = data_loader or load_dataset
    if path.is_dir():
        checks += _reproduce(path, loader, {}, checkpoint)
    else:
        extras = {name: read_member(path, name) for name in (PRIVACY, AUDIT_PAGE)}
        with tempfile.TemporaryDirectory(prefix="record-") as tmp:
            extract_run(path, tmp)
            checks += _reproduce(Path(tmp), loader, extras, checkpoint)
    first = [c for c in checks if c.name == "weights"]
    return first + [c for c in checks if c.name != "weights"]


def _reproduce(folder: Path, data_loader, extras: dict, checkpoint) -> list[Check]:
    """The data, request and recomputation checks of a verified run folder."""
    report, raw = read_report(folder), read_report_dict(folder)
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
    checks.append(record_checks.method_check(report, request))
    checks.append(
        record_checks.oracle_check(report, raw, (folder / MODEL_FILES["retrained"]).is_file())
    )
    original, original_check = _original(checkpoint, report, data)
    models, model_checks = _run_models(folder, report, data)
    if original_check is not None:
        model_checks.insert(0, original_check)
    if any(not c.passed for c in model_checks):
        return checks + model_checks
    models = PerModel(original, models["unlearned"], models["retrained"])
    checks += [record_checks.weights_check(report, models, checkpoint is not None), *model_checks]
    got = recompute(models, data, request, report.seed or 0)
    checks += [_metrics_check(report, raw, got, which) for which in models.present()]
    checks.append(_attacks_check(report, raw, got))
    privacy_check, privacy = record_checks.privacy_check(report, extras.get(PRIVACY))
    checks += [privacy_check] if privacy_check is not None else []
    if extras.get(AUDIT_PAGE) is not None:
        recomputed = record_checks.recomputed_report(report, got, keep_original=original is None)
        page = extras[AUDIT_PAGE]
        checks.append(record_checks.verdict_check(recomputed, privacy, page, data, original))
    return checks


def _original(
    checkpoint, report: Report, data: ImageDataset
) -> tuple[nn.Module | None, Check | None]:
    """(the original model, its check) from --checkpoint; (None, a skip line) without it."""
    if checkpoint is None:
        return None, Check(
            "original model",
            True,
            "not recomputed (no --checkpoint ORIGINAL); its recorded numbers are not used",
            kind="skip",
        )
    name = Path(checkpoint).name
    recorded = report.checkpoints.original_sha256
    try:
        trained, meta = load_checkpoint(checkpoint, data, report.arch)
    except UserError as err:
        return None, Check("original model", False, str(err))
    if recorded is None or meta["sha256"] != recorded:
        return None, Check(
            "original model",
            False,
            f"{name} has sha256 {meta['sha256'][:16]}…, the record names "
            f"{(recorded or 'none')[:16]}…: not this run's original",
        )
    if trained.arch != report.arch:
        return None, Check(
            "original model", False, f"{name} is a {trained.arch}, not a {report.arch}"
        )
    return trained.model, None


def _run_models(folder: Path, report: Report, data: ImageDataset) -> tuple[dict, list[Check]]:
    """{"unlearned", "retrained"} -> model or None, and a FAIL line for each that does not load."""
    models, checks = {"unlearned": None, "retrained": None}, []
    for which in models:
        path = folder / MODEL_FILES[which]
        if not path.is_file():
            continue
        if sha256_file(path) != getattr(report.checkpoints, f"{which}_sha256"):
            checks.append(
                Check(f"{which} model", False, f"{path.name} changed while it was checked")
            )
            continue
        try:
            models[which] = load_run_model(folder, data, which)
        except UserError as err:
            checks.append(Check(f"{which} model", False, str(err)))
    return models, checks


def _environment_note(report: Report) -> list[Check]:
    """A line when the record was made on another CPU or kernel ISA (issue 23): accuracies
    still compare, the weights' bits need not (BENCHMARKS.md, "Reproducibility")."""
    line = other_cpu(report.environment.to_dict())
    return [Check("environment", True, line, kind="note")] if line else []


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


def _metrics_check(report: Report, raw: dict, got: dict, which: str) -> Check:
    """One model's recomputed M block and forget-set predictions against report.json's."""
    name = f"{which} model"
    claimed = getattr(report.metrics, which)
    wrong = metrics_differences(got["raw"][which], claimed)
    recorded_predictions = (raw.get("prediction_distribution") or {}).get(which)
    if differences(got["prediction_distribution"][which], recorded_predictions):
        wrong.append("prediction_distribution")
    values = got["raw"][which]
    if wrong:
        shown = "; ".join(
            f"{key} is {_shown(values.get(key))} here, report.json says "
            f"{_shown(getattr(claimed, key, None) if claimed is not None else None)}"
            for key in wrong
        )
        return Check(name, False, f"{shown} (the weights do not give these numbers)")
    accuracies = ", ".join(
        f"{key} {_shown(values[key])}" for key in ("forget_acc", "retain_acc", "test_acc")
    )
    return Check(
        name,
        True,
        f"{accuracies}, per-class accuracies, loss, membership AUC and predictions reproduce "
        f"report.json (accuracies within {TOLERANCE:g})",
    )


def _attacks_check(report: Report, raw: dict, got: dict) -> Check:
    """The single-model membership attacks, their flags and the gaps to the retrained model."""
    wrong = []
    for which, result in got["mia"].items():
        if result is not None:
            wrong += differences(result, plain(getattr(report.mia, which)), f"mia.{which}")
    wrong += differences(got["mia_flags"], raw.get("mia_flags"), "mia_flags")
    wrong += differences(got["gaps"], raw.get("gaps_to_retrained"), "gaps_to_retrained")
    if wrong:
        listed = ", ".join(wrong[:4]) + (f" and {len(wrong) - 4} more" if len(wrong) > 4 else "")
        return Check(
            "attacks and gaps", False, f"report.json's {listed} differ from the recomputed"
        )
    return Check(
        "attacks and gaps",
        True,
        "the membership attacks, their flags and the gaps to the retrained model reproduce",
    )


def _shown(value) -> str:
    if isinstance(value, float):
        return f"{value:.4%}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return "n/a" if value is None else repr(value)[:40]
