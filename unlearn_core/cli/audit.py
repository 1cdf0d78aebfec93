"""`python -m unlearn_core audit --run DIR --out FILE`: a run's audit record (audit.py).

--out ending in .html writes the self-contained HTML page alone; anything else the zip of
report.json, the models, audit.html and SHA256SUMS (a folder receives <run>-audit.zip).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from unlearn_core.errors import UserError


def add_parsers(sub) -> None:
    audit = sub.add_parser("audit", help="a run's audit record: self-contained HTML or a zip")
    audit.add_argument("--run", required=True, help="run folder (or a run id in the run store)")
    audit.add_argument("--out", required=True, help="FILE.html, FILE.zip or a folder")
    audit.add_argument("--data-root", help="folder holding the data set (for class names)")
    audit.set_defaults(run=run_audit)


def _run_folder(run: str) -> Path:
    from unlearn_core.run.store import REPORT, RunStore

    folder = Path(run)
    if (folder / REPORT).is_file() or os.sep in run or folder.exists():
        return folder  # a path: read_report says what is missing
    return RunStore().path(run)


def _class_names(dataset: str, root: str | None) -> list[str] | None:
    """The data set's class names, or None (numbers) when it cannot be loaded here."""
    from unlearn_core.data import load_dataset

    try:
        return list(load_dataset(dataset, root).class_names)
    except UserError:
        return None


def run_audit(args: argparse.Namespace) -> None:
    from unlearn_core.files import write_bytes_atomic
    from unlearn_core.run.audit import audit_html, write_audit_record
    from unlearn_core.run.store import read_report

    folder = _run_folder(args.run)
    report = read_report(folder)
    names = _class_names(report.dataset, args.data_root)
    out = Path(args.out)
    if out.suffix.lower() == ".html":
        write_bytes_atomic(out, audit_html(report, class_names=names).encode())
    else:
        out = write_audit_record(folder, out, names)
    print(f"wrote {out}")
