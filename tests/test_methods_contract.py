"""Every registered method obeys the one contract (timm-style: a new method is tested here
automatically), and each baseline does what defines it."""

import dataclasses

import pytest
import torch

from unlearn_core.errors import UserError
from unlearn_core.methods import METHODS, check_request, field_help, get_method, parse_config
from unlearn_core.metrics.accuracy import labels_of, per_sample_losses, predict_logits
from unlearn_core.request import ForgetRequest


def _snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _run(name, trained, request, data, **overrides):
    spec = get_method(name)
    calls = []
    result = spec.run(
        trained,
        request,
        data,
        parse_config(spec.config_cls, overrides),
        seed=0,
        progress=lambda f, phase: calls.append((f, phase)),
    )
    return result, calls


@pytest.mark.parametrize("name", sorted(METHODS))
@pytest.mark.parametrize("kind", ["classes", "samples"])
def test_contract(name, kind, tiny, tiny_trained):
    if kind == "classes":
        request = ForgetRequest.for_classes(tiny, [3])
    else:
        request = ForgetRequest.for_indices(tiny, [0, 5, 17])
    before = _snapshot(tiny_trained.model)
    if kind not in METHODS[name].requests:  # e.g. UNSIR forgets classes only: a clear refusal
        with pytest.raises(UserError) as refusal:
            check_request(METHODS[name], request)
        assert "\n" not in str(refusal.value) and "request" in str(refusal.value)
        return
    check_request(METHODS[name], request)
    result, calls = _run(name, tiny_trained, request, tiny)

    after = _snapshot(tiny_trained.model)
    assert all(torch.equal(before[k], after[k]) for k in before), "caller's model changed"
    out = result.model.state_dict()
    assert out.keys() == before.keys()
    assert all(out[k].shape == before[k].shape for k in before)
    assert all(torch.isfinite(v).all() for v in out.values() if v.is_floating_point())
    if name == "none":  # the control: a copy, equal weights, never the caller's object
        assert result.model is not tiny_trained.model
        assert all(torch.equal(out[k], before[k]) for k in before)
    else:
        assert any(not torch.equal(out[k], before[k]) for k in before), "method changed nothing"
    assert not result.model.training
    fractions = [f for f, _ in calls]
    assert calls and all(0 <= f <= 1 for f in fractions)
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert all(isinstance(p, str) and p for _, p in calls)


def _forget_loss(model, data, request):
    logits = predict_logits(model, data, "train", request.forget_indices)
    return float(per_sample_losses(logits, labels_of(data, "train", request.forget_indices)).mean())


def test_retrain_forgets_a_class(tiny, tiny_trained):
    request = ForgetRequest.for_classes(tiny, [1])
    result, _ = _run("retrain", tiny_trained, request, tiny)
    logits = predict_logits(result.model, tiny, "train", request.forget_indices)
    assert float((logits.argmax(1) == 1).float().mean()) <= 0.02


def test_neggrad_raises_the_forget_loss(tiny, tiny_trained):
    request = ForgetRequest.for_classes(tiny, [1])
    result, _ = _run("neggrad", tiny_trained, request, tiny)
    assert _forget_loss(result.model, tiny, request) > 2 * _forget_loss(
        tiny_trained.model, tiny, request
    )


def test_finetune_never_reads_the_forget_set(tiny, tiny_trained):
    """Scrambling the forget images must not change a single weight of the result."""
    request = ForgetRequest.for_classes(tiny, [2])
    scrambled_x = tiny.train_x.clone()
    scrambled_x[request.forget_indices] = 255 - scrambled_x[request.forget_indices]
    scrambled = dataclasses.replace(tiny, train_x=scrambled_x)
    plain, _ = _run("finetune", tiny_trained, request, tiny, epochs=1)
    other, _ = _run("finetune", tiny_trained, request, scrambled, epochs=1)
    for k, v in plain.model.state_dict().items():
        assert torch.equal(v, other.model.state_dict()[k])


def test_unknown_method_and_setting_are_clear_errors():
    with pytest.raises(UserError, match="unknown method 'magic'; known: "):
        get_method("magic")
    with pytest.raises(UserError, match="unknown setting 'lrr'"):
        parse_config(get_method("finetune").config_cls, {"lrr": "0.1"})
    with pytest.raises(UserError, match="epochs=two: expected a int"):
        parse_config(get_method("finetune").config_cls, {"epochs": "two"})
    assert parse_config(get_method("neggrad").config_cls, {"lr": "0.5"}).lr == 0.5


NONSENSE = [
    (name, key, value)
    for name in sorted(METHODS)
    for key, value in (("lr", "-1"), ("batch_size", "0"), ("epochs", "0"))
    if key in {f.name for f in dataclasses.fields(METHODS[name].config_cls)}
]


@pytest.mark.parametrize("name, key, value", NONSENSE)
def test_nonsense_optimiser_settings_are_refused_before_a_run(name, key, value):
    """A method that has the setting refuses a value its loop would divide by or step with."""
    with pytest.raises(UserError, match=f"invalid settings: {key} must (be|lie in)"):
        parse_config(get_method(name).config_cls, {key: value})


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_setting_has_help_text(name):
    """The app's form and `list-methods --verbose` show field_help; no setting goes without."""
    config_cls = METHODS[name].config_cls
    helps = field_help(config_cls)
    assert list(helps) == [f.name for f in dataclasses.fields(config_cls)]
    assert all(text and "\n" not in text for text in helps.values()), helps
