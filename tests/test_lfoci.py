"""L-FOCI unlearning (Mehta et al., CVPR 2022), checked against oracles: a hand-run forward pass
for the slice activations, torch.func.hessian on an index-copy parametrisation for the block
Hessian, a dense eigen-solve for the Lanczos solver, the literal Eq. 13-14 on logistic regression,
the recipe's retrain (and the exact retain minimiser) for the Newton step, and retraining time."""

import dataclasses
import functools
import json
import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.conftest import DEMO_CHECKPOINT
from unlearn_core.checkpoint import load_checkpoint
from unlearn_core.data import load_dataset
from unlearn_core.errors import UserError
from unlearn_core.methods import get_method, parse_config
from unlearn_core.methods.lfoci.newton import (
    block_gradient,
    block_logits,
    conjugate_gradient,
    dense_hessian,
    full_block,
    gather,
    newton_step,
    slice_block,
)
from unlearn_core.methods.lfoci.slices import perturb, recording
from unlearn_core.metrics.accuracy import accuracy, labels_of, per_sample_losses, predict_logits
from unlearn_core.request import ForgetRequest
from unlearn_core.torch_utils import slice_layers
from unlearn_core.training import Recipe, TrainedModel, per_sample_loss, retrain_without, train

LOSS = functools.partial(per_sample_loss, sd_gamma=0.0)


def _run(trained, data, indices, **overrides):
    spec = get_method("lfoci")
    request = ForgetRequest.for_indices(data, indices)
    config = parse_config(spec.config_cls, {k: str(v) for k, v in overrides.items()})
    return spec.run(trained, request, data, config, seed=0)


def _loss(model, data, indices):
    indices = torch.as_tensor(indices)
    logits = predict_logits(model, data, "train", indices)
    return per_sample_losses(logits, labels_of(data, "train", indices))


def _flat(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _changed_rows(before: dict, after: dict) -> dict[str, set[int]]:
    """State-dict entry -> indices (along dim 0) of the rows that differ."""
    out = {}
    for key, old in before.items():
        diff = (after[key] != old).reshape(old.shape[0], -1).any(1) if old.dim() else None
        rows = set(diff.nonzero().flatten().tolist()) if diff is not None else set()
        if old.dim() == 0 and not torch.equal(after[key], old):
            rows = {0}
        if rows:
            out[key] = rows
    return out


def _expected_rows(slices) -> dict[str, set[int]]:
    out = {}
    for s in slices:
        for part in ("weight", "bias"):
            out.setdefault(f"{s['layer']}.{part}", set()).add(s["index"])
    return out


def _assert_only_rows(before: dict, after: dict, slices) -> None:
    """Every changed row of `after` is a weight or bias row of one of the slices."""
    allowed = _expected_rows(slices)
    for key, rows in _changed_rows(before, after).items():
        assert rows <= allowed.get(key, set()), (key, rows)


# --- slice activations --------------------------------------------------------------------


def test_perturbation_features_match_a_hand_run_forward(tiny, tiny_trained):
    net = tiny_trained.model
    x = tiny.normalize(tiny.train_x[:2])
    y = tiny.train_y[:2]
    sample = perturb(net, x, y, LOSS, 5, 0.1, torch.Generator().manual_seed(3))
    noise = torch.randn((5, *x.shape[1:]), generator=torch.Generator().manual_seed(3))
    xs = x[0] + 0.1 * noise  # the first sample's five copies
    with torch.no_grad():
        conv0 = net[0](xs)  # (5, 32, 28, 28)
        hidden = net[:8](xs)  # (5, 128): the Linear 3136 -> 128 output, before its ReLU
        logits = net(xs)
    assert [layer.name for layer in slice_layers(net)] == ["0", "3", "7", "9"]
    assert sample.features.shape == (10, 32 + 64 + 128 + 10)
    assert sample.columns[32] == ("3", 0) and sample.columns[-1] == ("9", 9)
    torch.testing.assert_close(sample.features[:5, :32].float(), conv0.mean(dim=(2, 3)))
    torch.testing.assert_close(sample.features[:5, 96:224].float(), hidden)
    expected = F.cross_entropy(logits.double(), y[:1].expand(5), reduction="none")
    # float64 losses of float32 logits: the logits' rounding (which the thread count changes)
    # bounds the agreement, so the tolerance is float32's, not float64's
    torch.testing.assert_close(sample.losses[:5], expected, rtol=1.3e-6, atol=1e-5)
    assert not any(m._forward_hooks for m in net.modules()), "hooks left on the model"


def test_hooks_are_removed_on_error(tiny_trained):
    net = tiny_trained.model
    with pytest.raises(RuntimeError), recording(net, slice_layers(net)):
        net(torch.zeros(1, 3, 28, 28))  # wrong channel count: the forward fails inside
    assert not any(m._forward_hooks for m in net.modules())


# --- the block curvature and the solvers ---------------------------------------------------


def _index_copy_loss(net, x, y, pieces):
    """theta -> mean loss, with the block written into full weight tensors by index_copy."""

    def loss(theta):
        params, at = dict(net.named_parameters()), 0
        for name, rows in pieces:
            for part in ("weight", "bias"):
                base = params[f"{name}.{part}"]
                size = len(rows) * base[0].numel()
                chunk = theta[at : at + size].view(len(rows), *base.shape[1:])
                params[f"{name}.{part}"] = base.index_copy(0, torch.tensor(rows), chunk)
                at += size
        return LOSS(torch.func.functional_call(net, params, (x,)), y).mean()

    return loss


def test_block_hessian_and_gradient_match_torch_func_on_full_weights(tiny, tiny_trained):
    net = tiny_trained.model
    x, y = tiny.normalize(tiny.train_x[:4]), tiny.train_y[:4]
    pieces = [("3", [1]), ("9", [2, 7])]  # chained layers: cross terms matter
    block = slice_block((name, r) for name, rows in pieces for r in rows)
    theta = gather(net, block)  # (290 + 258,)
    torch.testing.assert_close(block_logits(net, block, theta, x), net(x))
    oracle = _index_copy_loss(net, x, y, pieces)
    expected = torch.func.hessian(oracle)(theta).double()  # on whole weight tensors
    got = dense_hessian(net, block, theta, x, y, LOSS) / 4
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)
    grad = block_gradient(net, block, theta, x, y, LOSS) / 4
    torch.testing.assert_close(grad, torch.func.grad(oracle)(theta), rtol=1e-4, atol=1e-7)


def test_lanczos_cg_equals_the_eigen_clamped_solve():
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(40, 40, generator=g, dtype=torch.float64)).Q
    values = torch.linspace(-0.5, 3.0, 40, dtype=torch.float64)  # indefinite
    matrix = basis @ torch.diag(values) @ basis.T
    b = torch.randn(40, generator=g, dtype=torch.float64)
    floor = 0.1
    expected = basis @ ((basis.T @ b) / values.clamp_min(floor))
    x, detail = conjugate_gradient(lambda v: matrix @ v, b, floor, "clamp", 40, 1e-10)
    torch.testing.assert_close(x, expected, rtol=1e-6, atol=1e-8)
    assert detail["clamped_eigenvalues"] == int((values < floor).sum())
    saddle_free = basis @ ((basis.T @ b) / values.abs().clamp_min(floor))
    x, _ = conjugate_gradient(lambda v: matrix @ v, b, floor, "abs", 40, 1e-10)
    torch.testing.assert_close(x, saddle_free, rtol=1e-6, atol=1e-8)
    positive = basis @ torch.diag(values + 1.0) @ basis.T  # positive definite: plain CG answer
    x, detail = conjugate_gradient(lambda v: positive @ v, b, floor, "clamp", 40, 1e-10)
    torch.testing.assert_close(x, torch.linalg.solve(positive, b))
    assert detail["clamped_eigenvalues"] == 0


def test_cg_and_dense_newton_steps_agree_on_a_cnn_block(tiny, tiny_trained):
    net = tiny_trained.model
    block = slice_block([("3", 1), ("9", 2)])  # (419,)
    forget = (tiny.normalize(tiny.train_x[:1]), tiny.train_y[:1])
    retain = (tiny.normalize(tiny.train_x[1:33]), tiny.train_y[1:33])
    common = dict(n=600, weight_decay=5e-4, floor=5e-4, cg_iters=419, cg_tol=1e-7, repair="clamp")
    dense = newton_step(net, block, forget, retain, LOSS, dense_max=10_000, **common)
    cg = newton_step(net, block, forget, retain, LOSS, dense_max=0, **common)
    assert (dense.solver, cg.solver) == ("dense", "cg")
    assert dense.repaired == cg.repaired
    assert float((cg.step - dense.step).norm()) <= 1e-3 * float(dense.step.norm())


def test_newton_step_is_eq_13_14_on_logistic_regression():
    """Against the literal Eq. 13-14 with torch.func.hessian, the regulariser inside each
    sample's loss f = l + (lambda / 2) |w|^2 (Sekhari et al.; Mehta et al. Eq. 4)."""
    digits = load_dataset("digits")
    data = dataclasses.replace(digits, train_x=digits.train_x[:300], train_y=digits.train_y[:300])
    trained = train("logreg", data, Recipe(lr=0.5, batch_size=300, epochs=20, probe_every=0))
    net, lam, n = trained.model, 0.01, 300
    x, y = data.normalize(data.train_x), data.train_y
    params = dict(net.named_parameters())

    def objective(w, xs, ys):  # mean loss as a function of the flat parameters w (650,)
        pieces = w.split([p.numel() for p in params.values()])
        parts = {k: t.view(p.shape) for (k, p), t in zip(params.items(), pieces, strict=True)}
        return LOSS(torch.func.functional_call(net, parts, (xs,)), ys).mean()

    w = _flat(net)
    h_train = torch.func.hessian(objective)(w, x, y) + lam * torch.eye(650)  # H(F) (650, 650)
    h_sample = torch.func.hessian(objective)(w, x[:1], y[:1]) + lam * torch.eye(650)  # f's
    h_prime = (n * h_train - h_sample) / (n - 1)  # Eq. 13
    grad = torch.func.grad(objective)(w, x[:1], y[:1]) + lam * w  # grad f(w, z')
    expected = torch.linalg.solve(h_prime.double(), grad.double()) / (n - 1)  # Eq. 14
    args = (net, full_block(net), (x[:1], y[:1]), (x[1:], y[1:]), LOSS)
    common = dict(n=n, weight_decay=lam, floor=lam, cg_iters=650, cg_tol=1e-8, repair="clamp")
    for dense_max, tol in ((1000, 1e-4), (0, 1e-3)):  # formed, then conjugate gradients
        got = newton_step(*args, dense_max=dense_max, **common)
        assert float((got.step.double() - expected).norm()) <= tol * float(expected.norm())


# --- the method ----------------------------------------------------------------------------


def test_only_selected_rows_change_and_batchnorm_is_untouched(tiny):
    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(4),
        nn.Flatten(), nn.Linear(8 * 7 * 7, 10),
    )  # fmt: skip
    with torch.no_grad():  # running statistics as after training, not the defaults
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 2.0)
        net[1].weight.uniform_(0.5, 1.5)
    trained = TrainedModel("bn-cnn", tiny.name, net.eval(), Recipe(), None)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    settings = dict(perturbations=200, hessian_samples=100)
    quiet = _run(trained, tiny, [7], dp_noise=False, **settings)
    noisy = _run(trained, tiny, [7], dp_noise=True, **settings)
    assert quiet.info["selected_slices"] == noisy.info["selected_slices"]
    expected = _expected_rows(noisy.info["selected_slices"])
    assert _changed_rows(before, noisy.model.state_dict()) == expected
    _assert_only_rows(before, quiet.model.state_dict(), quiet.info["selected_slices"])
    # the (eps, delta) noise: N(0, sigma^2) on exactly the block, with sigma as in METHODS.md
    sigma = noisy.info["noise"]["sigma"]
    gamma = 2 * 0.25 * 1.0 / (600**2 * 5e-4**3)
    assert sigma == pytest.approx(gamma / 0.1 * (2 * torch.log(torch.tensor(125.0))).sqrt())
    diffs = torch.cat(
        [
            (noisy.model.state_dict()[k] - quiet.model.state_dict()[k])[sorted(rows)].flatten()
            for k, rows in expected.items()
        ]
    )
    assert diffs.numel() == noisy.info["block"]["parameters"]
    assert 0.8 < float(diffs.std()) / sigma < 1.2
    json.dumps(noisy.info)  # plain Python types only


def test_sequential_mode_reverts_removals_that_hurt_validation(tiny, tiny_trained):
    settings = dict(perturbations=100, hessian_samples=100, sequential=True, val_samples=100)
    strict = _run(tiny_trained, tiny, [3, 8], dp_noise=True, val_drop=0.0, **settings)  # DP noise
    seq = strict.info["sequential"]
    assert seq["supported_removals"] == 0 and seq["accepted_removals"] == 0
    assert seq["rejected_indices"] == [3, 8]
    for key, value in tiny_trained.model.state_dict().items():
        assert torch.equal(strict.model.state_dict()[key], value), key
    lenient = _run(tiny_trained, tiny, [3, 8], dp_noise=False, val_drop=1.0, **settings)
    seq = lenient.info["sequential"]
    assert seq["supported_removals"] == 2 and seq["rejected_indices"] == []
    assert [r["index"] for r in seq["removals"]] == [3, 8]
    assert {s["sample"] for s in lenient.info["selected_slices"]} <= {3, 8}


def test_sequential_decisions_read_the_validation_split_never_the_test_split(tiny, tiny_trained):
    """Poisoned test images and labels leave every decision and validation accuracy unchanged;
    a poisoned validation split changes them."""
    settings = dict(perturbations=100, hessian_samples=100, sequential=True, val_samples=200)
    settings.update(dp_noise=False, val_drop=0.01)
    base = _run(tiny_trained, tiny, [3, 8, 40], **settings)
    poisoned_test = dataclasses.replace(
        tiny, test_x=255 - tiny.test_x, test_y=(tiny.test_y + 1) % tiny.num_classes
    )
    same = _run(tiny_trained, poisoned_test, [3, 8, 40], **settings)
    decisions = [(r["accepted"], r["val_acc"]) for r in base.info["sequential"]["removals"]]
    assert decisions == [(r["accepted"], r["val_acc"]) for r in same.info["sequential"]["removals"]]
    for key, value in base.model.state_dict().items():
        assert torch.equal(same.model.state_dict()[key], value), key
    assert base.info["sequential"]["validation"]["split"] == "val"
    assert base.info["sequential"]["validation"]["samples"] == 200
    poisoned_val = dataclasses.replace(tiny, val_y=(tiny.val_y + 1) % tiny.num_classes)
    moved = _run(tiny_trained, poisoned_val, [3, 8, 40], **settings)
    moved_accs = [r["val_acc"] for r in moved.info["sequential"]["removals"]]
    assert moved_accs != [acc for _, acc in decisions]


def test_sequential_without_a_validation_split_is_refused(tiny, tiny_trained):
    no_val = dataclasses.replace(tiny, name="plain", val_x=None, val_y=None)
    with pytest.raises(UserError, match="validation split, which plain lacks"):
        _run(tiny_trained, no_val, [3], sequential=True, perturbations=100)


@pytest.mark.slow
def test_full_newton_on_logreg_lands_near_the_retrained_weights():
    """Full-batch gradient descent trains (and retrains) to the regularised minimiser, so the
    recipe's retrain is the exact retain-set minimiser that one Newton step aims at."""
    data = load_dataset("digits")
    n = data.train_y.numel()
    recipe = Recipe(lr=1.2, batch_size=n, epochs=300, weight_decay=0.01, probe_every=0)
    trained = train("logreg", data, recipe, device="cpu")
    ratios = []
    for index in (0, 100, 200, 300, 400):
        retrained = retrain_without(trained, data, torch.tensor([index]), device="cpu")
        result = _run(
            trained,
            data,
            [index],
            selection="full",
            dp_noise=False,
            hessian_samples=0,
            dense_max=1000,
        )
        assert result.info["block"]["solver"] == "dense"
        none = float((_flat(trained.model) - _flat(retrained)).norm())
        ratios.append(float((_flat(result.model) - _flat(retrained)).norm()) / none)
    assert sum(ratios) / len(ratios) <= 0.2, ratios


@pytest.fixture(scope="module")
def demo_trained(demo):
    return load_checkpoint(DEMO_CHECKPOINT, demo)[0]


@pytest.mark.slow
def test_demo_one_sample_changes_only_its_slices_and_is_cheap(demo, demo_trained):
    index = 2
    before = {k: v.clone() for k, v in demo_trained.model.state_dict().items()}
    start = time.perf_counter()
    result = _run(demo_trained, demo, [index], dp_noise=False)  # m = 1000; noise off (see card)
    unlearn_seconds = time.perf_counter() - start
    start = time.perf_counter()
    retrain_without(demo_trained, demo, torch.tensor([index]))
    retrain_seconds = time.perf_counter() - start
    assert result.info["selected_slices"]
    _assert_only_rows(before, result.model.state_dict(), result.info["selected_slices"])
    assert _loss(result.model, demo, [index]) > _loss(demo_trained.model, demo, [index])
    test_drop = accuracy(demo_trained.model, demo, "test") - accuracy(result.model, demo, "test")
    assert test_drop <= 0.05
    assert unlearn_seconds <= retrain_seconds / 5, (unlearn_seconds, retrain_seconds)


@pytest.mark.slow
def test_demo_lfoci_slices_raise_the_loss_more_than_random_ones(demo, demo_trained):
    """The paper's Fig. 5 control, over training samples 0-4. Smaller m and curvature subset than
    the defaults keep it near a minute (random blocks need the full 100 CG iterations); measured
    at the defaults (m = 1000, 1000 curvature samples), L-FOCI won too (BENCHMARKS.md)."""
    gains = {"lfoci": [], "random": []}
    settings = dict(dp_noise=False, perturbations=300, hessian_samples=250)
    for index in range(5):
        before = float(_loss(demo_trained.model, demo, [index]))
        for selection in gains:
            result = _run(demo_trained, demo, [index], selection=selection, **settings)
            gains[selection].append(float(_loss(result.model, demo, [index])) - before)
    assert sum(gains["lfoci"]) > sum(gains["random"]), gains
