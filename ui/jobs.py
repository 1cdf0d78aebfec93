"""Streamlit glue for the job engine: one JobManager per server and run store (its monitor
thread outlives every browser session), the jobs panel every page shows in the sidebar, and
submitting the Unlearn page's runs as jobs.

The executor is `ray` (a local instance started on first launch, or the cluster at
$UNLEARN_RAY_ADDRESS) unless $UNLEARN_EXECUTOR=inline (one job at a time in this server; the
tests use it). Session-state key: st.session_state["my_jobs"], the ids this session submitted,
newest last (also in the address, ui.session_url, so a reload keeps them); their finished runs
open on every page. The sidebar's panel is the one place that draws live jobs.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable

import streamlit as st

from ui.charts import plot
from ui.runs import add_open_run, run_store
from unlearn_core.engine.jobs import JobManager
from unlearn_core.engine.kinds import opens_runs, same_job, spec_from_dict, title_of
from unlearn_core.engine.runner import SharedInputs
from unlearn_core.engine.state import DONE, JobRecord
from unlearn_core.errors import UserError
from unlearn_core.specs.run import RunSpec

LIVE = ("queued", "running")
ENDED_BADLY = ("cancelled", "failed", "interrupted")  # shown on the Unlearn page, newest few
ENDED_SHOWN = 3
# A fragment that updates itself reruns every POLL_S seconds while a job it shows is live. An
# idle one does not (each rerun costs the server about 0.2 s of CPU per open tab: 10% of a
# core at 2 s), except the sidebar's panel, every IDLE_POLL_S seconds: when it sees a job start
# (from any session or page) it reruns the whole page, and every fragment chooses its pace anew.
POLL_S, IDLE_POLL_S = 2, 10


@st.cache_resource(show_spinner=False)
def _manager(root: str, executor: str, address: str | None) -> JobManager:
    from unlearn_core.engine.executors import make_executor

    manager = JobManager(root, lambda: make_executor(executor, address))
    manager.start_monitor()
    return manager


def job_manager() -> JobManager:
    """This server's manager for the current run store."""
    executor = os.environ.get("UNLEARN_EXECUTOR", "ray")
    address = os.environ.get("UNLEARN_RAY_ADDRESS") or None
    return _manager(str(run_store().root.resolve()), executor, address)


def submit(
    specs: list, inputs: SharedInputs | None = None, checked: bool = True
) -> list[JobRecord]:
    """Queue the specs (of any kind; checked already unless `checked` is false: then a
    UserError line for the first that does not fit) as this session's jobs; returns at once."""
    manager = job_manager()
    jobs = [manager.submit(spec, inputs, checked=checked) for spec in specs]
    st.session_state["my_jobs"] = [*st.session_state.get("my_jobs", []), *(j.id for j in jobs)]
    return jobs


def my_jobs() -> list[JobRecord]:
    """This session's jobs, newest last; their finished runs are opened on the way."""
    board = job_manager().board
    jobs = []
    for job_id in st.session_state.get("my_jobs", []):
        try:
            job = board.get(job_id)
        except UserError:
            continue
        if job.state == DONE and job.run_id:
            add_open_run(job.run_id)
        jobs.append(job)
    return jobs


@st.cache_resource(show_spinner=False)
def _progress_changes() -> dict[str, tuple[float, float]]:
    """{job id: (progress, time.time() when this server first saw it)}: the engine records
    no time of a progress change, so the server notes when a job's progress last moved."""
    return {}


def _last_change(job: JobRecord) -> float:
    seen = _progress_changes()
    if job.id not in seen or seen[job.id][0] != job.progress:
        seen[job.id] = (job.progress, time.time())
    return seen[job.id][1]


def timing(job: JobRecord) -> str:
    """Elapsed time and the time left as estimated at the last progress change, counting down
    from it: none while the job waits (a phase "waiting…", where progress says nothing of the
    rest), and none once the job has outrun it (a stale estimate is worse than none)."""
    if job.state != "running" or not job.started:
        return ""
    started = dt.datetime.fromisoformat(job.started).timestamp()
    seconds = time.time() - started
    if job.progress < 0.02 or phase_text(job).startswith("waiting"):
        return f"{seconds:.0f} s"
    changed = _last_change(job)
    left = (changed - started) * (1 - job.progress) / job.progress - (time.time() - changed)
    if left < 0:
        return f"{seconds:.0f} s, longer than estimated"
    return f"{seconds:.0f} s, about {left:.0f} s left"


def job_title(job: JobRecord) -> str:
    """The job's line in the panel, as its kind titles it."""
    return title_of(job.spec)


def state_text(job: JobRecord) -> str:
    """The state as a person reads it: a cancelled job "stopped" (and nothing of it stored), a
    live one whose cancel was asked "stopping" until it reaches its next step."""
    if job.state == "cancelled":
        return "stopped, nothing stored"
    if job.state in LIVE and job_manager().board.cancel_requested(job.id):
        return "stopping"
    return job.state


def phase_text(job: JobRecord) -> str:
    """The job's phase without the method's name that its title already gives ("unsir seed 0:
    running · impair", not "… · unsir: impair")."""
    return job.phase.removeprefix(f"{job.spec.get('method')}: ")


def _row(job: JobRecord) -> None:
    title = f"{job_title(job)}: {state_text(job)}"
    if job.state == "running":
        st.progress(min(job.progress, 1.0), text=f"{title} · {phase_text(job)} · {timing(job)}")
    else:
        st.markdown(title + (f" — {job.error}" if job.error else ""))
    # callbacks: they run before the rerun, whether the whole page or the panel reruns
    if job.state in LIVE and state_text(job) != "stopping":
        st.button("Cancel", key=f"cancel-{job.id}", on_click=_cancel, args=(job.id,))
    _again_button(job, "re")


def _again_button(job: JobRecord, prefix: str) -> None:
    """ "Submit again" under a failed or interrupted job (prefix: a key per place it is drawn)."""
    if job.state in ("interrupted", "failed"):
        st.button("Submit again", key=f"{prefix}-{job.id}", on_click=submit_again, args=(job,))


def _polled(body: Callable[..., None], live: bool, idle_every: float | None, *args) -> None:
    """`body(live, *args)` as a fragment rerunning every POLL_S seconds while `live`, else
    every `idle_every` (None: never); `body` reruns the page when liveness changes."""
    st.fragment(body, run_every=POLL_S if live else idle_every)(live, *args)


def live_jobs_like(spec) -> list[JobRecord]:
    """The queued or running jobs that ask for what `spec` asks (its kind's same_job)."""
    return [j for j in job_manager().board.list() if j.state in LIVE and same_job(j.spec, spec)]


def follow_jobs(name: str, spec) -> None:
    """The queued or running jobs that ask for what `spec` asks, with their progress and a
    cancel button, updating themselves; the whole page reruns when the last one ends (to show
    what it stored). name: what they are ("audit", "embedding")."""
    _polled(_follow_jobs, bool(live_jobs_like(spec)), None, name, spec)


def _follow_jobs(was_live: bool, name: str, spec) -> None:
    live = live_jobs_like(spec)
    if was_live != bool(live):
        st.rerun()
    for job in live:
        text = f"{job_title(job)}: {state_text(job)} · {phase_text(job)} · {timing(job)}"
        st.progress(min(job.progress, 1.0), text=text)
        if st.button(f"Cancel the {name}", key=f"cancel-{name}-{job.id}"):
            st.info(job_manager().board.request_cancel(job.id))


def _cancel(job_id: str) -> None:
    _say(job_manager().board.request_cancel(job_id))


def _say(message: str) -> None:
    """A note for the panel's next run (a callback may not draw elements in a fragment)."""
    st.session_state["jobs_message"] = message


def submit_again(job: JobRecord) -> None:
    """A failed or interrupted job's spec, queued anew (checked again: one line if it no
    longer fits)."""
    try:
        (again,) = submit([spec_from_dict(job.spec)], checked=False)
    except UserError as err:
        _say(f"Cannot submit {job.id} again: {err}")
        return
    _say(f"Submitted again as {again.id}.")


def jobs_panel(limit: int = 8) -> None:
    """The server's jobs (every session's: they share one job list), updating itself: every
    running one, the first `limit` queued and the newest `limit` ended, counted in full."""
    live = any(job.state in LIVE for job in job_manager().board.list())
    _polled(_jobs_panel, live, IDLE_POLL_S, limit)


def panel_rows(jobs: list[JobRecord], limit: int) -> tuple[list[JobRecord], str]:
    """(the jobs the panel draws, its caption) for the board's jobs, newest first."""
    running = [j for j in jobs if j.state == "running"]
    queued = [j for j in jobs if j.state == "queued"][::-1]  # the next to start first
    ended = [j for j in jobs if j.state not in LIVE]
    shown = running + queued[:limit] + ended[:limit]
    counts = f"{len(running)} running, {len(queued)} queued, {len(ended)} ended"
    hidden = len(jobs) - len(shown)
    return shown, counts + (f"; {hidden} older or later ones not shown." if hidden else ".")


def _jobs_panel(was_live: bool, limit: int) -> None:
    jobs = job_manager().board.list()
    if was_live != any(job.state in LIVE for job in jobs):
        st.rerun()
    if not jobs:
        st.caption("No jobs yet: runs started on the Unlearn page appear here.")
        return
    if message := st.session_state.pop("jobs_message", None):
        st.info(message)
    shown, caption = panel_rows(jobs, limit)
    st.caption(caption)
    for job in shown:
        _row(job)
    _open_finished()


def _ended_unlearning(jobs: list[JobRecord]) -> list[str]:
    """The ids of the ended jobs among `jobs` whose kind makes runs (an audit or an embedding
    is followed by its own page: follow_jobs)."""
    return sorted(j.id for j in jobs if j.state not in LIVE and opens_runs(j.spec))


def _open_finished() -> list[JobRecord]:
    """my_jobs(); when that opened a run or an unlearning job ended otherwise, the whole page
    reruns to show it (the Unlearn page draws this session's results and failures)."""
    before = list(st.session_state.get("open_runs", []))
    jobs = my_jobs()
    ended = _ended_unlearning(jobs)
    known = st.session_state.setdefault("my_ended", ended)
    st.session_state["my_ended"] = ended
    if st.session_state.get("open_runs", []) != before or known != ended:
        st.rerun()
    return jobs


REPRODUCIBLE_KEY = "reproducible"


def reproducible_switch() -> None:
    """The sidebar's switch of reproducible mode for the jobs this session submits
    (RunSpec.reproducible): one thread each, CUDA's deterministic algorithms, and the kernels'
    ISA where the server was started pinned (`UNLEARN_REPRODUCIBLE=1 bash scripts/start.sh`;
    the ISA is read when torch loads, so a running server cannot change it)."""
    from unlearn_core.run.reproducible import pinned_isa

    st.toggle(
        "Reproducible mode",
        key=REPRODUCIBLE_KEY,
        help="Jobs run as `unlearn --reproducible` would: the same bits on a rerun where "
        "BENCHMARKS.md (Reproducibility) says so. Their command lines carry the flag.",
    )
    if st.session_state.get(REPRODUCIBLE_KEY):
        isa = pinned_isa()
        st.caption(
            f"Kernels pinned to {isa.upper()}, one thread per job."
            if isa
            else "Kernels not pinned (start the app with UNLEARN_REPRODUCIBLE=1 to pin them): "
            "jobs pin their threads only, and their runs say so."
        )


def method_specs(
    checkpoint: str,
    meta: dict,
    dataset: str,
    forget: dict,
    chosen: dict,
    oracle: bool,
    seeds: list[int],
    reproducible: bool = False,
) -> tuple[list[RunSpec], list[str]]:
    """One checked spec per method (with its changed settings, `chosen`) and seed, in
    reproducible mode or not, by the sweep's own builder and limits (engine.sweep.sweep_specs);
    a sweep id tags them when there are several. Returns (specs, one error line per refused
    method); UserError for a sweep beyond the limits."""
    from unlearn_core.engine.sweep import new_sweep_id, sweep_specs

    sweep_id = new_sweep_id() if len(chosen) * len(seeds) > 1 else None
    base = RunSpec(
        checkpoint,
        meta["sha256"],
        "none",
        forget,
        oracle=oracle,
        dataset=dataset,
        reproducible=reproducible,
        sweep_id=sweep_id,
    )
    return sweep_specs(base, chosen, seeds)


def show_my_jobs() -> None:
    """Where this session's live jobs are (the sidebar's panel draws them, here they would be a
    second copy), the newest few that stopped or failed, with "Submit again" where it applies,
    and the summary of its newest sweep once any of its jobs is done. The panel reruns the
    page when one of them ends."""
    from unlearn_core.engine.sweep import summary_rows

    jobs = my_jobs()
    st.session_state["my_ended"] = _ended_unlearning(jobs)
    if live := sum(j.state in LIVE for j in jobs):
        st.caption(
            f"{live} of your jobs queued or running: the sidebar's **Jobs** panel shows their "
            "progress; each opens here when done."
        )
    for job in [j for j in jobs if j.state in ENDED_BADLY][-ENDED_SHOWN:]:
        st.caption(
            f"{job_title(job)}: {state_text(job)}" + (f" — {job.error}" if job.error else "")
        )
        _again_button(job, "page-re")
    sweep_id = next((j.spec.get("sweep_id") for j in reversed(jobs)), None)
    members = [j for j in jobs if sweep_id and j.spec.get("sweep_id") == sweep_id]
    if rows := summary_rows(job_manager().root, [_summary_input(j) for j in members]):
        sweep_summary(rows)


def sweep_summary(rows: list[dict]) -> None:
    """The sweep's table and chart, titled for what they hold (one seed: no interval)."""
    from unlearn_core.views.sweep import sweep_bars, sweep_table, sweep_title

    st.subheader(sweep_title(rows))
    detail = st.toggle("All columns", key="sweep_detail", help="Gaps to the retrained model.")
    st.dataframe(sweep_table(rows, detail), hide_index=True)
    plot(sweep_bars(rows))


def _summary_input(job: JobRecord) -> dict:
    return {
        "state": job.state,
        "method": job.spec["method"],
        "run_id": job.run_id,
        "seconds": job.seconds,
    }
