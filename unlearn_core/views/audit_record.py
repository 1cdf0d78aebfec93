"""The audit record of a run: a zip an auditor can check offline.

`write_audit_record` bundles a run folder's report.json, request.json, model.safetensors,
retrained.safetensors (when the run retrained), its privacy audit (privacy.json, when there is
one), audit.html (views/audit_page.py) and a SHA256SUMS over all of them into one zip, written
atomically. It refuses, and writes nothing for, a run that fails the integrity check
(run/integrity.py): a missing, unlisted, extra, linked or changed file. It sits with the views
because it renders the page; the record's checks and zip format are run/audit.py's.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from unlearn_core.files import write_bytes_atomic
from unlearn_core.privacy.store import privacy_json
from unlearn_core.records.privacy_record import PRIVACY_FILE, latest_audit
from unlearn_core.run.audit import check_run_folder, sums_text, zip_bytes
from unlearn_core.run.integrity import AUDIT_PAGE, MODEL, RETRAINED, SUMS, IntegrityError
from unlearn_core.run.report import Report
from unlearn_core.run.store import read_report
from unlearn_core.views.audit_page import audit_html


def audit_record_bytes(run_folder: str | Path, class_names: Sequence[str] | None = None) -> bytes:
    """The zip of `write_audit_record` in memory. UserError, and no record, if the run fails
    `check_run_folder`; the bytes zipped are the bytes checked."""
    folder = Path(run_folder)
    names = check_run_folder(folder)
    report = read_report(folder)
    files = {name: _read_checked(folder, name) for name in names}
    privacy = latest_audit(folder, report)
    if privacy is not None:
        files[PRIVACY_FILE] = privacy_json(privacy)
    files[AUDIT_PAGE] = audit_html(report, class_names=class_names, privacy=privacy).encode()
    sums = sums_text(files)
    for name, digest in _recorded(report).items():  # no change between the check and the read
        if (
            name in files
            and digest is not None
            and hashlib.sha256(files[name]).hexdigest() != digest
        ):
            raise IntegrityError(name, "changed while the record was made", folder.name)
    return zip_bytes({**files, SUMS: sums.encode()})


def _recorded(report: Report) -> dict[str, str | None]:
    checks = report.checkpoints
    return {MODEL: checks.unlearned_sha256, RETRAINED: checks.retrained_sha256}


def _read_checked(folder: Path, name: str) -> bytes:
    """A checked run file's bytes, opened without following a link (a swap after the check is
    refused rather than read)."""
    fd = os.open(folder / name, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise IntegrityError(name, "is not a regular file", folder.name)
        return f.read()


def write_audit_record(
    run_folder: str | Path, out: str | Path, class_names: Sequence[str] | None = None
) -> Path:
    """Write the run's audit zip to `out` (a .zip path, or a folder that receives
    <run_id>-audit.zip) atomically; returns the zip's path. UserError as audit_record_bytes."""
    out = Path(out)
    if out.is_dir() or out.suffix.lower() != ".zip":
        out = out / f"{Path(run_folder).name}-audit.zip"
    return write_bytes_atomic(out, audit_record_bytes(run_folder, class_names))
