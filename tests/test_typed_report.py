"""report.json's measured blocks are typed (run/report_blocks.py) and round-trip unchanged:
every stored report reads back to the same keys, in the same order, with the same values, and
a report written before a block's keys existed still opens and renders through the views."""

import copy
import json
from pathlib import Path

import pytest

from unlearn_core.run.report import Report
from unlearn_core.views import compare
from unlearn_core.views import figures as viz
from unlearn_core.views.audit_page import audit_html
from unlearn_core.views.inspect import mia_flag_notes, mia_rows, relearn_rows, verification_rows
from unlearn_core.views.run_table import results_table

ROOT = Path(__file__).resolve().parents[1]
STORED = sorted([*ROOT.glob("assets/**/report.json"), *ROOT.glob("tests/fixtures/**/report.json")])
DEMO = json.loads((ROOT / "assets/demo_run/report.json").read_text())


def _same_bytes(report: dict) -> None:
    assert json.dumps(Report.from_dict(report).to_dict()) == json.dumps(report)


@pytest.mark.parametrize("path", STORED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_stored_report_round_trips_unchanged(path):
    _same_bytes(json.loads(path.read_text()))


def test_the_fixture_runs_round_trip_unchanged(app_store):
    folders = [
        Path(app_store["root"]) / app_store[k] for k in ("unsir", "lfoci", "single-gradient")
    ]
    for folder in folders:
        _same_bytes(json.loads((folder / "report.json").read_text()))


def _old_report() -> dict:
    """The demo run as an older version might have written it: no SVC, ROC curves, relative
    distances, SVC flag or relearn curve; a job and a relearn time in fewer keys. (Top-level
    keys are always written, null where missing: DESIGN.md's report.json contract.)"""
    old = copy.deepcopy(DEMO)
    for attacks in old["mia"].values():
        del attacks["svc"], attacks["loss"]["roc"], attacks["loss"]["tpr_at_0_1pct_fpr"]
    del old["mia_flags"]["svc"]
    old["job"] = {"id": "job-1", "executor": "inline"}
    for row in old["layer_distance"]:
        del row["to_original_relative"], row["to_retrained_relative"]
    del old["verification_error_per_layer"][0]["without_update"]
    old["relearn_time"]["unlearned"] = {"epochs": None, "more_than": 5}
    return old


def test_an_old_report_missing_the_typed_keys_opens_and_renders():
    old = _old_report()
    _same_bytes(old)  # nothing added where a key was missing
    report = Report.from_dict(old)
    assert report.mia.unlearned.svc is None and report.mia.unlearned.loss.roc is None
    assert report.mia.unlearned.loss.tpr_at_0_1pct_fpr is None and report.job.sweep_id is None
    assert report.mia_flags.svc is None and report.mia_flags.loss.status == "matches retrained"
    assert report.layer_distance[0].distance("retrained", relative=True) is None
    [row] = results_table([report])
    assert row["MIA AUC"] == DEMO["mia"]["unlearned"]["loss"]["auc"]
    assert [(r["model"], r["TPR at 0.1% FPR"]) for r in mia_rows(report.mia)][1] == (
        "unlearned",
        None,
    )
    assert [status for status, _ in mia_flag_notes(report.mia_flags)] == ["matches retrained"]
    (relearn,) = relearn_rows(report.relearn_time)
    assert relearn["epochs to relearn"] == "more than 5"
    assert verification_rows(report.verification_error_per_layer)[0]["share removed"] is None
    assert viz.roc_curves(report.mia).data[1:] == ()  # no curves kept, only chance
    assert viz.relearn_curves(report.relearn_time).data == ()
    relative = viz.layer_distance_bars(report.layer_distance, relative=True)
    assert relative.data == ()
    assert len(compare.runs_layer_distance({"old": report.layer_distance}).data) == 2
    assert "<h2>" in audit_html(report, class_names=[str(c) for c in range(10)])
