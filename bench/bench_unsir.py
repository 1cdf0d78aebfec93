"""Time UNSIR's three phases (noise, impair, repair) and compare with retraining; Markdown out.

    python bench/bench_unsir.py [--repeats 3] [--device cpu|cuda] [--arch smallcnn|resnet18-cifar]
                                [--no-retrain] [--set key=value ...]

smallcnn: the demo checkpoint (6000 Fashion-MNIST images, 28x28), forgetting class 3 and classes
1,2 with UNSIR's defaults; the retrain of the same checkpoint (its own recipe, 12 epochs) is
timed once per request for the ratio. resnet18-cifar: an untrained CIFAR ResNet-18 on a synthetic
CIFAR-10-shaped set (50000 random 3x32x32 images; the timings depend only on shapes), with the
paper's CIFAR-10 settings (noise batch 256, 1000 retain samples per class, batch 256, one repair
epoch; Sec. 5.6.1 reports 1.1 s noise, 1.70 s impair, 1.13 s repair on a V100). Phase times come
from the method's own `phase_seconds` (GPU-synchronised). Not a test: numbers go to BENCHMARKS.md.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unlearn_core.checkpoint import load_checkpoint  # noqa: E402
from unlearn_core.data import CIFAR10_CLASSES, ImageDataset, load_dataset  # noqa: E402
from unlearn_core.methods import get_method, parse_config  # noqa: E402
from unlearn_core.models import build_model  # noqa: E402
from unlearn_core.request import ForgetRequest  # noqa: E402
from unlearn_core.training import Recipe, TrainedModel, retrain_without  # noqa: E402

CHECKPOINT = Path(__file__).resolve().parent.parent / "assets/models/demo_smallcnn.safetensors"
# the paper's CIFAR-10 settings (Sec. 5.4) where UNSIR's defaults follow the small demo
PAPER_CIFAR10 = {
    "noise_batch": "256",
    "retain_per_class": "1000",
    "batch_size": "256",
    "repair_epochs": "1",
}


def synthetic_cifar10() -> ImageDataset:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (50_000, 3, 32, 32), dtype=torch.uint8, generator=generator)
    return ImageDataset(
        name="synthetic-cifar10",
        class_names=CIFAR10_CLASSES,
        train_x=images,
        train_y=torch.arange(10).repeat_interleave(5000),
        test_x=images[:1000],
        test_y=torch.arange(10).repeat_interleave(100),
        mean=(0.5, 0.5, 0.5),
        std=(0.29, 0.29, 0.29),
        source="random uint8 images (timing only)",
    )


def load_subject(arch: str) -> tuple[TrainedModel, ImageDataset]:
    if arch == "smallcnn":
        data = load_dataset("demo")
        return load_checkpoint(CHECKPOINT, data)[0], data
    data = synthetic_cifar10()
    torch.manual_seed(0)
    model = build_model(arch, 3, 10, (32, 32)).eval()
    return TrainedModel(arch, data.name, model, Recipe(), None), data


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--arch", default="smallcnn", choices=["smallcnn", "resnet18-cifar"])
    parser.add_argument("--no-retrain", action="store_true", help="skip the retrain timing")
    parser.add_argument("--set", action="append", default=[], metavar="K=V")
    args = parser.parse_args()
    os.environ["UNLEARN_DEVICE"] = args.device

    trained, data = load_subject(args.arch)
    spec = get_method("unsir")
    overrides = {} if args.arch == "smallcnn" else dict(PAPER_CIFAR10)
    overrides.update(kv.split("=", 1) for kv in args.set)
    config = parse_config(spec.config_cls, overrides)

    device = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor()
    print(
        f"device: {args.device} ({device or platform.machine()}), "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}; "
        f"load average at start {os.getloadavg()}"
    )
    print(f"arch {args.arch}, settings {overrides or 'defaults'}")
    print(
        "| forget | noise s | impair s | repair s | UNSIR total s | retrain s | UNSIR / retrain |\n"
        "|---|---:|---:|---:|---:|---:|---:|"
    )
    for classes in ([3], [1, 2]):
        request = ForgetRequest.for_classes(data, classes)
        runs = []
        for repeat in range(args.repeats):
            start = time.perf_counter()
            info = spec.run(trained, request, data, config, seed=repeat).info
            runs.append({**info["phase_seconds"], "total": time.perf_counter() - start})
        median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        retrain = None
        if not args.no_retrain and trained.w0 is not None:
            start = time.perf_counter()
            retrain_without(trained, data, request.forget_indices)
            retrain = time.perf_counter() - start
        ratio = f"{median['total'] / retrain:.3f}" if retrain else "-"
        print(
            f"| {','.join(map(str, classes))} | {median['noise']:.2f} | {median['impair']:.2f} | "
            f"{median['repair']:.2f} | {median['total']:.2f} | "
            f"{f'{retrain:.1f}' if retrain else '-'} | {ratio} |",
            flush=True,
        )
    print(f"load average at end {os.getloadavg()}; medians of {args.repeats} runs")


if __name__ == "__main__":
    main()
