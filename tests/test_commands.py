"""The one command-line builder: what it prints is what a shell splits back into the same words."""

import os
import shlex
import subprocess

from unlearn_core.cli.main import build_parser
from unlearn_core.specs.commands import REPO, train_command, unlearn_command


def test_unlearn_command_round_trips_through_a_shell():
    command = unlearn_command(
        "my models/it's.safetensors",
        "unsir",
        {"classes": [], "indices": [4, 7]},
        overrides={"noise_lr": "0.1", "note": "a b"},
        oracle=True,
        seed=3,
        relearn=True,
        out="runs/x y",
    )
    words = shlex.split(command)
    assert words[1:4] == ["-m", "unlearn_core", "unlearn"]
    assert words[words.index("--checkpoint") + 1] == "my models/it's.safetensors"
    assert words[words.index("--forget-indices") + 1] == "4,7"
    assert [words[i + 1] for i, w in enumerate(words) if w == "--set"] == [
        "noise_lr=0.1",
        "note=a b",
    ]
    assert "--oracle" in words and "--relearn" in words
    assert words[words.index("--seed") + 1] == "3" and words[-1] == "runs/x y"


def test_classes_win_over_indices_and_out_is_outside_the_run_store():
    words = shlex.split(unlearn_command("m.safetensors", "finetune", {"classes": [3, 5]}))
    assert words[words.index("--forget-classes") + 1] == "3,5"
    # ./runs is the default run store: a run folder there would be listed as a second run
    assert "--oracle" not in words and words[-1] == "cli-runs/finetune-seed0"


def test_the_printed_interpreter_works_in_a_fresh_shell():
    """The program a page prints runs from the repository root with no activated environment
    (a bare `python` is missing there, or lacks torch)."""
    program = shlex.split(unlearn_command("m.st", "finetune", {"indices": [1]}))[:3]
    fresh = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/")}
    done = subprocess.run(
        [*program, "--help"], cwd=REPO, env=fresh, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "unlearn" in done.stdout


def test_a_replay_oracle_is_spelled_and_parsed_and_standard_is_the_default():
    words = shlex.split(
        unlearn_command("m.st", "single-gradient", {"indices": [1]}, oracle_convention="replay")
    )
    assert words[words.index("--oracle-convention") + 1] == "replay"
    args = build_parser().parse_args(words[3:])  # after `<python> -m unlearn_core`
    assert args.oracle_convention == "replay"
    words = shlex.split(unlearn_command("m.st", "finetune", {"indices": [1]}))
    assert "--oracle-convention" not in words
    assert build_parser().parse_args(words[3:]).oracle_convention == "standard"


def test_train_command_names_each_option_as_its_flag():
    words = shlex.split(train_command({"dataset": "demo", "batch-size": 64, "out": "a b.st"}))
    assert words[3:] == ["train", "--dataset", "demo", "--batch-size", "64", "--out", "a b.st"]
    assert words[1:3] == ["-m", "unlearn_core"]


def test_a_jobs_command_run_in_a_shell_gives_bitwise_its_weights(logreg_checkpoint, tmp_path):
    """Issue 24: app jobs ran at 1 torch thread and the printed command at torch's default, so
    the command's weights differed. The command now names the job's threads and settings: run
    in a shell (another process), it makes the job's unlearned and retrained weights bitwise."""
    from unlearn_core.checkpoint import read_weights, sha256_file
    from unlearn_core.engine.executors import InlineExecutor
    from unlearn_core.engine.jobs import JobManager
    from unlearn_core.run.store import RunStore
    from unlearn_core.specs.run import RunSpec

    spec = RunSpec(
        checkpoint=str(logreg_checkpoint),
        checkpoint_sha256=sha256_file(logreg_checkpoint),
        method="finetune",
        forget={"indices": [0, 5, 17]},
        seed=3,
        overrides={"epochs": "1"},
        oracle=True,
        threads=1,
    )
    jobs = JobManager(tmp_path / "store", InlineExecutor())
    (done,) = jobs.wait([jobs.submit(spec).id])
    job_run = RunStore(tmp_path / "store").path(done.run_id)
    command = RunStore(tmp_path / "store").open(done.run_id).command
    words = shlex.split(command)
    assert words[words.index("--threads") + 1] == "1"
    shell = f"{command} --out {shlex.quote(str(tmp_path / 'shell'))} --no-store"
    subprocess.run(shell, shell=True, cwd=REPO, check=True, capture_output=True)
    for name in ("model.safetensors", "retrained.safetensors"):
        ours, theirs = read_weights(job_run / name)[0], read_weights(tmp_path / "shell" / name)[0]
        assert ours.keys() == theirs.keys()
        assert all(ours[k].equal(theirs[k]) for k in ours), name
