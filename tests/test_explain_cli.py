"""`python -m unlearn_core explain` on the demo checkpoint and on a run folder."""

import json

import numpy as np
import pytest
import torch
from conftest import DEMO_CHECKPOINT
from PIL import Image
from test_cli import cli

from unlearn_core.checkpoint import load_checkpoint, sha256_file
from unlearn_core.cli.main import main
from unlearn_core.metrics.attribution import activation_map
from unlearn_core.run.pipeline import RunRecord
from unlearn_core.run.report import Report
from unlearn_core.run.store import write_run_folder


@pytest.fixture(scope="module")
def run_folder(demo, tmp_path_factory):
    """A run folder holding the demo model with its first convolution halved."""
    model = load_checkpoint(DEMO_CHECKPOINT, demo)[0].model
    with torch.no_grad():
        model[0].weight.mul_(0.5)
    report = Report.from_dict(
        {
            "method": "finetune",
            "dataset": "demo",
            "arch": "smallcnn",
            "forget": {"classes": [3], "indices": [], "count": 600},
            "checkpoints": {"original_sha256": sha256_file(DEMO_CHECKPOINT)},
        }
    )
    return write_run_folder(RunRecord(report, model), tmp_path_factory.mktemp("runs") / "ft"), model


def test_gradcam_of_the_demo_checkpoint(tmp_path):
    proc = cli(
        "explain",
        "--checkpoint",
        DEMO_CHECKPOINT,
        "--indices",
        "0,1",
        "--kind",
        "gradcam",
        "--out",
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    maps = np.load(tmp_path / "maps.npz")
    assert list(maps) == ["original"] and maps["original"].shape == (2, 28, 28)
    assert (maps["original"].reshape(2, -1).std(1) > 0).all()
    record = json.loads((tmp_path / "explain.json").read_text())
    assert record["layer"] == "3" and record["targets"] == record["labels"]
    assert len(record["faithfulness"]["original"]["drop"]) == 2
    with Image.open(tmp_path / "panel.png") as png:
        assert png.format == "PNG" and png.size[0] > 200
    assert "original: mean confidence drop" in proc.stdout


def test_activation_maps_of_a_run_folder(tmp_path, demo, run_folder, capsys):
    folder, unlearned = run_folder
    # in-process through the same entry point (a subprocess per test is slow on 2 cores)
    code = main(
        [
            "explain",
            "--checkpoint",
            str(DEMO_CHECKPOINT),
            "--unlearned",
            str(folder),
            "--retrained",
            str(folder),
            "--indices",
            "3,4",
            "--kind",
            "activation",
            "--layer",
            "4",
            "--target-class",
            "2",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0, capsys.readouterr().err
    maps = np.load(tmp_path / "maps.npz")
    assert list(maps) == ["original", "unlearned", "retrained"]
    inputs = demo.normalize(demo.train_x[[3, 4]])
    expected = activation_map(unlearned, inputs, "4").numpy()
    np.testing.assert_allclose(maps["unlearned"], expected, rtol=1e-5, atol=1e-6)
    diffs = np.load(tmp_path / "differences.npz")
    np.testing.assert_allclose(
        diffs["unlearned-original"], maps["unlearned"] - maps["original"], atol=1e-6
    )
    assert np.abs(diffs["unlearned-retrained"]).max() == 0
    assert json.loads((tmp_path / "explain.json").read_text())["targets"] == [2, 2]


def test_bad_layer_and_foreign_run_are_one_line_errors(tmp_path, run_folder, capsys):
    base = [
        "explain",
        "--checkpoint",
        str(DEMO_CHECKPOINT),
        "--indices",
        "0",
        "--out",
        str(tmp_path),
    ]
    assert main([*base, "--layer", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no layer 'nope'")
    assert main([*base, "--layer", "9"]) == 2  # the last Linear layer: no map to draw
    assert "no spatial output" in capsys.readouterr().err
    report = json.loads((run_folder[0] / "report.json").read_text())
    (run_folder[0] / "report.json").write_text(json.dumps({**report, "dataset": "digits"}))
    try:
        assert main([*base, "--unlearned", str(run_folder[0])]) == 2
        assert "is on digits, not demo" in capsys.readouterr().err
    finally:
        (run_folder[0] / "report.json").write_text(json.dumps(report))
