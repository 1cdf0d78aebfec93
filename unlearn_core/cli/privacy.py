"""`privacy-audit`: per-sample attacks over N models, the challenge score and population attacks
with intervals, and a verdict that can fail (unlearn_core/privacy); writes DIR/privacy.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from unlearn_core.cli.options import add_engine_options, csv_ints, key_value
from unlearn_core.errors import UserError
from unlearn_core.training import CONVENTIONS


def add_parsers(sub) -> None:
    audit = sub.add_parser(
        "privacy-audit",
        help="train N models by the checkpoint's recipe, unlearn and retrain each, attack them",
    )
    audit.add_argument("--checkpoint", required=True)
    audit.add_argument("--method", required=True)
    target = audit.add_mutually_exclusive_group(required=True)
    target.add_argument("--forget-classes", type=csv_ints, help="e.g. 3")
    target.add_argument("--forget-indices", type=csv_ints, help="training indices, e.g. 1,7,9")
    audit.add_argument("--models", type=int, default=8, help="N models (seeds 0..N-1), at least 4")
    audit.add_argument("--set", type=key_value, action="append", default=[], metavar="KEY=VALUE")
    audit.add_argument(
        "--attack-seeds", type=int, default=3, help="SVC attack draws per model (default 3)"
    )
    audit.add_argument(
        "--oracle-convention",
        choices=CONVENTIONS,
        default="standard",
        help="how the retrained models are made (default standard: mean loss per batch)",
    )
    add_engine_options(audit, "model")
    audit.add_argument("--out", required=True, help="folder for privacy.json")
    audit.set_defaults(run=run_privacy_audit)


def audit_spec(args: argparse.Namespace):
    from unlearn_core.checkpoint import sha256_file
    from unlearn_core.privacy.spec import AuditSpec
    from unlearn_core.run.store import default_store_root

    forget = (
        {"classes": args.forget_classes}
        if args.forget_classes is not None
        else {"indices": args.forget_indices}
    )
    try:
        digest = sha256_file(args.checkpoint)
    except OSError:
        raise UserError(f"checkpoint {args.checkpoint} cannot be read; check the path.") from None
    return AuditSpec(
        checkpoint=args.checkpoint,
        checkpoint_sha256=digest,
        method=args.method,
        forget=forget,
        models=args.models,
        overrides=dict(args.set),
        attack_seeds=args.attack_seeds,
        oracle_convention=args.oracle_convention,
        store_root=str(Path(args.store or default_store_root()).resolve()),
        dataset=args.dataset,
        data_root=args.data_root,
        arch=args.arch,
        threads=args.threads,
    )


def run_privacy_audit(args: argparse.Namespace) -> None:
    from unlearn_core.cli.sweep import make_cli_executor
    from unlearn_core.engine.jobs import JobManager
    from unlearn_core.files import check_out_folder, write_bytes_atomic
    from unlearn_core.privacy.store import AuditStore, privacy_json

    out = check_out_folder(args.out)  # a file, a read-only folder: one line before any work
    spec = audit_spec(args)
    manager = JobManager(args.store, make_cli_executor(args))
    job = manager.submit_task(spec)
    shown = set()

    def show(record) -> None:
        mark = (record.state, record.phase)
        if mark not in shown:
            shown.add(mark)
            detail = record.error or f"{record.progress:4.0%} {record.phase}"
            print(f"{record.id}: {record.state} {detail}", file=sys.stderr, flush=True)

    (job,) = manager.wait([job.id], show)
    if job.state != "done":
        raise UserError(f"audit {job.id} {job.state}: {job.error or job.phase}.")
    privacy = AuditStore(manager.root).get(job.audit_id)
    write_bytes_atomic(out / "privacy.json", privacy_json(privacy))
    ulira = privacy["attacks"]["ulira"]
    low, high = ulira["auc_ci"]
    print(
        f"{privacy['verdict']}: U-LiRA AUC {ulira['auc']:.3f} [{low:.3f}, {high:.3f}] over "
        f"{privacy['models']} models; {privacy['verdict_reason']} Wrote {out}/privacy.json "
        f"({job.seconds:.0f} s)."
    )
