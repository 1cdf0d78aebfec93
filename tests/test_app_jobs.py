"""Jobs in the browser (AppTest, inline executor): a sweep's table has intervals, the jobs panel
shows progress from every page, a job whose server died can be submitted again, and two
sessions share the job list but keep their own forget requests."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from conftest import ROOT
from streamlit.testing.v1 import AppTest
from test_app_request_unlearn import small_checkpoint, unlearn  # noqa: F401  (fixture)

from unlearn_core.engine.state import JobBoard, JobRecord
from unlearn_core.run.store import RunStore
from unlearn_core.specs.run import RunSpec

APP = str(ROOT / "app.py")


def test_a_sweep_shows_mean_and_interval_per_method(small_checkpoint):  # noqa: F811
    settings = {"unlearn_finetune_epochs": 1, "unlearn_neggrad_epochs": 1}
    at = unlearn(small_checkpoint, ["finetune", "neggrad"], settings, seeds="0, 1")
    assert not at.exception and not at.error
    assert len(RunStore().list()) == 4
    (sweep,) = [d for d in at.dataframe if "ToW" in d.value.columns]
    rows = sweep.value.to_dict("records")
    assert [r["method"] for r in rows] == ["finetune", "neggrad"] and rows[0]["n"] == 2
    assert all("±" in r["test acc"] or "same every seed" in r["test acc"] for r in rows)
    assert any("95% interval" in h.value for h in at.subheader)
    chart = json.loads(at.get("plotly_chart")[-1].proto.spec)
    assert chart["data"][0]["error_y"]["type"] == "data"


def _record(state: str, owner: dict | None = None, **changes) -> JobRecord:
    spec = RunSpec("m.safetensors", "0" * 64, "finetune", {"classes": [3]})
    job = JobRecord(id=f"job-x-{state}", spec=spec.to_dict(), state=state, **changes)
    if owner is not None:
        job.owner = owner
    return job


def app(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def test_the_panel_shows_progress_and_time_left_on_every_page():
    board = JobBoard(RunStore().root)
    board.write(
        _record(
            "running",
            progress=0.5,
            phase="finetune: fine-tuning",
            started="2026-01-01T00:00:00+00:00",
        )
    )
    at = app()
    assert not at.exception
    bars = [p for p in at.sidebar.get("progress")]
    assert len(bars) == 1 and "left" in bars[0].proto.text
    assert bars[0].proto.text.count("finetune") == 1  # not "finetune … finetune: fine-tuning"
    assert any(b.label == "Cancel" for b in at.sidebar.button)


def test_a_stopped_job_says_stopped_and_a_stopping_one_has_no_cancel_button():
    board = JobBoard(RunStore().root)
    stopped = board.write(_record("cancelled", phase="finetune: fine-tuning"))
    running = board.write(dataclasses.replace(_record("running"), id="job-x-stopping"))
    board.request_cancel(running.id)
    at = AppTest.from_file(str(ROOT / "app_pages" / "unlearn.py"), default_timeout=120)
    at.session_state["forget"] = {"classes": [3], "indices": [], "count": 600}
    at.session_state["my_jobs"] = [stopped.id, running.id]
    at.run()
    assert not at.exception
    assert any("stopped, nothing stored" in c.value for c in at.caption)
    assert not at.get("progress")  # live jobs are drawn by the sidebar's panel only
    at = app(my_jobs=[stopped.id, running.id])
    [bar] = at.sidebar.get("progress")
    assert "stopping" in bar.proto.text and "running" not in bar.proto.text
    assert not [b for b in at.sidebar.button if b.label == "Cancel"]


def test_a_job_whose_server_died_can_be_submitted_again(small_checkpoint):  # noqa: F811
    from unlearn_core.checkpoint import sha256_file

    board = JobBoard(RunStore().root)
    dead = {"host": _record("x").owner["host"], "pid": 2**22 + 9, "start": "1"}
    job = _record("running", dead)
    job.spec = {**job.spec, "checkpoint": small_checkpoint}
    job.spec["checkpoint_sha256"] = sha256_file(small_checkpoint)
    board.write(job)
    at = app()
    assert any("interrupted" in m.value for m in at.sidebar.markdown)
    at.sidebar.button(key=f"re-{job.id}").click().run()
    assert not at.exception
    assert len(at.session_state["my_jobs"]) == 1
    assert board.get(at.session_state["my_jobs"][0]).spec["method"] == "finetune"


def test_two_sessions_share_jobs_but_not_requests():
    board = JobBoard(RunStore().root)
    board.write(_record("done", run_id=None))
    first = app(forget={"classes": [3], "indices": [], "count": 600})
    second = app(forget={"classes": [], "indices": [7], "count": 1})
    for at in (first, second):
        assert any("finetune" in m.value and "done" in m.value for m in at.sidebar.markdown)
    assert first.session_state["forget"]["classes"] == [3]
    assert second.session_state["forget"]["indices"] == [7]


def test_the_chart_format_is_chosen_in_the_sidebar_and_holds():
    """Chosen in the sidebar of every page (the pages' charts read it: test_app_results)."""
    at = app()
    at.sidebar.radio(key="_chart_format").set_value("svg").run()
    assert not at.exception and at.session_state["chart_format"] == "svg"
    # a later run (AppTest's reruns drop the sidebar: a new session holding the choice)
    assert app(chart_format="svg").sidebar.radio(key="_chart_format").value == "svg"


def test_the_jobs_fragments_poll_only_while_a_job_is_live(monkeypatch):
    """The idle server's CPU (issue 15, done-means: under 5% of a core with a tab open): every
    2-s rerun of an idle fragment costs about 0.2 s of CPU per tab (BENCHMARKS.md, "Idle
    server"), so with no live job the Unlearn page's fragment never reruns and the sidebar's
    every 10 s; with one, both every 2 s."""
    from ui import jobs

    paces = {}

    def fragment(body, run_every=None):
        paces[body.__name__] = run_every
        return lambda *args: None

    monkeypatch.setattr(jobs.st, "fragment", fragment)
    board = JobBoard(RunStore().root)
    jobs.jobs_panel()
    assert paces == {"_jobs_panel": 10}
    board.write(_record("running", started="2026-01-01T00:00:00+00:00"))
    jobs.jobs_panel()
    assert paces == {"_jobs_panel": 2}


def test_live_jobs_are_drawn_once_with_one_cancel_button_each():
    """Issue 24, item 6: the Unlearn page drew a second, frozen copy of the panel's rows, and
    the two copies' Cancel buttons had one key (StreamlitDuplicateElementKey)."""
    board = JobBoard(RunStore().root)
    job = board.write(_record("running", progress=0.3, started="2026-01-01T00:00:00+00:00"))
    at = app(my_jobs=[job.id], forget={"classes": [3], "indices": [], "count": 600})
    at.switch_page("app_pages/unlearn.py").run()
    assert not at.exception
    assert len(at.get("progress")) == 1 and len(at.sidebar.get("progress")) == 1
    assert [b.label for b in at.button].count("Cancel") == 1
    assert any("Jobs" in c.value and "1 of your jobs" in c.value for c in at.caption)


def test_the_panel_shows_every_running_job_and_counts_them_all():
    """Issue 24, item 9: the panel showed the newest 8 only, so running jobs vanished behind
    queued ones and its count covered those 8."""
    board = JobBoard(RunStore().root)
    for n in range(2):  # the oldest jobs run; the newer ones wait
        board.write(dataclasses.replace(_record("running"), id=f"job-a-{n}"))
    for n in range(12):
        board.write(dataclasses.replace(_record("queued"), id=f"job-b-{n:02d}"))
    board.write(dataclasses.replace(_record("failed", error="boom"), id="job-0-failed"))
    at = app()
    assert not at.exception
    assert len(at.sidebar.get("progress")) == 2  # both running jobs
    assert any("2 running, 12 queued, 1 ended" in c.value for c in at.sidebar.caption)
    assert any(b.label == "Submit again" for b in at.sidebar.button)


def test_a_waiting_job_and_a_stale_estimate_show_no_time_left():
    """Issue 24, item 10: a job waiting for the shared oracle kept its last phase's estimate,
    and an estimate was shown long after it ran out."""
    from ui import jobs

    board = JobBoard(RunStore().root)
    now = dt.datetime.now(dt.timezone.utc)
    started = (now - dt.timedelta(seconds=300)).isoformat()
    waiting = board.write(
        _record("running", progress=0.5, phase="finetune: waiting for the shared oracle")
    )
    waiting.started = started
    stale = dataclasses.replace(waiting, id="job-x-stale", phase="finetune: fine-tuning")
    assert "left" not in jobs.timing(waiting)
    # half done 100 s after it started, so "about 100 s left" then; 200 s ago
    jobs._progress_changes()[stale.id] = (0.5, now.timestamp() - 200)
    assert "left" not in jobs.timing(stale) and "longer than estimated" in jobs.timing(stale)
    # half done 250 s after it started, 50 s ago: 250 s left then, 200 s now
    jobs._progress_changes()[stale.id] = (0.5, now.timestamp() - 50)
    assert "about 200 s left" in jobs.timing(stale)
