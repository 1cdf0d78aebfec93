"""Time L-FOCI unlearning of one sample, phase by phase, with peak memory; print Markdown.

    python bench/bench_lfoci.py [--repeats 3] [--perturbations 1000] [--set key=value ...]
    python bench/bench_lfoci.py --device cuda --arch resnet18-cifar

smallcnn: the demo checkpoint (6000 Fashion-MNIST images), forgetting training samples 0, 1, 2,
... (one per repeat), with the dp noise off as in the tests. resnet18-cifar: randomly initialised
on 2000 synthetic 32x32 RGB images (timing only: its selections and steps mean nothing).
Phases are the method's own clocks (info["seconds"]): perturb (the m forward passes), foci
(L-FOCI), solve (block Hessian or CG, and the Newton step), update (noise and write-back),
diagnostics (the four full gradients behind the reported gradient norms). Peak memory is the
process's peak resident set (CPU) or torch's peak allocation (CUDA). Not a test.
"""

import argparse
import dataclasses
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unlearn_core.checkpoint import load_checkpoint  # noqa: E402
from unlearn_core.data import ImageDataset, load_dataset  # noqa: E402
from unlearn_core.methods import get_method, parse_config  # noqa: E402
from unlearn_core.request import ForgetRequest  # noqa: E402
from unlearn_core.training import Recipe, TrainedModel, initial_model  # noqa: E402

CHECKPOINT = Path(__file__).resolve().parent.parent / "assets/models/demo_smallcnn.safetensors"
PHASES = ("perturb", "foci", "solve", "update", "diagnostics")


def synthetic_cifar(n: int = 2000) -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n + 500, 3, 32, 32), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, 10, (n + 500,), generator=g)
    return ImageDataset(
        "synthetic-32", tuple(str(i) for i in range(10)), images[:n], labels[:n], images[n:],
        labels[n:], (0.5,) * 3, (0.29,) * 3, "random",
    )  # fmt: skip


def setup(arch: str) -> tuple[TrainedModel, ImageDataset]:
    if arch == "smallcnn":
        data = load_dataset("demo")
        return load_checkpoint(CHECKPOINT, data)[0], data
    data = synthetic_cifar()
    model = initial_model(arch, data, seed=0).eval()
    return TrainedModel(arch, data.name, model, Recipe(weight_decay=5e-4), None), data


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", default="smallcnn", choices=["smallcnn", "resnet18-cifar"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--perturbations", type=int, default=1000)
    parser.add_argument("--set", action="append", default=[], help="extra lfoci settings")
    args = parser.parse_args()
    os.environ["UNLEARN_DEVICE"] = args.device

    trained, data = setup(args.arch)
    spec = get_method("lfoci")
    overrides = {"dp_noise": "false", "perturbations": str(args.perturbations)}
    overrides.update(dict(item.split("=", 1) for item in args.set))
    config = parse_config(spec.config_cls, overrides)
    rows = []
    for index in range(args.repeats):
        request = ForgetRequest.for_indices(data, [index])
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        result = spec.run(trained, request, data, config, seed=index)
        if args.device == "cuda":
            torch.cuda.synchronize()
        total = time.perf_counter() - start
        rows.append((index, total, result.info))

    if args.device == "cuda":
        device, peak = torch.cuda.get_device_name(), torch.cuda.max_memory_allocated() / 2**20
    else:
        device = platform.processor() or platform.machine()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(
        f"device: {args.device} ({device}), {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}; arch {args.arch}; load average {os.getloadavg()}"
    )
    print(f"config: {dataclasses.asdict(config)}")
    print("| sample | slices | block | solver | " + " | ".join(PHASES) + " | total s |")
    print("|---:|---|---:|---|" + "---:|" * (len(PHASES) + 1))
    for index, total, info in rows:
        slices = ", ".join(f"{s['layer']}[{s['index']}]" for s in info["selected_slices"] or [])
        block = info.get("block", {})
        seconds = [f"{info['seconds'].get(p, 0.0):.2f}" for p in PHASES]
        print(
            f"| {index} | {slices} | {block.get('parameters', 0)} | {block.get('solver', '-')}"
            f" ({block.get('iterations', '')}) | " + " | ".join(seconds) + f" | {total:.2f} |"
        )
    median = statistics.median(total for _, total, _ in rows)
    print(f"\nmedian total {median:.2f} s; peak memory {peak:.0f} MiB")


if __name__ == "__main__":
    main()
