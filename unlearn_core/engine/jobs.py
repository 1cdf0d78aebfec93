"""Submit, watch, cancel and collect jobs: the owner side of the engine.

The process that submits a job owns it: it launches the job on an executor, polls it, writes
its state to the run store (engine/state.py) and, once it has succeeded, stores what it made
(a run: one atomic run folder; an audit; an embedding). Every job of every kind takes the same
path: what differs between kinds is asked of the kind's registry (engine/kinds). A job that
fails or is cancelled stores nothing; if the owner dies, the job reads as interrupted. `poll()`
is one step of that loop; `wait()` polls until the jobs end (the command line) and
`start_monitor()` polls in a background thread (the app).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from unlearn_core.engine.executors import InlineExecutor
from unlearn_core.engine.kinds import kind_of
from unlearn_core.engine.ray_node import NodeDied
from unlearn_core.engine.runner import JobCancelled, SharedCache, SharedInputs
from unlearn_core.engine.state import (
    CANCELLED,
    DONE,
    FAILED,
    FINAL,
    RUNNING,
    JobBoard,
    JobRecord,
    _now,
)
from unlearn_core.errors import UserError
from unlearn_core.run.store import default_store_root

POLL_SECONDS = 0.5
log = logging.getLogger(__name__)


TIMEOUT_ENV = "UNLEARN_JOB_TIMEOUT_S"  # a job running longer than this fails, saying why


@dataclass
class _Tracked:
    job: JobRecord
    spec: object  # a registered kind's spec (specs.base.Spec)
    handle: object | None = None  # None until launched (by the next poll)
    oracle: object | None = None  # the shared oracle it was handed (dropped if the job fails)
    launched: float | None = None  # time.monotonic() at launch


class JobManager:
    """Owns the jobs it submits. `executor` is an executor, or a function making one on first
    launch (the app: starting Ray takes seconds, which a submit must not wait for).
    `timeout_s` (default: $UNLEARN_JOB_TIMEOUT_S, else none): a job not ended that long after
    its launch is cancelled and failed with what the executor knows of it (never placed, or
    its worker's last log lines), so a stalled job is never silent."""

    def __init__(
        self, store_root: str | Path | None = None, executor=None, timeout_s: float | None = None
    ):
        env = os.environ.get(TIMEOUT_ENV)
        self.timeout_s = timeout_s if timeout_s is not None else (float(env) if env else None)
        self.root = Path(store_root) if store_root else default_store_root()
        self.board = JobBoard(self.root)
        self._executor = executor or InlineExecutor()
        self._factory = self._executor if _is_factory(self._executor) else None
        self.tracked: dict[str, _Tracked] = {}
        self.lock = threading.RLock()
        self._monitor: threading.Thread | None = None
        self._inputs = SharedCache()

    @property
    def executor(self):
        if _is_factory(self._executor):
            self._executor = self._executor()
        return self._executor

    def submit(self, spec, inputs: SharedInputs | None = None, *, checked: bool = False):
        """Check the spec of any registered kind (one UserError line, nothing queued) and queue
        it; the next poll launches it. Runs of one checkpoint share its loaded inputs, and runs
        with the oracle share one retrain per forget set (inputs: already loaded ones to
        reuse)."""
        kind_of(spec)  # an unregistered kind: one line now, not a failure at launch
        if not checked:
            spec.validate()
        if inputs is not None:
            self._inputs.offer(spec, inputs)
        name = getattr(self._executor, "name", "pending")  # a factory: named at launch
        job = JobRecord(id=self.board.new_id(spec.label()), spec=spec.to_dict(), executor=name)
        self.board.write(job)
        with self.lock:
            self.tracked[job.id] = _Tracked(job, spec)
        return job

    def _launch(self, tracked: _Tracked) -> None:
        """Start a queued job with what its kind prepares (shared inputs, an oracle)."""
        kind = kind_of(tracked.spec)
        launch = kind.launch(tracked.spec, self._inputs, self.executor, tracked.job.id)
        tracked.oracle = launch.oracle
        tracked.handle = self.executor.launch(tracked.job.id, kind, tracked.spec, launch)
        tracked.launched = time.monotonic()
        self._name_executor(tracked)

    def _name_executor(self, tracked: _Tracked) -> None:
        if tracked.job.executor != self.executor.name:
            tracked.job = self.board.update(tracked.job, executor=self.executor.name)

    def poll(self) -> list[JobRecord]:
        """One step: launch queued jobs, pass on cancel requests, record progress, finish
        ended jobs. Returns the jobs whose state changed. NodeDied (Ray's local node died):
        every launched job is failed with that line, the executor is dropped (a factory makes
        a new one for the next launch) and the error raised."""
        with self.lock:
            changed = []
            try:  # first: a launch on a dead node could wait for ever
                progress = self.executor.progress() if self.tracked else {}
            except NodeDied as err:
                self._lost(err)
                raise
            for tracked in [t for t in self.tracked.values() if t.handle is None]:
                try:
                    self._launch(tracked)
                except Exception as err:  # noqa: BLE001  (loading failed: the job's error)
                    tracked.job = self._failed(tracked.job, err)
                    changed.append(tracked.job)
            for job_id, tracked in list(self.tracked.items()):
                if tracked.handle is not None:
                    updated = self._supervised_step(tracked, progress.get(job_id))
                    if updated is not tracked.job:
                        tracked.job = updated
                        changed.append(updated)
                if tracked.job.state in FINAL:
                    del self.tracked[job_id]
            if not self.tracked and not _is_factory(self._executor):
                self._executor.rest()  # an idle server costs little (issue 24, item 16)
            return changed

    def _supervised_step(self, tracked: _Tracked, progress) -> JobRecord:
        """One job's step; anything it raises (its handle no longer answers) fails that job
        alone, so no job is left queued or running without a live owner."""
        try:
            if self.board.cancel_requested(tracked.job.id):
                tracked.handle.cancel()
            return self._step(tracked, progress)
        except Exception as err:  # noqa: BLE001  (the job's error, in one line)
            return self._failed(tracked.job, err, tracked.oracle)

    def _lost(self, err: Exception) -> None:
        """The executor died under its jobs: fail the launched ones, start afresh next time."""
        for tracked in [t for t in self.tracked.values() if t.handle is not None]:
            tracked.job = self._failed(tracked.job, err)
            del self.tracked[tracked.job.id]
        with contextlib.suppress(Exception):  # closing a dead instance may fail too
            self.executor.close()
        self._inputs = SharedCache()  # its object refs died with it
        self._executor = self._factory or self._executor

    def _step(self, tracked: _Tracked, progress: tuple[float, str] | None) -> JobRecord:
        job = tracked.job
        if tracked.handle.done():
            return self._finish(tracked)
        if self.timeout_s and time.monotonic() - tracked.launched > self.timeout_s:
            return self._timed_out(tracked)
        if progress and (progress[0] - job.progress >= 0.01 or progress[1] != job.phase):
            started = job.started or _now()
            return self.board.update(
                job, state=RUNNING, progress=progress[0], phase=progress[1], started=started
            )
        return job

    def _finish(self, tracked: _Tracked) -> JobRecord:
        job, finished = tracked.job, _now()
        try:
            result, node = tracked.handle.result()
        except (JobCancelled, concurrent.futures.CancelledError) as _:
            return self.board.update(job, state=CANCELLED, phase="cancelled", finished=finished)
        except Exception as err:  # noqa: BLE001  (any failure is the job's, in one line)
            return self._failed(job, err, tracked.oracle)
        kind = kind_of(tracked.spec)
        try:
            stored = kind.store(tracked.spec, self.root, result, job, node)
        except Exception as err:  # noqa: BLE001  (storing failed: this job's error, not the sweep's)
            return self._failed(job, err)
        return self._done(job, node, result.seconds, finished, **{kind.record_field: stored})

    def _done(self, job: JobRecord, node, seconds: float, finished: str, **stored) -> JobRecord:
        """The job's final state once what it made is stored (its kind's record_field=id)."""
        return self.board.update(
            job,
            state=DONE,
            progress=1.0,
            phase="done",
            node=node,
            seconds=seconds,
            started=job.started or finished,
            finished=finished,
            **stored,
        )

    def _timed_out(self, tracked: _Tracked) -> JobRecord:
        """Cancel a job past the timeout and fail it with the executor's account of it."""
        account = self.executor.stall_report(tracked.job.id)
        tracked.handle.cancel()
        line = f"no end {self.timeout_s:g} s after its launch ({TIMEOUT_ENV}); {account}"
        return self._failed(tracked.job, UserError(line), tracked.oracle)

    def _failed(self, job: JobRecord, err: Exception, oracle=None) -> JobRecord:
        if oracle is not None:
            self._inputs.drop_oracle(oracle)
        line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        message = line if isinstance(err, UserError) else f"{type(err).__name__}: {line}"
        return self.board.update(job, state=FAILED, phase="failed", error=message, finished=_now())

    def wait(
        self,
        job_ids: Iterable[str] | None = None,
        on_change: Callable[[JobRecord], None] | None = None,
    ) -> list[JobRecord]:
        """Poll until the jobs (default: every tracked one) have ended; returns them."""
        ids = list(job_ids) if job_ids is not None else list(self.tracked)
        while True:
            for job in self.poll():
                if on_change:
                    on_change(job)
            with self.lock:
                if not any(i in self.tracked for i in ids):
                    return [self.board.get(i) for i in ids]
            self._pause()

    def start_monitor(self) -> None:
        """Poll in a daemon thread for as long as this process runs (the app's server)."""
        with self.lock:
            if self._monitor is None or not self._monitor.is_alive():
                self._monitor = threading.Thread(target=self._run, daemon=True, name="jobs")
                self._monitor.start()

    def _run(self) -> None:
        last = ""
        while True:
            try:
                self.poll()
            except Exception as err:  # noqa: BLE001  (the monitor outlives a bad poll: logged)
                if str(err) != last:  # once, not twice a second
                    log.exception("the job monitor's poll failed")
                last = str(err)
            self._pause()

    def _pause(self) -> None:
        """Until the next poll: POLL_SECONDS, or less where the executor says a running job
        or oracle has ended (so a freed worker slot waits for no timer)."""
        pause = getattr(self._executor, "pause", None)
        if self.tracked and pause is not None:
            try:
                return pause(POLL_SECONDS)
            except Exception:  # noqa: BLE001  (e.g. a dead Ray node: the next poll says so)
                log.debug("the executor's pause failed; sleeping instead", exc_info=True)
        time.sleep(POLL_SECONDS)


def _is_factory(executor) -> bool:
    """A function making an executor on first launch (the app), not an executor."""
    return callable(executor) and not hasattr(executor, "launch")
