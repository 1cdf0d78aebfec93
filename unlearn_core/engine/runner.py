"""The one function every executor calls to run an unlearning job: load (or reuse) the
inputs, run the spec (run/unlearning.py, as `unlearn` does) with the shared oracle, and return
the run record with the job's own time. Nothing is written here: the executor's owner stores
the record, so a worker killed mid-job leaves nothing behind."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from unlearn_core.progress import Progress
from unlearn_core.run.inputs import SharedInputs, load_inputs
from unlearn_core.run.unlearning import run_unlearning
from unlearn_core.specs.run import RunSpec

# A phase that begins with "waiting" has no time-left estimate (the app shows none): the job
# makes no progress of its own until its shared oracle's retrain ends.
WAITING_FOR_ORACLE = "waiting for the shared oracle"


class JobCancelled(Exception):
    """Raised from a job's progress callback when its cancel was requested."""


class SharedCache:
    """Loaded inputs per checkpoint and data set, put once into the executor's store, and one
    oracle per (inputs, forget set): what the jobs of a sweep, or of an app session, share.
    Bounded: the oldest entries go first."""

    LIMIT = 8

    def __init__(self):
        self.inputs: dict[tuple, tuple[SharedInputs, object | None]] = {}
        self.oracles: dict[tuple, object] = {}

    @staticmethod
    def key(spec: RunSpec) -> tuple:
        return (spec.checkpoint_sha256, spec.dataset, spec.data_root, spec.arch)

    def offer(self, spec: RunSpec, inputs: SharedInputs) -> None:
        self.inputs.setdefault(self.key(spec), (inputs, None))
        self._bound(self.inputs)

    def get(self, spec: RunSpec, executor) -> tuple[SharedInputs, object]:
        """(inputs, what the executor's jobs receive for them)."""
        inputs, shared = self.inputs.get(self.key(spec), (None, None))
        if inputs is None:
            inputs = load_inputs(spec)
        if shared is None:
            shared = executor.share(inputs)
            self.inputs[self.key(spec)] = (inputs, shared)
            self._bound(self.inputs)
        return inputs, shared

    def oracle(self, spec: RunSpec, inputs: SharedInputs, shared, executor):
        """The spec's forget set's oracle, started on first request."""
        from unlearn_core.request import ForgetRequest

        request = ForgetRequest.from_dict(inputs.data, spec.forget)
        mode = (spec.oracle_convention, spec.threads, spec.reproducible)  # the retrain's bits
        key = (self.key(spec), forget_key(request), *mode)
        if key not in self.oracles:
            memory = job_memory(inputs, inputs.trained.recipe.batch_size)
            self.oracles[key] = executor.oracle(shared, request, *mode, memory=memory)
            self._bound(self.oracles)
        return self.oracles[key]

    def drop_oracle(self, oracle) -> None:
        """Forget an oracle a failed job used (its retrain may be what failed, e.g. its worker
        was killed): the next job of its forget set starts a new one."""
        for key in [k for k, v in self.oracles.items() if v is oracle]:
            del self.oracles[key]

    def _bound(self, cache: dict) -> None:
        while len(cache) > self.LIMIT:
            cache.pop(next(iter(cache)))


def job_memory(inputs: SharedInputs, batch_size: int) -> int:
    """Bytes a job or an oracle retrain on `inputs` takes at its peak (memory.job_bytes)."""
    from unlearn_core.run.memory import job_bytes

    model = inputs.trained.model
    model_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    return job_bytes(inputs.trained.arch, inputs.data, model_bytes, batch_size)


def spec_batch_size(spec: RunSpec, inputs: SharedInputs) -> int:
    """The larger of the method's training batch (its config, overrides applied) and the
    recipe's (its oracle retrain)."""
    from unlearn_core.methods.registry import get_method, parse_config

    config = parse_config(get_method(spec.method).config_cls, spec.overrides)
    return max(getattr(config, "batch_size", 0), inputs.trained.recipe.batch_size)


@dataclass(frozen=True)
class JobResult:
    record: object  # the pipeline's RunRecord, not yet stored
    seconds: float  # the job's own time: loading included, waiting for a shared oracle not


def execute(
    spec: RunSpec,
    inputs: SharedInputs | None = None,
    progress: Progress | None = None,
    oracle=None,
) -> JobResult:
    """Run the job; `progress` may raise (JobCancelled: the executor's cancel) to stop it.

    oracle: the retrained model for this job's forget set, computed once for many jobs: a
    (model, seconds) pair, or a one-element list holding a future of one (done() and result():
    the inline executor's concurrent.futures.Future, a warm worker's ray_pool.SlotWait)."""
    start = time.perf_counter()
    waited = [0.0]  # seconds spent waiting for the shared oracle: not this job's own time
    last = [0.0]  # the fraction last reported, which a wait for the oracle keeps
    inputs = inputs or load_inputs(spec)

    def report(fraction: float, phase: str) -> None:
        last[0] = fraction
        if progress:
            progress(fraction, phase)

    def report_wait() -> None:
        report(last[0], WAITING_FOR_ORACLE)

    shared_oracle = _oracle_source(oracle, waited, report_wait)
    record = run_unlearning(spec, inputs, report, shared_oracle=shared_oracle)
    return JobResult(record, time.perf_counter() - start - waited[0])


def forget_key(request) -> tuple[int, ...]:
    """The key of a request's oracle in SharedInputs.oracles: what the retrain leaves out."""
    return tuple(request.forget_indices.tolist())


def _oracle_source(
    oracle, waited: list[float], on_wait: Callable[[], None]
) -> Callable[[], tuple[nn.Module, float]] | None:
    """A function that returns the shared oracle, fetched only when the pipeline needs it (a
    warm worker lends its slot to another job meanwhile: ray_pool.SlotWait); if it is not ready,
    on_wait() is called first (the job reports WAITING_FOR_ORACLE); the wait is added to
    waited[0]."""
    if oracle is None:
        return None
    if isinstance(oracle, tuple):
        return lambda: oracle

    def fetch() -> tuple[nn.Module, float]:
        start = time.perf_counter()
        try:
            if not oracle[0].done():
                on_wait()
            return oracle[0].result()
        finally:
            waited[0] += time.perf_counter() - start

    return fetch
