"""The audit record's checks and format: a run folder is checked before a record is made of it
(`check_run_folder`), and a record is a zip of named files with their SHA256SUMS (`sums_text`,
`zip_bytes`), the same bytes for the same files. The record itself, which renders the audit
page, is made by views/audit_record.py; signing rezips it with these (run/signing.py).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

from unlearn_core.run.integrity import verify_run
from unlearn_core.run.store import read_report


def check_run_folder(run_folder: str | Path) -> list[str]:
    """The files of a run folder, after checking every one a run must have (integrity.py: each
    present, listed in SHA256SUMS, a regular file inside the folder, matching its sha256 and
    the weights' hashes in report.json) and that report.json reads as a report. UserError naming
    the file at fault."""
    files = verify_run(run_folder)
    read_report(run_folder)
    return files


def sums_text(files: dict[str, bytes]) -> str:
    """SHA256SUMS for `files` (name -> bytes), in their order, as `sha256sum -c` reads it."""
    return "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in files.items())


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A record's zip of `files` (name -> bytes), in their order: fixed dates and modes, so the
    same files give the same bytes each time."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()
