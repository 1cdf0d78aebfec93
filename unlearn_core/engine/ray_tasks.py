"""The Ray side of the engine besides the warm workers (ray_pool.py): the remote functions a
job that fans out and its fanned-out calls run as, and the small actor every job reports
progress to. Made on first use, so importing the engine never imports ray."""

from __future__ import annotations

import os

_REMOTE: dict = {}


def worker_key(job_id: str) -> str:
    """The board entry where a job's worker writes "<pid> <node id>" as it starts."""
    return f"{job_id}@worker"


def remote_task(name: str):
    """ "job" (a registered kind's run, for a job that fans out: the others run on the warm
    workers, engine/ray_pool.py) or "call" (one call of a job fanned out over the cluster,
    engine/fanout.py)."""
    if not _REMOTE:
        import ray

        @ray.remote
        def run_job(job_id: str, kind, spec, board, *inputs):
            """kind.run(spec, inputs, progress) on a worker: the kind object travels with the
            job, so a kind need not be registered in the worker's process. Object refs among
            `inputs` arrive fetched. Only a job that fans out runs so (ray_pool.py runs the
            others)."""

            def progress(fraction: float, phase: str) -> None:
                board.write.remote(job_id, fraction, phase)

            node = ray.get_runtime_context().get_node_id()
            board.write.remote(worker_key(job_id), 0.0, f"{os.getpid()} {node}")  # for a stall
            result = kind.run(spec, inputs, progress)
            return result, node

        @ray.remote
        def run_call(fn, args: tuple, board, key: str):
            """fn(*args, progress), its progress on the board under `key`."""

            def progress(fraction: float, phase: str) -> None:
                board.write.remote(key, fraction, phase)

            return fn(*args, progress)

        _REMOTE.update(job=run_job, call=run_call)
    return _REMOTE[name]


def progress_actor():
    """A small actor the workers report progress to and the owner reads (works across nodes,
    unlike a file in the run store)."""
    import ray

    # restarted by Ray when its process dies (kill -9, the OOM killer); calls made while it
    # restarts wait for it instead of failing
    @ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
    class ProgressBoard:
        def __init__(self):
            self.board = {}

        def write(self, job_id, fraction, phase):
            self.board[job_id] = (fraction, phase)

        def read(self):
            return dict(self.board)

    return ProgressBoard.remote()
