"""`python -m unlearn_core audit --run DIR --out FILE`: a run's audit record (audit.py).

--out ending in .html writes the self-contained HTML page alone; anything else the zip of
report.json, request.json, the models, audit.html and SHA256SUMS (a folder receives
<run>-audit.zip). Neither is written for a run that fails the integrity check.
`audit --verify RUN_DIR_OR_ZIP` only checks (run/integrity.py): exit 0 and "ok: ..." when the
run is whole, else exit 2 and one line naming the file at fault. With --reproduce it also loads
the weights on the run's data set and checks they give report.json's accuracies
(run/reproduce.py): one "pass: ..." line per check, or exit 2 with the first failing one.
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
    audit.add_argument(
        "--reproduce",
        action="store_true",
        help="with --verify: also load the weights on the run's data set (its content hash must "
        "match) and check that they give report.json's accuracies; one pass/FAIL line each",
    )
    audit.add_argument(
        "--checkpoint",
        metavar="ORIGINAL",
        help="with --reproduce: the run's original checkpoint (its sha256 must be the recorded "
        "one); its numbers are recomputed too, which a verdict of forgotten needs",
    )
    audit.add_argument("--data-root", help="folder holding the data set (class names, --reproduce)")
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


def _reproduce(args: argparse.Namespace) -> None:
    """audit --verify --reproduce: every check's line; UserError naming the first failure."""
    from unlearn_core.data import load_dataset
    from unlearn_core.run.reproduce import verify_record

    checks = verify_record(
        _run_folder(args.verify),
        lambda name: load_dataset(name, args.data_root),
        checkpoint=args.checkpoint,
    )
    failed = [c for c in checks if not c.passed]
    for check in checks[: checks.index(failed[0])] if failed else checks:
        print(check.line)
    if failed:
        raise UserError(failed[0].line)
    print(f"ok: {args.verify}: its weights reproduce report.json's numbers and verdict")


def run_audit(args: argparse.Namespace) -> None:
    from unlearn_core.files import write_bytes_atomic
    from unlearn_core.run.audit import check_run_folder, write_audit_record
    from unlearn_core.run.audit_page import audit_html
    from unlearn_core.run.integrity import verify_run
    from unlearn_core.run.privacy_record import latest_audit
    from unlearn_core.run.store import read_report

    if args.verify is not None:
        if args.reproduce:
            return _reproduce(args)
        checked = verify_run(_run_folder(args.verify))
        print(f"ok: {args.verify}: {len(checked)} files match ({', '.join(checked)})")
        return
    if args.reproduce or args.checkpoint:
        raise UserError("--reproduce (and --checkpoint) go with --verify RUN_DIR_OR_ZIP.")
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
