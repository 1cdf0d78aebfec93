"""`python -m unlearn_core audit --run DIR --out FILE`: a run's audit record (audit.py).

--out ending in .html writes the self-contained HTML page alone; anything else the zip of
report.json, request.json, the models, audit.html and SHA256SUMS (a folder receives
<run>-audit.zip). Neither is written for a run that fails the integrity check.
`audit --verify RUN_DIR_OR_ZIP` only checks (run/integrity.py): exit 0 and "ok: ..." when the
run is whole, else exit 2 and one line naming the file at fault.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from unlearn_core.errors import UserError


def add_parsers(sub) -> None:
    audit = sub.add_parser("audit", help="a run's audit record: self-contained HTML or a zip")
    what = audit.add_mutually_exclusive_group(required=True)
    what.add_argument(  # dest run_dir: `run` is the command's function (set_defaults below)
        "--run", dest="run_dir", help="run folder (or a run id in the run store)"
    )
    what.add_argument(
        "--verify",
        metavar="RUN_DIR_OR_ZIP",
        help="only check a run folder, a run id or an audit zip; exit 0 when it is whole",
    )
    audit.add_argument("--out", help="FILE.html, FILE.zip or a folder (with --run)")
    audit.add_argument("--data-root", help="folder holding the data set (for class names)")
    audit.set_defaults(run=run_audit)


def _run_folder(run: str) -> Path:
    from unlearn_core.run.store import REPORT, RunStore

    folder = Path(run)
    if (folder / REPORT).is_file() or os.sep in run or folder.exists() or folder.is_symlink():
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
    from unlearn_core.run.audit import audit_html, check_run_folder, write_audit_record
    from unlearn_core.run.integrity import verify_run
    from unlearn_core.run.privacy_record import latest_audit
    from unlearn_core.run.store import read_report

    if args.verify is not None:
        checked = verify_run(_run_folder(args.verify))
        print(f"ok: {args.verify}: {len(checked)} files match ({', '.join(checked)})")
        return
    if not args.out:
        raise UserError("audit --run needs --out FILE.zip, FILE.html or a folder.")
    folder = _run_folder(args.run_dir)
    check_run_folder(folder)  # no record, not even the HTML page, for a run that fails
    report = read_report(folder)
    names = _class_names(report.dataset, args.data_root)
    out = Path(args.out)
    if out.suffix.lower() == ".html":
        privacy = latest_audit(folder, report)
        write_bytes_atomic(out, audit_html(report, class_names=names, privacy=privacy).encode())
    else:
        out = write_audit_record(folder, out, names)
    print(f"wrote {out}")
