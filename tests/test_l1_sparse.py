"""l1-sparse MU (Jia et al., NeurIPS 2023): the penalty's gradient is gamma_t * sign(theta),
gamma_t decays linearly per epoch, and without the penalty the method is FineTune, bit for bit."""

import pytest
import torch

from unlearn_core.errors import UserError
from unlearn_core.methods import get_method, parse_config
from unlearn_core.methods.l1_sparse import l1_norm, l1_weight
from unlearn_core.request import ForgetRequest
from unlearn_core.training import initial_model


def test_the_schedule_decays_linearly_per_epoch():
    assert [l1_weight(1.0, e, 4) for e in range(4)] == [1.0, 0.75, 0.5, 0.25]


def test_the_penalty_gradient_is_gamma_times_the_sign(tiny):
    net = initial_model("logreg", tiny, 0)
    with torch.no_grad():
        net[1].bias[0] = 0.0  # |x| at 0: autograd's subgradient is sign(0) = 0
    gamma = l1_weight(5e-4, 3, 10)
    (gamma * l1_norm(net)).backward()
    for p in net.parameters():
        torch.testing.assert_close(p.grad, gamma * torch.sign(p.detach()))
    assert net[1].bias.grad[0] == 0


def test_without_the_penalty_it_is_finetune(tiny, tiny_trained):
    request = ForgetRequest.for_classes(tiny, [4])

    def run(name, **overrides):
        spec = get_method(name)
        config = parse_config(spec.config_cls, {k: str(v) for k, v in overrides.items()})
        return spec.run(tiny_trained, request, tiny, config, seed=0).model.state_dict()

    l1 = run("l1-sparse", gamma=0.0, epochs=2, lr=0.02, batch_size=64)
    tune = run("finetune", epochs=2, lr=0.02, batch_size=64)
    assert all(torch.equal(l1[k], v) for k, v in tune.items())


def test_the_penalty_shrinks_the_weights(tiny, tiny_trained):
    request = ForgetRequest.for_classes(tiny, [4])
    spec = get_method("l1-sparse")
    norms = []
    for gamma in ("0", "0.005"):
        config = parse_config(spec.config_cls, {"gamma": gamma, "epochs": "1"})
        out = spec.run(tiny_trained, request, tiny, config).model
        with torch.no_grad():
            norms.append(float(l1_norm(out)))
    assert norms[1] < norms[0]


@pytest.mark.parametrize("key, value", [("gamma", "-1"), ("epochs", "1001")])
def test_l1_sparse_refuses_impossible_settings(key, value):
    with pytest.raises(UserError):
        parse_config(get_method("l1-sparse").config_cls, {key: value})
