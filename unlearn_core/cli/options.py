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


def add_reproducible_options(
    parser: argparse.ArgumentParser, *, default: bool = False, threads: int | None = None
) -> None:
    """--reproducible (or --no-reproducible) and --threads N (default `threads`; None: torch's
    own count, or 1 under --reproducible). main() acts on them before the command runs
    (reproducible.py): pins the kernels' ISA by re-executing itself, the threads, and on CUDA
    deterministic algorithms."""
    on = "on" if default else "off"
    shown = threads or "torch's, or 1 with --reproducible"
    parser.add_argument(
        "--reproducible",
        action=argparse.BooleanOptionalAction,
        default=default,
        help=f"pin threads, the CPU kernels' ISA (AVX2) and, on CUDA, deterministic algorithms, "
        f"so a rerun on another x86 CPU gives the same bits where BENCHMARKS.md says (default "
        f"{on})",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=threads,
        help=f"torch threads (default {shown}): "
        "a CPU result is bitwise reproducible at a fixed count only",
    )


def enter_reproducible(args: argparse.Namespace, argv: list[str] | None) -> None:
    """Pin what args ask for before a command runs: re-execute `python -m unlearn_core argv`
    under the pinned ISA when `--reproducible` and not pinned yet (argv None: main() was called
    in-process, where the ISA stays as loaded and a line on stderr says so), then threads."""
    from unlearn_core.errors import UserError
    from unlearn_core.run import reproducible

    threads = getattr(args, "threads", None)
    if threads is not None and not 1 <= threads <= 256:
        raise UserError(f"--threads must be between 1 and 256, not {threads}.")
    if getattr(args, "reproducible", False):
        if not reproducible.pin_or_reexec(argv):
            print("reproducible: ISA not pinned in this process (torch is loaded)", file=sys.stderr)
        args.threads = threads or 1
        reproducible.apply(args.threads)
    elif threads is not None:
        import torch

        torch.set_num_threads(threads)


def add_engine_options(parser: argparse.ArgumentParser, task: str) -> None:
    """Where a command's tasks (`task`: "job", "model") run, and what data they read:
    --executor, --address, --workers, --threads, --reproducible, --dataset, --data-root,
    --arch, --store."""
    parser.add_argument(
        "--executor",
        choices=["ray", "inline"],
        default="ray",
        help=f"ray (default): {task}s in parallel on Ray; inline: one after another here",
    )
    parser.add_argument("--address", help="Ray cluster address (or $UNLEARN_RAY_ADDRESS)")
    parser.add_argument(
        "--workers", type=int, help=f"{task}s at once on a local Ray (default: the machine's cores)"
    )
    add_reproducible_options(parser, threads=1)
    parser.add_argument("--dataset", help="data set (default: the one the checkpoint records)")
    parser.add_argument("--data-root", help="folder holding the data set's files")
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
