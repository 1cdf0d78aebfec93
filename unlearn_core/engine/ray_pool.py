"""Warm workers: the Ray executor's pool of actors, one per worker slot, each importing torch
and the project once and running job after job (and shared oracles), keeping the inputs it was
handed by object reference (a sweep's data set and checkpoint) for the jobs after.

Why actors and not a task per job: a task's worker is a fresh process unless Ray happens to
reuse one, and a task blocked on the shared oracle hands its CPU back, so Ray started further
jobs beside it and the cores ran more jobs than they have (BENCHMARKS.md, "Sweeps on Ray": a
job's own time was 37.8 s on Ray against 12.4 s inline on 2 cores). An actor keeps its CPUs
for its life: a slot computes one call at a time. A job waiting on its shared oracle parks
(SlotWait): it lets go of the slot, which may run another job meanwhile (docs/DESIGN-NOTES.md,
"Warm workers").

The queue is first in, first out, and never skips its head: an oracle is queued before the
jobs that wait on it (the job manager asks for it first), so it is always started before
them, and a slot that waits on it never waits on something that cannot start. A worker left
idle with nothing queued is ended, so its CPUs go back to Ray (a privacy audit's fanned-out
tasks need them); a worker that died is replaced by a new one on its next dispatch.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from dataclasses import dataclass, field

INPUTS_KEPT = 2  # inputs a worker keeps by object reference (a sweep has one; 2 bounds memory)
SLOT_CALLS = 4  # calls a worker holds at once: one computing, the others parked
PARKED = "@parked"  # a board key's suffix: whether the job before it is parked (1.0) or not


def parked_key(job_id: str) -> str:
    """The board entry where a job's worker says whether the job is parked."""
    return job_id + PARKED


class JobWorker:
    """One worker slot (a Ray actor, made by `_worker_class`): imports what every job needs
    once, then runs its calls one at a time: a call computes only while it holds `compute`,
    and a job waiting on its shared oracle lets go of it (`SlotWait`)."""

    def __init__(self):
        import threading

        import unlearn_core.engine.kinds  # noqa: F401  (torch, the methods, every kind)
        import unlearn_core.run.pipeline  # noqa: F401  (the oracle's retrain)
        from unlearn_core.run.reproducible import torch_state

        self.kept: dict[str, object] = {}  # object ref id -> its value, newest last
        self.compute = threading.Lock()
        self.baseline = torch_state()  # what each call starts from, whatever the last one set

    def run_job(self, job_id: str, kind, spec, board, inputs: list):
        """kind.run(spec, inputs, progress), the object refs among `inputs` fetched once per
        worker and each [object ref] (a shared oracle) handed over as [a SlotWait];
        -> (its result, this node's id)."""

        def progress(fraction: float, phase: str) -> None:
            board.write.remote(job_id, fraction, phase)

        with self._computing(_job_title(job_id)):
            node = self._started(job_id, board)
            waits = [_awaited(item, self, board, job_id) for item in inputs]
            return kind.run(spec, self._fetched(waits), progress), node

    def run_oracle(self, job_id: str, board, inputs: list, forget_indices, mode: tuple):
        """The retrain of `inputs` without forget_indices by mode = (convention, threads,
        reproducible): (model, seconds)."""
        from unlearn_core.request import ForgetRequest
        from unlearn_core.run.pipeline import oracle_retrain

        with self._computing(f"ray::run_oracle {job_id}"):
            self._started(job_id, board)
            (shared,) = self._fetched(inputs)
            convention, threads, reproducible = mode
            request = ForgetRequest.for_indices(shared.data, forget_indices.tolist())
            return oracle_retrain(
                shared.trained,
                shared.data,
                request,
                convention=convention,
                threads=threads,
                reproducible=reproducible,
            )

    @contextlib.contextmanager
    def _computing(self, title: str):
        """Hold the slot's compute lock for the block, the process named after the call
        (`ps`, and the engine's fault tests, find it so); torch's settings go back to the
        worker's own after it."""
        with self.compute:
            _title(title)
            try:
                yield
            finally:
                self.release()

    def release(self) -> None:
        """Before the compute lock is let go: torch's settings and the process's name back to
        the worker's own, for the next call."""
        from unlearn_core.run.reproducible import restore_torch_state

        restore_torch_state(self.baseline)
        _title("ray::JobWorker")

    def _started(self, job_id: str, board) -> str:
        """Writes "<pid> <node id>" on the board, for a stall's report; -> the node id."""
        import ray

        from unlearn_core.engine.ray_tasks import worker_key

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


def _job_title(job_id: str) -> str:
    """The process's name while it computes the job (`ps`, and the engine's fault tests)."""
    return f"ray::run_job {job_id}"


def _awaited(item, worker: JobWorker, board, job_id: str):
    """[object ref] (what `_bound` made of a shared oracle's call) -> [SlotWait]; else item."""
    import ray

    if isinstance(item, list) and len(item) == 1 and isinstance(item[0], ray.ObjectRef):
        return [SlotWait(item[0], worker, board, job_id)]
    return item


@dataclass(eq=False)
class SlotWait:
    """A shared oracle as a job on a warm worker sees it: a future (done(), result()). A job
    that has to wait for it parks: it lets go of the worker's compute lock, so the pool may
    start another job on the slot meanwhile, and takes it back once the oracle is there (after
    the job then computing ends or parks in turn). Its torch settings (threads, deterministic
    algorithms) are kept across the wait, so the job computes as if it had run alone."""

    ref: object
    worker: JobWorker
    board: object
    job_id: str

    def done(self) -> bool:
        import ray

        return bool(ray.wait([self.ref], timeout=0)[0])

    def result(self):
        import ray

        from unlearn_core.run.reproducible import restore_torch_state, torch_state

        if self.done():
            return ray.get(self.ref)
        own = torch_state()
        self.worker.release()
        self.board.write.remote(parked_key(self.job_id), 1.0, "parked")
        self.worker.compute.release()
        try:
            return ray.get(self.ref)
        finally:
            self.board.write.remote(parked_key(self.job_id), 0.0, "resumed")
            self.worker.compute.acquire()
            restore_torch_state(own)
            _title(_job_title(self.job_id))


def _worker_class():
    """JobWorker as a Ray actor class, made on first use (importing the engine never imports
    ray); a worker that dies is not restarted: the pool starts a new one."""
    import ray

    return ray.remote(max_restarts=0, max_task_retries=0, max_concurrency=SLOT_CALLS)(JobWorker)


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
    calls: list = field(default_factory=list)  # the calls it holds, in the order started


@dataclass
class WorkerPool:
    """The actors and the queue. `nodes`: a function returning the alive nodes' resources
    (ray.nodes()'s "Resources"), read when a worker is to be added. `parked`: the jobs whose
    workers last said they are parked (the progress board's parked_key entries)."""

    nodes: object
    queue: deque = field(default_factory=deque)
    workers: list = field(default_factory=list)
    parked: set = field(default_factory=set)

    def submit(self, call: PoolCall) -> PoolCall:
        self.queue.append(call)
        self.dispatch()
        return call

    def note_parked(self, board: dict) -> None:
        """Read which jobs are parked from the progress board."""
        self.parked = {
            key.removesuffix(PARKED)
            for key, (flag, _) in board.items()
            if key.endswith(PARKED) and flag == 1.0
        }

    def dispatch(self) -> None:
        """Collect ended calls, start queued ones on idle, new or parked workers (head first,
        never skipping it), and end idle workers when nothing is queued."""
        self.collect()
        while self.queue:
            worker = self._worker_for(self.queue[0].shape)
            if worker is None:
                break
            self._start(self.queue.popleft(), worker)
        if not self.queue:
            for worker in [w for w in self.workers if not w.calls]:
                self._end(worker)

    def collect(self) -> None:
        """Record the outcome of every call that has ended; a worker that died (or was
        killed) ends every call it held and is dropped."""
        import ray

        running = {c.ref: (w, c) for w in self.workers for c in w.calls}
        if not running:
            return
        ready, _ = ray.wait(list(running), num_returns=len(running), timeout=0)
        for ref in ready:
            worker, call = running[ref]
            if call not in worker.calls:  # ended with its worker, below
                continue
            worker.calls.remove(call)
            try:
                call.outcome = ("ok", ray.get(ref))
            except ray.exceptions.RayTaskError as err:  # the call raised: the worker is fine
                call.outcome = ("error", err)
            except ray.exceptions.RayError as err:  # the worker died (or was killed: a cancel)
                for ended in [call, *worker.calls]:
                    ended.outcome = ("error", err)
                worker.calls = []
                self._end(worker)

    def cancel(self, call: PoolCall) -> None:
        """A queued call never starts; a running one ends with its worker (killed: Ray's
        forced cancel of a task does the same to the task's process), and the other calls
        that worker held go back to the head of the queue, to start again from the top."""
        self.collect()
        if call.outcome is not None:
            return
        call.cancelled = True
        if call in self.queue:
            self.queue.remove(call)
        elif call.worker in self.workers:
            others = [c for c in call.worker.calls if c is not call]
            self._end(call.worker)
            for other in reversed(others):
                other.ref = other.worker = None
                self.queue.appendleft(other)

    def running(self) -> list:
        """The object refs of the calls the workers hold (a copy: another thread may poll)."""
        return [call.ref for worker in list(self.workers) for call in list(worker.calls)]

    def queued_ahead(self, job_id: str) -> int | None:
        """How many calls wait before the job's (None: it is not queued)."""
        ids = [call.job_id for call in self.queue]
        return ids.index(job_id) if job_id in ids else None

    def _start(self, call: PoolCall, worker: _Worker) -> None:
        args = tuple(_bound(a) for a in call.args)
        call.ref = getattr(worker.actor, call.method).remote(*args)
        call.worker = worker
        worker.calls.append(call)

    def _worker_for(self, shape: tuple) -> _Worker | None:
        """An idle worker that can run a call of `shape`; else a new one where the nodes have
        room; else a worker of that shape whose every call is parked (waiting on a shared
        oracle: it computes nothing meanwhile); else, with an idle worker of another shape
        ended to make room, a new one; else None (the head waits for a worker to free). A new
        worker reserves the most memory any queued call of its CPUs and GPUs declares, so a
        sweep's methods of different batch sizes share warm workers."""
        idle = [w for w in self.workers if not w.calls]
        for worker in idle:
            if _serves(worker.shape, shape):
                return worker
        alike = [c.shape[2] or 0 for c in self.queue if c.shape[:2] == shape[:2]]
        wanted = (*shape[:2], max([*alike, shape[2] or 0]) or None)
        if _fits([w.shape for w in self.workers] + [wanted], self.nodes()):
            return self._new_worker(wanted)
        for worker in self.workers:
            if _serves(worker.shape, shape) and self._all_parked(worker):
                return worker
        if not idle:
            return None
        self._end(idle[0])
        return self._worker_for(shape)

    def _all_parked(self, worker: _Worker) -> bool:
        """Whether a worker can take one more call: every call it holds is parked, and it
        holds fewer than SLOT_CALLS (a parked job keeps its models in memory)."""
        return 0 < len(worker.calls) < SLOT_CALLS and all(
            c.job_id in self.parked for c in worker.calls
        )

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
    shared oracle) -> [its ref]: the job's worker hands it over as [a SlotWait]."""
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
