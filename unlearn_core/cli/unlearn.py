"""`python -m unlearn_core unlearn ...`: forget classes or samples, write a run folder and store
the run. The options become the RunSpec an unlearning job carries, run by the inline executor
as the app's jobs are (run/unlearning.py; with --then-classes a sequence of requests,
run/sequential.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from unlearn_core.cli.options import (
    TerminalProgress,
    add_oracle_options,
    add_reproducible_options,
    csv_ints,
    key_value,
)
from unlearn_core.errors import UserError
from unlearn_core.specs.commands import command_line
from unlearn_core.specs.run import RunSpec


def add_parsers(sub) -> None:
    unlearn = sub.add_parser("unlearn", help="forget classes or samples; write a run folder")
    unlearn.add_argument("--checkpoint", required=True, help="the model to unlearn from")
    unlearn.add_argument("--method", required=True, help="see list-methods")
    target = unlearn.add_mutually_exclusive_group(required=True)
    target.add_argument("--forget-classes", type=csv_ints, help="e.g. 3,5")
    target.add_argument("--forget-indices", type=csv_ints, help="training indices, e.g. 1,7,9")
    unlearn.add_argument(
        "--set",
        type=key_value,
        action="append",
        default=[],
        metavar="K=V",
        help="a setting of the method, e.g. lr=0.01 (repeatable; list-methods --verbose)",
    )
    add_oracle_options(unlearn)
    _add_extra_metric_options(unlearn)
    unlearn.add_argument("--seed", type=int, default=0, help="seeds the method's randomness")
    unlearn.add_argument("--requester", help="who asked for the deletion (for the audit record)")
    unlearn.add_argument("--request-date", help="when the deletion was asked for, YYYY-MM-DD")
    unlearn.add_argument("--out", required=True, help="run folder to write")
    unlearn.add_argument("--dataset", help="data set (default: the one the checkpoint records)")
    unlearn.add_argument("--data-root", help="folder holding the data set's files")
    unlearn.add_argument("--arch", help="architecture, for weights that do not record it")
    unlearn.add_argument("--store", help="run store folder (default: $UNLEARN_RUNS_DIR or ./runs)")
    unlearn.add_argument("--no-store", action="store_true", help="write only --out")
    add_reproducible_options(unlearn)
    unlearn.set_defaults(run=run_unlearn)


def _add_extra_metric_options(unlearn: argparse.ArgumentParser) -> None:
    unlearn.add_argument(
        "--privacy-risk",
        action="store_true",
        help="also score the forget set's privacy risk (trains a cached shadow model)",
    )
    unlearn.add_argument(
        "--then-classes",
        type=csv_ints,
        action="append",
        default=[],
        metavar="C[,C...]",
        help="then forget these classes from the result too; repeat for a sequence of requests "
        "(--forget-classes 0 --then-classes 1 --then-classes 2): report.json holds the union "
        "in 'forget' and each step's metrics in 'sequence'",
    )
    unlearn.add_argument(
        "--relearn",
        action="store_true",
        help="also measure relearn time: epochs of training on random samples until forget "
        "accuracy is back at the original's (trains a copy of each model)",
    )
    unlearn.add_argument("--relearn-samples", type=int, default=500, help="samples per epoch")
    unlearn.add_argument(
        "--relearn-max-epochs", type=int, default=50, help="cap, reported as more_than"
    )


def _check_combinations(args: argparse.Namespace) -> None:
    """Refuse option combinations that cannot run, before anything is loaded."""
    from unlearn_core.methods import get_method
    from unlearn_core.request import check_origin

    get_method(args.method)  # fail on a wrong name before any loading
    check_origin(args.requester, args.request_date)
    if not 0 <= args.seed < 2**32:
        raise UserError(f"--seed must lie in [0, 2**32), not {args.seed}.")
    if args.then_classes and args.forget_classes is None:
        raise UserError("--then-classes continues a class request: start with --forget-classes.")
    if args.then_classes and args.privacy_risk:
        raise UserError("--privacy-risk is not available for a sequence; run the steps apart.")


def _check_out(args: argparse.Namespace) -> None:
    """Before any work: finish a replacement of --out that a killed run left half done, refuse an
    --out that is not a new or run folder, and one inside the run store (runs there are kept
    by id: writing one under another name would give two folders one run id)."""
    from unlearn_core.run.store import RunStore, check_out_target, recover_interrupted

    out = Path(args.out)
    check_out_target(out)
    try:
        recover_interrupted(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))  # writable?
    except OSError as err:
        raise UserError(f"cannot write --out {out} ({err.strerror or err}).") from None
    RunStore(args.store).clean()  # what a run killed earlier left in the store
    store = RunStore(args.store).root
    resolved = out.resolve()
    if resolved == store.resolve() or store.resolve() in resolved.parents:
        raise UserError(
            f"--out {out} lies inside the run store {store}; choose a folder outside it "
            "(the store keeps the run by its id)."
        )


def _spec(args: argparse.Namespace, checkpoint_sha256: str) -> RunSpec:
    """The command's options as the RunSpec an unlearning job of the same run carries (the
    threads are the ones main() set)."""
    import torch

    what = "classes" if args.forget_classes is not None else "indices"
    forget = {what: getattr(args, f"forget_{what}")}
    forget.update(requester=args.requester, request_date=args.request_date)
    names = ("seed", "oracle", "oracle_convention", "dataset", "data_root", "arch")
    names += ("privacy_risk", "relearn", "relearn_samples", "relearn_max_epochs", "then_classes")
    return RunSpec(
        args.checkpoint,
        checkpoint_sha256,
        args.method,
        forget,
        overrides=dict(args.set),
        threads=torch.get_num_threads(),
        reproducible=args.reproducible,
        **{name: getattr(args, name) for name in names},
    )


def run_unlearn(args: argparse.Namespace) -> None:
    from unlearn_core.checkpoint import checkpoint_dataset, load_checkpoint
    from unlearn_core.data import load_dataset
    from unlearn_core.files import out_lock
    from unlearn_core.run.inputs import SharedInputs
    from unlearn_core.run.store import write_run_folder

    _check_combinations(args)
    _check_out(args)
    with out_lock(args.out):  # a second unlearn to the same --out is refused, not overwritten
        dataset = args.dataset or checkpoint_dataset(args.checkpoint) or "demo"
        data = load_dataset(dataset, args.data_root)
        trained, meta = load_checkpoint(args.checkpoint, data, args.arch)
        inputs = SharedInputs(data, trained, meta)
        record = _run_inline(_spec(args, meta["sha256"]), inputs)
        record.report = record.report.with_command(command_line(sys.argv[1:]))  # as typed
        store_error = _store(record, args)
        write_run_folder(record, args.out)  # even when the store failed
    _print_summary(record, args.out)
    if store_error is not None:
        raise UserError(f"wrote {args.out}, but the run store failed: {store_error}")


def _run_inline(spec: RunSpec, inputs):
    """The spec as a job of the inline executor, run as the app's jobs are (its kind's run:
    engine/kinds/unlearn.py), the terminal shown its progress; Ctrl-C cancels it at its next
    step. Not through the job manager: a command-line run keeps no job record."""
    from unlearn_core.engine.executors import InlineExecutor
    from unlearn_core.engine.kinds import kind_of
    from unlearn_core.engine.kinds.registry import Launch

    handle = InlineExecutor(watch=TerminalProgress()).launch(
        "unlearn", kind_of(spec), spec, Launch((inputs, None), spec.threads)
    )
    try:
        job, _ = handle.result()
    except KeyboardInterrupt:
        handle.cancel()
        raise
    return job.record


def _store(record, args: argparse.Namespace) -> str | None:
    """Keep the run in the run store unless --no-store; the store's one-line error, or None."""
    from unlearn_core.files import writing
    from unlearn_core.run.store import RunStore

    if args.no_store:
        return None
    try:
        with writing(args.store or "the run store"):
            run_id = RunStore(args.store).save(record)
    except UserError as err:
        return str(err)
    print(f"stored as run {run_id}")
    return None


def _print_summary(record, out) -> None:
    m = record.report.metrics.to_dict()
    summary = {
        k: m[k] and {x: m[k][x] for x in ("forget_acc", "retain_acc", "test_acc")} for k in m
    }
    print(json.dumps(summary))
    print(f"wrote {Path(out) / 'report.json'}")
