"""Pools trained together (issue 26): K pool models of one recipe trained as one vectorised
ensemble (privacy/ensemble.py) against one by one (training.train), side by side in one process,
median of --repeats wall times each, alternating. Markdown out, for BENCHMARKS.md.

    nice -n 15 python bench/bench_ensemble.py [--ks 8,32] [--archs smallcnn,logreg]
        [--per-class 40] [--epochs 1] [--repeats 3] [--exclude 0]

The recipe is the shipped demo checkpoint's (smallcnn: b 64, lr 0.05, weight decay 5e-4) with
--epochs epochs, on the first --per-class training images of each demo class (and a third as
many test images, which each epoch's history row evaluates); seeds 0..K-1, as the pool's. The
seconds are per epoch, so the ratio is that of a whole pool; load: the 1-minute load average
as each row ends. Not a test.
"""

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import first_per_class  # noqa: E402
from unlearn_core.checkpoint import load_checkpoint  # noqa: E402
from unlearn_core.data import load_dataset  # noqa: E402
from unlearn_core.privacy.ensemble import train_ensemble  # noqa: E402
from unlearn_core.run.reproducible import environment  # noqa: E402
from unlearn_core.training import train  # noqa: E402


def subset(data, per_class: int):
    """The data cut to per_class training and per_class // 3 test images per class."""
    tr, te = first_per_class(data.train_y, per_class), first_per_class(data.test_y, per_class // 3)
    return dataclasses.replace(
        data,
        name=f"demo-{per_class}",
        train_x=data.train_x[tr],
        train_y=data.train_y[tr],
        test_x=data.test_x[te],
        test_y=data.test_y[te],
    )


def one_by_one(arch, data, recipe, seeds, exclude):
    return [
        train(
            arch,
            data,
            dataclasses.replace(recipe, seed=s),
            exclude=exclude,
            device="cpu",
            probes=False,
        )
        for s in seeds
    ]


def together(arch, data, recipe, seeds, exclude):
    return train_ensemble(arch, data, recipe, seeds, exclude=exclude, device="cpu")


def seconds(fn, *args) -> tuple[float, list]:
    tick = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - tick, out


def max_difference(a: list, b: list) -> float:
    return max(
        float((x - mb.model.state_dict()[name]).abs().max())
        for ma, mb in zip(a, b, strict=True)
        for name, x in ma.model.state_dict().items()
    )


def measure(arch, data, recipe, k, repeats, exclude) -> dict:
    """Median wall seconds per epoch of both ways (alternating, so load drifts hit both)."""
    times = {"ensemble": [], "one by one": []}
    seeds = list(range(k))
    for _ in range(repeats):
        t_ens, ens = seconds(together, arch, data, recipe, seeds, exclude)
        t_one, one = seconds(one_by_one, arch, data, recipe, seeds, exclude)
        times["ensemble"].append(t_ens / recipe.epochs)
        times["one by one"].append(t_one / recipe.epochs)
    medians = {way: statistics.median(ts) for way, ts in times.items()}
    return {"arch": arch, "k": k, **medians, "diff": max_difference(ens, one)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ks", default="8,32")
    parser.add_argument("--archs", default="smallcnn,logreg")
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--exclude", type=int, default=0, help="leave out every N-th sample")
    args = parser.parse_args()
    demo = load_dataset("demo")
    shipped, _ = load_checkpoint(ROOT / "assets/models/demo_smallcnn.safetensors", demo)
    data = subset(demo, args.per_class)
    recipe = dataclasses.replace(shipped.recipe, epochs=args.epochs, probe_every=0)
    n = data.train_y.numel()
    exclude = torch.arange(0, n, args.exclude) if args.exclude else None
    env = environment()
    print(f"machine: {env['cpu_model']}, {os.cpu_count()} cores, torch {torch.__version__}")
    print(f"threads {env['threads']}, kernels {env['cpu_capability']}, {n} images, {recipe}")
    print(f"load average at start: {os.getloadavg()}")
    print(
        "| arch | K | ensemble s/epoch | one by one s/epoch | speed-up | max weight diff | load |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for arch in args.archs.split(","):
        for k in (int(k) for k in args.ks.split(",")):
            r = measure(arch, data, recipe, k, args.repeats, exclude)
            print(
                f"| {arch} | {k} | {r['ensemble']:.2f} | {r['one by one']:.2f} "
                f"| {r['one by one'] / r['ensemble']:.2f}x | {r['diff']:.1e} "
                f"| {os.getloadavg()[0]:.1f} |",
                flush=True,
            )
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
