"""The command line end to end, as a user runs it: a subprocess, its exit code and its output."""

import json
import os
import pickle
import subprocess
import sys

import pytest
from conftest import DEMO_CHECKPOINT, ROOT

from unlearn_core.checkpoint import sha256_file


def cli(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "unlearn_core", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=1800,  # a loaded machine takes several times a quiet one's minutes; a hang ends
    )


def assert_one_line_error(proc, fragment):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert fragment in lines[0] and "Traceback" not in proc.stderr


def test_lists_print_one_name_per_line():
    assert {"finetune", "neggrad", "retrain"} <= set(cli("list-methods").stdout.split())
    assert {"demo", "fashion-mnist", "mnist", "cifar10", "imagefolder", "digits"} <= set(
        cli("list-datasets").stdout.split()
    )
    assert {"logreg", "mlp", "smallcnn", "allcnn", "resnet18-cifar"} <= set(
        cli("list-archs").stdout.split()
    )
    verbose = cli("list-methods", "--verbose").stdout
    assert "never reads the forget set" in verbose


def test_train_writes_checkpoint_and_record(tmp_path):
    out = tmp_path / "digits.safetensors"
    proc = cli(
        "train",
        "--dataset",
        "digits",
        "--arch",
        "logreg",
        "--epochs",
        "2",
        "--lr",
        "0.1",
        "--batch-size",
        "32",
        "--seed",
        "1",
        "--out",
        out,
    )
    assert proc.returncode == 0, proc.stderr
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["sha256"] == sha256_file(out) and sidecar["test_acc"] > 0.8
    assert "--dataset digits --arch logreg" in sidecar["command"]


@pytest.mark.slow
def test_retrain_class_3_on_the_demo(tmp_path):
    """Done-means of issue 2: the demo model is good, the oracle forgets class 3."""
    out = tmp_path / "run"
    store = tmp_path / "store"
    proc = cli(
        "unlearn",
        "--checkpoint",
        DEMO_CHECKPOINT,
        "--method",
        "retrain",
        "--forget-classes",
        "3",
        "--oracle",
        "--out",
        out,
        "--store",
        store,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["metrics"]["original"]["test_acc"] >= 0.83
    assert report["metrics"]["retrained"]["forget_acc"] <= 0.02
    assert report["metrics"]["unlearned"]["forget_acc"] <= 0.02
    assert report["checkpoints"]["original_sha256"] == sha256_file(DEMO_CHECKPOINT)
    assert report["checkpoints"]["unlearned_sha256"] == sha256_file(out / "model.safetensors")
    assert report["forget"]["classes"] == [3] and report["forget"]["count"] == 600
    assert cli("list-runs", "--store", store).stdout.strip() == report["run_id"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--forget-classes", "99"], "unknown class 99"),
        (["--forget-indices", "6000"], "index 6000 is out of range"),
        (["--forget-classes", "0,1,2,3,4,5,6,7,8,9"], "cannot forget every class"),
        (["--forget-classes", "3", "--request-date", "2025-02-30"], "not a date written YYYY-"),
        (["--forget-classes", "3", "--request-date", "31/03/2025"], "not a date written YYYY-"),
    ],
)
def test_bad_requests_fail_with_one_line(tmp_path, args, fragment):
    proc = cli(
        "unlearn",
        "--checkpoint",
        DEMO_CHECKPOINT,
        "--method",
        "finetune",
        *args,
        "--out",
        tmp_path / "run",
    )
    assert_one_line_error(proc, fragment)
    assert not (tmp_path / "run").exists()


class _Hostile:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_hostile_checkpoint_fails_with_one_line(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(_Hostile(str(marker))))
    proc = cli(
        "unlearn",
        "--checkpoint",
        evil,
        "--arch",
        "smallcnn",
        "--method",
        "finetune",
        "--forget-classes",
        "3",
        "--out",
        tmp_path / "run",
    )
    assert_one_line_error(proc, "not a plain state dict")
    assert not marker.exists()


def test_unknown_method_and_bad_setting(tmp_path):
    proc = cli(
        "unlearn",
        "--checkpoint",
        DEMO_CHECKPOINT,
        "--method",
        "magic",
        "--forget-classes",
        "3",
        "--out",
        tmp_path / "run",
    )
    assert_one_line_error(proc, "unknown method 'magic'")
    proc = cli(
        "unlearn",
        "--checkpoint",
        DEMO_CHECKPOINT,
        "--method",
        "finetune",
        "--forget-classes",
        "3",
        "--set",
        "nope=1",
        "--out",
        tmp_path / "run",
    )
    assert_one_line_error(proc, "unknown setting 'nope'")


def test_a_pt_checkpoint_is_recorded_by_its_name_and_hash_with_who_asked(tmp_path):
    """A .pt run from the command line records the file as supplied, and who asked for the
    deletion and when (issue 15, item 3)."""
    import torch

    from unlearn_core.data import load_dataset
    from unlearn_core.training import initial_model

    weights = tmp_path / "theirs.pt"
    torch.save(initial_model("logreg", load_dataset("digits"), 1).state_dict(), weights)
    out = tmp_path / "run"
    proc = cli(
        "unlearn", "--checkpoint", weights, "--arch", "logreg", "--dataset", "digits",
        "--method", "none", "--forget-indices", "4", "--out", out, "--no-store",
        "--requester", "DPO ticket 7", "--request-date", "2024-02-29",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["forget"]["requester"] == "DPO ticket 7"
    assert report["forget"]["request_date"] == "2024-02-29"
    assert "--requester 'DPO ticket 7' --request-date 2024-02-29" in report["command"]
    assert json.loads((out / "request.json").read_text()) == report["forget"]
    checkpoints = report["checkpoints"]
    digest = sha256_file(weights)
    assert checkpoints["source_file"] == checkpoints["original_file"] == "theirs.pt"
    assert checkpoints["source_sha256"] == checkpoints["original_sha256"] == digest


def test_every_option_of_every_command_says_what_it_is_for():
    """`--help` of each command explains each option (issue 24: sweep's and privacy-audit's
    --checkpoint, --method and --set had none)."""
    import argparse

    from unlearn_core.cli.main import build_parser

    silent = []

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, [*path, name])
            elif action.option_strings and action.dest != "help" and not action.help:
                silent.append(f"{' '.join(path)} {action.option_strings[0]}")

    walk(build_parser(), [])
    assert not silent
