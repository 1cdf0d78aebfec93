"""Issue 12, items 5 to 7: bad inputs end in one line (never a traceback, never a silent
acceptance), a corrupt run is listed as corrupt, and the report records what a rerun needs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from unlearn_core.checkpoint import sha256_file
from unlearn_core.cli.main import main
from unlearn_core.request import ForgetRequest
from unlearn_core.run.pipeline import RunRecord, dataset_sha256, unlearn_model
from unlearn_core.run.report import Report
from unlearn_core.run.store import RunStore, write_run_folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("bad") / "digits.safetensors"
    argv = ["train", "--dataset", "digits", "--arch", "logreg", "--epochs", "1"]
    assert main([*argv, "--out", str(path)]) == 0
    return path


def one_line_error(argv: list[str], capsys) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err, err
    return err


UNLEARN = ["unlearn", "--method", "finetune", "--forget-indices", "1,2", "--no-store"]


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--seed", str(2**70)], "--seed"),
        (["--set", "lr=1e308"], "lr must lie in"),
        (["--set", "lr=nan"], "lr must lie in"),
        (["--set", "epochs=1000000000"], "epochs must lie in"),
        (["--method", "lfoci", "--set", "noise_std=nan"], "noise_std must lie in"),
        (["--method", "lfoci", "--set", "perturbations=1000000000"], "perturbations"),
        (["--method", "unsir", "--forget-classes", "1", "--set", "noise_lambda=-1e30"], "lambda"),
        (["--method", "unsir", "--forget-classes", "1", "--set", "noise_batch=100000000"], "noise"),
        (
            ["--method", "unsir", "--forget-classes", "1", "--set", "noise_steps=1000000000"],
            "noise",
        ),
    ],
)
def test_unlearn_settings_out_of_range(checkpoint, tmp_path, capsys, extra, fragment):
    argv = [*UNLEARN, "--checkpoint", str(checkpoint), "--out", str(tmp_path / "o"), *extra]
    if "--forget-classes" in extra:
        argv.remove("--forget-indices")
        argv.remove("1,2")
    assert fragment in one_line_error(argv, capsys)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "extra",
    [["--lr", "nan"], ["--lr", "1e308"], ["--seed", str(2**70)], ["--epochs", "1000000000"]],
)
def test_train_refuses_a_recipe_that_cannot_run(tmp_path, capsys, extra):
    out = tmp_path / "m.safetensors"
    one_line_error(
        ["train", "--dataset", "digits", "--arch", "logreg", "--out", str(out), *extra], capsys
    )
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_the_sidecar_is_strict_json(checkpoint):
    json.loads(checkpoint.with_suffix(".json").read_text(), parse_constant=pytest.fail)


@pytest.mark.parametrize(
    "payload, suffix",
    [(Path("/etc/passwd").read_bytes(), ".pt"), (b"\0" * 10, ".safetensors")],
)
def test_a_file_that_is_no_checkpoint(tmp_path, capsys, payload, suffix):
    path = tmp_path / f"weights{suffix}"
    path.write_bytes(payload)
    argv = [*UNLEARN, "--checkpoint", str(path), "--dataset", "digits", "--arch", "logreg"]
    one_line_error([*argv, "--out", str(tmp_path / "o")], capsys)


@pytest.mark.parametrize("dtype", [torch.float8_e4m3fn, torch.int8, torch.complex64, torch.bool])
def test_non_float_weights_are_refused(tmp_path, capsys, dtype):
    from unlearn_core.data import load_dataset
    from unlearn_core.training import initial_model

    state = initial_model("logreg", load_dataset("digits"), 0).state_dict()
    torch.save({k: v.to(dtype) for k, v in state.items()}, tmp_path / "w.pt")
    argv = [*UNLEARN, "--checkpoint", str(tmp_path / "w.pt"), "--dataset", "digits"]
    err = one_line_error([*argv, "--arch", "logreg", "--out", str(tmp_path / "o")], capsys)
    assert "save the model in float32" in err


def test_explain_with_a_run_whose_model_does_not_fit(checkpoint, tmp_path, capsys):
    report = Report.from_dict(
        {
            "method": "finetune",
            "dataset": "digits",
            "arch": "logreg",
            "forget": {"classes": [], "indices": [1], "count": 1},
            "checkpoints": {"original_sha256": sha256_file(checkpoint)},
        }
    )
    folder = write_run_folder(RunRecord(report, nn.Linear(4, 3)), tmp_path / "run")
    argv = ["explain", "--kind", "probe", "--checkpoint", str(checkpoint)]
    err = one_line_error([*argv, "--unlearned", str(folder), "--out", str(tmp_path / "x")], capsys)
    assert "does not fit" in err


@pytest.mark.parametrize(
    "content", ["{not json", "[1, 2]", "{}", '{"method": "x", "forget": 3}', '"text"']
)
def test_a_corrupt_run_is_listed_as_corrupt(tiny, tiny_trained, tmp_path, capsys, content):
    request = ForgetRequest.for_indices(tiny, [0])
    record = unlearn_model(tiny_trained, {}, tiny, request, "none")
    store = RunStore(tmp_path / "store")
    good, bad = store.save(record), store.save(record)
    (store.root / bad / "report.json").write_text(content)
    assert main(["list-runs", "--store", str(store.root)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert good in lines and any(re.fullmatch(rf"{bad} corrupt: .+", line) for line in lines)
    err = one_line_error(
        ["audit", "--run", str(store.root / bad), "--out", str(tmp_path / "a.zip")], capsys
    )
    assert "report.json" in err and not (tmp_path / "a.zip").exists()


def test_the_report_records_what_a_rerun_needs(tiny, tiny_trained):
    request = ForgetRequest.for_classes(tiny, [3])
    meta = {"sha256": "a" * 64, "source_sha256": "b" * 64}
    report = unlearn_model(tiny_trained, meta, tiny, request, "none").report
    assert report.environment.threads == torch.get_num_threads()
    assert (
        report.forget.indices == request.forget_indices.tolist()
        and len(report.forget.indices) == 60
    )
    assert report.data_sha256 == dataset_sha256(tiny) and re.fullmatch(
        "[0-9a-f]{64}", report.data_sha256
    )
    assert report.checkpoints.source_sha256 == "b" * 64
    assert report.versions.unlearn_core and (
        report.versions.git_commit is None
        or re.fullmatch("[0-9a-f]{40}", report.versions.git_commit)
    )
    changed = tiny.train_x.clone()
    changed[0, 0, 0, 0] ^= 1
    import dataclasses

    assert dataset_sha256(dataclasses.replace(tiny, train_x=changed)) != report.data_sha256
