"""The "Runs and audit record" page through AppTest, on the fixture's run store (read-only) or on
a copy of it for the tests that delete or tamper."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from unlearn_core.run.store import read_report_dict
from unlearn_core.views import compare

PAGE = str(ROOT / "app_pages" / "runs_and_audit.py")
METHODS = ("unsir", "lfoci", "single-gradient")


def run(**state) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def table(at: AppTest, number: int = 0) -> list[dict]:
    return at.dataframe[number].value.to_dict("records")


def download_labels(at: AppTest) -> list[str]:
    return [button.proto.label for button in at.get("download_button")]


@pytest.fixture
def store(app_store, monkeypatch) -> dict:
    monkeypatch.setenv("UNLEARN_RUNS_DIR", app_store["root"])
    return app_store


@pytest.fixture
def own_store(app_store, tmp_path, monkeypatch) -> dict:
    """A private copy of the fixture's runs, which a test may delete or change."""
    root = tmp_path / "store"
    for method in METHODS:
        shutil.copytree(Path(app_store["root"]) / app_store[method], root / app_store[method])
    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(root))
    return {**app_store, "root": str(root)}


def test_lists_every_stored_run(store):
    at = run()
    assert not at.exception and not at.error
    rows = {row["run"]: row for row in table(at)}
    assert set(rows) == {store[m] for m in METHODS}
    assert rows[store["unsir"]]["method"] == "unsir"
    assert rows[store["unsir"]]["forgets"] == "classes 3"
    assert rows[store["single-gradient"]]["forgets"] == "4 samples"
    assert rows[store["lfoci"]]["forgets"] == "1 sample"
    assert not any(row["open"] for row in rows.values())


def test_open_a_run_in_the_other_pages(store):
    at = run()
    at.selectbox(key="runs_choice").select(store["lfoci"]).run()
    next(b for b in at.button if b.label == "Open it in the other pages").click().run()
    assert at.session_state["open_runs"] == [store["lfoci"]]
    assert {row["run"]: row["open"] for row in table(at)}[store["lfoci"]]
    next(b for b in at.button if b.label == "Close it in the other pages").click().run()
    assert at.session_state["open_runs"] == []


def test_compare_two_runs_side_by_side(store):
    at = run()
    at.selectbox(key="compare_a").select(store["unsir"])
    at.selectbox(key="compare_b").select(store["lfoci"]).run()
    rows = {row.pop("field"): list(row.values())[:2] for row in table(at, 1)}
    unsir = read_report_dict(Path(store["root"]) / store["unsir"])
    lfoci = read_report_dict(Path(store["root"]) / store["lfoci"])
    assert rows["method"] == ["unsir", "lfoci"]
    forget_acc = [r["metrics"]["unlearned"]["forget_acc"] for r in (unsir, lfoci)]
    assert rows["unlearned: Forget accuracy"] == [f"{v:.4g}" for v in forget_acc]
    assert rows["config: noise_steps"] == [str(unsir["config"]["noise_steps"]), ""]
    assert rows["config: perturbations"] == ["", "200"]  # the fixture's lfoci setting
    assert rows["retrained: Forget accuracy"][1] == "n/a"  # lfoci ran without the oracle
    assert rows["forget indices"][1] == "2"  # the fixture's lfoci request: index 2
    assert rows["forget indices"][0].endswith(f"({unsir['forget']['count']})")  # shortened


def test_the_rows_where_two_runs_differ_are_highlighted(store):
    at = run()
    at.selectbox(key="compare_a").select(store["unsir"])
    at.selectbox(key="compare_b").select(store["lfoci"]).run()
    frame = at.dataframe[1]
    rows = table(at, 1)
    differs = [i for i, row in enumerate(rows) if row["differs"]]
    assert {rows[i]["field"] for i in differs} >= {"method", "forget count", "forget indices"}
    assert not next(row for row in rows if row["field"] == "dataset")["differs"]
    styles = frame.proto.arrow_data.styler.styles  # the Styler's CSS, one selector a cell
    assert compare.DIFFERS.split(": ")[1] in styles
    assert {int(i) for i in re.findall(r"_row(\d+)_col0\b", styles)} == set(differs)
    assert any("differ" in caption.value for caption in at.caption)


def test_export_the_open_runs_at_once(store):
    at = run(open_runs=[store["unsir"], store["lfoci"]])
    assert "Download the results of the 2 open run(s) (CSV)" in download_labels(at)
    closed = run()
    assert not any("open run" in label for label in download_labels(closed))


def test_audit_record_is_offered_for_a_sound_run(store):
    at = run()
    at.selectbox(key="runs_choice").select(store["unsir"]).run()
    assert not at.error
    assert any("All 4 files of the run match" in s.value for s in at.success)
    at.button(key="prepare_audit").click().run()
    assert download_labels(at) == [
        "Download the audit record (zip)",
        "Download the audit page (HTML)",
    ]


def test_the_audit_downloads_survive_reruns(store):
    """Issue 24, item 7: with a job live the zip's download was cancelled in 5 of 9 tries: a
    button built on click lost its file when the jobs panel reran. Now each button serves one
    fixed file, the same one after any rerun."""
    at = run()
    at.selectbox(key="runs_choice").select(store["unsir"]).run()
    at.button(key="prepare_audit").click().run()
    urls = [b.proto.url for b in at.get("download_button")[:2]]
    assert all(urls) and not any(b.proto.deferred_file_id for b in at.get("download_button"))
    at.run()
    assert [b.proto.url for b in at.get("download_button")[:2]] == urls


def test_the_verify_note_does_not_overclaim(store):
    """Issue 24, item 8: a one-byte weight change with the sums and report.json's sha256
    rewritten passes every unsigned check, as the note now says."""
    notes = " ".join(c.value for c in run().caption)
    assert "rewritten weights fail" not in notes
    assert "audit --sign" in notes and "--trusted-key" in notes


def test_a_tampered_run_is_one_error_and_offers_no_record(own_store):
    folder = Path(own_store["root"]) / own_store["unsir"]
    (folder / "model.safetensors").write_bytes(b"swapped weights")
    at = run()
    at.selectbox(key="runs_choice").select(own_store["unsir"]).run()
    assert not at.exception
    assert len(at.error) == 1 and "Integrity check failed" in at.error[0].value
    assert "model.safetensors: does not match SHA256SUMS" in at.error[0].value
    assert not at.success and download_labels(at) == []
    assert len(table(at)) == 3  # the rest of the page is still there


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "{}"])
def test_a_corrupt_report_is_listed_as_corrupt_and_the_rest_still_shows(own_store, content):
    folder = Path(own_store["root"]) / own_store["lfoci"]
    (folder / "report.json").write_text(content)
    at = run()
    assert not at.exception
    rows = {row["run"]: row for row in table(at)}
    assert len(rows) == 3 and rows[own_store["lfoci"]]["state"].startswith("corrupt: ")
    assert rows[own_store["unsir"]]["state"] == "ok"
    assert at.error and own_store["lfoci"] in at.error[0].value  # the banner names it
    assert all("report.json" in e.value for e in at.error)  # the audit tab or comparison too


def test_delete_without_confirming_is_one_error_and_deletes_nothing(own_store):
    at = run()
    at.selectbox(key="runs_choice").select(own_store["lfoci"]).run()
    at.button(key="delete_run").click().run()
    assert not at.exception
    assert len(at.error) == 1 and "nothing was deleted" in at.error[0].value
    assert (Path(own_store["root"]) / own_store["lfoci"] / "report.json").is_file()
    assert len(table(at)) == 3


def test_delete_with_confirmation_removes_the_run(own_store):
    at = run(open_runs=[own_store["lfoci"], own_store["unsir"]])
    at.selectbox(key="runs_choice").select(own_store["lfoci"]).run()
    at.checkbox(key="confirm_delete").check().run()
    at.button(key="delete_run").click().run()
    assert not at.exception and not at.error
    assert not (Path(own_store["root"]) / own_store["lfoci"]).exists()
    assert {row["run"] for row in table(at)} == {own_store["unsir"], own_store["single-gradient"]}
    assert at.session_state["open_runs"] == [own_store["unsir"]]
    assert at.checkbox(key="confirm_delete").value is False  # the next delete asks again


def test_an_empty_store_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(tmp_path / "empty"))
    at = run()
    assert not at.exception and not at.error
    assert len(at.info) == 1 and "Unlearn" in at.info[0].value
    assert not at.dataframe
