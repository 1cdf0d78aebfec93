"""The results table: one row per run, gaps to the retrained model, speed-up over retraining."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unlearn_core.request import class_label, forget_label
from unlearn_core.run.report import Report
from unlearn_core.run.store import RunStore
from unlearn_core.views.run_table import (
    ACCURACY_COLUMNS,
    AUC_COLUMNS,
    results_table,
    shown_table,
)


def model_metrics(forget: float, retain: float, test: float) -> dict:
    return {"forget_acc": forget, "retain_acc": retain, "test_acc": test, "mia_auc": None}


def loss_attack(auc: float) -> dict:
    return {"loss": {"auc": auc, "members": 600, "nonmembers": 100}, "svc": None}


def report_dict(oracle: bool) -> dict:
    """A report.json of the contract's shape, with round numbers."""
    return {
        "run_id": "20261123-000000-unsir-abcdef",
        "method": "unsir",
        "forget": {"classes": [1, 2], "indices": [], "count": 1200},
        "timing": {"unlearn_seconds": 4.0, "retrain_seconds": 60.0 if oracle else None},
        "metrics": {
            "original": model_metrics(0.95, 0.88, 0.86),
            "unlearned": model_metrics(0.25, 0.80, 0.70),
            "retrained": model_metrics(0.0, 0.90, 0.75) if oracle else None,
        },
        "mia": {
            "original": loss_attack(0.6),
            "unlearned": loss_attack(0.55),
            "retrained": loss_attack(0.5) if oracle else None,
        },
        "mia_flags": {"loss": {"status": "matches retrained", "gap": 0.05, "margin": 0.1}}
        if oracle
        else None,
        "speedup_over_retrain": 15.0 if oracle else None,
    }


def report(oracle: bool) -> Report:
    return Report.from_dict(report_dict(oracle))


def test_a_run_with_the_oracle_has_every_column():
    [row] = results_table([report(oracle=True)])
    assert row["run"] == "20261123-000000-unsir-abcdef" and row["method"] == "unsir"
    assert row["forgotten"] == "classes 1, 2" and row["forget count"] == 1200
    assert (row["forget acc"], row["retain acc"], row["test acc"]) == (0.25, 0.80, 0.70)
    assert (row["retrained forget acc"], row["retrained retain acc"]) == (0.0, 0.90)
    assert row["retrained test acc"] == 0.75
    # gaps are unlearned minus retrained: positive forget gap = not forgotten enough
    assert row["forget gap"] == pytest.approx(0.25)
    assert row["retain gap"] == pytest.approx(-0.10)
    assert row["test gap"] == pytest.approx(-0.05)
    assert (row["MIA AUC"], row["retrained MIA AUC"]) == (0.55, 0.5)
    assert row["MIA AUC gap"] == pytest.approx(0.05)
    assert (row["unlearn s"], row["speed-up"]) == (4.0, 15.0)


def test_a_run_without_the_oracle_has_none_where_the_oracle_is_needed():
    [row] = results_table([report(oracle=False)])
    assert row["forget acc"] == 0.25 and row["MIA AUC"] == 0.55 and row["unlearn s"] == 4.0
    needs_oracle = [c for c in row if c.startswith("retrained") or "gap" in c] + ["speed-up"]
    assert len(needs_oracle) == 9
    assert all(row[c] is None for c in needs_oracle)


def test_rows_keep_the_order_and_share_their_columns():
    rows = results_table([report(oracle=False), report(oracle=True)])
    assert [r["speed-up"] for r in rows] == [None, 15.0]
    assert list(rows[0]) == list(rows[1])
    assert set(ACCURACY_COLUMNS) | set(AUC_COLUMNS) <= set(rows[0])
    assert results_table([]) == []


def test_an_older_report_without_mia_or_speedup_still_makes_a_row():
    old = report_dict(oracle=True)
    del old["mia"], old["mia_flags"], old["speedup_over_retrain"], old["run_id"]
    [row] = results_table([Report.from_dict(old)])
    assert row["run"] is None and row["MIA AUC"] is None and row["MIA AUC gap"] is None
    assert row["speed-up"] == pytest.approx(15.0)  # from the timings: 60 s / 4 s


@pytest.mark.parametrize(
    "forget, label",
    [
        ({"classes": [3], "indices": [], "count": 600}, "classes 3"),
        ({"classes": [], "indices": [2], "count": 1}, "1 sample"),
        ({"classes": [], "indices": [0, 1, 2, 3], "count": 4}, "4 samples"),
    ],
)
def test_forgotten_label(forget, label):
    assert Report.from_dict({"forget": forget}).forget.label() == label
    assert forget_label(forget["classes"], forget["count"]) == label


def test_class_labels_name_the_class_where_names_are_known():
    assert class_label(3, ["a", "b", "c", "Dress"]) == "3 (Dress)"
    assert class_label(3) == "3" and class_label(7, ["a"]) == "7"
    assert forget_label([1, 3], 1200, ["a", "b", "c", "Dress"]) == "classes 1 (b), 3 (Dress)"


def test_a_run_stored_before_the_typed_report_still_opens(tmp_path):
    """An old-style minimal report.json (no mia, relearn_time, sequence, privacy_risk, gaps or
    run id) opens through the store and makes a row of the run table."""
    folder = tmp_path / "20250101-000000-unsir-old"
    folder.mkdir()
    old = {
        "method": "unsir",
        "dataset": "demo",
        "arch": "smallcnn",
        "forget": {"classes": [3], "indices": [], "count": 600},
        "timing": {"unlearn_seconds": 2.0, "retrain_seconds": None},
        "metrics": {"original": None, "unlearned": {"forget_acc": 0.5}, "retrained": None},
        "checkpoints": {"original_sha256": "ab" * 32, "unlearned_sha256": None},
        "future_field": {"kept": True},
    }
    (folder / "report.json").write_text(json.dumps(old))
    store = RunStore(tmp_path)
    [listed] = store.list()
    assert listed["forgets"] == "classes 3" and listed["created"] is None
    report = store.open(folder.name)
    assert report.mia.unlearned is None and report.relearn_time.present() == {}
    assert report.sequence is None and report.privacy_risk is None
    assert report.gaps_to_retrained is None and report.mia_flags is None
    [row] = results_table([report])
    assert row["forget acc"] == 0.5 and row["retain acc"] is None and row["MIA AUC"] is None
    assert row["forgotten"] == "classes 3" and row["speed-up"] is None
    written = report.to_dict()
    assert written["future_field"] == {"kept": True}  # unknown keys survive a round trip
    json.dumps(written, allow_nan=False)


def test_the_row_of_a_real_run_matches_its_report(app_store):
    """Against report.json as the pipeline writes it (the fixture's UNSIR run with the oracle)."""
    folder = Path(app_store["root"]) / app_store["unsir"]
    real = json.loads((folder / "report.json").read_text())
    [row] = results_table([Report.from_dict(real)])
    unlearned, retrained = real["metrics"]["unlearned"], real["metrics"]["retrained"]
    assert row["run"] == app_store["unsir"] and row["forgotten"] == "classes 3"
    assert row["forget acc"] == unlearned["forget_acc"]
    assert row["retrained retain acc"] == retrained["retain_acc"]
    for name in ("forget", "retain", "test"):
        assert row[f"{name} gap"] == pytest.approx(real["gaps_to_retrained"][f"{name}_acc"])
    assert row["MIA AUC"] == real["mia"]["unlearned"]["loss"]["auc"]
    assert row["MIA AUC gap"] == real["mia_flags"]["loss"]["gap"]
    assert row["speed-up"] == real["speedup_over_retrain"]


def test_the_shown_table_leads_with_before_after_and_retrained():
    [row] = shown_table([report(oracle=True)])
    assert list(row) == ["method", "seed", "forgotten", "forget acc", "retain acc", "test acc"]
    assert row["forget acc"] == "95.0% → 25.0% (0.0%)"  # before → after (retrained)
    assert row["test acc"].endswith("(75.0%)")
    [detail] = shown_table([report(oracle=True)], detail=True)
    assert detail["gap: forget / retain / test"].startswith("+25.0 / -10.0 / ")
    assert detail["MIA AUC gap"] == "+0.050" and detail["speed-up"] == "15.0×"


def test_the_shown_table_leaves_missing_values_blank():
    [row] = shown_table([report(oracle=False)], detail=True)
    assert row["forget acc"] == "95.0% → 25.0%" and row["speed-up"] == ""
    assert row["gap: forget / retain / test"] == ""
    assert "None" not in row.values() and "nan" not in row.values()
