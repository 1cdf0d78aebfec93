"""Warm workers: the Ray executor's pool of actors, one per worker slot, each importing torch
and the project once and running job after job (and shared oracles), keeping the inputs it was
handed by object reference (a sweep's data set and checkpoint) for the jobs after.

Why actors and not a task per job: a task's worker is a fresh process unless Ray happens to
reuse one, and a task blocked on the shared oracle hands its CPU back, so Ray started further
jobs beside it and the cores ran more jobs than they have (BENCHMARKS.md, "Sweeps on Ray": a
job's own time was 37.8 s on Ray against 12.4 s inline on 2 cores). An actor keeps its CPUs
for its life: a slot runs one job at a time, waiting included.

The queue is first in, first out, and never skips its head: an oracle is queued before the
jobs that wait on it (the job manager asks for it first), so it is always started before
them, and a slot that waits on it never waits on something that cannot start. A worker left
idle with nothing queued is ended, so its CPUs go back to Ray (a privacy audit's fanned-out
tasks need them); a worker that died is replaced by a new one on its next dispatch.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field

INPUTS_KEPT = 2  # inputs a worker keeps by object reference (a sweep has one; 2 bounds memory)


class JobWorker:
    """One worker slot (a Ray actor, made by `_worker_class`): imports what every job needs
    once, then runs one call at a time."""

    def __init__(self):
        import unlearn_core.engine.kinds  # noqa: F401  (torch, the methods, every kind)
        import unlearn_core.run.pipeline  # noqa: F401  (the oracle's retrain)

        self.kept: dict[str, object] = {}  # object ref id -> its value, newest last

    def run_job(self, job_id: str, kind, spec, board, inputs: list):
        """kind.run(spec, inputs, progress), the object refs among `inputs` fetched once per
        worker; -> (its result, this node's id)."""
        node = self._started(job_id, board, "run_job")

        def progress(fraction: float, phase: str) -> None:
            board.write.remote(job_id, fraction, phase)

        try:
            return kind.run(spec, self._fetched(inputs), progress), node
        finally:
            _title("ray::JobWorker")

    def run_oracle(self, job_id: str, board, inputs: list, forget_indices, mode: tuple):
        """The retrain of `inputs` without forget_indices by mode = (convention, threads,
        reproducible): (model, seconds)."""
        from unlearn_core.request import ForgetRequest
        from unlearn_core.run.pipeline import oracle_retrain

        self._started(job_id, board, "run_oracle")
        (shared,) = self._fetched(inputs)
        convention, threads, reproducible = mode
        request = ForgetRequest.for_indices(shared.data, forget_indices.tolist())
        try:
            return oracle_retrain(
                shared.trained,
                shared.data,
                request,
                convention=convention,
                threads=threads,
                reproducible=reproducible,
            )
        finally:
            _title("ray::JobWorker")

    def _started(self, job_id: str, board, what: str) -> str:
        """Names the process after its call (`ps`, and the engine's fault tests, find it so)
        and writes "<pid> <node id>" on the board, for a stall's report."""
        import ray

        from unlearn_core.engine.ray_tasks import worker_key

        _title(f"ray::{what} {job_id}")
        node = ray.get_runtime_context().get_node_id()
        board.write.remote(worker_key(job_id), 0.0, f"{os.getpid()} {node}")
        return node

    def _fetched(self, inputs: list) -> tuple:
        """`inputs` with each top-level object ref replaced by its value, fetched once."""
        import ray

        out = []
        for item in inputs:
            if isinstance(item, ray.ObjectRef):
                key = item.hex()
                if key not in self.kept:
                    self.kept[key] = ray.get(item)
                    while len(self.kept) > INPUTS_KEPT:
                        self.kept.pop(next(iter(self.kept)))
                item = self.kept[key]
            out.append(item)
        return tuple(out)


def _worker_class():
    """JobWorker as a Ray actor class, made on first use (importing the engine never imports
    ray); a worker that dies is not restarted: the pool starts a new one."""
    import ray

    return ray.remote(max_restarts=0, max_task_retries=0)(JobWorker)


_CLASS: list = []


def _title(title: str) -> None:
    import ray._raylet

    ray._raylet.setproctitle(title)


@dataclass(eq=False)
class PoolCall:
    """One queued call: a job or an oracle. `ref` is set once it is dispatched to a worker;
    `outcome` once it has ended: ("ok", value) or ("error", exception)."""

    job_id: str
    method: str  # the worker's method: "run_job" or "run_oracle"
    args: tuple  # its arguments; a [PoolCall] among them becomes [its ref] at dispatch
    shape: tuple  # (CPUs, GPUs, memory bytes or None): the worker's Ray resources
    ref: object = None
    worker: object = None
    outcome: tuple | None = None
    cancelled: bool = False


@dataclass(eq=False)
class _Worker:
    actor: object
    shape: tuple
    busy: PoolCall | None = None


@dataclass
class WorkerPool:
    """The actors and the queue. `nodes`: a function returning the alive nodes' resources
    (ray.nodes()'s "Resources"), read when a worker is to be added."""

    nodes: object
    queue: deque = field(default_factory=deque)
    workers: list = field(default_factory=list)

    def submit(self, call: PoolCall) -> PoolCall:
        self.queue.append(call)
        self.dispatch()
        return call

    def dispatch(self) -> None:
        """Collect ended calls, start queued ones on idle or new workers (head first, never
        skipping it), and end idle workers when nothing is queued."""
        self.collect()
        while self.queue:
            worker = self._worker_for(self.queue[0].shape)
            if worker is None:
                break
            self._start(self.queue.popleft(), worker)
        if not self.queue:
            for worker in [w for w in self.workers if w.busy is None]:
                self._end(worker)

    def collect(self) -> None:
        """Record the outcome of every call that has ended; a worker whose call ended by its
        own death is dropped, the others become idle."""
        import ray

        running = {w.busy.ref: w for w in self.workers if w.busy is not None}
        if not running:
            return
        ready, _ = ray.wait(list(running), num_returns=len(running), timeout=0)
        for ref in ready:
            worker = running[ref]
            call, worker.busy = worker.busy, None
            try:
                call.outcome = ("ok", ray.get(ref))
            except ray.exceptions.RayTaskError as err:  # the call raised: the worker is fine
                call.outcome = ("error", err)
            except ray.exceptions.RayError as err:  # the worker died (or was killed: a cancel)
                call.outcome = ("error", err)
                self._end(worker)

    def cancel(self, call: PoolCall) -> None:
        """A queued call never starts; a running one ends with its worker (killed: Ray's
        forced cancel of a task does the same to the task's process)."""
        if call.outcome is not None:
            return
        call.cancelled = True
        if call in self.queue:
            self.queue.remove(call)
        elif call.worker in self.workers:
            self._end(call.worker)

    def queued_ahead(self, job_id: str) -> int | None:
        """How many calls wait before the job's (None: it is not queued)."""
        ids = [call.job_id for call in self.queue]
        return ids.index(job_id) if job_id in ids else None

    def _start(self, call: PoolCall, worker: _Worker) -> None:
        args = tuple(_bound(a) for a in call.args)
        call.ref = getattr(worker.actor, call.method).remote(*args)
        call.worker, worker.busy = worker, call

    def _worker_for(self, shape: tuple) -> _Worker | None:
        """An idle worker that can run a call of `shape`; else a new one where the nodes have
        room (an idle one that cannot ended to make it); else None (the head waits for a
        worker to free). A new worker reserves the most memory any queued call of its CPUs and
        GPUs declares, so a sweep's methods of different batch sizes share warm workers."""
        idle = [w for w in self.workers if w.busy is None]
        for worker in idle:
            if _serves(worker.shape, shape):
                return worker
        alike = [c.shape[2] or 0 for c in self.queue if c.shape[:2] == shape[:2]]
        wanted = (*shape[:2], max([*alike, shape[2] or 0]) or None)
        if not _fits([w.shape for w in self.workers] + [wanted], self.nodes()):
            if not idle:
                return None
            self._end(idle[0])
            return self._worker_for(shape)
        return self._new_worker(wanted)

    def _new_worker(self, shape: tuple) -> _Worker:
        if not _CLASS:
            _CLASS.append(_worker_class())
        cpus, gpus, memory = shape
        extra = {"memory": memory} if memory else {}
        actor = _CLASS[0].options(num_cpus=cpus, num_gpus=gpus, **extra).remote()
        worker = _Worker(actor, shape)
        self.workers.append(worker)
        return worker

    def _end(self, worker: _Worker) -> None:
        import ray

        ray.kill(worker.actor, no_restart=True)  # a dead one: nothing happens
        self.workers.remove(worker)


def _bound(arg):
    """In a list (a job's inputs), each one-element list holding a dispatched PoolCall (a
    shared oracle) -> [its ref]: the job fetches it when it needs it (its slot waits)."""
    if not isinstance(arg, list):
        return arg
    if len(arg) == 1 and isinstance(arg[0], PoolCall):
        assert arg[0].ref is not None, "an oracle is queued before the jobs that wait on it"
        return [arg[0].ref]
    return [_bound(item) for item in arg]


def _serves(have: tuple, want: tuple) -> bool:
    """Whether a worker of shape `have` can run a call of shape `want`: the same CPUs and GPU
    share, and at least the memory it declares."""
    return have[:2] == want[:2] and (have[2] or 0) >= (want[2] or 0)


def _fits(shapes: list[tuple], nodes: list[dict]) -> bool:
    """Whether workers of `shapes` fit the nodes' resources together (first fit, largest
    first): a worker that fits nowhere would wait for ever in Ray's queue."""
    free = [[n.get("CPU", 0.0), n.get("GPU", 0.0), n.get("memory", float("inf"))] for n in nodes]
    for cpus, gpus, memory in sorted(shapes, key=lambda s: s[0], reverse=True):
        need = (cpus, gpus, memory or 0)
        for node in free:
            if all(have >= want - 1e-9 for have, want in zip(node, need, strict=True)):
                for j in range(3):
                    node[j] -= need[j]
                break
        else:
            return False
    return True
