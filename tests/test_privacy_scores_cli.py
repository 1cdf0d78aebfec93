"""`privacy-audit --scores FILE.npz`: the verdict and the official score from confidences made
elsewhere, the same privacy.json a model audit writes, and one line (nothing written) for each
kind of bad file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from unlearn_core.cli.main import main
from unlearn_core.privacy.scores import score_audit


def _grids(models=32, samples=200, seed=0, unlearned="retrained"):
    rng = np.random.default_rng(seed)
    mu = rng.normal(0, 3, samples)
    retrained = mu + rng.normal(0, 1, (models, samples))
    original = mu + 2 + rng.normal(0, 1, (models, samples))
    fresh = mu + rng.normal(0, 1, (models, samples)) if unlearned == "retrained" else original
    return {"unlearned": fresh, "retrained": retrained, "original": original}


def _audit(tmp_path, capsys, grids, *extra):
    path = tmp_path / "scores.npz"
    np.savez(path, **grids)
    out = tmp_path / "out"
    code = main(["privacy-audit", "--scores", str(path), *extra, "--out", str(out)])
    captured = capsys.readouterr()
    return code, out, captured


def test_independent_retrains_are_forgotten_and_the_file_is_recorded(tmp_path, capsys):
    grids = _grids()
    code, out, captured = _audit(tmp_path, capsys, grids)
    assert code == 0 and captured.out.startswith("forgotten: U-LiRA AUC")
    privacy = json.loads((out / "privacy.json").read_text())
    assert privacy["verdict"] == "forgotten" and privacy["models"] == 32
    assert privacy["source"]["scores_file"] == "scores.npz"
    assert len(privacy["source"]["scores_sha256"]) == 64
    # the same functions as a model audit: equal to scoring the grids directly
    direct = score_audit(grids, list(range(200)), np.random.default_rng(0))
    assert privacy["attacks"]["ulira"]["auc_ci"] == direct["attacks"]["ulira"]["auc_ci"]
    assert privacy["challenge"]["official"] == direct["challenge"]["official"]
    assert len(privacy["samples"]) == 200 and privacy["power"]["models_needed"] == 32


def test_the_original_models_as_unlearned_remember(tmp_path, capsys):
    code, out, _ = _audit(
        tmp_path,
        capsys,
        _grids(8, 50, unlearned="original"),
        "--forget-indices",
        ",".join(str(i) for i in range(100, 150)),
        "--margin",
        "0.1",
    )
    privacy = json.loads((out / "privacy.json").read_text())
    assert code == 0 and privacy["verdict"] == "remembers" and privacy["margin"] == 0.1
    assert privacy["control"]["difference"] == {"value": 0.0, "ci": [0.0, 0.0]}
    assert [s["index"] for s in privacy["samples"]] == list(range(100, 150))


def test_without_the_original_models_it_is_at_best_inconclusive(tmp_path, capsys):
    grids = _grids()
    del grids["original"]
    code, out, _ = _audit(tmp_path, capsys, grids)
    privacy = json.loads((out / "privacy.json").read_text())
    assert code == 0 and privacy["verdict"] == "inconclusive"
    assert "no control" in privacy["verdict_reason"] and "control" not in privacy


def _bad(kind):
    grids = _grids(6, 10)
    if kind == "shape":
        grids["unlearned"] = grids["unlearned"][0]
    elif kind == "nan":
        grids["retrained"][2, 3] = np.nan
    elif kind == "two models":
        grids = {k: v[:2] for k, v in grids.items()}
    elif kind == "m differs":
        grids["original"] = grids["original"][:, :9]
    elif kind == "missing":
        del grids["retrained"]
    elif kind == "text":
        grids["unlearned"] = np.array([["a"] * 10] * 6)
    elif kind == "objects":
        grids["unlearned"] = np.array([[{}] * 10] * 6, dtype=object)
    return grids


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("shape", "must be (models, samples)"),
        ("nan", "NaN or infinite"),
        ("two models", "at least 3"),
        ("m differs", "shapes differ"),
        ("missing", "no array 'retrained'"),
        ("text", "not real numbers"),
        ("objects", "not a readable .npz"),
    ],
)
def test_a_bad_file_is_one_line_and_writes_nothing(tmp_path, capsys, kind, says):
    code, out, captured = _audit(tmp_path, capsys, _bad(kind))
    err = captured.err.strip()
    assert code == 2 and says in err and "\n" not in err, err
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--margin", "0"], "--margin must be above 0"),
        (["--margin", "nan"], "--margin must be above 0"),
        (["--forget-indices", "1,2"], "names 2 samples but the scores have 10"),
        (["--method", "none"], "leave out --checkpoint, --method"),
    ],
)
def test_bad_settings_are_one_line(tmp_path, capsys, args, says):
    code, out, captured = _audit(tmp_path, capsys, _grids(6, 10), *args)
    assert code == 2 and says in captured.err and not out.exists()


def test_not_a_file_and_not_an_npz_are_one_line(tmp_path, capsys):
    for path in (tmp_path / "none.npz", tmp_path):
        assert main(["privacy-audit", "--scores", str(path), "--out", str(tmp_path / "o")]) == 2
        assert "--scores" in capsys.readouterr().err
    text = tmp_path / "scores.npz"
    text.write_text("not a zip")
    assert main(["privacy-audit", "--scores", str(text), "--out", str(tmp_path / "o")]) == 2
    assert "not a readable .npz" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_model_audit_still_names_what_it_needs(tmp_path, capsys):
    assert main(["privacy-audit", "--method", "none", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--checkpoint" in err and "--forget-classes or --forget-indices" in err
