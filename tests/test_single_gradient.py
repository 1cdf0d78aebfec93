"""Single-gradient unlearning (Unrolling SGD, Sec. 5.1) against hand computations and oracles:
the closed-form gradient of a linear model, the exact one-step case, and retraining."""

import dataclasses

import pytest
import torch

from unlearn_core.errors import UserError
from unlearn_core.methods import get_method, parse_config
from unlearn_core.methods import single_gradient as sg
from unlearn_core.metrics.verification_error import verification_errors
from unlearn_core.request import ForgetRequest
from unlearn_core.run.pipeline import unlearn_model
from unlearn_core.training import Recipe, retrain_without, train

SPEC = get_method("single-gradient")


def _unlearn(trained, request, data, **overrides):
    return SPEC.run(trained, request, data, parse_config(SPEC.config_cls, overrides), seed=0)


def _linear_gradient(weight, bias, x, y, gamma):
    """Closed form for logits z = W x + b: dCE/dz = softmax(z) - onehot(y) and
    d std(z)/dz = (z - mean z) / (k * std z); dl/dW = (dl/dz) x^T, dl/db = dl/dz."""
    z = x @ weight.T + bias  # (n, k)
    k = z.shape[1]
    onehot = torch.nn.functional.one_hot(y, k).double()
    centred = z - z.mean(1, keepdim=True)
    std = centred.pow(2).mean(1, keepdim=True).sqrt()
    dz = torch.softmax(z, 1) - onehot + gamma * centred / (k * std)  # (n, k)
    return dz.T @ x, dz.sum(0)  # (k, d), (k,)


@pytest.mark.parametrize("reference", ["w0", "final"])
def test_update_equals_hand_computation_on_a_linear_model(tiny, reference):
    data = dataclasses.replace(tiny, train_x=tiny.train_x[:12], train_y=tiny.train_y[:12])
    recipe = Recipe(lr=0.1, batch_size=4, epochs=3, weight_decay=0.01, sd_gamma=0.5, seed=1)
    trained = train("logreg", data, recipe, device="cpu")
    request = ForgetRequest.for_indices(data, [2, 7, 9])

    result = _unlearn(trained, request, data, reference=reference)

    source = trained.w0 if reference == "w0" else trained.model.state_dict()
    weight, bias = source["1.weight"].double(), source["1.bias"].double()
    x = data.normalize(data.train_x[[2, 7, 9]]).flatten(1).double()  # (3, 784)
    gw, gb = _linear_gradient(weight, bias, x, data.train_y[[2, 7, 9]], gamma=0.5)
    scale = 0.1 * 3 / 4  # eta * m / b
    final = trained.model.state_dict()
    got = result.model.state_dict()
    torch.testing.assert_close(got["1.weight"].double(), final["1.weight"] + scale * gw)
    torch.testing.assert_close(got["1.bias"].double(), final["1.bias"] + scale * gb)
    assert result.info["scale"] == pytest.approx(scale)
    assert result.info["reference"] == reference


@pytest.mark.parametrize("kind", ["sample", "samples", "class"])
def test_one_sgd_step_is_undone_exactly(tiny, monkeypatch, kind):
    """With one step, w_1 = w_0 - (eta / b) sum_i grad l_i(w_0) - eta lambda w_0, so adding back
    the forgotten terms is the retrained model itself (weight decay included, SD loss included)."""
    monkeypatch.setattr(sg, "CHUNK", 4)  # several chunks for the class request
    data = dataclasses.replace(tiny, train_x=tiny.train_x[:120], train_y=tiny.train_y[:120])
    recipe = Recipe(
        lr=0.2,
        batch_size=120,
        epochs=1,
        weight_decay=0.01,
        sd_gamma=1.0,
        probe_every=1,
        probe_size=8,
    )
    trained = train("smallcnn", data, recipe, device="cpu")
    if kind == "class":
        request = ForgetRequest.for_classes(data, [int(data.train_y[0])])
        assert request.count > 4
    else:
        request = ForgetRequest.for_indices(data, [5] if kind == "sample" else [0, 33, 71])

    unlearned = _unlearn(trained, request, data).model
    retrained = retrain_without(
        trained, data, request.forget_indices, convention="replay", device="cpu"
    )

    errors = verification_errors(unlearned, trained.model, retrained)
    for row in errors["verification_error_per_layer"]:  # float32 rounding is all that is left
        assert row["with_update"] <= 1e-2 * row["without_update"] + 1e-6, row
    assert errors["verification_error"] <= 1e-3 * errors["verification_error_without_update"]
    assert _unlearn(trained, request, data).info["unlearning_error"] == 0.0  # t = 1: (t^2 - t) = 0


def test_near_linear_regime_halves_the_verification_error(demo, monkeypatch, tmp_path):
    """Logistic regression, one epoch at a small learning rate (eta * sigma * t well under 1):
    the update must close most of the gap to the retrained model. Also the report's fields."""
    monkeypatch.setenv("UNLEARN_CACHE_DIR", str(tmp_path / "cache"))
    trained = train("logreg", demo, Recipe(lr=1e-4, epochs=1, probe_every=25), device="cpu")
    request = ForgetRequest.for_indices(demo, [0, 1, 2, 3])
    meta = {"sha256": "f" * 64}
    record = unlearn_model(
        trained,
        meta,
        demo,
        request,
        "single-gradient",
        oracle=True,
        privacy_risk=True,
        oracle_convention="replay",  # the method's own target (Unrolling SGD, Eq. 4)
    )
    report = record.report
    assert report.oracle_convention == "replay" and report.warnings == []
    assert 0 < report.verification_error <= 0.5 * report.verification_error_without_update
    layers = report.verification_error_per_layer
    assert [row.layer for row in layers] == ["1.weight", "1.bias"]
    total = sum(row.with_update**2 for row in layers) ** 0.5
    assert total == pytest.approx(report.verification_error)
    total = sum(row.without_update**2 for row in layers) ** 0.5
    assert total == pytest.approx(report.verification_error_without_update)
    assert report.unlearning_error > 0
    assert report.method_info["unlearning_error_terms"]["steps"] == 94

    risk = report.privacy_risk
    assert {"original", "unlearned", "retrained", "shadow"} <= set(risk.keys)
    assert all(0 <= s <= 1 for scores in (risk.original, risk.unlearned) for s in scores.scores)
    assert len(risk.original.scores) == 4 and risk.shadow.cached is False
    assert (tmp_path / "cache" / "shadow" / f"{'f' * 64}.safetensors").is_file()


def test_refusals_are_one_line_user_errors(tiny, tiny_trained):
    request = ForgetRequest.for_indices(tiny, [0])
    foreign = dataclasses.replace(tiny_trained, w0=None)
    with pytest.raises(UserError, match="reference=final"):
        _unlearn(foreign, request, tiny)
    assert _unlearn(foreign, request, tiny, reference="final").info["reference"] == "final"
    adam = dataclasses.replace(tiny_trained, recipe=Recipe(optimizer="adam"))
    with pytest.raises(UserError, match="SGD-trained"):
        _unlearn(adam, request, tiny)
    with pytest.raises(UserError, match="reference must be one of w0, final"):
        parse_config(SPEC.config_cls, {"reference": "w5"})
