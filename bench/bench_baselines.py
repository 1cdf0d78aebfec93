"""Time training, retraining and the baselines on the demo; print a Markdown table.

    python bench/bench_baselines.py [--repeats 3] [--device cpu|cuda]

Each row is the median of --repeats runs on the demo smallcnn checkpoint's own recipe
(6000 images, 12 epochs). Not a test: numbers go to BENCHMARKS.md with the machine described.
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
from unlearn_core.data import load_dataset  # noqa: E402
from unlearn_core.methods import get_method, parse_config  # noqa: E402
from unlearn_core.request import ForgetRequest  # noqa: E402
from unlearn_core.training import train  # noqa: E402

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
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    os.environ["UNLEARN_DEVICE"] = args.device

    data = load_dataset("demo")
    trained, _ = load_checkpoint(CHECKPOINT, data)
    request = ForgetRequest.for_classes(data, [3])
    rows = [("train (12 epochs, 6000 images)", lambda: train("smallcnn", data, trained.recipe))]
    for name in ("retrain", "finetune", "neggrad"):
        spec = get_method(name)
        config = parse_config(spec.config_cls)
        rows.append(
            (
                f"{name} (forget class 3)",
                lambda s=spec, c=config: s.run(trained, request, data, c, seed=0),
            )
        )

    device = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor()
    print(
        f"device: {args.device} ({device or platform.machine()}), "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    print("| task | median s | min s |\n|---|---:|---:|")
    for label, fn in rows:
        median, best = timed(fn, args.repeats)
        print(f"| {label} | {median:.2f} | {best:.2f} |")


if __name__ == "__main__":
    main()
