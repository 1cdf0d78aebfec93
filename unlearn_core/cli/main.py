"""`python -m unlearn_core ...`: the command-line door onto the same functions as the app.

One module per command family (listing, train, unlearn, sweep and jobs, study, explain, audit),
each adding its parsers with `set_defaults(run=...)`. Bad input ends with one line on stderr
("error: ...") and exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from safetensors import SafetensorError

from unlearn_core.cli import audit, explain, listing, privacy, study, sweep, train, unlearn
from unlearn_core.cli.options import enter_reproducible
from unlearn_core.errors import UserError

FAMILIES = (listing, train, unlearn, sweep, privacy, study, explain, audit)


class OneLineParser(argparse.ArgumentParser):
    """argparse with its usage errors as one line (`error: PROG: message`, exit 2), like every
    other error of the command line; --help still prints the usage."""

    def _get_value(self, action, arg_string):
        """Numbers in ASCII only: int() and float() also take "٣" or "３" (3), which no one
        types for a seed, an epoch count or a learning rate on purpose."""
        if action.type in (int, float) and not arg_string.isascii():
            self.error(
                f"argument {'/'.join(action.option_strings)}: {arg_string[:40]!r} is "
                "not a number in ASCII digits"
            )
        return super()._get_value(action, arg_string)

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message.splitlines()[0] if message else ''}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
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
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # a usage error (its one line printed) or --help: its code
        return done.code if isinstance(done.code, int) else 2
    try:
        enter_reproducible(args, sys.argv[1:] if argv is None else None)
        args.run(args)
    except UserError as err:
        _name_slow_plugins()
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `... | head` closed the pipe: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, SafetensorError) as err:  # a full disk, a read-only folder: one line
        reason = getattr(err, "strerror", None) or str(err).strip().splitlines()[0][:200]
        where = f": {err.filename}" if getattr(err, "filename", None) else ""
        print(f"error: {reason}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written.", file=sys.stderr)
        return 130
    _name_slow_plugins()
    return 0


def _name_slow_plugins() -> None:
    """A plug-in that took long to import, named on stderr by whichever command loaded it (the
    user waited for it: it is theirs to fix or uninstall)."""
    methods = sys.modules.get("unlearn_core.methods")  # not imported: no plug-in was loaded
    for name, note in getattr(methods, "PLUGIN_WARNINGS", {}).items():
        print(f"warning: plug-in {name} {note}", file=sys.stderr)
