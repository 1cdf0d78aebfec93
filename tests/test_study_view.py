"""The study as the app keeps and shows it, against hand-computed values."""

import json

import numpy as np
import pytest

from unlearn_core.errors import UserError
from unlearn_core.views.study import (
    grid_from_fields,
    list_studies,
    new_study_folder,
    parse_study,
    read_study,
    sd_gamma_groups,
    study_fit,
)


def test_grid_from_fields():
    grid = grid_from_fields({"sd_gamma": "0, 0.5", "epochs": "1,2,3"})
    assert grid == {"sd_gamma": [0.0, 0.5], "epochs": [1, 2, 3]}
    with pytest.raises(UserError, match="sd_gamma values '0, x'"):
        grid_from_fields({"sd_gamma": "0, x"})
    with pytest.raises(UserError, match="epochs values '1.5'"):
        grid_from_fields({"epochs": "1.5"})
    with pytest.raises(UserError, match="epochs values ''"):
        grid_from_fields({"epochs": ""})


def test_study_folders_are_kept_under_the_store_and_listed_newest_first(tmp_path):
    folder = new_study_folder(tmp_path)
    assert folder.parent == tmp_path / "studies" and not folder.exists()
    assert list_studies(tmp_path) == []
    for name in ("20260101-000000-aaaaaa", "20260102-000000-bbbbbb", "20260103-000000-cccccc"):
        (tmp_path / "studies" / name).mkdir(parents=True)
    for name in ("20260101-000000-aaaaaa", "20260102-000000-bbbbbb"):  # the third is unfinished
        (tmp_path / "studies" / name / "study.json").write_text('{"rows": []}')
    assert [p.parent.name for p in list_studies(tmp_path)] == [
        "20260102-000000-bbbbbb",
        "20260101-000000-aaaaaa",
    ]


def test_reading_a_study(tmp_path):
    path = tmp_path / "study.json"
    path.write_text(json.dumps({"rows": [{"x": 1}], "grid": {}}))
    assert read_study(path)["rows"] == [{"x": 1}]
    with pytest.raises(UserError, match="not JSON"):
        parse_study(b"\xff not json", "up.json")
    with pytest.raises(UserError, match="no study rows"):
        parse_study('{"report": 1}', "report.json")
    with pytest.raises(UserError, match="cannot read"):
        read_study(tmp_path / "gone.json")


def row(gamma, epochs, ue, ve, without=1.0, acc=0.5):
    return {
        "sd_gamma": gamma,
        "epochs": epochs,
        "unlearning_error": ue,
        "verification_error": ve,
        "verification_error_without_update": without,
        "test_acc": acc,
    }


def test_study_fit_is_least_squares_and_keeps_the_study_r():
    rows = [row(0.0, 1, 1.0, 2.0), row(0.0, 2, 2.0, 4.5), row(1.0, 1, 4.0, 8.0)]
    rows.append(row(1.0, 2, None, 3.0))  # no probes: left out of the scatter
    study = {"grid": {"sd_gamma": [0.0, 1.0], "epochs": [1, 2]}, "rows": rows, "pearson_r": None}
    fit = study_fit(study)
    slope, intercept = np.polyfit([1.0, 2.0, 4.0], [2.0, 4.5, 8.0], 1)
    assert fit["slope"] == pytest.approx(slope) and fit["intercept"] == pytest.approx(intercept)
    assert fit["x"] == [1.0, 2.0, 4.0] and fit["y"] == [2.0, 4.5, 8.0]
    assert fit["labels"] == [
        "sd_gamma=0.0 epochs=1",
        "sd_gamma=0.0 epochs=2",
        "sd_gamma=1.0 epochs=1",
    ]
    assert fit["r"] is None  # the study's (run_study left it undefined with a missing error)
    study["rows"] = [row(0.0, 1, 1.0, 2.0), row(0.0, 2, 1.0, 3.0)]
    assert study_fit(study) is None


def test_sd_loss_against_none():
    rows = [
        row(1.0, 1, 3.0, 0.3, without=0.6, acc=0.8),
        row(0.0, 1, 2.0, 0.2, without=0.5, acc=0.6),
        row(0.0, 2, 6.0, 0.4, without=0.7, acc=0.7),
        row(1.0, 2, None, 0.5, without=0.8, acc=0.9),
    ]
    groups = sd_gamma_groups({"rows": rows})
    assert [g["SD loss"] for g in groups] == ["none", "γ = 1"]
    none, sd = groups
    assert none["settings"] == 2 and none["unlearning error"] == pytest.approx(4.0)
    assert none["verification error"] == pytest.approx(0.3)
    assert none["without update"] == pytest.approx(0.6)
    assert none["test accuracy"] == pytest.approx(0.65)
    assert sd["unlearning error"] == pytest.approx(3.0)  # the missing one is left out
    assert none["unlearning error / none"] == pytest.approx(1.0)
    assert sd["unlearning error / none"] == pytest.approx(0.75)


def test_sd_gamma_of_a_grid_without_it_is_the_base_recipe_s():
    rows = [{k: v for k, v in row(0.0, e, 1.0 * e, 0.1).items() if k != "sd_gamma"} for e in (1, 2)]
    groups = sd_gamma_groups({"rows": rows, "base_recipe": {"sd_gamma": 0.5}})
    assert [g["SD loss"] for g in groups] == ["γ = 0.5"]
    assert groups[0]["settings"] == 2 and groups[0]["unlearning error / none"] is None
