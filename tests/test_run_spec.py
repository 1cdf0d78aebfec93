"""`unlearn` on the command line is parse -> RunSpec -> run_unlearning, the function every
unlearning job runs: the spec carries everything the command line does (relearn settings, a
sequence, who asked and when), spells it back as the same command, and a job of that spec
makes the run the command makes."""

from __future__ import annotations

import json
import shlex

import pytest

from unlearn_core.cli.main import build_parser, main
from unlearn_core.cli.unlearn import _spec
from unlearn_core.engine.runner import execute

OPTIONS = [
    *("--method", "finetune", "--forget-classes", "3", "--then-classes", "5,6"),
    *("--then-classes", "7", "--set", "epochs=1", "--relearn", "--relearn-samples", "40"),
    *("--relearn-max-epochs", "2", "--requester", "Ada", "--request-date", "2026-01-02"),
    *("--oracle", "--oracle-convention", "replay", "--seed", "4", "--dataset", "demo"),
]


def spec_of(words: list[str]):
    args = build_parser().parse_args(words)
    return _spec(args, "0" * 64)


def test_an_unlearn_command_and_its_spec_spell_each_other(tmp_path):
    spec = spec_of(["unlearn", "--checkpoint", "m.safetensors", *OPTIONS, "--out", "o"])
    assert spec.then_classes == [[5, 6], [7]]
    assert (spec.relearn_samples, spec.relearn_max_epochs) == (40, 2)
    assert spec.forget == {"classes": [3], "requester": "Ada", "request_date": "2026-01-02"}
    words = shlex.split(spec.command())
    assert words[1:3] == ["-m", "unlearn_core"]
    assert spec_of(words[3:]) == spec  # the command it spells is the same spec again


@pytest.mark.parametrize("sequence", [False, True])
def test_a_job_makes_the_run_the_command_makes(spec, tmp_path, sequence):
    """The same RunSpec through `unlearn` and as a job: report.json's keys and numbers agree
    (time, the command and the job's own block aside)."""
    words = ["unlearn", "--checkpoint", spec.checkpoint, "--method", "finetune"]
    words += ["--forget-classes", "3", "--set", "epochs=1", "--requester", "Ada", "--no-store"]
    words += ["--then-classes", "5"] * sequence
    assert main([*words, "--threads", "1", "--out", str(tmp_path / "cli")]) == 0
    command = json.loads((tmp_path / "cli" / "report.json").read_text())
    job = execute(spec_of(words + ["--out", "x"])).record.report.to_dict()
    assert set(job) == set(command)
    for key in ("forget", "metrics", "config", "method", "seed", "warnings"):
        assert job[key] == command[key], key
    assert untimed(job["sequence"]) == untimed(command["sequence"])


def untimed(sequence: list | None) -> list | None:
    """A sequence's steps without their seconds."""
    return sequence and [{k: v for k, v in step.items() if k != "timing"} for step in sequence]
