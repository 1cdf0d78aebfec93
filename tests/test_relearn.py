"""Relearn time (UNSIR Sec. 5.1) on cases whose answer is known in advance."""

import pytest
import torch
from torch import nn

from unlearn_core.errors import UserError
from unlearn_core.metrics.accuracy import accuracy
from unlearn_core.metrics.relearn import RelearnConfig, relearn_time
from unlearn_core.request import ForgetRequest
from unlearn_core.run.pipeline import unlearn_model
from unlearn_core.training import Recipe


class NeverClass(nn.Module):
    """A linear classifier that can never predict class `banned`: its logit is pushed down by a
    fixed buffer that no optimiser touches, so its accuracy on that class is 0 forever."""

    def __init__(self, banned: int):
        super().__init__()
        self.linear = nn.Linear(28 * 28, 10)
        mask = torch.zeros(10)
        mask[banned] = -1e9
        self.register_buffer("mask", mask)

    def forward(self, x):
        return self.linear(x.flatten(1)) + self.mask


def _snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_model_that_has_the_accuracy_needs_zero_epochs(tiny, tiny_trained):
    forget = ForgetRequest.for_classes(tiny, [3]).forget_indices
    target = accuracy(tiny_trained.model, tiny, "train", forget)
    before = _snapshot(tiny_trained.model)
    result = relearn_time(tiny_trained.model, tiny, forget, target, tiny_trained.recipe)
    assert result["epochs"] == 0 and result["more_than"] is None
    assert result["forget_acc_per_epoch"] == [target]
    assert all(torch.equal(v, before[k]) for k, v in tiny_trained.model.state_dict().items())


def test_accuracy_that_cannot_come_back_hits_the_cap(tiny):
    torch.manual_seed(0)
    model = NeverClass(banned=3)
    forget = ForgetRequest.for_classes(tiny, [3]).forget_indices
    config = RelearnConfig(samples_per_epoch=100, max_epochs=4)
    result = relearn_time(model, tiny, forget, 0.5, Recipe(lr=0.5), config)
    assert result["epochs"] is None and result["more_than"] == 4
    assert result["forget_acc_per_epoch"] == [0.0] * 5  # before training, then after each epoch
    assert result["samples_per_epoch"] == 100 and result["target_forget_acc"] == 0.5


def test_the_count_is_the_first_epoch_at_the_target_and_repeats_exactly(tiny, tiny_trained):
    """A fresh linear model learns class 3 from the random samples of the full training set;
    the answer is the first epoch whose forget accuracy reaches the target, and the same seed
    gives the same curve."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    forget = ForgetRequest.for_classes(tiny, [3]).forget_indices
    config = RelearnConfig(samples_per_epoch=200, max_epochs=10, seed=3)
    first = relearn_time(model, tiny, forget, 0.6, Recipe(lr=0.05), config)
    again = relearn_time(model, tiny, forget, 0.6, Recipe(lr=0.05), config)
    assert first == again
    curve, epochs = first["forget_acc_per_epoch"], first["epochs"]
    assert epochs is not None and epochs >= 1 and len(curve) == epochs + 1
    assert curve[epochs] >= 0.6 and all(acc < 0.6 for acc in curve[:epochs])
    other = relearn_time(model, tiny, forget, 0.6, Recipe(lr=0.05), RelearnConfig(200, 10, 4))
    assert other["forget_acc_per_epoch"] != curve  # the seed does choose the samples


def test_report_has_relearn_time_always_and_fills_it_on_request(tiny, tiny_trained):
    request = ForgetRequest.for_classes(tiny, [3])
    plain = unlearn_model(tiny_trained, {}, tiny, request, "neggrad").report
    assert plain.relearn_time.to_dict() == {"original": None, "unlearned": None, "retrained": None}
    assert plain.sequence is None
    config = RelearnConfig(samples_per_epoch=100, max_epochs=2)
    report = unlearn_model(tiny_trained, {}, tiny, request, "neggrad", relearn=config).report
    times = report.relearn_time
    assert times.original.epochs == 0 and times.retrained is None
    target = report.metrics.original.forget_acc
    unlearned = times.unlearned
    assert unlearned.target_forget_acc == target
    assert unlearned.forget_acc_per_epoch[0] == report.metrics.unlearned.forget_acc
    assert (unlearned.epochs is None) != (unlearned.more_than is None)


def test_bad_settings_are_user_errors(tiny, tiny_trained):
    with pytest.raises(UserError, match="samples per epoch"):
        RelearnConfig(samples_per_epoch=0)
    with pytest.raises(ValueError, match="non-empty forget set"):
        relearn_time(tiny_trained.model, tiny, torch.tensor([], dtype=torch.long), 0.5, Recipe())
