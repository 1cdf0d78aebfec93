"""A job that fans its work out over the cluster (a privacy audit's N models): the Ray
executor hands it a RayFanOut, which runs each call as a Ray task reporting to the progress
board; the inline executor hands none, and the job runs its calls itself, one after another."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from unlearn_core.engine.ray_tasks import remote_task
from unlearn_core.progress import Progress


@dataclass(frozen=True)
class RayFanOut:
    """Picklable: it travels to the job's own Ray task, which fans out from there (a task
    waiting on its children releases its CPU to them; cancelling it cancels them)."""

    board: object  # the executor's progress actor
    job_id: str

    def map(
        self, fn: Callable, calls: list[tuple], threads: int, noun: str, progress: Progress
    ) -> list:
        """[fn(*args, progress) for args in calls] as Ray tasks of `threads` CPUs each; each
        writes its progress under "<job_id>#<j>", and the job's progress is their mean."""
        import ray

        task = remote_task("call").options(num_cpus=threads, max_retries=0)
        refs = [
            task.remote(fn, args, self.board, f"{self.job_id}#{j}") for j, args in enumerate(calls)
        ]
        pending = list(refs)
        while pending:
            _, pending = ray.wait(pending, num_returns=1, timeout=2.0)
            done = len(refs) - len(pending)
            progress(self._mean_progress(len(refs), done), f"{done} of {len(refs)} {noun}")
        return ray.get(refs)

    def _mean_progress(self, count: int, done: int) -> float:
        import ray

        seen = ray.get(self.board.read.remote(), timeout=30)
        mean = sum(seen.get(f"{self.job_id}#{j}", (0.0, ""))[0] for j in range(count)) / count
        return max(mean, done / count)  # a finished task's last report may fall short of 1
