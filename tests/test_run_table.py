"""The results table: one row per run, gaps to the retrained model, speed-up over retraining."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unlearn_core.views.run_table import (
    ACCURACY_COLUMNS,
    AUC_COLUMNS,
    forgotten_label,
    results_table,
)


def model_metrics(forget: float, retain: float, test: float) -> dict:
    return {"forget_acc": forget, "retain_acc": retain, "test_acc": test, "mia_auc": None}


def loss_attack(auc: float) -> dict:
    return {"loss": {"auc": auc, "members": 600, "nonmembers": 100}, "svc": None}


def report(oracle: bool) -> dict:
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
        "speedup_over_retrain": 15.0 if oracle else None,
    }


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
    old = report(oracle=True)
    del old["mia"], old["speedup_over_retrain"], old["run_id"]
    [row] = results_table([old])
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
    assert forgotten_label(forget) == label


def test_the_row_of_a_real_run_matches_its_report(app_store):
    """Against report.json as the pipeline writes it (the fixture's UNSIR run with the oracle)."""
    folder = Path(app_store["root"]) / app_store["unsir"]
    real = json.loads((folder / "report.json").read_text())
    [row] = results_table([real])
    unlearned, retrained = real["metrics"]["unlearned"], real["metrics"]["retrained"]
    assert row["run"] == app_store["unsir"] and row["forgotten"] == "classes 3"
    assert row["forget acc"] == unlearned["forget_acc"]
    assert row["retrained retain acc"] == retrained["retain_acc"]
    for name in ("forget", "retain", "test"):
        assert row[f"{name} gap"] == pytest.approx(real["gaps_to_retrained"][f"{name}_acc"])
    assert row["MIA AUC"] == real["mia"]["unlearned"]["loss"]["auc"]
    assert row["speed-up"] == real["speedup_over_retrain"]
