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
        help="train N models by the checkpoint's recipe, unlearn and retrain each, attack them; "
        "or decide from scores computed elsewhere (--scores)",
    )
    audit.add_argument("--checkpoint", help="the audited model (its recorded recipe trains N)")
    audit.add_argument("--method", help="the unlearning method to audit (see list-methods)")
    target = audit.add_mutually_exclusive_group()
    target.add_argument("--forget-classes", type=csv_ints, help="e.g. 3")
    target.add_argument(
        "--forget-indices",
        type=csv_ints,
        help="training indices, e.g. 1,7,9 (with --scores: the samples' names, in order)",
    )
    audit.add_argument(
        "--scores",
        help="FILE.npz of arrays unlearned, retrained[, original], each (models, samples) of "
        "logit-scaled confidences: decide from these instead of training models",
    )
    audit.add_argument(
        "--recipe",
        metavar="FILE.json",
        help="how the audited model was trained, for a checkpoint that records no recipe: a JSON "
        "object of dataset, arch, epochs, lr, batch_size, weight_decay, optimizer[, seed, "
        "momentum] (the N models are trained by it)",
    )
    audit.add_argument("--models", type=int, default=8, help="N models (seeds 0..N-1), at least 4")
    audit.add_argument(
        "--set",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the method, e.g. lr=0.01 (repeatable; list-methods --verbose)",
    )
    _add_attack_options(audit)
    audit.add_argument(
        "--oracle-convention",
        choices=CONVENTIONS,
        default="standard",
        help="how the retrained models are made (default standard: mean loss per batch)",
    )
    add_engine_options(audit, "model")
    audit.add_argument("--out", required=True, help="folder for privacy.json")
    audit.set_defaults(run=run_privacy_audit)


def _add_attack_options(audit) -> None:
    """The attacks' settings: SVC draws, the verdict's margin, the relearning attack."""
    audit.add_argument(
        "--attack-seeds", type=int, default=3, help="SVC attack draws per model (default 3)"
    )
    audit.add_argument(
        "--margin",
        type=float,
        default=0.05,
        help="equivalence margin on U-LiRA's AUC: 'forgotten' needs its 95%% interval within "
        "0.5 +- margin (default 0.05)",
    )
    audit.add_argument(
        "--relearn-steps",
        type=int,
        default=20,
        help="relearning attack: fine-tuning steps on retained images (default 20; 0: skip)",
    )
    audit.add_argument(
        "--relearn-samples",
        type=int,
        default=256,
        help="relearning attack: retained images it fine-tunes on (default 256)",
    )


def audit_spec(args: argparse.Namespace):
    from unlearn_core.checkpoint import sha256_file
    from unlearn_core.privacy.given_recipe import read_recipe_file
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
    recipe = read_recipe_file(args.recipe) if args.recipe else None
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
        margin=args.margin,
        relearn_steps=args.relearn_steps,
        relearn_samples=args.relearn_samples,
        recipe=recipe,
    )


def _require_model_audit(args: argparse.Namespace) -> None:
    """A model audit needs a checkpoint, a method and a forget request: one line if not."""
    missing = [
        flag
        for flag, value in (("--checkpoint", args.checkpoint), ("--method", args.method))
        if not value
    ]
    if args.forget_classes is None and args.forget_indices is None:
        missing.append("--forget-classes or --forget-indices")
    if missing:
        raise UserError(
            f"privacy-audit needs {', '.join(missing)} (or --scores FILE.npz to decide from "
            "scores computed elsewhere)."
        )


def run_scores_audit(args: argparse.Namespace, out: Path) -> None:
    """privacy.json from --scores: nothing is trained; nothing is written on a bad file."""
    from unlearn_core.files import write_bytes_atomic
    from unlearn_core.privacy.score_file import scores_audit
    from unlearn_core.privacy.spec import check_margin
    from unlearn_core.privacy.store import privacy_json

    if args.checkpoint or args.method or args.recipe or args.forget_classes is not None:
        raise UserError(
            "--scores decides from the scores alone: leave out --checkpoint, --method, --recipe "
            "and --forget-classes (--forget-indices may name the samples)."
        )
    privacy = scores_audit(args.scores, args.forget_indices, check_margin(args.margin))
    write_bytes_atomic(out / "privacy.json", privacy_json(privacy))
    print(f"{_summary_line(privacy)} Wrote {out}/privacy.json.")


def _summary_line(privacy: dict) -> str:
    ulira = privacy["attacks"]["ulira"]
    low, high = ulira["auc_ci"]
    return (
        f"{privacy['verdict']}: U-LiRA AUC {ulira['auc']:.3f} [{low:.3f}, {high:.3f}] over "
        f"{privacy['models']} models; {privacy['verdict_reason']}"
    )


def run_privacy_audit(args: argparse.Namespace) -> None:
    from unlearn_core.cli.sweep import make_cli_executor
    from unlearn_core.engine.jobs import JobManager
    from unlearn_core.files import check_out_folder, write_bytes_atomic
    from unlearn_core.privacy.store import AuditStore, privacy_json

    out = check_out_folder(args.out)  # a file, a read-only folder: one line before any work
    if args.scores:
        return run_scores_audit(args, out)
    _require_model_audit(args)
    spec = audit_spec(args)
    manager = JobManager(args.store, make_cli_executor(args))
    job = manager.submit(spec)
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
    print(f"{_summary_line(privacy)} Wrote {out}/privacy.json ({job.seconds:.0f} s).")
