"""How close L-FOCI's Newton step lands to the exact retrain minimiser, on two problems; print
Markdown for BENCHMARKS.md (issue 23).

    nice -n 19 python bench/bench_lfoci_newton.py [--seeds 5] [--ks 1,5,20]

Problems: L2-regularised multinomial logistic regression (weight decay lambda 0.01, bias
included) trained to its exact minimiser (float64 damped Newton to gradient norm < 1e-10) on
(a) tests/test_lfoci_exact.py's synthetic 4-class problem (2000 images of 4x4, 68 parameters)
and (b) scikit-learn's digits (1438 training images of 8x8, 10 classes, 650 parameters).
For k forgotten samples (drawn at random, one draw per seed) the measure is
||w_lfoci - w*_r|| / ||w_original - w*_r||, w*_r the exact minimiser without them (the
standard retrain's objective): 0 is exact, 1 is doing nothing. Settings: "exact curvature"
(selection=full, hessian_samples=0: the whole retain Hessian, solved densely), every parameter
with the default Hessian subsample (hessian_samples=1000), and the defaults (selection=lfoci,
hessian_samples=1000, perturbations=1000, as a user gets them), all with the DP noise off (it
adds a distance of its own on purpose). Mean and 95% Student-t interval over the seeds. Not a
test.
"""

import argparse
import math
import statistics
import sys
from pathlib import Path

import torch
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_lfoci_exact import LAM, _exact_minimiser, _synthetic  # noqa: E402

from unlearn_core.data import ImageDataset, load_dataset  # noqa: E402
from unlearn_core.methods import get_method, parse_config  # noqa: E402
from unlearn_core.request import ForgetRequest  # noqa: E402
from unlearn_core.run.reproducible import cpu_model  # noqa: E402
from unlearn_core.training import Recipe, TrainedModel, initial_model  # noqa: E402

SETTINGS = {
    "exact curvature": {"selection": "full", "hessian_samples": "0", "dense_max": "1024"},
    "every parameter, 1000 Hessian samples": {"selection": "full", "dense_max": "1024"},
    "defaults (selection=lfoci, 1000 Hessian samples)": {},
}


def flat(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten().double() for p in model.parameters()])


def at_minimiser(data: ImageDataset):
    """(features (n, d) float64, the trained model at the exact minimiser)."""
    x = data.normalize(data.train_x).flatten(1).double()  # what logreg's Flatten sees
    classes = data.num_classes
    w = _exact_minimiser(x, data.train_y, classes)
    model = initial_model("logreg", data, 0)
    with torch.no_grad():
        model[1].weight.copy_(w[: classes * x.shape[1]].view(classes, -1))
        model[1].bias.copy_(w[classes * x.shape[1] :])
    return x, TrainedModel("logreg", data.name, model.eval(), Recipe(weight_decay=LAM), None)


def ratio(data, x, trained, k: int, seed: int, settings: dict) -> float:
    n = data.train_y.numel()
    forget = torch.randperm(n, generator=torch.Generator().manual_seed(1000 * k + seed))[:k]
    keep = torch.ones(n, dtype=torch.bool)
    keep[forget] = False
    remaining = _exact_minimiser(x[keep], data.train_y[keep], data.num_classes)
    spec = get_method("lfoci")
    config = parse_config(spec.config_cls, {**settings, "dp_noise": "false"})
    result = spec.run(trained, ForgetRequest.for_indices(data, forget.tolist()), data, config)
    gap = flat(result.model) - remaining
    return float(gap.norm() / (flat(trained.model) - remaining).norm())


def interval(values: list[float]) -> str:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:.4f}"
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return f"{mean:.4f} [{max(mean - half, 0):.4f}, {mean + half:.4f}]"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--ks", default="1,5,20")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ks = [int(k) for k in args.ks.split(",")]
    print(
        f"CPU: {cpu_model()}, torch {torch.__version__}, "
        f"{torch.backends.cpu.get_cpu_capability()} kernels, 1 thread; {args.seeds} seeds"
    )
    print("\n| problem | setting | " + " | ".join(f"k = {k}" for k in ks) + " |")
    print("|---|---|" + "---:|" * len(ks))
    for name, data in (
        ("synthetic (68 parameters)", _synthetic()),
        ("digits (650 parameters)", load_dataset("digits")),
    ):
        x, trained = at_minimiser(data)
        for label, settings in SETTINGS.items():
            cells = [
                interval([ratio(data, x, trained, k, s, settings) for s in range(args.seeds)])
                for k in ks
            ]
            print(f"| {name} | {label} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
