"""The one place that turns a run's settings into a command line (DESIGN.md: "the two doors"),
beside the specs that spell theirs with it (cli/ only parses).

Every command the app prints or records is built here, with each word shell-quoted, so that
pasting it into a shell repeats exactly that run, whatever the paths contain.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Where a printed command writes its run folder: outside the run store (./runs by default), so
# the run the command makes is stored once, not also listed as a second run.
CLI_OUT = "cli-runs"


def interpreter() -> str:
    """The Python running this code, spelled so that a fresh shell in the repository finds it:
    relative (".venv/bin/python") when it lives in the checkout, else its absolute path. A bare
    `python` may be missing or lack the dependencies in a fresh shell."""
    exe = Path(sys.executable)  # not resolved: a virtual environment's python is a link
    try:
        return str(exe.relative_to(REPO))
    except ValueError:
        return str(exe)


def command_line(words: Sequence[str]) -> str:
    """`<interpreter> -m unlearn_core` followed by `words`, each quoted for a POSIX shell; run
    from the repository's root."""
    return shlex.join([interpreter(), "-m", "unlearn_core", *(str(w) for w in words)])


def forget_words(forget: Mapping) -> list[str]:
    """A forget request's dict (request.to_dict()) as `--forget-classes 3,5` or
    `--forget-indices 1,7,9`, with `--requester` and `--request-date` when it names them."""
    what = "classes" if forget.get("classes") else "indices"
    words = [f"--forget-{what}", ",".join(str(i) for i in forget[what])]
    for key in ("requester", "request_date"):  # who asked and when, where the request says
        if forget.get(key):
            words += [f"--{key.replace('_', '-')}", str(forget[key])]
    return words


def unlearn_command(
    checkpoint: str, method: str, forget: Mapping, *, out: str | None = None, **flags
) -> str:
    """The `unlearn` command that makes the same run. flags: overrides ({key: value}, its
    `--set key=value` options), oracle, relearn, privacy_risk and reproducible (booleans),
    oracle_convention (named only when not the default, standard), seed (default 0), threads
    (torch threads: a CPU result is bitwise the same at the same count only, so a job's command
    names its count), then_classes (a sequence's further class requests), relearn_samples,
    relearn_max_epochs, dataset, data_root and arch (named when given). `out` defaults to
    cli-runs/<method>-seed<seed>, outside the run store."""
    words = ["unlearn", "--checkpoint", checkpoint, "--method", method, *forget_words(forget)]
    for key, value in (flags.get("overrides") or {}).items():
        words += ["--set", f"{key}={value}"]
    for flag in ("oracle", "relearn", "privacy_risk", "reproducible"):
        words += [f"--{flag.replace('_', '-')}"] * bool(flags.get(flag))
    for steps in flags.get("then_classes") or []:
        words += ["--then-classes", ",".join(str(c) for c in steps)]
    options = ("relearn_samples", "relearn_max_epochs", "threads", "dataset", "data_root", "arch")
    for option in options:
        if flags.get(option) is not None:
            words += [f"--{option.replace('_', '-')}", str(flags[option])]
    convention = flags.get("oracle_convention") or "standard"
    words += ["--oracle-convention", convention] * (convention != "standard")
    seed = flags.get("seed", 0)
    words += ["--seed", str(seed)]
    return command_line([*words, "--out", out or f"{CLI_OUT}/{method}-seed{seed}"])


def train_command(options: Mapping[str, object]) -> str:
    """The `train` command for options named as its flags ({"batch-size": 64, ...})."""
    return command_line(["train", *[w for k, v in options.items() for w in (f"--{k}", str(v))]])
