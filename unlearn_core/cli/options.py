"""What several commands share: argument types, the recipe options, and terminal progress."""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time


def csv_ints(text: str) -> list[int]:
    """`3,5` -> [3, 5]; anything else is argparse's one-line usage error."""
    try:
        if not text.isascii():  # int() also takes "٣" or "３"
            raise ValueError(text)
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        message = f"expected comma-separated integers, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None


def seed(text: str) -> int:
    """A seed: a whole number in [0, 2**32) (numpy and torch generators take it); anything else
    is argparse's one-line usage error."""
    if not re.fullmatch(r"[0-9]{1,10}", text.strip()):
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text[:40]!r}")
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"a seed lies in [0, 2**32), not {text[:40]}")
    return value


def key_value(text: str) -> tuple[str, str]:
    """`key=value` -> (key, value), the form of every `--set` option."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def add_oracle_options(parser: argparse.ArgumentParser) -> None:
    """--oracle and --oracle-convention (training.py: how the retrain divides a batch that lost
    samples)."""
    from unlearn_core.training import CONVENTIONS

    parser.add_argument("--oracle", action="store_true", help="also retrain without the set")
    parser.add_argument(
        "--oracle-convention",
        choices=CONVENTIONS,
        default="standard",
        help="the retrain's batch loss: standard = mean over the samples a batch still has "
        "(default); replay = sum over them / nominal batch size (what single-gradient targets)",
    )


def add_engine_options(parser: argparse.ArgumentParser, task: str) -> None:
    """Where a command's tasks (`task`: "job", "model") run, and what data they read:
    --executor, --address, --workers, --threads, --dataset, --data-root, --arch, --store."""
    parser.add_argument("--executor", choices=["ray", "inline"], default="ray")
    parser.add_argument("--address", help="Ray cluster address (or $UNLEARN_RAY_ADDRESS)")
    parser.add_argument(
        "--workers", type=int, help=f"{task}s at once on a local Ray (default: the machine's cores)"
    )
    parser.add_argument("--threads", type=int, default=1, help=f"torch threads per {task}")
    parser.add_argument("--dataset", help="data set (default: the one the checkpoint records)")
    parser.add_argument("--data-root")
    parser.add_argument("--arch", help="architecture, for weights that do not record it")
    parser.add_argument("--store", help="run store folder (default: $UNLEARN_RUNS_DIR or ./runs)")


def add_probe_options(parser: argparse.ArgumentParser, every: int) -> None:
    parser.add_argument(
        "--probe-every", type=int, default=every, help="top Hessian eigenvalue every K SGD steps"
    )
    parser.add_argument("--probe-size", type=int, default=64, help="probe batch size")


def recipe_from_args(args: argparse.Namespace):
    """The Recipe of a train or study command: each recipe field the command has an option for
    (options are named after the fields), the recipe's defaults for the rest."""
    from unlearn_core.training import Recipe

    names = {f.name for f in dataclasses.fields(Recipe)}
    return Recipe(**{k: v for k, v in vars(args).items() if k in names})


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
