"""The Ray executor's warm workers (engine/ray_pool.py, issue 26): jobs run one after another
on one actor per slot, which keeps the inputs it was handed; no more jobs compute at once than
there are slots, even while some wait on others; a job waiting on an earlier call of a
one-slot pool still ends (the queue never skips its head); a queued job cancelled never runs.
Marked `ray`; a throw-away kind that sleeps stands in for real jobs, so the timings are the
pool's own."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import ClassVar

import pytest

from unlearn_core.engine.executors import RayExecutor
from unlearn_core.engine.jobs import JobManager
from unlearn_core.engine.kinds import registry
from unlearn_core.engine.kinds.registry import JobKind, Launch
from unlearn_core.engine.ray_pool import PoolCall, WorkerPool, _fits, _serves, _Worker
from unlearn_core.specs.base import Spec

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

SLOTS = 2
JOB_S = 1.0


@dataclass(frozen=True)
class NapSpec(Spec):
    KIND: ClassVar[str] = "nap"

    n: int
    seconds: float = JOB_S

    def validate(self) -> None:
        pass

    def title(self) -> str:
        return f"nap {self.n}"

    def label(self) -> str:
        return f"nap-{self.n}"


@dataclass(frozen=True)
class NapResult:
    pid: int
    start: float
    end: float
    inputs_id: int  # id() of the shared input in the worker: the same object when kept
    threads: int = 0  # torch's thread count while it ran
    seconds: float = JOB_S


class NapKind(JobKind):
    spec = NapSpec
    shared = None  # one object ref for every job, as a sweep shares its data set

    def launch(self, spec, cache, executor, job_id) -> Launch:
        if NapKind.shared is None:
            NapKind.shared = executor.share(list(range(100_000)))
        return Launch((NapKind.shared,))

    def run(self, spec, inputs, progress) -> NapResult:
        import torch

        start = time.time()
        # kept alive in the worker, so two objects there never share an id()
        sys.__dict__.setdefault("_nap_inputs_seen", []).append(inputs[0])
        time.sleep(spec.seconds)
        threads = torch.get_num_threads()
        return NapResult(os.getpid(), start, time.time(), id(inputs[0]), threads)

    def store(self, spec, root, result, job, node) -> str:
        STORED[spec.n] = result
        return str(spec.n)


STORED: dict[int, NapResult] = {}


@pytest.fixture
def executor(monkeypatch):
    monkeypatch.setitem(registry.KINDS, "nap", NapKind())
    NapKind.shared = None
    STORED.clear()
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    executor = RayExecutor(workers=SLOTS)
    yield executor
    executor.close()


def _most_at_once(results: list[NapResult]) -> int:
    edges = sorted([(r.start, 1) for r in results] + [(r.end, -1) for r in results])
    running, most = 0, 0
    for _, step in edges:  # an end sorts before a start at the same instant
        running += step
        most = max(most, running)
    return most


def test_jobs_run_one_after_another_on_warm_workers_that_keep_their_inputs(executor, tmp_path):
    manager = JobManager(tmp_path, executor)
    jobs = [manager.submit(NapSpec(n)) for n in range(6)]
    queued = manager.submit(NapSpec(99))
    manager.poll()  # launches them all: two run, five queue
    manager.board.request_cancel(queued.id)
    ended = manager.wait([j.id for j in [*jobs, queued]])
    assert [j.state for j in ended] == ["done"] * 6 + ["cancelled"], [j.error for j in ended]
    assert 99 not in STORED  # cancelled while queued: never ran
    results = [STORED[n] for n in range(6)]
    pids = {r.pid for r in results}
    assert len(pids) <= SLOTS  # six jobs, two processes: each imported torch once
    for pid in pids:  # each worker fetched the shared input once and kept it
        assert len({r.inputs_id for r in results if r.pid == pid}) == 1
    assert _most_at_once(results) == SLOTS


def _calls_run(pool, calls: list[PoolCall], step=None) -> None:
    """Submit `calls` and step the pool (`step`: how the executor does, pool.dispatch when
    None) until they have all ended, well."""
    for call in calls:
        pool.submit(call)
    end = time.monotonic() + 120
    while any(call.outcome is None and not call.cancelled for call in calls):
        assert time.monotonic() < end, "a call never ended"
        (step or pool.dispatch)()
        time.sleep(0.05)
    ended = [c for c in calls if not c.cancelled]
    assert all(call.outcome[0] == "ok" for call in ended), [c.outcome for c in ended]


def _nap(key: str, board, inputs: list, seconds: float = JOB_S) -> PoolCall:
    spec = NapSpec(0, seconds)
    return PoolCall(key, "run_job", (key, NapKind(), spec, board, inputs), (1, 0, None))


def _waiting(key: str, board, on: PoolCall) -> PoolCall:
    """A call whose inputs hold [on], as a job's hold its shared oracle."""
    return PoolCall(key, "run_job", (key, WaitKind(), NapSpec(0), board, [[on]]), (1, 0, None))


def test_a_worker_waiting_on_another_call_keeps_its_slot(executor):
    """Two slots: A naps, B waits on A's result, C is queued behind them. C starts only once
    one of them has ended (a Ray task blocked on B's wait would hand its CPU to C)."""
    board = executor._actor()
    a = _nap("a", board, [[]])
    b = _waiting("b", board, a)
    c = _nap("c", board, [[]])
    _calls_run(executor.pool, [a, b, c])
    assert b.outcome[1][0] == a.outcome[1][0].pid  # B read A's result
    assert c.outcome[1][0].start >= a.outcome[1][0].end - 0.05


def test_a_call_waiting_on_an_earlier_one_ends_in_a_one_slot_pool(executor):
    """The shared oracle's pattern with one slot: the queue never skips its head, so the call
    waited on runs first and the waiting one then finds its result."""
    executor.pool.nodes = lambda: [{"CPU": 1.0}]  # room for one worker of one CPU
    board = executor._actor()
    a = _nap("a", board, [[]])
    b = _waiting("b", board, a)
    _calls_run(executor.pool, [a, b])
    assert b.outcome[1][0] == a.outcome[1][0].pid
    assert len(executor.pool.workers) <= 1


class WaitKind(JobKind):
    spec = NapSpec

    def run(self, spec, inputs, progress) -> int:
        (earlier,) = inputs[0]  # [a SlotWait on the earlier call's (result, node)]
        result, _node = earlier.result()
        return result.pid


class ParkKind(JobKind):
    """A job that sets its own torch threads, then waits on an earlier call (as a job on its
    shared oracle): (pid, start, parked at, resumed at, end, threads after the wait)."""

    spec = NapSpec

    def run(self, spec, inputs, progress) -> tuple:
        import torch

        start = time.time()
        torch.set_num_threads(3)
        (earlier,) = inputs[0]
        parked = time.time()
        earlier.result()
        resumed = time.time()
        time.sleep(JOB_S)
        return os.getpid(), start, parked, resumed, time.time(), torch.get_num_threads()


def _parking(key: str, board, on: PoolCall) -> PoolCall:
    return PoolCall(key, "run_job", (key, ParkKind(), NapSpec(0), board, [[on]]), (1, 0, None))


def test_a_job_parked_on_its_oracle_lends_its_slot_and_keeps_its_settings(executor):
    """Two slots: A naps 6 s (the oracle), B waits on it, C and D nap 1 s. B parks, so C
    runs on B's worker while A runs (and D after it, on A's or B's), never more than two
    computing at once; B resumes after A with the thread count it set, which C and D did not
    see."""
    board = executor._actor()
    a = _nap("a", board, [[]], seconds=6.0)
    b = _parking("b", board, a)
    c, d = _nap("c", board, [[]]), _nap("d", board, [[]])

    def step():  # as the job manager's poll: the board read, then a dispatch
        executor.progress()

    _calls_run(executor.pool, [a, b, c, d], step)
    pid, start, parked, resumed, end, threads = b.outcome[1][0]
    naps = [call.outcome[1][0] for call in (a, c, d)]
    assert naps[1].pid == pid  # C ran on B's worker
    assert naps[1].start < naps[0].end  # C ran while A did: without parking, only after
    assert threads == 3 and naps[1].threads != 3 and naps[2].threads != 3
    assert parked < naps[0].end <= resumed + 0.05
    computing = [*naps, NapResult(pid, start, parked, 0), NapResult(pid, resumed, end, 0)]
    assert _most_at_once(computing) == SLOTS


def test_cancelling_a_job_on_a_parked_slot_restarts_the_parked_one(executor):
    """C runs on the slot where B is parked; cancelling C kills that worker, and B goes back
    to the head of the queue and still ends well."""
    board = executor._actor()
    a = _nap("a", board, [[]], seconds=4.0)
    b = _parking("b", board, a)
    c = _nap("c", board, [[]], seconds=30.0)
    calls = [a, b, c]
    for call in calls:
        executor.pool.submit(call)
    end = time.monotonic() + 60
    while c.ref is None:
        assert time.monotonic() < end, "C never started beside the parked B"
        executor.progress()
        time.sleep(0.05)
    assert c.worker is b.worker
    executor.pool.cancel(c)
    assert executor.pool.queue[0] is b and b.ref is None
    while b.outcome is None:
        assert time.monotonic() < end, "B never ended"
        executor.progress()
        time.sleep(0.05)
    assert b.outcome[0] == "ok" and a.outcome[0] == "ok" and c.cancelled


def test_workers_are_added_only_where_they_fit():
    two_cpus = [{"CPU": 2.0, "memory": 8e9}]
    assert _fits([(1, 0, None), (1, 0, None)], two_cpus)
    assert not _fits([(1, 0, None)] * 3, two_cpus)
    assert not _fits([(1, 0, 9e9)], two_cpus)  # more memory than the node has
    gpus = [{"CPU": 2.0, "GPU": 1.0}]
    assert _fits([(1, 0.5, None), (1, 0.5, None)], gpus)
    assert not _fits([(1, 0.5, None), (1, 0.75, None)], gpus)
    # two nodes of one CPU: two one-CPU workers fit, one two-CPU worker does not
    assert _fits([(1, 0, None)] * 2, [{"CPU": 1.0}, {"CPU": 1.0}])
    assert not _fits([(2, 0, None)], [{"CPU": 1.0}, {"CPU": 1.0}])


def test_a_new_worker_reserves_the_most_memory_its_queue_asks(monkeypatch):
    """A sweep's methods of different batch sizes declare different memory: the first worker
    is made large enough for every queued call of its CPUs and GPUs, so they all reuse it; a
    worker is added only where the node has room, and an idle one serves a smaller call."""
    made = []

    def fake_worker(self, shape):
        worker = _Worker(None, shape)
        self.workers.append(worker)
        made.append(shape)
        return worker

    monkeypatch.setattr(WorkerPool, "_new_worker", fake_worker)
    pool = WorkerPool(nodes=lambda: [{"CPU": 2.0, "memory": 8e9}])
    small, large = (1, 0, 1e9), (1, 0, 3e9)
    pool.queue.extend([PoolCall("a", "run_job", (), small), PoolCall("b", "run_job", (), large)])
    first = pool._worker_for(small)
    assert first.shape == (1, 0, 3e9)  # sized for the queue's largest call
    first.calls = [pool.queue[0]]
    second = pool._worker_for(large)
    assert second is not first and made == [(1, 0, 3e9), (1, 0, 3e9)]
    second.calls = [pool.queue[1]]
    assert pool._worker_for(small) is None  # two CPUs, two busy workers: the call waits
    pool.parked = {"a"}  # A waits on its oracle: its worker may take a call meanwhile
    assert pool._worker_for(small) is first
    pool.parked = set()
    first.calls = []
    assert pool._worker_for(small) is first  # an idle worker with room for it serves it
    assert not _serves((1, 0, 1e9), (1, 0, 3e9)) and not _serves((2, 0, None), (1, 0, None))


def test_the_managers_pause_ends_when_a_call_ends(executor):
    """The job manager waits between polls with executor.pause: it returns once a call the
    workers hold has ended (a freed slot waits for no timer), and sleeps when none is held."""
    board = executor._actor()
    call = executor.pool.submit(_nap("a", board, [[]]))
    start = time.monotonic()
    executor.pause(60.0)
    assert time.monotonic() - start < 30.0  # the 1 s nap (and its worker's start), not 60 s
    executor.pool.dispatch()
    assert call.outcome[0] == "ok" and executor.pool.running() == []
    start = time.monotonic()
    executor.pause(0.2)
    assert time.monotonic() - start >= 0.2
