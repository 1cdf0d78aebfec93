"""UNSIR (Tarun et al., "Fast Yet Effective Machine Unlearning"): zero-glance for real, the noise
objective of Eq. 1 against a hand-computed Adam step, each noise labelled with its own class, and
the done-means on the demo against the retrained oracle."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from conftest import DEMO_CHECKPOINT
from torch import nn

from unlearn_core.checkpoint import load_checkpoint
from unlearn_core.errors import UserError
from unlearn_core.methods import check_request, get_method, parse_config
from unlearn_core.methods import unsir as unsir_module
from unlearn_core.methods.unsir import error_maximizing_noise, retain_subset
from unlearn_core.request import ForgetRequest
from unlearn_core.run.pipeline import unlearn_model

UNSIR = get_method("unsir")

# reading a tensor's metadata does not read its rows
_METADATA = {
    torch.Tensor.shape.__get__,
    torch.Tensor.ndim.__get__,
    torch.Tensor.dtype.__get__,
    torch.Tensor.device.__get__,
    torch.Tensor.__len__,
    torch.Tensor.size,
    torch.Tensor.dim,
    torch.Tensor.numel,
}


class Guarded(torch.Tensor):
    """A training tensor whose forbidden rows cannot be read: indexing that reaches one raises,
    and so does any operation over the whole tensor (which would read them too). What indexing
    returns is a plain tensor, free to use."""

    forbidden: torch.Tensor  # (n,) bool

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        with torch._C.DisableTorchFunctionSubclass():
            if func in _METADATA:
                return func(*args, **kwargs)
            if func is torch.Tensor.__getitem__:
                tensor, index = args
                first = index[0] if isinstance(index, tuple) else index
                rows = torch.arange(tensor.shape[0])[first]
                if tensor.forbidden[rows].any():
                    raise AssertionError("a forget sample was read")
                return func(*args, **kwargs).as_subclass(torch.Tensor)
        raise AssertionError(f"{getattr(func, '__name__', func)} reads the whole training set")


def guarded(t: torch.Tensor, forbidden: torch.Tensor) -> Guarded:
    out = t.as_subclass(Guarded)
    out.forbidden = torch.zeros(t.shape[0], dtype=torch.bool)
    out.forbidden[forbidden] = True
    return out


def _run(trained, request, data, **overrides):
    return UNSIR.run(trained, request, data, parse_config(UNSIR.config_cls, overrides), seed=0)


# small settings so the unit tests take a second on the 600-image slice
FAST = {"noise_batch": 8, "noise_steps": 5, "noise_copies": 3, "retain_per_class": 10}


def test_the_guard_catches_a_read(tiny):
    request = ForgetRequest.for_classes(tiny, [3])
    x = guarded(tiny.train_x, request.forget_indices)
    assert x[request.retain_indices[:5]].shape == (5, 1, 28, 28)
    with pytest.raises(AssertionError, match="forget sample"):
        x[request.forget_indices[:1]]
    with pytest.raises(AssertionError, match="whole training set"):
        x.float()


def test_zero_glance_never_reads_a_forget_image_or_label(tiny, tiny_trained):
    request = ForgetRequest.for_classes(tiny, [1, 3])
    blind = dataclasses.replace(
        tiny,
        train_x=guarded(tiny.train_x, request.forget_indices),
        train_y=guarded(tiny.train_y, request.forget_indices),
    )
    seen = _run(tiny_trained, request, blind, **FAST)
    plain = _run(tiny_trained, request, tiny, **FAST)
    for key, value in plain.model.state_dict().items():
        assert torch.equal(value, seen.model.state_dict()[key])


def test_a_sample_request_is_refused_with_one_line(tiny, tiny_trained):
    with pytest.raises(UserError, match="takes a classes .--forget-classes. request") as err:
        check_request(UNSIR, ForgetRequest.for_indices(tiny, [0, 5]))
    assert "\n" not in str(err.value)
    assert UNSIR.requests == ("classes",)


def test_noise_follows_eq1_by_a_hand_computed_adam_step(tiny, tiny_trained):
    """One Adam step from N_0 moves N by -lr * g / (|g| + eps), with g the gradient of
    -CE(f(N), c) + lambda * mean_b ||N_b||^2 at N_0, computed here independently."""
    model, shape, lr, weight = tiny_trained.model, (4, 1, 28, 28), 0.1, 0.1
    start = torch.randn(shape, generator=torch.Generator().manual_seed(7)).requires_grad_(True)
    logits = model(start)
    loss = (
        -F.cross_entropy(logits, torch.full((4,), 3))
        + weight * (start**2).sum(dim=(1, 2, 3)).mean()
    )
    (grad,) = torch.autograd.grad(loss, start)
    expected = start.detach() - lr * grad / (grad.abs() + 1e-8)
    noise, _ = error_maximizing_noise(
        model, 3, shape, steps=1, lr=lr, weight=weight, generator=torch.Generator().manual_seed(7)
    )
    torch.testing.assert_close(noise, expected, rtol=0, atol=1e-6)


def test_noise_maximises_the_error(demo):
    model = load_checkpoint(DEMO_CHECKPOINT, demo)[0].model
    start = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        start_ce = float(F.cross_entropy(model(start), torch.full((16,), 2)))
    noise, final_ce = error_maximizing_noise(
        model,
        2,
        (16, 1, 28, 28),
        steps=40,
        lr=0.1,
        weight=0.1,
        generator=torch.Generator().manual_seed(0),
    )
    with torch.no_grad():
        assert float(F.cross_entropy(model(noise), torch.full((16,), 2))) == final_ce
    assert final_ce > start_ce + 5.0
    # the penalty keeps the noise well inside its N(0, 1) start (784 expected per sample)
    assert float(noise.square().flatten(1).sum(1).mean()) < 0.5 * 784


def test_noise_is_learned_in_eval_mode_without_touching_the_model():
    """On a BatchNorm model in train mode: running statistics and weights stay, and so does
    the train flag (the authors' notebook overwrote the statistics with the noise's)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 26 * 26, 10)
    ).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    error_maximizing_noise(
        model, 2, (16, 1, 28, 28), steps=3, lr=0.1, weight=0.1, generator=torch.Generator()
    )
    assert model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    # the check has teeth: one forward pass in train mode does move the statistics
    model(torch.randn(16, 1, 28, 28))
    assert not torch.equal(model[1].running_mean, before["1.running_mean"])


def test_each_noise_is_labelled_with_its_own_class(tiny, tiny_trained, monkeypatch):
    """Noise for class c is filled with the value c here, so every impair row's label must equal
    its value; the impair set is the retain subset plus copies x classes x batch noise rows."""

    def constant_noise(model, forget_class, shape, **_):
        return torch.full(shape, float(forget_class)), 0.0

    epochs = []

    def spy(model, data, retain, noise, labels, *args):
        epochs.append((retain.clone(), noise.clone(), labels.clone()))

    monkeypatch.setattr(unsir_module, "error_maximizing_noise", constant_noise)
    monkeypatch.setattr(unsir_module, "_train_epoch", spy)
    request = ForgetRequest.for_classes(tiny, [2, 7])
    result = _run(tiny_trained, request, tiny, **FAST, repair_epochs=2)
    (retain, noise, labels), *repairs = epochs
    assert noise.shape[0] == labels.numel() == 3 * 2 * 8
    assert torch.equal(noise.flatten(1).mean(1), labels.float())
    assert torch.bincount(labels, minlength=10)[[2, 7]].tolist() == [24, 24]
    assert retain.numel() == 10 * 8 and len(repairs) == 2
    assert all(r[1].shape[0] == 0 and torch.equal(r[0], retain) for r in repairs)
    assert result.info["noise_samples"] == 48 and result.info["retain_subset_size"] == 80


def test_retain_subset_takes_per_class_samples_of_the_retain_set_only(tiny):
    request = ForgetRequest.for_classes(tiny, [0, 4])
    subset = retain_subset(tiny, request, 25, torch.Generator().manual_seed(0))
    counts = torch.bincount(tiny.train_y[subset], minlength=10)
    assert counts[[0, 4]].tolist() == [0, 0]
    assert counts[[1, 2, 3, 5, 6, 7, 8, 9]].tolist() == [25] * 8
    assert torch.isin(subset, request.retain_indices).all()
    everything = retain_subset(tiny, request, 1000, torch.Generator().manual_seed(0))
    assert everything.numel() == request.retain_indices.numel()


def test_bad_settings_are_one_line_errors():
    with pytest.raises(UserError, match="optimizer must be adam or sgd"):
        parse_config(UNSIR.config_cls, {"optimizer": "rmsprop"})
    with pytest.raises(UserError, match="noise_batch"):
        parse_config(UNSIR.config_cls, {"noise_batch": "0"})


# --- done-means on the demo (issue 4): one UNSIR run and one oracle per forgotten set ----------


@pytest.fixture(scope="module", params=[(3,), (1, 2)], ids=["class-3", "classes-1-2"])
def demo_run(request, demo):
    trained, meta = load_checkpoint(DEMO_CHECKPOINT, demo)
    forget = ForgetRequest.for_classes(demo, request.param)
    return unlearn_model(trained, meta, demo, forget, "unsir", oracle=True).report


@pytest.mark.slow
def test_unsir_forgets_the_demo_classes_and_keeps_the_rest(demo_run):
    m = demo_run.metrics
    assert m.original.forget_acc >= 0.75  # there was something to forget
    assert m.unlearned.forget_acc <= 0.05
    assert m.original.retain_acc - m.unlearned.retain_acc <= 0.08
    assert m.retrained.forget_acc <= 0.05  # the oracle, for comparison


@pytest.mark.slow
def test_unsir_costs_at_most_a_quarter_of_retraining(demo_run):
    timing = demo_run.timing
    assert timing.unlearn_seconds <= 0.25 * timing.retrain_seconds
    phases = demo_run.method_info["phase_seconds"]
    assert sum(phases.values()) <= timing.unlearn_seconds


@pytest.mark.slow
def test_forgotten_predictions_spread_like_the_oracle(demo_run):
    """The forget set's predictions sit beside the retrained model's in the report, and, as in
    the paper's Fig. 4, no class takes them all (no Streisand effect)."""
    dist = demo_run.prediction_distribution
    count = demo_run.forget.count
    assert sum(dist.unlearned) == sum(dist.retrained) == count
    for c in demo_run.forget.classes:
        assert dist.unlearned[c] <= 0.05 * count
    assert max(dist.unlearned) <= 0.9 * count
