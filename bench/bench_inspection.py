"""Time the inspection tools on the demo, on the CPU; print a Markdown table.

    python bench/bench_inspection.py [--repeats 5] [--images 64]

Rows: GradCAM and activation maps of --images training images (last convolutional layer), the
deletion check of those GradCAM maps, and each membership attack on the demo smallcnn checkpoint
forgetting class 3 (600 members): the forward passes the attacks share, then each attack on
their outputs. Each row is the median (and minimum) of --repeats runs. Not a test: numbers go to
BENCHMARKS.md with the machine and its load described.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unlearn_core.checkpoint import load_checkpoint  # noqa: E402
from unlearn_core.data import load_dataset  # noqa: E402
from unlearn_core.metrics.accuracy import predict_logits  # noqa: E402
from unlearn_core.metrics.attribution import activation_map, deletion_drop, gradcam  # noqa: E402
from unlearn_core.metrics.mia import (  # noqa: E402
    attack_summary,
    confidence_feature,
    mia_samples,
    svc_attack,
)
from unlearn_core.request import ForgetRequest  # noqa: E402

CHECKPOINT = Path(__file__).resolve().parent.parent / "assets/models/demo_smallcnn.safetensors"


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--images", type=int, default=64)
    args = parser.parse_args()
    os.environ["UNLEARN_DEVICE"] = "cpu"

    data = load_dataset("demo")
    model = load_checkpoint(CHECKPOINT, data)[0].model
    inputs = data.normalize(data.train_x[: args.images])  # (n, 1, 28, 28)
    targets = data.train_y[: args.images]
    maps = gradcam(model, inputs, targets)

    request = ForgetRequest.for_classes(data, [3])
    s = mia_samples(data, request)
    train_idx = torch.cat([s.forget, s.fit_members])

    def logits():
        return predict_logits(model, data, "train", train_idx), predict_logits(model, data, "test")

    train_logits, test_logits = logits()
    m, f = s.forget.numel(), s.fit_members.numel()
    labels = torch.cat([data.train_y[train_idx], data.test_y])
    all_logits = torch.cat([train_logits, test_logits])
    losses = F.cross_entropy(all_logits, labels, reduction="none")
    conf = confidence_feature(torch.softmax(all_logits, 1), labels)
    test_conf = conf[m + f :]

    rows = [
        (f"GradCAM, {args.images} images", lambda: gradcam(model, inputs, targets)),
        (f"activation maps, {args.images} images", lambda: activation_map(model, inputs)),
        (
            f"deletion check, {args.images} GradCAM maps",
            lambda: deletion_drop(model, inputs, maps, targets),
        ),
        (
            f"attack inputs: logits of {m + f} training and {len(data.test_y)} test images",
            logits,
        ),
        (
            f"loss attack: AUC, TPR, ROC ({m} members, {s.nonmembers.numel()} non-members)",
            lambda: attack_summary(-losses[:m], -losses[m + f :][s.nonmembers]),
        ),
        (
            f"SVC attack: fit on {f} + {s.fit_nonmembers.numel()}, score "
            f"{m} + {s.svc_nonmembers.numel()}",
            lambda: svc_attack(
                conf[m : m + f], test_conf[s.fit_nonmembers], conf[:m], test_conf[s.svc_nonmembers]
            ),
        ),
    ]
    print_table(rows, args.repeats)


def print_table(rows: list, repeats: int) -> None:
    """The machine, then one Markdown row per (name, function): median and best of `repeats`."""
    print(
        f"device: cpu ({platform.processor() or platform.machine()}), "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}; "
        f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print("| task | median (s) | min (s) |\n|---|---|---|")
    for name, fn in rows:
        median, best = timed(fn, repeats)
        print(f"| {name} | {median:.3f} | {best:.3f} |")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
