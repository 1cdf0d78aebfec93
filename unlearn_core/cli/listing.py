"""`list-methods`, `list-datasets`, `list-archs` and `list-runs`: one name per line."""

from __future__ import annotations

import argparse


def add_parsers(sub) -> None:
    methods = sub.add_parser("list-methods", help="registered unlearning methods, one per line")
    methods.add_argument("--verbose", action="store_true", help="add each method's card")
    methods.set_defaults(run=list_methods)
    sub.add_parser("list-datasets", help="data set names, one per line").set_defaults(
        run=list_datasets
    )
    sub.add_parser("list-archs", help="architecture names, one per line").set_defaults(
        run=list_archs
    )
    runs = sub.add_parser("list-runs", help="stored runs, newest first")
    runs.add_argument("--store", help="run store folder (default: $UNLEARN_RUNS_DIR or ./runs)")
    runs.set_defaults(run=list_runs)


def list_methods(args: argparse.Namespace) -> None:
    from unlearn_core.methods import METHODS

    for spec in METHODS.values():
        print(f"{spec.name}\n    {spec.card}\n" if args.verbose else spec.name)


def list_datasets(args: argparse.Namespace) -> None:
    from unlearn_core.data import dataset_names

    print("\n".join(dataset_names()))


def list_archs(args: argparse.Namespace) -> None:
    from unlearn_core.models import arch_names

    print("\n".join(arch_names()))


def list_runs(args: argparse.Namespace) -> None:
    from unlearn_core.run.store import RunStore

    for row in RunStore(args.store).list():
        print(row["run_id"])
