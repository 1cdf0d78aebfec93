"""`sweep` (every method x seed as a job, with a summary) and `jobs` (list, cancel): the
command-line door onto the job engine (unlearn_core/engine)."""

from __future__ import annotations

import argparse
import sys

from unlearn_core.cli.options import add_engine_options, add_oracle_options, csv_ints, key_value
from unlearn_core.errors import UserError


def add_parsers(sub) -> None:
    sweep = sub.add_parser("sweep", help="run every method x seed as a job; summary.csv")
    sweep.add_argument("--checkpoint", required=True, help="the model to unlearn from")
    sweep.add_argument("--methods", required=True, help="comma-separated, e.g. unsir,finetune")
    target = sweep.add_mutually_exclusive_group(required=True)
    target.add_argument("--forget-classes", type=csv_ints, help="e.g. 3,5")
    target.add_argument("--forget-indices", type=csv_ints, help="training indices, e.g. 1,7,9")
    target.add_argument(
        "--random-samples", type=int, help="N training samples drawn at random per seed"
    )
    sweep.add_argument("--seeds", type=csv_ints, default=[0], help="e.g. 0,1,2")
    sweep.add_argument(
        "--set",
        type=key_value,
        action="append",
        default=[],
        metavar="METHOD.K=V",
        help="a setting of one method, e.g. unsir.lr=0.01 (repeatable; list-methods --verbose)",
    )
    add_oracle_options(sweep)
    add_engine_options(sweep, "job")
    sweep.add_argument("--out", required=True, help="folder for sweep.json and summary.csv")
    sweep.set_defaults(run=run_sweep_command)

    jobs = sub.add_parser("jobs", help="list jobs (id state progress run_id); jobs cancel ID")
    jobs.add_argument("action", nargs="?", choices=["list", "cancel"], default="list")
    jobs.add_argument("job_id", nargs="?")
    jobs.add_argument("--store", help="run store folder (default: $UNLEARN_RUNS_DIR or ./runs)")
    jobs.set_defaults(run=run_jobs)


def _base_spec(args: argparse.Namespace, sweep_id: str):
    from unlearn_core.checkpoint import sha256_file
    from unlearn_core.specs.run import RunSpec

    forget = (
        {"classes": args.forget_classes}
        if args.forget_classes is not None
        else {"indices": args.forget_indices or []}
    )
    try:
        digest = sha256_file(args.checkpoint)
    except OSError:
        raise UserError(f"checkpoint {args.checkpoint} cannot be read; check the path.") from None
    names = ("oracle", "oracle_convention", "dataset", "data_root", "arch", "threads")
    names += ("reproducible",)
    shared = {k: getattr(args, k) for k in names}
    return RunSpec(args.checkpoint, digest, "none", forget, sweep_id=sweep_id, **shared)


def make_cli_executor(args: argparse.Namespace):
    from unlearn_core.engine.executors import make_executor

    if args.workers is not None and not 1 <= args.workers <= 1024:
        raise UserError(f"--workers must be between 1 and 1024, not {args.workers}.")
    return make_executor(args.executor, args.address, args.workers)


def run_sweep_command(args: argparse.Namespace) -> None:
    from unlearn_core.engine.jobs import JobManager
    from unlearn_core.engine.runner import load_inputs
    from unlearn_core.engine.sweep import (
        check_sweep,
        new_sweep_id,
        run_sweep,
        split_overrides,
        sweep_specs,
    )
    from unlearn_core.files import check_out_folder

    check_out_folder(args.out)  # before any job runs
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    overrides = split_overrides(args.set, methods)
    check_sweep(methods, args.seeds)  # before anything is loaded
    if args.random_samples is not None and args.random_samples < 1:
        raise UserError("--random-samples must be at least 1.")
    base = _base_spec(args, new_sweep_id())
    inputs = load_inputs(base)
    specs, errors = sweep_specs(base, overrides, args.seeds, inputs.data, args.random_samples)
    if errors:
        raise UserError("; ".join(errors))
    manager = JobManager(args.store, make_cli_executor(args))
    shown: dict[str, tuple[str, int]] = {}

    def show(job) -> None:
        """A line when a job changes state or passes a quarter of its work, not more."""
        mark = (job.state, int(job.progress * 4))
        if shown.get(job.id) == mark:
            return
        shown[job.id] = mark
        name = f"{job.spec['method']} seed {job.spec['seed']}"
        detail = job.error if job.error else f"{job.progress:4.0%} {job.phase}"
        print(f"{job.id} {name}: {job.state} {detail}", file=sys.stderr, flush=True)

    sweep = run_sweep(manager, specs, inputs, args.out, show)
    failed = [j for j in sweep["jobs"] if j["state"] != "done"]
    print(
        f"{len(sweep['jobs']) - len(failed)} of {len(sweep['jobs'])} jobs done in "
        f"{sweep['wall_seconds']:.1f} s (their own time: {sweep['jobs_seconds']:.1f} s); "
        f"wrote {args.out}/sweep.json and summary.csv"
    )
    if failed:
        listed = ", ".join(
            f"{j['id']} ({j['method']} seed {j['seed']}: {j['state']})" for j in failed
        )
        raise UserError(f"{len(failed)} jobs did not finish: {listed}.")


def run_jobs(args: argparse.Namespace) -> None:
    from unlearn_core.engine.state import JobBoard
    from unlearn_core.run.store import default_store_root

    board = JobBoard(args.store or default_store_root())
    if args.action == "cancel":
        if not args.job_id:
            raise UserError("name the job to cancel: jobs cancel ID (`jobs` lists them).")
        print(board.request_cancel(args.job_id))
        return
    for job in board.list():
        print(f"{job.id} {job.state} {job.progress:.0%} {job.stored() or '-'}")
