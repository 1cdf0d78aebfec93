"""Fisher forgetting (Golatkar et al., CVPR 2020): the Fisher of a logistic regression in closed
form, and noise whose empirical variance is the stated alpha / Fisher, clamped as the code."""

import pytest
import torch

from unlearn_core.errors import UserError
from unlearn_core.methods import fisher as fisher_method
from unlearn_core.methods import get_method, parse_config
from unlearn_core.methods.unlearn_ops import diagonal_fisher
from unlearn_core.request import ForgetRequest
from unlearn_core.training import Recipe, train


@pytest.fixture(scope="module")
def logreg(tiny):
    return train("logreg", tiny, Recipe(lr=0.05, batch_size=32, epochs=1), device="cpu")


def test_the_fisher_of_a_logistic_regression(tiny, logreg):
    """Logits Wx + b: d CE(y) / d W_k = (p_k - [k = y]) x, so sum_y p_y (...)^2 = p_k (1 - p_k)
    x^2, and the bias's Fisher is p_k (1 - p_k), averaged over the samples."""
    indices = torch.arange(0, 600, 5)
    fisher = diagonal_fisher(logreg.model, tiny, indices, 1, torch.device("cpu"), labels="model")
    x, _ = tiny.batch(indices, "cpu")
    x = x.flatten(1)  # (n, 784)
    with torch.no_grad():
        p = logreg.model(x.view(-1, 1, 28, 28)).softmax(1)  # (n, 10)
    weight = (p * (1 - p)).T @ x.pow(2) / len(indices)  # (10, 784)
    torch.testing.assert_close(fisher["1.weight"], weight, rtol=1e-4, atol=1e-8)
    torch.testing.assert_close(fisher["1.bias"], (p * (1 - p)).mean(0), rtol=1e-4, atol=1e-8)


def _stated_variance(f, alpha, classifier, forgotten):
    """The variance of the authors' code, written out: 1 / (F + 1e-8), clamped at 1e3 (1e2 in
    the classifier), times alpha, averaged over inputs (matrices), forgotten rows 1e-4, x 10."""
    v = torch.minimum(1 / (f + 1e-8), torch.tensor(1e2 if classifier else 1e3)) * alpha
    if v.ndim == 2:
        v = v.mean(1, keepdim=True).repeat(1, v.shape[1])
    v[list(forgotten)] = 1e-4
    return v * 10


def test_the_noise_has_the_stated_variance(tiny, logreg):
    net = logreg.copy_model()
    fisher = {
        "1.weight": torch.rand(10, 784) * 1e-2,
        "1.bias": torch.rand(10) * 1e-1 + 1e-3,
    }
    alpha, forgotten, draws = 1e-4, (3,), 2000
    generator = torch.Generator().manual_seed(0)
    start = {k: v.detach().clone() for k, v in net.named_parameters()}
    samples = {k: [] for k in start}
    for _ in range(draws):
        copy = logreg.copy_model()
        fisher_method.perturb(copy, fisher, alpha, forgotten, generator)
        for k, v in copy.named_parameters():
            samples[k].append(v.detach().clone())
    for k, f in fisher.items():
        w = torch.stack(samples[k])  # (draws, *shape)
        mean = start[k].clone()
        mean[3] = 0.0  # the forgotten class's classifier row is zeroed first
        stated = _stated_variance(f, alpha, True, forgotten)
        empirical = (w - mean).pow(2).mean(0)  # around the known mean
        if empirical.ndim == 2:  # entries of a row share their variance: pool them
            empirical, stated = empirical.mean(1), stated[:, 0]
        # 2000 draws: the variance ratio lies within 1 +- 0.063 with 95% probability per entry;
        # 0.15 keeps 10 independent entries inside with probability 1 - 1e-10
        torch.testing.assert_close(empirical, stated, rtol=0.15, atol=0)


def test_a_class_request_zeroes_the_forgotten_row_before_the_noise(tiny, logreg):
    spec = get_method("fisher")
    request = ForgetRequest.for_classes(tiny, [3])
    out = spec.run(logreg, request, tiny, parse_config(spec.config_cls, {}), seed=0).model
    assert out[1].bias[3].abs() < 0.2  # N(0, 1e-3): within 6 sd of 0
    assert out[1].weight[3].abs().max() < 0.2


def test_fisher_refuses_a_model_too_large_for_a_cpu(tiny, tiny_trained, monkeypatch):
    monkeypatch.setattr(fisher_method, "CPU_MAX_PARAMETERS", 1000)
    spec = get_method("fisher")
    request = ForgetRequest.for_indices(tiny, [0])
    with pytest.raises(UserError, match="421,642 parameters") as refusal:
        spec.run(tiny_trained, request, tiny, parse_config(spec.config_cls, {}), seed=0)
    assert "\n" not in str(refusal.value)
