"""`explain --kind embedding|cka|probe` on the demo's stored UNSIR run (class 3, with its
oracle): the files and keys of DESIGN.md's contract, and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import DEMO_CHECKPOINT

from unlearn_core.cli.main import main
from unlearn_core.run.store import RunStore


@pytest.fixture(scope="module")
def unsir_folder(app_store):
    return str(RunStore(app_store["root"]).path(app_store["unsir"]))


def explain(kind: str, folder: str, out, *extra: str) -> int:
    return main(
        [
            "explain",
            "--kind",
            kind,
            "--checkpoint",
            str(DEMO_CHECKPOINT),
            "--unlearned",
            folder,
            "--retrained",
            folder,  # a run with the oracle holds retrained.safetensors
            "--sample-size",
            "60",
            "--out",
            str(out),
            *extra,
        ]
    )


def test_embedding_writes_one_map_per_model_on_shared_points(unsir_folder, tmp_path):
    assert explain("embedding", unsir_folder, tmp_path) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    maps = np.load(tmp_path / "maps.npz")
    assert set(summary["models"]) == set(maps.files) == {"original", "unlearned", "retrained"}
    n = summary["models"]["original"]["points"]
    assert all(maps[name].shape == (n, 2) for name in maps.files)
    assert summary["method"] == "umap" and (tmp_path / "panel.png").stat().st_size > 0
    again = tmp_path / "again"
    assert explain("embedding", unsir_folder, again) == 0
    np.testing.assert_array_equal(np.load(again / "maps.npz")["unlearned"], maps["unlearned"])


def test_cka_gives_a_value_per_layer_for_both_pairs(unsir_folder, tmp_path):
    assert explain("cka", unsir_folder, tmp_path) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    layers = summary["layers"]
    assert layers[-1] == "penultimate" and len(layers) >= 4
    for key in ("original_vs_unlearned", "unlearned_vs_retrained"):
        assert len(summary[key]) == len(layers)
        assert all(0 <= v <= 1 + 1e-9 for v in summary[key])
    # UNSIR changes the whole network a little: the first layer stays closer to the original
    assert summary["original_vs_unlearned"][0] > summary["original_vs_unlearned"][-1] - 0.5


def test_probe_reports_three_accuracies_and_a_flag(unsir_folder, tmp_path):
    assert explain("probe", unsir_folder, tmp_path) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["probe_accuracy"]) == {"original", "unlearned", "retrained"}
    assert isinstance(summary["flag"], bool)
    assert all(0 <= a <= 1 for a in summary["probe_accuracy"].values())


def test_feature_kinds_need_a_run_and_a_real_layer(unsir_folder, tmp_path, capsys):
    code = main(
        ["explain", "--kind", "probe", "--checkpoint", str(DEMO_CHECKPOINT), "--out", str(tmp_path)]
    )
    assert code == 2 and "give --unlearned" in capsys.readouterr().err
    assert explain("cka", unsir_folder, tmp_path, "--layer", "nope") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no layer 'nope'") and err.count("\n") == 1
    assert explain("embedding", unsir_folder, tmp_path, "--sample-size", "0") == 2
