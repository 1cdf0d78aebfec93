"""A reload keeps the session (issue 15, item 5): the model, the forget request and the open
runs live in the page address, and a new session (a reload) takes them back from it."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import ROOT
from streamlit.testing.v1 import AppTest

from unlearn_core.run.store import RunStore

APP = str(ROOT / "app.py")
DEMO = ROOT / "assets/models/demo_smallcnn.safetensors"


def session(query: dict | None = None, **state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def test_a_reload_keeps_an_uploaded_model_the_request_and_the_open_runs(app_store, monkeypatch):
    monkeypatch.setenv("UNLEARN_RUNS_DIR", app_store["root"])
    store = RunStore()
    uploaded = store.root / "models" / "my-upload.safetensors"  # where uploads are kept
    uploaded.parent.mkdir(exist_ok=True)
    shutil.copy(DEMO, uploaded)
    try:
        runs = [app_store["unsir"], app_store["lfoci"]]
        first = session(
            checkpoint_path=str(uploaded.resolve()),
            dataset_name="demo",
            forget={
                "classes": [3, 5],
                "indices": [],
                "count": 1200,
                "requester": "ticket 7",
                "request_date": "2026-11-30",
            },
            open_runs=runs,
        )
        assert not first.exception
        address = dict(first.query_params)
        assert address["model"] in ("my-upload.safetensors", ["my-upload.safetensors"])
        query = {k: v[0] if isinstance(v, list) else v for k, v in address.items()}
        assert query["classes"] == "3,5" and query["runs"] == ",".join(runs)

        reloaded = session(query)  # a new session: nothing in session_state but the address
        assert not reloaded.exception
        assert Path(reloaded.session_state["checkpoint_path"]).name == "my-upload.safetensors"
        assert reloaded.session_state["forget"]["classes"] == [3, 5]
        assert reloaded.session_state["forget"]["count"] == 1200
        assert reloaded.session_state["forget"]["requester"] == "ticket 7"
        assert reloaded.session_state["forget"]["request_date"] == "2026-11-30"
        assert reloaded.session_state["open_runs"] == runs
    finally:
        uploaded.unlink()


def test_an_address_cannot_open_a_file_the_picker_does_not_offer(tmp_path):
    stray = tmp_path / "elsewhere.safetensors"
    shutil.copy(DEMO, stray)
    at = session({"model": str(stray), "indices": "0,1,999999"})
    assert not at.exception
    assert Path(at.session_state["checkpoint_path"]) == DEMO  # the demo model, not the stray
    assert "forget" not in at.session_state  # an index out of range: dropped, said in a toast
    assert any("not restored" in t.value for t in at.toast)


# Issue 28, finding 6: hostile addresses end in one note each, never an exception.


def toasts(at: AppTest) -> list[str]:
    return [t.value for t in at.toast]


def test_unicode_digits_and_huge_numbers_in_the_address_are_one_note_each():
    for query, word in (
        ({"classes": "²"}, "?classes="),
        ({"indices": "¹²"}, "?indices="),
        ({"classes": "9" * 5000}, "?classes="),
    ):
        at = session(query)
        assert not at.exception, query
        assert any(t.startswith(f"{word} in the address was not restored:") for t in toasts(at))
        assert "forget" not in at.session_state or not at.session_state["forget"]


def test_a_request_date_in_the_future_is_dropped_not_raised():
    at = session({"model": DEMO.name, "classes": "3", "request_date": "2999-01-01"})
    assert not at.exception
    assert any("lies in the future" in t for t in toasts(at))
    again = at.run()  # and the next rerun too
    assert not again.exception


def test_runs_accepts_run_ids_only_and_keeps_the_valid_ones(app_store, monkeypatch):
    monkeypatch.setenv("UNLEARN_RUNS_DIR", app_store["root"])
    valid = app_store["unsir"]
    for bad in ("/root", "../runs", "no-such-run", "models"):
        at = session({"runs": f"{bad},{valid}"})
        assert not at.exception
        assert at.session_state["open_runs"] == [valid], bad
        assert toasts(at) == [f"Not opened, no run of this store: {bad!r}."], bad


def test_a_reload_during_a_job_opens_its_run_when_it_ends(app_store, tmp_path, monkeypatch):
    """Issue 24, item 5: the job list lived in the session only, so a reload during a job lost
    it and its run never opened; its id is in the address now."""
    import dataclasses

    from unlearn_core.engine.state import JobBoard, JobRecord
    from unlearn_core.specs.run import RunSpec

    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(tmp_path / "store"))
    run_id = app_store["unsir"]
    shutil.copytree(Path(app_store["root"]) / run_id, tmp_path / "store" / run_id)
    board = JobBoard(RunStore().root)
    spec = RunSpec("m.safetensors", "0" * 64, "unsir", {"classes": [3]})
    job = board.write(JobRecord(id="job-1-reload", spec=spec.to_dict(), state="running"))
    first = session(my_jobs=[job.id], forget={"classes": [3], "indices": [], "count": 600})
    assert first.query_params["jobs"] in (job.id, [job.id])

    board.write(dataclasses.replace(job, state="done", run_id=run_id, progress=1.0))
    reloaded = session({"jobs": f"{job.id},no-such-job,../x", "classes": "3"})
    assert not reloaded.exception
    assert reloaded.session_state["my_jobs"] == [job.id]
    assert reloaded.session_state["open_runs"] == [run_id]  # opened by itself


def test_a_reload_keeps_the_chosen_methods():
    """Issue 24, item 5: the Unlearn page's methods were cleared by a reload (and by a visit
    to another page)."""
    first = session(chosen_methods=["unsir", "ssd"])
    assert first.query_params["methods"] in ("unsir,ssd", ["unsir,ssd"])
    reloaded = session({"methods": "ssd,no-such-method", "classes": "3"})
    reloaded.switch_page("app_pages/unlearn.py").run()
    assert not reloaded.exception
    assert reloaded.multiselect(key="unlearn_methods").value == ["ssd"]


def test_a_reload_shows_the_run_the_page_showed(app_store, monkeypatch):
    """Issue 24: after a reload the Privacy page switched to the newest open run; the run a
    single-run page shows is in the address (?run=) and chosen again."""
    monkeypatch.setenv("UNLEARN_RUNS_DIR", app_store["root"])
    runs = [app_store["unsir"], app_store["single-gradient"]]  # the first is not the newest
    first = session(open_runs=runs, focus_run=runs[0])
    query = {k: v[0] if isinstance(v, list) else v for k, v in first.query_params.items()}
    assert query["run"] == runs[0]
    reloaded = session(query)
    assert reloaded.session_state["focus_run"] == runs[0]
    page = AppTest.from_file(str(ROOT / "app_pages" / "privacy.py"), default_timeout=300)
    page.session_state["open_runs"] = runs
    page.session_state["focus_run"] = runs[0]
    page.run()
    assert not page.exception and page.selectbox[0].value == runs[0]
