"""The Privacy page's audit through AppTest, in each state: not run (a form and a note), running
(the job's progress), done (verdict, attack table, ROC bands and exposed samples, as
privacy.json has them) and inconclusive; submitting queues the run's own audit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from tests.test_privacy_audit import audit_spec
from unlearn_core.engine.state import JobBoard, JobRecord
from unlearn_core.privacy.run import run_audit
from unlearn_core.privacy.scores import indistinguishable_share
from unlearn_core.privacy.store import AuditStore
from unlearn_core.views.privacy_audit import attack_rows, leaking_samples, relearn_note

PRIVACY = str(ROOT / "app_pages" / "privacy.py")


@pytest.fixture(scope="module")
def measured(memorising):
    """A real audit's privacy.json (the memorising MLP, `none`)."""
    return run_audit(audit_spec(memorising, "none")).privacy


@pytest.fixture
def store(app_store, tmp_path):
    """A copy of the fixture's unsir run (class 3, demo checkpoint) in a store of its own."""
    run_id = app_store["unsir"]
    shutil.copytree(Path(app_store["root"]) / run_id, tmp_path / run_id)
    report = json.loads((tmp_path / run_id / "report.json").read_text())
    return {"root": tmp_path, "run_id": run_id, "report": report}


def as_this_runs(privacy: dict, report: dict, **changes) -> dict:
    """`privacy` relabelled as an audit of the run's checkpoint, method, settings and request."""
    return {
        **privacy,
        "checkpoint_sha256": report["checkpoints"]["original_sha256"],
        "method": report["method"],
        "config": report["config"],
        "forget": report["forget"],
        **changes,
    }


def page(store, monkeypatch) -> AppTest:
    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(store["root"]))
    at = AppTest.from_file(PRIVACY, default_timeout=300)
    at.session_state["open_runs"] = [store["run_id"]]
    return at.run()


def queue_into_a_list(monkeypatch) -> list:
    """The specs the page submits, kept in a list instead of queued as jobs."""
    queued = []

    def submit(self, spec, inputs=None, *, checked=False):
        queued.append(spec)
        return JobRecord(id="job-x", spec=spec.to_dict())

    monkeypatch.setattr("unlearn_core.engine.jobs.JobManager.submit", submit)
    return queued


def test_not_run_shows_the_form_and_says_what_an_audit_does(store, monkeypatch):
    at = page(store, monkeypatch)
    assert not at.exception and not at.error
    assert "No audit of this run yet" in " ".join(i.value for i in at.info)
    assert at.number_input[0].value == 8


def test_submitting_queues_the_runs_own_audit(store, monkeypatch):
    queued = queue_into_a_list(monkeypatch)
    at = page(store, monkeypatch)
    at.number_input[0].set_value(5)
    at.button[0].click().run()
    assert not at.exception and len(queued) == 1
    spec, report = queued[0], store["report"]
    assert (spec.method, spec.forget, spec.models) == ("unsir", {"classes": [3]}, 5)
    assert spec.checkpoint_sha256 == report["checkpoints"]["original_sha256"]
    assert spec.overrides == report["config"]


def test_running_shows_the_jobs_progress(store, monkeypatch, measured):
    spec = audit_spec(
        {"path": str(ROOT / "assets/models/demo_smallcnn.safetensors"), "store": "."}, "unsir"
    )
    report = store["report"]
    values = {**spec.to_dict(), "checkpoint_sha256": report["checkpoints"]["original_sha256"]}
    values["forget"] = {"classes": [3]}
    job = JobRecord(
        id="job-1-audit", spec=values, state="running", progress=0.4, phase="3 of 8 models"
    )
    JobBoard(store["root"]).write(job)
    at = page(store, monkeypatch)
    assert not at.exception
    bars = at.get("progress")
    assert (
        bars
        and "privacy audit of unsir" in bars[0].proto.text
        and "3 of 8 models" in bars[0].proto.text
    )
    notes = " ".join(i.value for i in at.info)  # not "no audit yet" while one runs (issue 24)
    assert "audit is running" in notes and "No audit of this run yet" not in notes


def test_done_shows_the_verdict_table_roc_bands_and_exposed_samples(store, monkeypatch, measured):
    privacy = as_this_runs(measured, store["report"])
    AuditStore(store["root"]).save(privacy)
    at = page(store, monkeypatch)
    assert not at.exception
    assert (
        at.error[0].value.startswith("**Remembers**")
        and privacy["verdict_reason"] in at.error[0].value
    )
    rows = at.dataframe[0].value.to_dict("records")
    assert [r["AUC"] for r in rows] == [r["AUC"] for r in attack_rows(privacy)]
    assert all(v is not None for r in rows for v in r.values()), "a cell reads None"
    roc = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert roc["layout"]["xaxis"]["type"] == "log"
    filled = [t for t in roc["data"] if t.get("fill") == "tonexty"]
    assert len(filled) == 2  # a band for the unlearned and one for the original models
    # the eight samples that leak most, each an image of its own column (as one list they took
    # their captions' widths, in different sizes); the one-sample card follows
    assert all(len(i.proto.imgs) == 1 for i in at.get("image")[:8])
    tiles = [i.proto.imgs[0] for i in at.get("image")[:8]]
    leaking = leaking_samples(privacy)
    assert [t.caption.split(" · ")[0] for t in tiles] == [f"#{r['index']}" for r in leaking]
    assert f"ε {leaking[0]['epsilon']:.2f}" in tiles[0].caption
    histogram = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert histogram["data"][0]["type"] == "histogram"
    assert len(histogram["data"][0]["x"]) == len(privacy["samples"])
    share = indistinguishable_share(privacy["samples"])
    assert any(f"{share:.0%} of the forget set" in m.value for m in at.markdown)
    scores = json.loads(at.get("plotly_chart")[2].proto.spec)
    assert {t["name"] for t in scores["data"]} == {"unlearned models", "retrained models"}


def test_done_shows_what_the_verdict_rests_on_and_the_relearning_attack(
    store, monkeypatch, measured
):
    AuditStore(store["root"]).save(as_this_runs(measured, store["report"]))
    at = page(store, monkeypatch)
    assert not at.exception
    tables = [t.value.to_dict("records") for t in at.dataframe]
    rests = next(t for t in tables if t and t[0].get("measure", "").startswith("equivalence"))
    assert rests[0]["value"] == "0.050"
    assert rests[3]["value"] == "[0.000, 0.000]"  # `none`: the paired difference is 0
    relearn = next(t for t in tables if t and "forget accuracy regained" in t[0])
    assert [r["models"] for r in relearn] == ["unlearned (5)", "retrained (5)"]
    note = relearn_note(measured)[1]
    assert any(note == box.value for box in [*at.info, *at.warning])


def test_a_leaking_sample_opens_in_the_sample_card(store, monkeypatch, measured):
    AuditStore(store["root"]).save(as_this_runs(measured, store["report"]))
    at = page(store, monkeypatch)
    worst = leaking_samples(measured)[1]["index"]
    at.button(key=f"open-card-{worst}").click().run()
    assert not at.exception
    assert at.number_input(key=f"card_index-{store['run_id']}").value == worst


def test_the_single_model_svc_shows_its_spread_as_a_quick_look(store, monkeypatch):
    at = page(store, monkeypatch)
    assert any("never a verdict" in c.value for c in at.caption)
    at.button[[b.label for b in at.button].index("Show the SVC's spread over 5 draws")].click()
    at.run()
    assert not at.exception
    rows = next(t.value.to_dict("records") for t in at.dataframe if "MIA-Efficacy range" in t.value)
    assert {r["model"] for r in rows} >= {"original", "unlearned"}
    assert all(r["draws"] == 5 for r in rows)


def test_an_absurd_margin_is_refused_in_one_line(store, monkeypatch):
    at = page(store, monkeypatch)
    at.number_input[
        [n.label for n in at.number_input].index("Equivalence margin on the AUC")
    ].set_value(0.9)
    at.button[[b.label for b in at.button].index("Run the audit as a job")].click().run()
    assert any("--margin must be above 0 and at most 0.25" in e.value for e in at.error)
    assert not JobBoard(store["root"]).list()


def test_inconclusive_says_why(store, monkeypatch, measured):
    reason = "even the original models cannot be told from the retrained ones (...)."
    privacy = as_this_runs(measured, store["report"], verdict="inconclusive", verdict_reason=reason)
    AuditStore(store["root"]).save(privacy)
    at = page(store, monkeypatch)
    assert not at.exception
    assert any(w.value.startswith("**Inconclusive**") and reason in w.value for w in at.warning)


def test_an_older_privacy_json_still_opens(store, monkeypatch, measured):
    """privacy.json written before the paired verdict: no margin, power, samples, relearning
    or paired difference; the page shows what it has and dashes for the rest."""
    old = {k: v for k, v in measured.items() if k not in ("margin", "power", "samples")}
    old["attacks"] = {k: v for k, v in measured["attacks"].items() if k != "relearn"}
    old["control"] = {"ulira": measured["control"]["ulira"]}
    old["challenge"] = {
        k: v for k, v in measured["challenge"].items() if k not in ("official", "scoring_limit")
    }
    AuditStore(store["root"]).save(as_this_runs(old, store["report"]))
    at = page(store, monkeypatch)
    assert not at.exception
    rests = next(
        t.value.to_dict("records")
        for t in at.dataframe
        if t.value.to_dict("records")[0].get("measure", "").startswith("equivalence")
    )
    assert rests[0]["value"] == "–" and rests[4]["value"] == "–"
    leaking = at.get("image")[:8]  # samples rebuilt from per-sample AUCs, an image each
    assert len(leaking) == 8 and all(len(i.proto.imgs) == 1 for i in leaking)


def test_a_model_without_a_recipe_is_audited_by_the_recipe_typed(store, monkeypatch):
    """An uploaded model records no recipe: the form asks for it (prefilled from the demo
    model's) and the queued audit trains its models by what was typed."""
    import ui.privacy_audit

    real = ui.privacy_audit.get_model

    def handed(path, dataset):  # the run's checkpoint, as if uploaded without its recipe
        trained, meta = real(path, dataset)
        return trained, {**meta, "recipe_recorded": False}

    monkeypatch.setattr(ui.privacy_audit, "get_model", handed)
    queued = queue_into_a_list(monkeypatch)
    at = page(store, monkeypatch)
    assert not at.exception
    assert any("records no training recipe" in m.value for m in at.markdown)
    labels = [n.label for n in at.number_input]
    assert at.number_input[labels.index("Epochs")].value == 12  # the demo model's recipe
    at.number_input[labels.index("Epochs")].set_value(3)
    at.button[[b.label for b in at.button].index("Run the audit as a job")].click().run()
    assert not at.exception and len(queued) == 1
    recipe = queued[0].recipe
    assert (recipe["epochs"], recipe["lr"], recipe["arch"]) == (3, 0.05, "smallcnn")
    assert ui.privacy_audit.check_given_recipe(recipe) == recipe  # complete and valid
