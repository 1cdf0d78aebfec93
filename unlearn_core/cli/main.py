"""`python -m unlearn_core ...`: the command-line door onto the same functions as the app.

Bad input ends with one line on stderr ("error: ...") and exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from unlearn_core.cli.audit import add_audit_parser, run_audit
from unlearn_core.cli.commands import command_line
from unlearn_core.errors import UserError


def _csv_ints(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        message = f"expected comma-separated integers, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None


def _key_value(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


class TerminalProgress:
    """Progress on stderr: a rewritten line on a terminal, a line per 10% otherwise (logs, CI)."""

    def __init__(self):
        self.tty = sys.stderr.isatty()
        self.last_decile = -1
        self.start = time.perf_counter()

    def __call__(self, fraction: float, phase: str) -> None:
        elapsed = time.perf_counter() - self.start
        line = f"[{fraction * 100:5.1f}% {elapsed:6.1f}s] {phase}"
        if self.tty:
            sys.stderr.write("\r" + line[:100].ljust(100))
            if fraction >= 1:
                sys.stderr.write("\n")
        elif int(fraction * 10) > self.last_decile:
            self.last_decile = int(fraction * 10)
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m unlearn_core",
        description="Unlearning Workbench: train, unlearn and audit image classifiers.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    methods = sub.add_parser("list-methods", help="registered unlearning methods, one per line")
    methods.add_argument("--verbose", action="store_true", help="add each method's card")
    sub.add_parser("list-datasets", help="data set names, one per line")
    sub.add_parser("list-archs", help="architecture names, one per line")
    runs = sub.add_parser("list-runs", help="stored runs, newest first")
    runs.add_argument("--store", help="run store folder (default: $UNLEARN_RUNS_DIR or ./runs)")

    train = sub.add_parser("train", help="train a model by a recorded recipe; save a checkpoint")
    train.add_argument("--dataset", default="demo")
    train.add_argument("--data-root", help="folder holding the data set's files")
    train.add_argument("--arch", default="smallcnn")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--lr", type=float, default=0.05)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--sd-gamma", type=float, default=0.0, help="SD-loss weight (Eq. 10)")
    train.add_argument("--weight-decay", type=float, default=5e-4)
    train.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    train.add_argument("--momentum", type=float, default=0.0)
    _add_probe_options(train, every=200)
    train.add_argument("--out", required=True, help="checkpoint file (.safetensors)")

    unlearn = sub.add_parser("unlearn", help="forget classes or samples; write a run folder")
    unlearn.add_argument("--checkpoint", required=True)
    unlearn.add_argument("--method", required=True)
    target = unlearn.add_mutually_exclusive_group(required=True)
    target.add_argument("--forget-classes", type=_csv_ints, help="e.g. 3,5")
    target.add_argument("--forget-indices", type=_csv_ints, help="training indices, e.g. 1,7,9")
    unlearn.add_argument("--set", type=_key_value, action="append", default=[], metavar="K=V")
    unlearn.add_argument("--oracle", action="store_true", help="also retrain without the set")
    unlearn.add_argument(
        "--privacy-risk",
        action="store_true",
        help="also score the forget set's privacy risk (trains a cached shadow model)",
    )
    unlearn.add_argument(
        "--then-classes",
        type=_csv_ints,
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
    unlearn.add_argument("--seed", type=int, default=0)
    unlearn.add_argument("--out", required=True, help="run folder to write")
    unlearn.add_argument("--dataset", help="data set (default: the one the checkpoint records)")
    unlearn.add_argument("--data-root")
    unlearn.add_argument("--arch", help="architecture, for weights that do not record it")
    unlearn.add_argument("--store", help="run store folder (default: $UNLEARN_RUNS_DIR or ./runs)")
    unlearn.add_argument("--no-store", action="store_true", help="write only --out")

    study = sub.add_parser(
        "study", help="unlearning vs verification error over a grid of recipes (Unrolling SGD)"
    )
    study.add_argument("--dataset", default="demo")
    study.add_argument("--data-root")
    study.add_argument("--arch", default="smallcnn")
    study.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="sd_gamma, epochs, lr or batch_size and its values; repeat per key (all combinations)",
    )
    study.add_argument("--forget-indices", type=_csv_ints, required=True)
    study.add_argument("--epochs", type=int, default=1)
    study.add_argument("--lr", type=float, default=0.05)
    study.add_argument("--batch-size", type=int, default=64)
    study.add_argument("--weight-decay", type=float, default=5e-4)
    study.add_argument("--sd-gamma", type=float, default=0.0)
    study.add_argument("--seed", type=int, default=0)
    _add_probe_options(study, every=25)  # short trainings need denser probes for sigma_avg
    study.add_argument("--out", required=True, help="folder for study.csv and study.json")

    from unlearn_core.cli.explain import add_explain_parser  # here: it takes _csv_ints

    add_explain_parser(sub, _csv_ints)
    add_audit_parser(sub)
    return parser


def _recipe(args):
    """The Recipe of a train or study command: each recipe field the command has an option for
    (options are named after the fields), the recipe's defaults for the rest."""
    import dataclasses

    from unlearn_core.training import Recipe

    names = {f.name for f in dataclasses.fields(Recipe)}
    return Recipe(**{k: v for k, v in vars(args).items() if k in names})


def _add_probe_options(parser: argparse.ArgumentParser, every: int) -> None:
    parser.add_argument(
        "--probe-every", type=int, default=every, help="top Hessian eigenvalue every K SGD steps"
    )
    parser.add_argument("--probe-size", type=int, default=64, help="probe batch size")


def cmd_list_methods(args) -> None:
    from unlearn_core.methods import METHODS

    for spec in METHODS.values():
        print(f"{spec.name}\n    {spec.card}\n" if args.verbose else spec.name)


def cmd_train(args) -> None:
    from unlearn_core.checkpoint import save_checkpoint
    from unlearn_core.data import load_dataset
    from unlearn_core.training import train

    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise UserError(f"--out {out} must end in .safetensors.")
    recipe = _recipe(args)
    data = load_dataset(args.dataset, args.data_root)
    trained = train(args.arch, data, recipe, progress=TerminalProgress())
    command = command_line(sys.argv[1:])
    digest = save_checkpoint(trained, out, extra={"command": command})
    final = trained.history[-1]
    sidecar = {"file": out.name, "sha256": digest, "command": command, **final}
    out.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    print(f"test accuracy {final['test_acc']:.4f}; wrote {out} (sha256 {digest})")


def cmd_unlearn(args) -> None:
    from unlearn_core.checkpoint import checkpoint_dataset, load_checkpoint
    from unlearn_core.data import load_dataset
    from unlearn_core.methods import get_method
    from unlearn_core.metrics.relearn import RelearnConfig
    from unlearn_core.request import ForgetRequest
    from unlearn_core.run.pipeline import run_unlearning
    from unlearn_core.run.sequential import run_sequence
    from unlearn_core.run.store import RunStore, write_run_folder

    get_method(args.method)  # fail on a wrong name before any loading
    if args.then_classes and args.forget_classes is None:
        raise UserError("--then-classes continues a class request: start with --forget-classes.")
    if args.then_classes and args.privacy_risk:
        raise UserError("--privacy-risk is not available for a sequence; run the steps apart.")
    relearn = None
    if args.relearn:
        relearn = RelearnConfig(
            samples_per_epoch=args.relearn_samples,
            max_epochs=args.relearn_max_epochs,
            seed=args.seed,
        )
    data = load_dataset(
        args.dataset or checkpoint_dataset(args.checkpoint) or "demo", args.data_root
    )
    trained, meta = load_checkpoint(args.checkpoint, data, args.arch)
    if args.forget_classes is not None:
        request = ForgetRequest.for_classes(data, args.forget_classes)
    else:
        request = ForgetRequest.for_indices(data, args.forget_indices)
    if args.then_classes:
        record = run_sequence(
            trained,
            meta,
            data,
            [args.forget_classes, *args.then_classes],
            args.method,
            dict(args.set),
            oracle=args.oracle,
            seed=args.seed,
            relearn=relearn,
            progress=TerminalProgress(),
        )
    else:
        record = run_unlearning(
            trained,
            meta,
            data,
            request,
            args.method,
            dict(args.set),
            oracle=args.oracle,
            seed=args.seed,
            progress=TerminalProgress(),
            privacy_risk=args.privacy_risk,
            relearn=relearn,
        )
    record.report = record.report.with_command(command_line(sys.argv[1:]))
    if not args.no_store:
        run_id = RunStore(args.store).save(record)
        print(f"stored as run {run_id}")
    write_run_folder(record, args.out)
    m = record.report.metrics.to_dict()
    summary = {
        k: m[k] and {x: m[k][x] for x in ("forget_acc", "retain_acc", "test_acc")} for k in m
    }
    print(json.dumps(summary))
    print(f"wrote {Path(args.out) / 'report.json'}")


def cmd_study(args) -> None:
    from unlearn_core.data import load_dataset
    from unlearn_core.run.study import COLUMNS, parse_grid, run_study

    grid = parse_grid(args.grid)
    if not grid:
        raise UserError("give at least one --grid KEY=V1,V2 to vary.")
    base = _recipe(args)
    data = load_dataset(args.dataset, args.data_root)
    summary = run_study(
        args.arch, data, base, grid, args.forget_indices, args.out, progress=TerminalProgress()
    )
    shown = [*grid, *COLUMNS[:4]]
    print(" ".join(shown))
    for row in summary["rows"]:
        cells = (f"{row[c]:.6g}" if row[c] is not None else "-" for c in shown)
        print(" ".join(cell.rjust(len(c)) for cell, c in zip(cells, shown, strict=True)))
    r, p = summary["pearson_r"], summary["p_value"]
    print(f"pearson r {r:.4f} (p {p:.3g})" if r is not None else "pearson r undefined")
    print(f"wrote {Path(args.out) / 'study.csv'} and study.json in {summary['seconds']:.1f} s")


def cmd_explain(args) -> None:
    from unlearn_core.cli.explain import run_explain

    run_explain(args)


def cmd_list_runs(args) -> None:
    from unlearn_core.run.store import RunStore

    for row in RunStore(args.store).list():
        print(row["run_id"])


def cmd_list_datasets(args) -> None:
    from unlearn_core.data import dataset_names

    print("\n".join(dataset_names()))


def cmd_list_archs(args) -> None:
    from unlearn_core.models import arch_names

    print("\n".join(arch_names()))


COMMANDS = {
    "list-methods": cmd_list_methods,
    "list-datasets": cmd_list_datasets,
    "list-archs": cmd_list_archs,
    "list-runs": cmd_list_runs,
    "train": cmd_train,
    "unlearn": cmd_unlearn,
    "study": cmd_study,
    "explain": cmd_explain,
    "audit": run_audit,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written.", file=sys.stderr)
        return 130
    return 0
