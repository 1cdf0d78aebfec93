"""Reproducible mode (issue 23, unlearn_core/run/reproducible.py): `--reproducible` pins the CPU
kernels' ISA by re-executing the command line, records the environment a rerun needs, and
`audit --verify --reproduce` says when a record was made on another CPU."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT
from test_reproduce import remake_hashes, rewrite

from unlearn_core.records.reproduce import verify_record
from unlearn_core.request import ForgetRequest
from unlearn_core.run import reproducible
from unlearn_core.run.pipeline import unlearn_model
from unlearn_core.run.store import write_run_folder
from unlearn_core.training import Recipe, train
from unlearn_core.views.audit_record import write_audit_record

UNPINNED = {k: v for k, v in os.environ.items() if k not in reproducible.PINNED_ENV}


def run_unpinned(words: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    """`words` as a fresh shell in the repository runs them, without the pinned variables
    (whatever the suite itself runs under), plus `env`; it must succeed."""
    proc = subprocess.run(
        [str(w) for w in words],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**UNPINNED, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def train_cli(out, *flags, env=None) -> dict:
    """`train` on digits (logistic regression, one epoch: a second) -> its JSON sidecar."""
    args = ["--dataset", "digits", "--arch", "logreg", "--epochs", "1", "--out", out, *flags]
    run_unpinned([sys.executable, "-m", "unlearn_core", "train", *args], env)
    return json.loads(out.with_suffix(".json").read_text())


def test_pinned_isa_needs_every_pinned_variable():
    assert reproducible.pinned_isa(reproducible.PINNED_ENV) == "avx2"
    for name in reproducible.PINNED_ENV:
        partial = {k: v for k, v in reproducible.PINNED_ENV.items() if k != name}
        assert reproducible.pinned_isa(partial) is None, name
    assert reproducible.pinned_isa({**reproducible.PINNED_ENV, "MKL_CBWR": "AUTO"}) is None


def test_reproducible_re_executes_under_the_pinned_isa_whatever_the_shell_set(tmp_path):
    """The ISA is read when torch loads, so only a fresh process can pin it: a shell that asks
    for scalar kernels (ATEN_CPU_CAPABILITY=default) still gets AVX2 under --reproducible, and
    the same weights as a clean shell's pinned run (same path, same kernels, same threads)."""
    pinned = train_cli(tmp_path / "a.safetensors", "--reproducible")
    scalar_shell = {"ATEN_CPU_CAPABILITY": "default"}
    again = train_cli(tmp_path / "b.safetensors", "--reproducible", env=scalar_shell)
    plain = train_cli(tmp_path / "c.safetensors", "--threads", "1", env=scalar_shell)
    for record in (pinned, again):
        env = record["environment"]
        assert env["pinned_isa"] == "avx2" and env["cpu_capability"] == "AVX2"
        assert env["threads"] == 1 and env["cpu_model"] == reproducible.cpu_model()
    assert again["weights_sha256"] == pinned["weights_sha256"]
    env = plain["environment"]
    assert env["pinned_isa"] is None and env["cpu_capability"] == "DEFAULT"
    assert env["threads"] == 1


def test_an_in_process_main_pins_threads_and_says_the_isa_is_not_pinned(capsys, tmp_path):
    """main(argv) inside a process that has loaded torch must not replace that process."""
    from unlearn_core.cli.main import main

    before = torch.get_num_threads()
    try:
        out = tmp_path / "m.safetensors"
        args = ["train", "--dataset", "digits", "--arch", "logreg", "--epochs", "1"]
        assert main([*args, "--reproducible", "--out", str(out)]) == 0
        assert "ISA not pinned in this process" in capsys.readouterr().err
        record = json.loads(out.with_suffix(".json").read_text())
        assert record["environment"]["threads"] == 1
    finally:
        torch.set_num_threads(before)


def test_other_cpu_names_both_machines_and_is_silent_on_this_one():
    here = reproducible.environment()
    assert reproducible.other_cpu(here) is None
    assert reproducible.other_cpu({"threads": 1}) is None  # a run recorded before issue 23
    line = reproducible.other_cpu({**here, "cpu_model": "Intel Xeon", "cpu_capability": "AVX512"})
    assert line.startswith("made on another CPU: Intel Xeon (AVX512 kernels")
    assert f"this one: {here['cpu_model']} ({here['cpu_capability']} kernels" in line


@pytest.fixture(scope="module")
def record(demo, tmp_path_factory):
    recipe = Recipe(lr=0.05, batch_size=64, epochs=1, seed=0, probe_every=0)
    trained = train("logreg", demo, recipe, device="cpu", probes=False)
    request = ForgetRequest.for_classes(demo, [3])
    run = unlearn_model(trained, {}, demo, request, "finetune", {"epochs": "1"})
    folder = write_run_folder(run, tmp_path_factory.mktemp("run") / "run")
    return write_audit_record(folder, folder.parent / "record.zip")


def test_verify_reproduce_says_when_a_record_was_made_on_another_cpu(record, tmp_path):
    assert not [c for c in verify_record(record) if c.name == "environment"]

    def elsewhere(files):
        report = json.loads(files["report.json"])
        report["environment"].update(cpu_model="Intel Xeon", cpu_capability="AVX512")
        files["report.json"] = json.dumps(report).encode()
        return remake_hashes(files)

    checks = verify_record(rewrite(record, tmp_path / "intel.zip", elsewhere))
    assert all(c.passed for c in checks), [c.line for c in checks]
    (note,) = [c for c in checks if c.name == "environment"]
    assert note.line.startswith("note: environment: made on another CPU: Intel Xeon (AVX512")


def test_a_reproducible_job_pins_its_threads_and_says_what_it_could_not(spec):
    """A job (the app's switch, `sweep --reproducible`) runs in a process that loaded torch
    already: it pins threads for its own run, restores them, carries the flag in its command,
    and its run says when the kernels' ISA was not pinned in that process."""
    from ui.jobs import method_specs
    from unlearn_core.engine.runner import execute

    meta = {"sha256": spec.checkpoint_sha256}
    (made,) = method_specs(
        spec.checkpoint, meta, "demo", spec.forget, {"finetune": {}}, False, [0], True
    )[0]
    assert made.reproducible and "--reproducible" in made.command()
    before = torch.get_num_threads()
    report = execute(dataclasses.replace(spec, reproducible=True)).record.report
    assert torch.get_num_threads() == before
    assert "--reproducible" in report.command and report.environment.threads == 1
    unpinned = reproducible.pinned_isa() is None  # the suite may itself run pinned
    assert (reproducible.NOT_PINNED in report.warnings) == unpinned
    plain = execute(spec).record.report
    assert "--reproducible" not in plain.command and reproducible.NOT_PINNED not in plain.warnings
