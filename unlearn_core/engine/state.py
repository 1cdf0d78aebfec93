"""Job states in the run store: `<store>/jobs/<id>.json`, each written atomically, so any
process or browser session sees every job.

A job is queued, running (with progress and phase), done (with its run id), failed (with the
one-line error), cancelled, or interrupted: its owner (the process that submitted it and waits
for it) died while it was queued or running. Liveness is read from the owner's pid and its
start time (/proc), so a reused pid is not mistaken for the owner. A cancel request is a
separate file (`<id>.cancel`) that any process may create; only the owner writes the state.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path

from unlearn_core.errors import UserError
from unlearn_core.files import SAFE_ID, parse_json_bounded, read_regular, write_bytes_atomic

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
CANCELLED, INTERRUPTED = "cancelled", "interrupted"
FINAL = (DONE, FAILED, CANCELLED, INTERRUPTED)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _process_start(pid: int) -> str | None:
    """The kernel's start time of process `pid` (field 22 of /proc/PID/stat), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def this_process() -> dict:
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start": _process_start(pid)}


def owner_alive(owner: dict) -> bool:
    """Whether the owning process still runs (on another host: assumed so)."""
    if owner.get("host") != socket.gethostname():
        return True
    return _process_start(owner["pid"]) == owner.get("start") is not None


@dataclass
class JobRecord:
    id: str
    spec: dict
    state: str = QUEUED
    progress: float = 0.0
    phase: str = "queued"
    error: str | None = None
    run_id: str | None = None
    audit_id: str | None = None  # a privacy audit's result (<store>/audits/<id>)
    embedding_id: str | None = None  # an embedding's (<store>/embeddings/<id>.npz)
    result_id: str | None = None  # what a job of another registered kind stored
    executor: str = "inline"
    node: str | None = None
    submitted: str = field(default_factory=_now)
    started: str | None = None
    finished: str | None = None
    seconds: float | None = None
    owner: dict = field(default_factory=this_process)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def stored(self) -> str | None:
        """The id of what the job stored, whatever its kind (the `jobs` listing's column)."""
        return self.run_id or self.audit_id or self.embedding_id or self.result_id

    @classmethod
    def from_dict(cls, values: dict) -> JobRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


MAX_JOB_BYTES = 1 << 20  # a job's spec and state: a few kB; a sample request's indices more
STATES = (QUEUED, RUNNING, *FINAL)
_FIELD_TYPES = {  # JobRecord's fields a reader relies on, and the types they must have
    "id": str,
    "spec": dict,
    "state": str,
    "progress": int | float,
    "phase": str,
    "owner": dict,
}


def read_job(path: Path) -> JobRecord:
    """The job in the file at `path`, read by files.read_regular (a regular file of at most
    MAX_JOB_BYTES: a link to /dev/zero or a FIFO is refused, never read or waited on) and
    checked field by field. UserError, one line, for anything else."""
    where = f"job file {path.name[:80]}"
    values = parse_json_bounded(read_regular(path, MAX_JOB_BYTES, where), where)
    if not isinstance(values, dict):
        raise UserError(f"{where} holds a {type(values).__name__}, not a job.")
    for key, kind in _FIELD_TYPES.items():
        if key in values and (not isinstance(values[key], kind) or isinstance(values[key], bool)):
            raise UserError(f"{where}: {key!r} is not a {getattr(kind, '__name__', 'number')}.")
    owner = values.get("owner", {})
    if not isinstance(owner.get("pid"), int) or not isinstance(owner.get("host"), str):
        raise UserError(f"{where}: its owner lacks a host or a pid.")
    if values.get("state", QUEUED) not in STATES or not 0 <= values.get("progress", 0) <= 1:
        raise UserError(f"{where}: its state or progress is not one a job has.")
    if "id" not in values or "spec" not in values:
        raise UserError(f"{where} lacks its id or spec.")
    if f"{values['id']}.json" != path.name:
        raise UserError(f"{where} holds the job {values['id'][:60]!r}, not its own.")
    return JobRecord.from_dict(values)


class JobBoard:
    """The jobs folder of a run store."""

    def __init__(self, store_root: str | Path):
        self.folder = Path(store_root) / "jobs"

    def new_id(self, method: str) -> str:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        return f"job-{stamp}-{method}-{secrets.token_hex(3)}"

    def write(self, job: JobRecord) -> JobRecord:
        payload = json.dumps(job.to_dict(), indent=2, allow_nan=False).encode()
        write_bytes_atomic(self.folder / f"{job.id}.json", payload)
        return job

    def update(self, job: JobRecord, **changes) -> JobRecord:
        return self.write(dataclasses.replace(job, **changes))

    def get(self, job_id: str) -> JobRecord:
        if not isinstance(job_id, str) or not SAFE_ID.fullmatch(job_id):
            raise UserError(f"no job {str(job_id)[:60]!r}; `jobs` lists them.")
        path = self.folder / f"{job_id}.json"
        if not os.path.lexists(path):
            raise UserError(f"no job {job_id!r}; `jobs` lists them.")
        return self._seen(read_job(path))  # a link or a FIFO there: read_job says so

    def list(self) -> list[JobRecord]:
        """Every job, newest first; a job whose owner died shows as interrupted."""
        if not self.folder.is_dir():
            return []
        jobs = []
        for path in self.folder.glob("job-*.json"):
            try:
                jobs.append(self._seen(read_job(path)))
            except UserError:
                continue  # a file being replaced, damaged or no file: the listing goes on
        return sorted(jobs, key=lambda j: j.id, reverse=True)

    def _seen(self, job: JobRecord) -> JobRecord:
        if job.state not in FINAL and not owner_alive(job.owner):
            return dataclasses.replace(job, state=INTERRUPTED, phase="interrupted")
        return job

    def request_cancel(self, job_id: str) -> str:
        """Ask the owner to stop the job; the answer says what happens."""
        job = self.get(job_id)
        if job.state in FINAL:
            return f"job {job_id} is already {job.state}; nothing to cancel."
        self.folder.joinpath(f"{job_id}.cancel").touch()
        return f"asked job {job_id} to stop; `jobs` shows when it has."

    def cancel_requested(self, job_id: str) -> bool:
        return self.folder.joinpath(f"{job_id}.cancel").exists()
