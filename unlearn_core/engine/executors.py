"""Two executors behind one interface: `inline` (this process, one job at a time, in a
background thread) and `ray` (Ray tasks: a local instance started on first use, or a cluster).

`launch(job_id, spec, inputs)` returns a handle with done(), result() -> (RunRecord, node) and
cancel(); `progress()` returns {job_id: (fraction, phase)} for the jobs it runs. The executors
store nothing: the job manager does, in the submitting process, once a job has succeeded.
"""

from __future__ import annotations

import functools
import os
import re
import socket
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from unlearn_core.engine.runner import JobCancelled, SharedInputs, execute
from unlearn_core.engine.spec import JobSpec
from unlearn_core.errors import UserError

ADDRESS_ENV = "UNLEARN_RAY_ADDRESS"


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
    """Jobs in this process, one after another, in a background thread."""

    name = "inline"

    def __init__(self):
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="unlearn-job")
        self.board: dict[str, tuple[float, str]] = {}

    def launch(
        self, job_id: str, spec: JobSpec, inputs: SharedInputs | None, oracle=None
    ) -> InlineHandle:
        stop = threading.Event()

        def progress(fraction: float, phase: str) -> None:
            self.board[job_id] = (fraction, phase)

        future = self.pool.submit(execute, spec, inputs, progress, stop.is_set, oracle)
        return InlineHandle(future, stop)

    def launch_task(self, job_id: str, spec) -> InlineHandle:
        """A task (engine/tasks.py: a privacy audit, whose models run one after another, or an
        embedding) in the thread."""
        from unlearn_core.engine.tasks import run_task

        stop = threading.Event()

        def progress(fraction: float, phase: str) -> None:
            if stop.is_set():
                raise JobCancelled(phase)
            self.board[job_id] = (fraction, phase)

        return InlineHandle(self.pool.submit(run_task, spec, progress), stop)

    def share(self, inputs: SharedInputs) -> SharedInputs:
        return inputs

    def oracle(
        self, inputs: SharedInputs, request, convention: str, threads: int, reproducible: bool
    ) -> list:
        """The retrain without the request's forget set by `convention` at the jobs' `threads`
        (and reproducible mode), queued before the jobs that need it: [future of (model,
        seconds)]."""
        from unlearn_core.run.pipeline import oracle_retrain

        retrain = functools.partial(
            oracle_retrain, convention=convention, threads=threads, reproducible=reproducible
        )
        return [self.pool.submit(retrain, inputs.trained, inputs.data, request)]

    def progress(self) -> dict[str, tuple[float, str]]:
        return dict(self.board)

    def node_count(self) -> int:
        return 1


def check_reachable(address: str, timeout: float = 3.0) -> None:
    """A Ray address (host:port or ray://host:port) that nothing answers at is one line,
    before Ray itself would wait a minute or more for it."""
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not re.fullmatch(r"[0-9]{1,5}", port) or not 0 < int(port) < 65536:
        raise UserError(
            f"Ray address {address[:80]!r} is not host:port with a port of 1 to 65535 "
            "(e.g. 127.0.0.1:6379)."
        )
    if len(host) > 253:  # DNS's limit; idna raises on a longer name
        raise UserError(f"Ray address {address[:80]!r}…: the host name is too long.")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except (OSError, UnicodeError) as err:
        reason = getattr(err, "strerror", None) or type(err).__name__
        raise UserError(f"cannot reach a Ray cluster at {address[:80]}: {reason}.") from None


class RayHandle:
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
        except ray.exceptions.TaskCancelledError:
            raise JobCancelled("cancelled") from None
        except ray.exceptions.RayTaskError as err:
            cause = err.cause if isinstance(err.cause, Exception) else err
            raise cause from None
        except ray.exceptions.RayError as err:  # a worker or node died
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise RuntimeError(f"the worker running the job died: {first}") from None

    def cancel(self) -> None:
        import ray

        ray.cancel(self.ref, force=True)


class RayExecutor:
    """Ray tasks, one per job, each with `spec.threads` CPUs and, on CUDA, `gpu_fraction` of a
    GPU (fractions let small jobs share one card). Starts a local instance (the machine's cores,
    no dashboard, bound to 127.0.0.1) unless an address is given (or UNLEARN_RAY_ADDRESS)."""

    name = "ray"

    def __init__(
        self, address: str | None = None, gpu_fraction: float = 0.25, workers: int | None = None
    ):
        import ray

        address = address or os.environ.get(ADDRESS_ENV) or None
        if not 0 < gpu_fraction <= 1:
            raise UserError(f"gpu_fraction must be in (0, 1], not {gpu_fraction}.")
        self.gpu_fraction = gpu_fraction
        if not ray.is_initialized():
            _connect(address, workers)
        self.actor = _progress_actor()

    def share(self, inputs: SharedInputs):
        """Put the sweep's data set and checkpoint in the object store once."""
        import ray

        return ray.put(inputs)

    def launch(self, job_id: str, spec: JobSpec, inputs, oracle=None) -> RayHandle:
        task = remote_task("job").options(**self._resources(spec.threads))
        return RayHandle(task.remote(job_id, spec.to_dict(), inputs, oracle, self.actor))

    def launch_task(self, job_id: str, spec) -> RayHandle:
        """A task (engine/tasks.py) as one Ray task; an audit fans its models out as Ray tasks
        (a task waiting on its children releases its CPU to them, and cancelling it cancels
        them too)."""
        task = remote_task("task").options(num_cpus=1, num_gpus=0, max_retries=0)
        return RayHandle(task.remote(job_id, spec.to_dict(), self.actor))

    def oracle(self, inputs, request, convention: str, threads: int, reproducible: bool) -> list:
        """A task retraining without the request's forget set by `convention` at the jobs'
        `threads` (and reproducible mode): [object ref of (model, seconds)] (in a list, so a job
        handed it starts before the retrain ends)."""
        task = remote_task("oracle").options(**self._resources(threads))
        return [task.remote(inputs, request.forget_indices, convention, threads, reproducible)]

    def _resources(self, threads: int) -> dict:
        from unlearn_core.device import default_device

        gpus = self.gpu_fraction if default_device().type == "cuda" else 0
        return {"num_cpus": threads, "num_gpus": gpus, "max_retries": 0}

    def progress(self) -> dict[str, tuple[float, str]]:
        import ray

        return ray.get(self.actor.read.remote(), timeout=30)

    def node_count(self) -> int:
        import ray

        return sum(1 for node in ray.nodes() if node.get("Alive"))


def _connect(address: str | None, workers: int | None = None) -> None:
    import ray

    package = str(Path(__file__).resolve().parent.parent)  # the unlearn_core folder
    from unlearn_core.reproducible import PINNED_ENV

    # a pinned driver's kernel ISA (--reproducible) reaches a cluster's workers too
    ours = [k for k in os.environ if k.startswith("UNLEARN_") or k in PINNED_ENV]
    env = {k: os.environ[k] for k in ours if k != ADDRESS_ENV}
    runtime_env = {"py_modules": [package], "env_vars": env}
    common = dict(log_to_driver=False, configure_logging=False, runtime_env=runtime_env)
    if address:
        check_reachable(address)
        host = address.removeprefix("ray://").rpartition(":")[0]
        if host in ("127.0.0.1", "localhost"):
            _stay_on_loopback()
            common["_node_ip_address"] = "127.0.0.1"
        ray.init(address=address, **common)
    else:
        _stay_on_loopback()
        ray.init(
            num_cpus=workers or os.cpu_count(),
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            **common,
        )


def _stay_on_loopback() -> None:
    """A local instance, or a cluster on this machine (started on 127.0.0.1): Ray would
    otherwise replace 127.0.0.1 in addresses by the host's network address, where nothing of
    that cluster listens. Its switch for single-machine platforms keeps every Ray process on
    loopback (the environment variable reaches the processes it starts)."""
    from ray._private import ray_constants

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False


_REMOTE: dict = {}


def remote_task(name: str):
    """The Ray tasks (made on first use, so importing this module never imports ray)."""
    if not _REMOTE:
        import ray

        @ray.remote
        def run_job(job_id: str, spec: dict, inputs, oracle, board):
            def progress(fraction: float, phase: str) -> None:
                board.write.remote(job_id, fraction, phase)

            result = execute(JobSpec.from_dict(spec), inputs, progress, oracle=oracle)
            return result, ray.get_runtime_context().get_node_id()

        @ray.remote
        def run_oracle(inputs, forget_indices, convention, threads, reproducible):
            from unlearn_core.request import ForgetRequest
            from unlearn_core.run.pipeline import oracle_retrain

            request = ForgetRequest.for_indices(inputs.data, forget_indices.tolist())
            return oracle_retrain(
                inputs.trained,
                inputs.data,
                request,
                convention=convention,
                threads=threads,
                reproducible=reproducible,
            )

        @ray.remote
        def run_task_remotely(job_id: str, spec: dict, board):
            from unlearn_core.engine.tasks import run_task, task_from_dict

            def progress(fraction: float, phase: str) -> None:
                board.write.remote(job_id, fraction, phase)

            result = run_task(task_from_dict(spec), progress, ray_board=(board, job_id))
            return result, ray.get_runtime_context().get_node_id()

        @ray.remote
        def run_audit_member(spec: dict, seed: int, board=None, key: str = ""):
            from unlearn_core.privacy.audit import audit_member
            from unlearn_core.privacy.spec import AuditSpec

            def progress(fraction: float, phase: str) -> None:
                board.write.remote(key, fraction, phase)

            return audit_member(AuditSpec.from_dict(spec), seed, progress if board else None)

        _REMOTE.update(
            job=run_job, oracle=run_oracle, task=run_task_remotely, audit_member=run_audit_member
        )
    return _REMOTE[name]


def _progress_actor():
    """A small actor the workers report progress to and the owner reads (works across nodes,
    unlike a file in the run store)."""
    import ray

    @ray.remote(num_cpus=0)
    class ProgressBoard:
        def __init__(self):
            self.board = {}

        def write(self, job_id, fraction, phase):
            self.board[job_id] = (fraction, phase)

        def read(self):
            return dict(self.board)

    return ProgressBoard.remote()


def make_executor(name: str, address: str | None = None, workers: int | None = None):
    """`inline` or `ray` (workers: CPUs of a local Ray instance; a cluster brings its own)."""
    if name == "inline":
        if address:
            raise UserError("--address names a Ray cluster: use it with --executor ray.")
        return InlineExecutor()
    if name == "ray":
        return RayExecutor(address, workers=workers)
    raise UserError(f"unknown executor {name!r}; choose inline or ray.")
