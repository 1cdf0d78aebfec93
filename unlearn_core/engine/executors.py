"""Two executors behind one interface: `inline` (this process, one job at a time, in a
background thread) and `ray` (warm Ray workers, engine/ray_pool.py: a local instance started on
first use, or a cluster).

`launch(job_id, kind, spec, launch)` runs `kind.run(spec, launch.inputs, progress)` for a job of
any registered kind (engine/kinds) and returns a handle with done(), result() -> (result, node)
and cancel(); `progress()` returns {job_id: (fraction, phase)} for the jobs it runs;
`fan_out(job_id)` is what a job that spreads its work gets (None: it runs it itself). The
executors store nothing: the job manager does, in the submitting process, once a job has
succeeded.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from unlearn_core.engine.fanout import RayFanOut
from unlearn_core.engine.kinds.registry import JobKind, Launch
from unlearn_core.engine.ray_node import ADDRESS_ENV, connect
from unlearn_core.engine.ray_pool import PoolCall, WorkerPool
from unlearn_core.engine.ray_tasks import progress_actor, remote_task, worker_key
from unlearn_core.engine.runner import JobCancelled, SharedInputs
from unlearn_core.errors import UserError
from unlearn_core.progress import Progress


class InlineHandle:
    def __init__(self, future: Future, stop: threading.Event):
        self.future, self.stop = future, stop

    def done(self) -> bool:
        return self.future.done()

    def result(self):
        return self.future.result(), socket.gethostname()

    def cancel(self) -> None:
        self.stop.set()  # a running job stops at its next progress step
        self.future.cancel()  # a queued one never starts


class InlineExecutor:
    """Jobs in this process, one after another, in a background thread; `watch` (the command
    line's terminal) is told each job's progress too."""

    name = "inline"

    def __init__(self, watch: Progress | None = None):
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="unlearn-job")
        self.board: dict[str, tuple[float, str]] = {}
        self.watch = watch

    def launch(self, job_id: str, kind: JobKind, spec, launch: Launch) -> InlineHandle:
        """The job in the thread (launch's resources: unused, one job at a time in this
        process has nothing to schedule)."""
        stop = threading.Event()

        def progress(fraction: float, phase: str) -> None:
            if stop.is_set():  # a running job stops at its next progress step
                raise JobCancelled(phase)
            self.board[job_id] = (fraction, phase)
            if self.watch:
                self.watch(fraction, phase)

        return InlineHandle(self.pool.submit(kind.run, spec, launch.inputs, progress), stop)

    def fan_out(self, job_id: str) -> None:
        """None: a job's parts run one after another in its thread."""
        return None

    def share(self, inputs: SharedInputs) -> SharedInputs:
        return inputs

    def oracle(
        self,
        inputs: SharedInputs,
        request,
        convention: str,
        threads: int,
        reproducible: bool,
        memory=None,
    ) -> list:
        """The retrain without the request's forget set by `convention` at the jobs' `threads`
        (and reproducible mode), queued before the jobs that need it: [future of (model,
        seconds)] (memory: unused, as for launch)."""
        from unlearn_core.run.pipeline import oracle_retrain

        retrain = functools.partial(
            oracle_retrain, convention=convention, threads=threads, reproducible=reproducible
        )
        return [self.pool.submit(retrain, inputs.trained, inputs.data, request)]

    def progress(self) -> dict[str, tuple[float, str]]:
        return dict(self.board)

    def stall_report(self, job_id: str) -> str:
        """What is known of a job that overran its timeout: its last phase (it runs here)."""
        fraction, phase = self.board.get(job_id, (0.0, "queued behind another job"))
        return f"its last phase, in this process: {phase} ({fraction:.0%})"

    def rest(self) -> None:
        """No job is live: nothing to release (the thread waits for work at no cost)."""

    def node_count(self) -> int:
        return 1


def ray_failure(err: Exception) -> str:
    """One line naming why Ray ended a task (its own messages run to dozens of lines)."""
    import ray

    if isinstance(err, ray.exceptions.OutOfMemoryError):
        return (
            "Ray's out-of-memory killer ended the worker running the job (the machine ran low "
            "on memory); run fewer jobs at once (--workers) or free memory, then run it again."
        )
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if isinstance(err, ray.exceptions.NodeDiedError | ray.exceptions.LocalRayletDiedError):
        return f"the Ray node running the job died: {first[:200]}"
    return f"the worker running the job died: {first[:200]}"


def _raised(err: Exception) -> Exception:
    """What a job's handle raises for Ray's error `err`: the job's own exception, JobCancelled
    for a cancelled task, else a RuntimeError of one line (ray_failure)."""
    import ray

    if isinstance(err, ray.exceptions.TaskCancelledError):
        return JobCancelled("cancelled")
    if isinstance(err, ray.exceptions.RayTaskError):
        cause = err.cause if isinstance(err.cause, Exception) else err
        if isinstance(cause, ray.exceptions.RayError):  # e.g. its shared oracle's worker died
            return RuntimeError(ray_failure(cause))
        return cause
    return RuntimeError(ray_failure(err))  # a worker or node died


class RayHandle:
    """A job run as a Ray task of its own (one that fans out: engine/fanout.py)."""

    def __init__(self, ref):
        self.ref = ref

    def done(self) -> bool:
        import ray

        ready, _ = ray.wait([self.ref], timeout=0)
        return bool(ready)

    def result(self):
        import ray

        try:
            return ray.get(self.ref)
        except ray.exceptions.RayError as err:
            raise _raised(err) from None

    def cancel(self) -> None:
        import ray

        ray.cancel(self.ref, force=True)


class PoolHandle:
    """A job run by the pool's warm workers (engine/ray_pool.py)."""

    def __init__(self, pool: WorkerPool, call: PoolCall):
        self.pool, self.call = pool, call

    def done(self) -> bool:
        if self.call.outcome is None and not self.call.cancelled:
            self.pool.collect()
        return self.call.cancelled or self.call.outcome is not None

    def result(self):
        if self.call.cancelled:
            raise JobCancelled("cancelled")
        status, value = self.call.outcome
        if status == "error":
            raise _raised(value) from None
        return value

    def cancel(self) -> None:
        self.pool.cancel(self.call)


class RayExecutor:
    """Jobs on Ray: each with `spec.threads` CPUs, the memory the job declares and, where the
    cluster has GPUs, `gpu_fraction` of one (fractions let small jobs share a card; a worker
    then runs on whichever device `default_device` finds there). Jobs and shared oracles run on
    a pool of warm workers, one actor per slot of that shape (engine/ray_pool.py); a job that
    fans out runs as a Ray task of its own, which hands its CPU to its children while it waits
    on them. Starts a local instance (ray_node.py: the machine's cores, no dashboard, bound to
    127.0.0.1, watched) unless an address is given (or UNLEARN_RAY_ADDRESS); `gpus` declares
    its GPUs (logical ones on a CPU machine: how the tests drive the fractional-GPU path
    without a card).

    Supervised: the progress actor is restarted by Ray when it dies (reads meanwhile return the
    last board: the jobs' own object refs still say when they end), and a dead local node
    raises NodeDied at the next `progress()`."""

    name = "ray"
    READ_TIMEOUT_S = 2.0  # a progress read that takes longer returns the last board

    def __init__(
        self,
        address: str | None = None,
        gpu_fraction: float = 0.25,
        workers: int | None = None,
        gpus: int | None = None,
    ):
        import ray

        address = address or os.environ.get(ADDRESS_ENV) or None
        if not 0 < gpu_fraction <= 1:
            raise UserError(f"gpu_fraction must be in (0, 1], not {gpu_fraction}.")
        self.gpu_fraction = gpu_fraction
        self.node = (
            None if ray.is_initialized() else connect(address, workers, _runtime_env(), gpus)
        )
        self.actor = None  # the progress actor: started by the first launch after a rest
        self.board: dict[str, tuple[float, str]] = {}
        self.pool = WorkerPool(nodes=_alive_nodes)
        nodes = _alive_nodes()
        self.largest_node = max(n.get("memory", 0) for n in nodes)
        self.most_cpus = max(n.get("CPU", 0) for n in nodes)
        self.has_gpus = any(n.get("GPU", 0) > 0 for n in nodes)

    def share(self, inputs: SharedInputs):
        """Put the sweep's data set and checkpoint in the object store once."""
        import ray

        return ray.put(inputs)

    def launch(self, job_id: str, kind: JobKind, spec, launch: Launch) -> PoolHandle | RayHandle:
        """The job on a warm worker of `launch.cpus` CPUs, its declared memory and, where the
        kind asks for it, a GPU share; one that fans out, as a Ray task of those resources."""
        resources = self._resources(launch.cpus, launch.memory, launch.gpu)
        if launch.fans_out:
            task = remote_task("job").options(**resources, max_retries=0)
            return RayHandle(task.remote(job_id, kind, spec, self._actor(), *launch.inputs))
        args = (job_id, kind, spec, self._actor(), list(launch.inputs))
        call = PoolCall(job_id, "run_job", args, _shape(resources))
        return PoolHandle(self.pool, self.pool.submit(call))

    def fan_out(self, job_id: str) -> RayFanOut:
        """A job's parts as Ray tasks of their own, reporting to the progress board."""
        return RayFanOut(self._actor(), job_id)

    def oracle(
        self,
        inputs,
        request,
        convention: str,
        threads: int,
        reproducible: bool,
        memory: int | None = None,
    ) -> list:
        """The retrain without the request's forget set by `convention` at the jobs' `threads`
        (and reproducible mode), queued on the warm workers before the jobs that wait on it:
        [its pool call] (in a list: a job handed it starts before the retrain ends, and gets
        [the call's object ref of (model, seconds)])."""
        key = f"oracle-{uuid.uuid4().hex[:8]}"  # where its worker's pid goes on the board
        mode = (convention, threads, reproducible)
        args = (key, self._actor(), [inputs], request.forget_indices, mode)
        shape = _shape(self._resources(threads, memory, gpu=True))
        return [self.pool.submit(PoolCall(key, "run_oracle", args, shape))]

    def _resources(self, threads: int, memory: int | None, gpu: bool) -> dict:
        """Ray's options for a job. A job asking more CPUs or memory than any node has fails
        now (Ray would keep it pending for ever, silently); one that fits waits until a node
        has that much free. Memory is kept while a job waits for its oracle, unlike its CPU, so
        waiting jobs no longer pile up. A GPU share is asked for where the cluster has GPUs,
        whatever the driver's own device (a CPU-only driver may use a GPU cluster)."""
        if threads > self.most_cpus:
            raise UserError(
                f"the job asks for {threads} CPU threads and the largest Ray node has "
                f"{self.most_cpus:g}; use fewer threads."
            )
        if memory and memory > self.largest_node:
            raise UserError(
                f"the job needs about {memory >> 20} MiB of memory and the largest Ray node "
                f"has {int(self.largest_node) >> 20} MiB for jobs; use a smaller model or data "
                "set, or a larger machine."
            )
        gpus = self.gpu_fraction if gpu and self.has_gpus else 0
        extra = {"memory": memory} if memory else {}
        return {"num_cpus": threads, "num_gpus": gpus, **extra}

    def progress(self) -> dict[str, tuple[float, str]]:
        """The jobs' progress; NodeDied when the local node has died. A dead or restarting
        progress actor costs at most READ_TIMEOUT_S and returns the last board."""
        import ray

        if self.node is not None:
            self.node.check()
        if self.actor is not None:
            # a dead actor: Ray restarts it (max_restarts); the jobs write to it again once back
            with contextlib.suppress(ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
                self.board = ray.get(self.actor.read.remote(), timeout=self.READ_TIMEOUT_S)
        self.pool.note_parked(self.board)
        self.pool.dispatch()  # ended and parked calls free their workers for the queued ones
        return dict(self.board)

    def pause(self, seconds: float) -> None:
        """Wait `seconds`, or less: until a call the warm workers run has ended."""
        import ray

        refs = self.pool.running()
        if refs:
            ray.wait(refs, num_returns=1, timeout=seconds)
        else:
            time.sleep(seconds)

    def stall_report(self, job_id: str) -> str:
        """What is known of a job that overran its timeout, in one line: never placed (what is
        free and, for a job still in the worker pool's queue, how many calls are ahead of it),
        or its phase and its worker's last log lines (read where this process started the
        instance; a cluster's are on its nodes)."""
        import ray

        ahead = self.pool.queued_ahead(job_id)  # read first: progress() may dispatch it
        board = self.progress()
        if ahead is not None or worker_key(job_id) not in board:
            free = {k: round(v, 3) for k, v in ray.available_resources().items() if "node" not in k}
            queued = f"; {ahead} calls ahead of it in the worker pool" if ahead is not None else ""
            line = f"it never started on a worker: Ray could not place it (free now: {free})"
            return line + queued
        pid = board[worker_key(job_id)][1].split()[0]
        fraction, phase = board.get(job_id, (0.0, "started"))
        tail = worker_log_tail(self.node.session_dir, pid) if self.node else ""
        logs = f"; its worker's log (pid {pid}) ends: {tail}" if tail else f"; worker pid {pid}"
        return f"its last phase: {phase} ({fraction:.0%}){logs}"

    def _actor(self):
        if self.actor is None:
            self.actor = progress_actor()
        return self.actor

    def rest(self) -> None:
        """No job is live: end the idle workers (a shared oracle no job waits on any more
        still ends) and the progress actor (idle, it still costs 0.5% of a core); the next
        launch starts another."""
        import ray

        self.pool.dispatch()
        if self.actor is not None:
            ray.kill(self.actor, no_restart=True)
            self.actor, self.board = None, {}

    def node_count(self) -> int:
        import ray

        return sum(1 for node in ray.nodes() if node.get("Alive"))

    def close(self) -> None:
        """Disconnect; a local instance is stopped, and what is left of it killed."""
        import ray

        ray.shutdown()
        if self.node is not None:
            self.node.reap()


def _shape(resources: dict) -> tuple:
    """A worker's shape, (CPUs, GPUs, memory or None), from a job's Ray options."""
    return (resources["num_cpus"], resources["num_gpus"], resources.get("memory"))


def _alive_nodes() -> list[dict]:
    """The resources of the cluster's alive nodes."""
    import ray

    return [n["Resources"] for n in ray.nodes() if n["Alive"]]


def _runtime_env() -> dict:
    """The package and our environment variables, for every worker of a cluster."""
    from unlearn_core.run.reproducible import PINNED_ENV

    package = str(Path(__file__).resolve().parent.parent)  # the unlearn_core folder
    # a pinned driver's kernel ISA (--reproducible) reaches a cluster's workers too
    ours = [k for k in os.environ if k.startswith("UNLEARN_") or k in PINNED_ENV]
    env = {k: os.environ[k] for k in ours if k != ADDRESS_ENV}
    return {"py_modules": [package], "env_vars": env}


def worker_log_tail(session_dir: str, pid: str, lines: int = 3) -> str:
    """The last `lines` non-empty lines of a local worker's stderr and stdout logs, joined by
    " | " and cut to 400 characters ("" when there are none)."""
    found = []
    for name in sorted(Path(session_dir, "logs").glob(f"worker-*-{pid}.*")):
        with open(name, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            text = f.read().decode("utf-8", "replace")
        found += [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(found[-lines:])[-400:]


def make_executor(name: str, address: str | None = None, workers: int | None = None):
    """`inline` or `ray` (workers: CPUs of a local Ray instance; a cluster brings its own)."""
    if name == "inline":
        if address:
            raise UserError("--address names a Ray cluster: use it with --executor ray.")
        return InlineExecutor()
    if name == "ray":
        return RayExecutor(address, workers=workers)
    raise UserError(f"unknown executor {name!r}; choose inline or ray.")
