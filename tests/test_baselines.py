"""The standard baselines beside UNSIR: each one's defining behaviour, against a reference."""

import pytest
import torch

from unlearn_core.errors import UserError
from unlearn_core.methods import get_method, parse_config
from unlearn_core.methods.random_label import random_other_labels
from unlearn_core.metrics.accuracy import accuracy, labels_of, per_sample_losses, predict_logits
from unlearn_core.request import ForgetRequest


def _run(name, trained, request, data, **overrides):
    spec = get_method(name)
    return spec.run(trained, request, data, parse_config(spec.config_cls, overrides), seed=0).model


def _forget_loss(model, data, request):
    logits = predict_logits(model, data, "train", request.forget_indices)
    return float(per_sample_losses(logits, labels_of(data, "train", request.forget_indices)).mean())


def test_neggrad_plus_forgets_and_keeps_the_retain_set_better_than_neggrad(tiny, tiny_trained):
    request = ForgetRequest.for_classes(tiny, [1])
    plus = _run("neggrad-plus", tiny_trained, request, tiny)
    plain = _run("neggrad", tiny_trained, request, tiny)
    original = tiny_trained.model
    assert _forget_loss(plus, tiny, request) > 2 * _forget_loss(original, tiny, request)
    retain = request.retain_indices
    plus_retain = accuracy(plus, tiny, "train", retain)
    assert plus_retain > accuracy(plain, tiny, "train", retain)
    assert plus_retain >= accuracy(original, tiny, "train", retain) - 0.02


def test_neggrad_plus_without_its_ascent_is_finetuning(tiny, tiny_trained):
    """alpha = 1 gives the forget batches zero weight: the same SGD, order and weight decay as
    FineTune, so the weights agree bit for bit (the forget term is the only difference)."""
    request = ForgetRequest.for_classes(tiny, [4])
    plus = _run("neggrad-plus", tiny_trained, request, tiny, alpha=1.0, lr=0.02)
    tune = _run("finetune", tiny_trained, request, tiny, epochs=1)
    for key, value in tune.state_dict().items():
        assert torch.equal(plus.state_dict()[key], value), key


@pytest.mark.parametrize("excluded", [(), (2, 5)])
def test_random_labels_avoid_the_own_and_forgotten_classes_uniformly(excluded):
    labels = torch.arange(10).repeat(800)  # (8000,)
    generator = torch.Generator().manual_seed(0)
    new = random_other_labels(labels, excluded, 10, generator)
    assert not (new == labels).any()
    assert not torch.isin(new, torch.tensor(excluded, dtype=torch.long)).any()
    # given its true class, a label is uniform over the classes allowed to it
    for c in range(10):
        allowed = [k for k in range(10) if k != c and k not in excluded]
        counts = torch.bincount(new[labels == c], minlength=10)[allowed].double()
        expected = 800 / len(allowed)
        sd = (800 * (1 / len(allowed)) * (1 - 1 / len(allowed))) ** 0.5
        assert ((counts - expected).abs() <= 4 * sd).all(), (c, counts)


def test_random_label_relabels_the_forget_set_and_forgets_it(tiny, tiny_trained):
    request = ForgetRequest.for_classes(tiny, [3])
    spec = get_method("random-label")
    result = spec.run(tiny_trained, request, tiny, parse_config(spec.config_cls), seed=0)
    counts = result.info["relabelled_counts"]
    assert counts[3] == 0 and sum(counts) == request.count
    assert accuracy(tiny_trained.model, tiny, "train", request.forget_indices) >= 0.8
    assert accuracy(result.model, tiny, "train", request.forget_indices) <= 0.1


def test_a_sample_with_no_class_left_is_an_error():
    with pytest.raises(UserError, match="no class left"):
        random_other_labels(torch.tensor([0]), (1,), 2, torch.Generator().manual_seed(0))
