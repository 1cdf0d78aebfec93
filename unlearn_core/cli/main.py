"""`python -m unlearn_core ...`: the command-line door onto the same functions as the app.

One module per command family (listing, train, unlearn, sweep and jobs, study, explain, audit),
each adding its parsers with `set_defaults(run=...)`. Bad input ends with one line on stderr
("error: ...") and exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from unlearn_core.cli import audit, explain, listing, privacy, study, sweep, train, unlearn
from unlearn_core.cli.options import enter_reproducible
from unlearn_core.errors import UserError

FAMILIES = (listing, train, unlearn, sweep, privacy, study, explain, audit)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m unlearn_core",
        description="Unlearning Workbench: train, unlearn and audit image classifiers.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for family in FAMILIES:
        family.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. argv None: sys.argv's, as `python -m unlearn_core` gives them; only
    then may --reproducible re-execute the process to pin the kernels' ISA (options.py)."""
    args = build_parser().parse_args(argv)
    try:
        enter_reproducible(args, sys.argv[1:] if argv is None else None)
        args.run(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head` closed the pipe: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0
