"""`python -m unlearn_core audit --run DIR --out FILE`: a run's audit record (audit.py).

--out ending in .html writes the self-contained HTML page alone; anything else the zip of
report.json, request.json, the models, audit.html and SHA256SUMS (a folder receives
<run>-audit.zip). Neither is written for a run that fails the integrity check.
`audit --verify RUN_DIR_OR_ZIP` only checks (run/integrity.py): exit 0 and "ok: ..." when the
run is whole, else exit 2 and one line naming the file at fault. With --reproduce it also loads
the weights on the run's data set and checks they give report.json's accuracies
(records/reproduce.py): one "pass: ..." line per check, or exit 2 with the first failing one.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from unlearn_core.errors import UserError


def add_parsers(sub) -> None:
    audit = sub.add_parser(
        "audit", help="a run's audit record: self-contained HTML or a zip; sign and verify it"
    )
    audit.add_argument(
        "keygen",
        nargs="?",
        choices=["keygen"],
        help="`audit keygen --out DIR`: a new ECDSA key pair for signing records",
    )
    what = audit.add_mutually_exclusive_group()
    what.add_argument(  # dest run_dir: `run` is the command's function (set_defaults below)
        "--run", dest="run_dir", help="run folder (or a run id in the run store)"
    )
    what.add_argument(
        "--verify",
        metavar="RUN_DIR_OR_ZIP",
        help="only check a run folder, a run id or an audit zip; exit 0 when it is whole",
    )
    what.add_argument(
        "--sign",
        metavar="RUN_DIR_OR_ZIP",
        help="sign an audit zip (or make and sign a run's): every file and a verdict "
        "attestation, with --key (written to --out, or the zip in place)",
    )
    audit.add_argument("--out", help="FILE.html, FILE.zip or a folder (with --run)")
    _add_signing_options(audit)
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


def _add_signing_options(audit) -> None:
    """--key, --signer, --keyless (signing); --trusted-key, --trusted-identity (verifying)."""
    audit.add_argument(
        "--key",
        help="with --sign: the private key PEM (or its text in $UNLEARN_SIGNING_KEY; a password "
        "in $UNLEARN_SIGNING_KEY_PASSWORD); never put it in a run or a record",
    )
    audit.add_argument("--signer", help="with --sign: the signer's name, shown to verifiers")
    audit.add_argument(
        "--keyless",
        action="store_true",
        help="with --sign: Sigstore's keyless signing (an OpenID identity; needs the network)",
    )
    audit.add_argument(
        "--trusted-identity",
        metavar="EMAIL_OR_URI",
        help="with --verify: the Sigstore identity a keyless signature must carry (needs the "
        "network; with --identity-issuer)",
    )
    audit.add_argument(
        "--identity-issuer",
        default="https://accounts.google.com",
        help="with --trusted-identity: its OpenID issuer (default Google's)",
    )
    audit.add_argument(
        "--trusted-key",
        metavar="PUBLIC_PEM",
        help="with --verify: the signature must verify with this public key (checked first)",
    )


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
    from unlearn_core.records.reproduce import verify_record

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


def _keygen(args: argparse.Namespace) -> None:
    from unlearn_core.run.signing_keys import keygen

    if not args.out:
        raise UserError("audit keygen needs --out DIR, a folder of your own for the key pair.")
    private, public = keygen(args.out)
    print(f"wrote {private} (private: keep it out of every run, record and repository)")
    print(f"wrote {public} (public: give it to whoever verifies your records)")


def _sign(args: argparse.Namespace) -> None:
    """audit --sign: a zip is signed (to --out or in place); a run gets its record made first."""
    from unlearn_core.run.signing import require_sigstore, sign_record, sign_record_keyless
    from unlearn_core.run.store import read_report
    from unlearn_core.views.audit_record import write_audit_record

    if args.keyless:
        require_sigstore("--keyless")  # before any record is made

    record = Path(args.sign)
    out = args.out
    if not (record.is_file() and record.suffix.lower() == ".zip"):
        folder = _run_folder(args.sign)
        report = read_report(folder)
        target = Path(out) if out else Path(f"{folder.name}-audit.zip")
        record = out = write_audit_record(
            folder, target, _class_names(report.dataset, args.data_root)
        )
    if args.keyless:
        signed = sign_record_keyless(record, out)
    else:
        signed = sign_record(record, args.key, args.signer, out)
    print(f"signed {signed}")


def _signature_line(args: argparse.Namespace) -> None:
    """The first line of --verify for an audit zip: signed by whom, or unsigned. A run folder is
    no record and is never signed: it gets no such line (its one "ok" line stays as it was)."""
    from unlearn_core.run.signing import check_keyless, check_signature

    path = Path(args.verify)
    if args.trusted_identity:
        print(check_keyless(path, args.trusted_identity, args.identity_issuer).line)
    elif path.is_file():
        print(check_signature(path, args.trusted_key).line)
    elif args.trusted_key:
        raise UserError(
            f"{args.verify} is a run folder, which carries no signature; sign its "
            "audit zip (audit --sign) and verify that."
        )


def run_audit(args: argparse.Namespace) -> None:
    from unlearn_core.files import write_bytes_atomic
    from unlearn_core.records.privacy_record import latest_audit
    from unlearn_core.run.audit import check_run_folder
    from unlearn_core.run.integrity import verify_run
    from unlearn_core.run.store import read_report
    from unlearn_core.views.audit_page import audit_html
    from unlearn_core.views.audit_record import write_audit_record

    if args.keygen:
        return _keygen(args)
    if args.sign is not None:
        return _sign(args)
    if args.verify is None and args.run_dir is None:
        raise UserError("audit needs --run RUN, --verify RECORD, --sign RECORD or keygen.")
    if args.verify is not None:
        _signature_line(args)
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
