"""8 seeds of UNSIR on a CIFAR-shaped ResNet-18 sharing one GPU through Ray's fractional GPUs
(issue 13's device check); Markdown out. Needs a CUDA device: run it where one is lent.

    python bench/bench_sweep_gpu.py [--seeds 8] [--gpu-fraction 0.125] [--skip-serial]

The subject is bench_unsir.py's: an untrained CIFAR ResNet-18 on 50000 random 3x32x32 images
(timings depend only on shapes) with the paper's CIFAR-10 UNSIR settings, forgetting class 3.
Each job asks for `gpu-fraction` of the card, so 1/fraction jobs share it at once; the serial
row runs the same jobs one after another (fraction 1) for the speed-up. Not a test.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_unsir import PAPER_CIFAR10, load_subject  # noqa: E402

from unlearn_core.engine.executors import RayExecutor  # noqa: E402
from unlearn_core.engine.jobs import JobManager  # noqa: E402
from unlearn_core.engine.runner import SharedInputs  # noqa: E402
from unlearn_core.engine.sweep import new_sweep_id  # noqa: E402
from unlearn_core.specs.run import RunSpec  # noqa: E402


def run(seeds: int, fraction: float) -> tuple[float, float]:
    """(wall seconds, sum of the jobs' own seconds) for `seeds` UNSIR jobs."""
    trained, data = load_subject("resnet18-cifar")
    inputs = SharedInputs(data, trained, {"sha256": "synthetic", "recipe_recorded": False})
    manager = JobManager(tempfile.mkdtemp(prefix="bench-gpu-"), RayExecutor(gpu_fraction=fraction))
    sweep_id = new_sweep_id()
    specs = [
        RunSpec(
            "synthetic",
            "synthetic",
            "unsir",
            {"classes": [3]},
            seed=s,
            overrides=dict(PAPER_CIFAR10),
            sweep_id=sweep_id,
        )
        for s in range(seeds)
    ]
    start = time.perf_counter()
    jobs = [manager.submit(spec, inputs, checked=True) for spec in specs]
    ended = manager.wait([j.id for j in jobs])
    failed = [j for j in ended if j.state != "done"]
    if failed:
        raise SystemExit(f"{len(failed)} jobs failed: {failed[0].error}")
    return time.perf_counter() - start, sum(j.seconds for j in ended)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--gpu-fraction", type=float, default=0.125)
    parser.add_argument("--skip-serial", action="store_true")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: this benchmark needs one.")
    os.environ.setdefault("UNLEARN_DEVICE", "cuda")
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    print("| GPU share per job | jobs | wall (s) | jobs' own (s) | wall / own |")
    print("|---:|---:|---:|---:|---:|")
    for fraction in [args.gpu_fraction] + ([] if args.skip_serial else [1.0]):
        import ray

        ray.shutdown()
        wall, own = run(args.seeds, fraction)
        print(f"| {fraction:g} | {args.seeds} | {wall:.1f} | {own:.1f} | {wall / own:.2f} |")


if __name__ == "__main__":
    main()
