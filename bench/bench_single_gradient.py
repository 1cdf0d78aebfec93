"""Single-gradient unlearning: its cost against retraining, the cost of the Hessian probes as a
fraction of training, and the verification errors with and without the update.

    python bench/bench_single_gradient.py [--repeats 5]

Runs on the demo smallcnn checkpoint's own recipe (6000 images, 12 epochs) and on logistic
regression trained one epoch on the demo at several learning rates (the near-linear regime).
Not a test: numbers go to BENCHMARKS.md with the machine and its load. The study itself is
`python -m unlearn_core study ...` (see BENCHMARKS.md).
"""

import argparse
import dataclasses
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
from unlearn_core.methods import get_method  # noqa: E402
from unlearn_core.metrics.unlearning_error import unlearning_error  # noqa: E402
from unlearn_core.metrics.verification_error import verification_errors  # noqa: E402
from unlearn_core.request import ForgetRequest  # noqa: E402
from unlearn_core.training import Recipe, retrain_without, train  # noqa: E402

CHECKPOINT = Path(__file__).resolve().parent.parent / "assets/models/demo_smallcnn.safetensors"
SPEC = get_method("single-gradient")


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def unlearn(trained, request, data):
    return SPEC.run(trained, request, data, SPEC.config_cls(), seed=0).model


def update_against_retrain(trained, data, repeats):
    """Median update time for samples 0-3 and for class 3, one oracle retrain, and the
    verification errors of samples 0-3."""
    samples = ForgetRequest.for_indices(data, [0, 1, 2, 3])
    klass = ForgetRequest.for_classes(data, [3])
    times = {}
    for label, request in (("samples 0-3", samples), ("class 3", klass)):
        runs = [timed(lambda r=request: unlearn(trained, r, data)) for _ in range(repeats)]
        times[label] = statistics.median(t for _, t in runs)
    unlearned = unlearn(trained, samples, data)
    retrained, retrain_seconds = timed(
        lambda: retrain_without(trained, data, samples.forget_indices, convention="replay")
    )
    errors = verification_errors(unlearned, trained.model, retrained)
    return times, retrain_seconds, errors


def probe_overhead(data, recipe):
    """Train the recipe with and without probes: seconds of each, probe seconds, same weights."""
    no_probes = dataclasses.replace(recipe, probe_every=0)
    probed, with_probes = timed(lambda: train("smallcnn", data, recipe))
    plain, without = timed(lambda: train("smallcnn", data, no_probes))
    same = all(
        torch.equal(v, probed.model.state_dict()[k]) for k, v in plain.model.state_dict().items()
    )
    return with_probes, without, probed.probes, same


def near_linear(data, lrs):
    """Logistic regression one epoch per learning rate: (lr, test acc, VE, VE without, UE)."""
    request = ForgetRequest.for_indices(data, [0, 1, 2, 3])
    rows = []
    for lr in lrs:
        trained = train("logreg", data, Recipe(lr=lr, epochs=1, probe_every=25))
        retrained = retrain_without(trained, data, request.forget_indices, convention="replay")
        errors = verification_errors(unlearn(trained, request, data), trained.model, retrained)
        ue = unlearning_error(trained)
        rows.append((lr, trained.history[-1]["test_acc"], errors, ue))
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    os.environ["UNLEARN_DEVICE"] = args.device
    load_before = os.getloadavg()
    data = load_dataset("demo")
    trained, _ = load_checkpoint(CHECKPOINT, data)

    times, retrain_seconds, errors = update_against_retrain(trained, data, args.repeats)
    with_probes, without, record, same = probe_overhead(data, trained.recipe)
    linear = near_linear(data, (1e-4, 3e-4, 1e-3, 1e-2))

    device = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor()
    print(
        f"device: {args.device} ({device or platform.machine()}), "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}; load average "
        f"{load_before[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end"
    )
    print("\n| demo smallcnn (12 epochs) | seconds |\n|---|---:|")
    for label, seconds in times.items():
        print(f"| single-gradient update, {label} (median of {args.repeats}) | {seconds:.3f} |")
    print(f"| oracle retrain without samples 0-3 | {retrain_seconds:.1f} |")
    speedup = retrain_seconds / times["samples 0-3"]
    print(f"\nupdate vs retrain: {speedup:.0f}x faster (samples 0-3)")
    print(
        f"verification error {errors['verification_error']:.4f}, without the update "
        f"{errors['verification_error_without_update']:.4f}"
    )
    overhead = record["seconds"] / (with_probes - record["seconds"])  # within one run: same load
    print(
        f"\ntraining with probes {with_probes:.1f} s, without {without:.1f} s; "
        f"{len(record['eigenvalues'])} probes (every {record['every']} of {record['steps']} steps, "
        f"{sum(record['iterations'])} power iterations) took {record['seconds']:.1f} s = "
        f"{overhead:.1%} of that run's training steps; weights identical: {same}"
    )
    print(
        "\n| logreg, 1 epoch, lr | test acc | verification error | without update | ratio "
        "| unlearning error |\n|---:|---:|---:|---:|---:|---:|"
    )
    for lr, acc, e, ue in linear:
        ve, ve0 = e["verification_error"], e["verification_error_without_update"]
        print(
            f"| {lr:g} | {acc:.3f} | {ve:.3g} | {ve0:.3g} | {ve / ve0:.2f} "
            f"| {ue['unlearning_error']:.3g} |"
        )


if __name__ == "__main__":
    main()
