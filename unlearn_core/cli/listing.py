"""`list-methods`, `list-datasets`, `list-archs` and `list-runs`: one name per line."""

from __future__ import annotations

import argparse
import sys


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
    runs = sub.add_parser(
        "list-runs", help="stored runs, newest first; a corrupt one as 'ID corrupt: reason'"
    )
    runs.add_argument("--store", help="run store folder (default: $UNLEARN_RUNS_DIR or ./runs)")
    runs.set_defaults(run=list_runs)


def list_methods(args: argparse.Namespace) -> None:
    """One name per line; --verbose adds each card and its settings (default: help). Plug-ins
    that could not be loaded are named on stderr with their error (slow ones by main())."""
    from unlearn_core.methods import PLUGIN_ERRORS, all_methods

    for spec in all_methods().values():
        print(_describe(spec) if args.verbose else spec.name)
    for name, error in PLUGIN_ERRORS.items():
        print(f"warning: plug-in {name} could not be loaded: {error}", file=sys.stderr)


def _describe(spec) -> str:
    import dataclasses

    from unlearn_core.methods import field_help

    helps = field_help(spec.config_cls)
    lines = [spec.name, f"    {spec.card}", f"    requests: {', '.join(spec.requests)}"]
    for f in dataclasses.fields(spec.config_cls):
        lines.append(f"    --set {f.name}={f.default}  {helps[f.name]}")
    return "\n".join(lines) + "\n"


def list_datasets(args: argparse.Namespace) -> None:
    from unlearn_core.data import dataset_names

    print("\n".join(dataset_names()))


def list_archs(args: argparse.Namespace) -> None:
    from unlearn_core.models import arch_names

    print("\n".join(arch_names()))


def list_runs(args: argparse.Namespace) -> None:
    from unlearn_core.run.store import RunStore

    for row in RunStore(args.store).list():
        print(f"{row['run_id']} corrupt: {row['corrupt']}" if row["corrupt"] else row["run_id"])
