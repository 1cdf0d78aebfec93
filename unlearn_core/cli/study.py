"""`python -m unlearn_core study ...`: unlearning against verification error over a grid of
recipes (Thudi et al., Unrolling SGD, Sec. 8.3; run/study.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from unlearn_core.cli.options import (
    TerminalProgress,
    add_probe_options,
    add_reproducible_options,
    csv_ints,
    recipe_from_args,
    seed,
)
from unlearn_core.errors import UserError


def add_parsers(sub) -> None:
    study = sub.add_parser(
        "study", help="unlearning vs verification error over a grid of recipes (Unrolling SGD)"
    )
    study.add_argument("--dataset", default="demo", help="data set (default demo)")
    study.add_argument("--data-root", help="folder holding the data set's files")
    study.add_argument("--arch", default="smallcnn", help="architecture (default smallcnn)")
    study.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="sd_gamma, epochs, lr or batch_size and its values; repeat per key (all combinations)",
    )
    study.add_argument(
        "--forget-indices", type=csv_ints, required=True, help="training indices to unlearn, e.g. 0"
    )
    study.add_argument(
        "--each-sample",
        action="store_true",
        help="unlearn and retrain without each forget index on its own and average the "
        "verification errors (one retraining per index and setting)",
    )
    study.add_argument("--epochs", type=int, default=1, help="unless the grid sets it")
    study.add_argument("--lr", type=float, default=0.05, help="unless the grid sets it")
    study.add_argument("--batch-size", type=int, default=64, help="unless the grid sets it")
    study.add_argument("--weight-decay", type=float, default=5e-4, help="L2 coefficient")
    study.add_argument(
        "--sd-gamma",
        type=float,
        default=0.0,
        help="SD-loss weight gamma (Eq. 10 as printed; the authors' code is 10x weaker per gamma)",
    )
    study.add_argument("--seed", type=seed, default=0, help="seeds w_0 and the data order")
    add_probe_options(study, every=25)  # short trainings need denser probes for sigma_avg
    add_reproducible_options(study, default=True, threads=1)
    study.add_argument("--out", required=True, help="folder for study.csv and study.json")
    study.set_defaults(run=run_study_command)


def run_study_command(args: argparse.Namespace) -> None:
    from unlearn_core.data import load_dataset
    from unlearn_core.files import check_out_folder
    from unlearn_core.run.study import COLUMNS, parse_grid, run_study

    check_out_folder(args.out)  # before any training
    grid = parse_grid(args.grid)
    if not grid:
        raise UserError("give at least one --grid KEY=V1,V2 to vary.")
    data = load_dataset(args.dataset, args.data_root)
    summary = run_study(
        args.arch,
        data,
        recipe_from_args(args),
        grid,
        args.forget_indices,
        args.out,
        each_sample=args.each_sample,
        threads=args.threads,
        progress=TerminalProgress(),
    )
    shown = [*grid, *COLUMNS[:4]]
    print(" ".join(shown))
    for row in summary["rows"]:
        cells = (f"{row[c]:.6g}" if row[c] is not None else "-" for c in shown)
        print(" ".join(cell.rjust(len(c)) for cell, c in zip(cells, shown, strict=True)))
    r, p = summary["pearson_r"], summary["p_value"]
    print(f"pearson r {r:.4f} (p {p:.3g})" if r is not None else "pearson r undefined")
    partial, partial_p = summary["partial_r_given_steps"], summary["partial_p_value"]
    if partial is not None:
        print(f"partial r given the steps t {partial:.4f} (p {partial_p:.3g})")
    env = summary["environment"]
    isa = f"pinned {env['pinned_isa']}" if env["pinned_isa"] else "not pinned"
    print(f"torch threads {env['threads']}; {env['cpu_capability']} kernels, ISA {isa}")
    print(f"wrote {Path(args.out) / 'study.csv'} and study.json in {summary['seconds']:.1f} s")
