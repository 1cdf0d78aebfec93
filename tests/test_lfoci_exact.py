"""L-FOCI's Newton step against an exact solver: on L2-regularised multinomial logistic
regression trained to its minimiser, the full-parameter step with the exact retain Hessian must
land on the exact minimiser of the remaining data (the standard retrain's objective: mean loss
over D_r plus lambda/2 |w|^2) up to second-order error; the default Hessian subsample does not.
"""

import pytest
import torch
import torch.nn.functional as F

from unlearn_core.data import ImageDataset
from unlearn_core.methods import get_method, parse_config
from unlearn_core.request import ForgetRequest
from unlearn_core.training import Recipe, TrainedModel, initial_model

LAM = 0.01  # weight decay lambda: the L2 coefficient of every sample's loss
CLASSES, SIDE = 4, 4  # 4 classes of 1x4x4 images: W (4, 16), b (4,), 68 parameters
N = 2000  # training samples (more than the default hessian_samples=1000)


def _synthetic(n: int = N, seed: int = 0) -> ImageDataset:
    """Overlapping Gaussian classes quantised to uint8 images: not separable, so the minimiser
    is finite even without lambda, and strongly convex with it."""
    g = torch.Generator().manual_seed(seed)
    means = torch.rand(CLASSES, 1, SIDE, SIDE, generator=g) * 160 + 48

    def draw(m):
        y = torch.randint(CLASSES, (m,), generator=g)
        x = means[y] + 40 * torch.randn(m, 1, SIDE, SIDE, generator=g)
        return x.round().clamp(0, 255).to(torch.uint8), y

    (tx, ty), (vx, vy) = draw(n), draw(200)
    scaled = tx.float() / 255
    mean, std = (float(scaled.mean()),), (float(scaled.std()),)
    return ImageDataset("synthetic", tuple("abcd"), tx, ty, vx, vy, mean, std, "synthetic")


def _objective(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor, classes: int) -> torch.Tensor:
    """Mean cross-entropy of logreg (w = [W.flatten(), b], (classes * (d + 1),)) on x (m, d)
    plus (LAM / 2) |w|^2, bias included (SGD's weight decay decays it too)."""
    d = x.shape[1]
    weight, bias = w[: classes * d].view(classes, d), w[classes * d :]
    return F.cross_entropy(x @ weight.T + bias, y) + LAM / 2 * w.pow(2).sum()


def _exact_minimiser(x: torch.Tensor, y: torch.Tensor, classes: int = CLASSES) -> torch.Tensor:
    """Damped Newton in float64 (Armijo backtracking) to gradient norm < 1e-10:
    (classes * (d + 1),); also bench/bench_lfoci_newton.py's reference on digits."""
    w = torch.zeros(classes * (x.shape[1] + 1), dtype=torch.float64)
    for _ in range(60):
        grad = torch.func.grad(_objective)(w, x, y, classes)
        if float(grad.norm()) < 1e-10:
            return w
        step = torch.linalg.solve(torch.func.hessian(_objective)(w, x, y, classes), grad)
        t, f0 = 1.0, _objective(w, x, y, classes)
        while _objective(w - t * step, x, y, classes) > f0 - 0.25 * t * (grad @ step):
            t /= 2
        w = w - t * step
    raise AssertionError("Newton did not converge")


def _flat(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten().double() for p in model.parameters()])


@pytest.fixture(scope="module")
def problem():
    """The data, its features (N, 16) float64 and the model at the exact minimiser."""
    data = _synthetic()
    x = data.normalize(data.train_x).flatten(1).double()  # what logreg's Flatten sees
    w = _exact_minimiser(x, data.train_y)
    model = initial_model("logreg", data, 0)
    with torch.no_grad():
        model[1].weight.copy_(w[: CLASSES * SIDE**2].view(CLASSES, -1))
        model[1].bias.copy_(w[CLASSES * SIDE**2 :])
    trained = TrainedModel("logreg", data.name, model.eval(), Recipe(weight_decay=LAM), None)
    return data, x, trained


def _distance_ratio(problem, k: int, hessian_samples: int) -> float:
    """||w_lfoci - w*_r|| / ||w_original - w*_r|| for k seeded random removals."""
    data, x, trained = problem
    forget = torch.randperm(N, generator=torch.Generator().manual_seed(k))[:k]
    keep = torch.ones(N, dtype=torch.bool)
    keep[forget] = False
    remaining = _exact_minimiser(x[keep], data.train_y[keep])
    spec = get_method("lfoci")
    settings = {"selection": "full", "hessian_samples": str(hessian_samples), "dp_noise": "false"}
    config = parse_config(spec.config_cls, settings)
    request = ForgetRequest.for_indices(data, forget.tolist())
    result = spec.run(trained, request, data, config, seed=0)
    # softmax's null direction (one shift of every class) has curvature exactly lambda, which
    # rounding may put a hair below the floor lambda: a repair there changes nothing
    assert result.info["block"]["solver"] == "dense"
    assert result.info["block"]["min_eigenvalue"] >= LAM * (1 - 1e-4)
    gap = _flat(result.model) - remaining
    return float(gap.norm() / (_flat(trained.model) - remaining).norm())


@pytest.mark.parametrize("k", [1, 5, 20])
def test_exact_hessian_step_lands_on_the_remaining_minimiser(problem, k):
    """Measured: 0.0003, 0.0008 and 0.004 (the step before the fix, with no weight decay in the
    removed gradient and damping n lambda / (n - k), left 1.03, 0.33 and 0.30)."""
    assert _distance_ratio(problem, k, hessian_samples=0) <= 0.01


@pytest.mark.parametrize("k", [1, 20])
def test_the_default_hessian_subsample_is_not_exact(problem, k):
    """hessian_samples=1000 of N = 2000: about 0.1 of the do-nothing distance is left (measured
    0.098, 0.135 and 0.112 at k = 1, 5 and 20; the method card quotes it)."""
    assert 0.03 <= _distance_ratio(problem, k, hessian_samples=1000) <= 0.25
