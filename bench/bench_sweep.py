"""Time a sweep on Ray against the sum of its jobs' own times, and Ray's overhead against the
inline executor; Markdown out (BENCHMARKS.md, "Sweeps on Ray").

    python bench/bench_sweep.py [--workers 2] [--seeds 0,1,2] [--skip-inline]

The sweep is issue 13's: UNSIR and fine-tune (one epoch) forgetting class 3 of the demo with the
oracle, three seeds: 6 jobs and one shared retrain. "Own time" is each job's time inside its
worker (loading, unlearning, waiting for the shared oracle is excluded by Ray's release of the
CPU, evaluation); the oracle task's time is added to the sum, since it is work the sweep does.
The inline run of the same sweep gives the per-job overhead of Ray (same jobs, same process).
Not a test: numbers go to BENCHMARKS.md.
"""

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unlearn_core.checkpoint import sha256_file  # noqa: E402
from unlearn_core.engine.executors import make_executor  # noqa: E402
from unlearn_core.engine.jobs import JobManager  # noqa: E402
from unlearn_core.engine.runner import load_inputs  # noqa: E402
from unlearn_core.engine.sweep import new_sweep_id, run_sweep, split_overrides, sweep_specs  # noqa: E402
from unlearn_core.run.store import RunStore  # noqa: E402
from unlearn_core.specs.run import RunSpec  # noqa: E402

CHECKPOINT = Path(__file__).resolve().parent.parent / "assets/models/demo_smallcnn.safetensors"
METHODS = ["unsir", "finetune"]


def one_sweep(executor_name: str, workers: int, seeds: list[int]) -> dict:
    store = Path(tempfile.mkdtemp(prefix=f"bench-sweep-{executor_name}-"))
    start = time.perf_counter()
    executor = make_executor(executor_name, None, workers)
    started = time.perf_counter() - start
    base = RunSpec(
        checkpoint=str(CHECKPOINT),
        checkpoint_sha256=sha256_file(CHECKPOINT),
        method="none",
        forget={"classes": [3]},
        oracle=True,
        sweep_id=new_sweep_id(),
    )
    inputs = load_inputs(base)
    overrides = split_overrides([("finetune.epochs", "1")], METHODS)
    specs, _ = sweep_specs(base, overrides, seeds)
    sweep = run_sweep(JobManager(store, executor), specs, inputs, store / "out")
    runs = RunStore(store)
    oracle = max(runs.open(j["run_id"]).timing.retrain_seconds for j in sweep["jobs"])
    return {**sweep, "startup": started, "oracle_seconds": oracle}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--skip-inline", action="store_true")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    rows = [("ray", one_sweep("ray", args.workers, seeds))]
    if not args.skip_inline:
        rows.append(("inline", one_sweep("inline", 1, seeds)))
    print(
        "\n| executor | jobs | wall (s) | jobs' own (s) | oracle (s) | wall / (own + oracle) "
        "| start-up (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, sweep in rows:
        own = sweep["jobs_seconds"]
        ratio = sweep["wall_seconds"] / (own + sweep["oracle_seconds"])
        print(
            f"| {name} | {len(sweep['jobs'])} | {sweep['wall_seconds']:.1f} | {own:.1f} | "
            f"{sweep['oracle_seconds']:.1f} | {ratio:.2f} | {sweep['startup']:.1f} |"
        )
    if len(rows) == 2:
        ray_own, inline_own = (s["jobs_seconds"] / len(s["jobs"]) for _, s in rows)
        print(
            f"\nper-job own time: ray {ray_own:.1f} s, inline {inline_own:.1f} s "
            f"(Ray's per-job overhead {ray_own - inline_own:+.1f} s)"
        )
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
