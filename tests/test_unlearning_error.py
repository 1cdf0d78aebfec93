"""The unlearning error (Unrolling SGD, Eq. 9) on recorded values, and the SD loss (Eq. 10)."""

import dataclasses

import pytest
import torch
from torch import nn

from unlearn_core.metrics.accuracy import predict_logits
from unlearn_core.metrics.unlearning_error import unlearning_error
from unlearn_core.training import Recipe, TrainedModel, train


def _recorded(eigenvalues, steps=10, lr=0.1):
    """A model whose parameters moved by exactly 5 from w_0 (3 and 4 in two entries) while its
    BatchNorm buffers moved too, which the error must ignore."""
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    w0 = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model[0].weight[0, 0] += 3.0
        model[1].bias[1] -= 4.0
        model[1].running_mean += 100.0
    probes = {"steps": steps, "every": 2, "eigenvalues": eigenvalues}
    return TrainedModel("toy", "toy", model.eval(), Recipe(lr=lr), w0, [], probes)


def test_equals_equation_9_on_recorded_values():
    trained = _recorded([-4.0, 9.0, 16.0])
    got = unlearning_error(trained)
    # eta^2 * (||w_t - w_0|| / t) * mean|lambda| * (t^2 - t) / 2 = 0.01 * 0.5 * 29/3 * 45
    assert got["unlearning_error"] == pytest.approx(0.01 * (5 / 10) * (29 / 3) * 45)
    assert got["weight_change"] == pytest.approx(5.0)
    assert got["sigma_avg"] == pytest.approx(29 / 3) and got["steps"] == 10
    # the reference code's sigma = sqrt(lambda), kept as an option: mean(2, 3, 4) = 3
    assert unlearning_error(trained, sigma="sqrt")["unlearning_error"] == pytest.approx(0.675)


def test_needs_w0_and_probes():
    trained = _recorded([1.0])
    assert unlearning_error(dataclasses.replace(trained, w0=None)) is None
    assert unlearning_error(dataclasses.replace(trained, probes=None)) is None
    one_step = _recorded([7.0], steps=1)
    assert unlearning_error(one_step)["unlearning_error"] == 0.0


def test_sd_loss_lowers_the_spread_of_the_logits(tiny):
    """Eq. 10 penalises each sample's std of logits across classes: training with it must give
    smaller spreads on held-out images than plain cross-entropy from the same w_0 and order."""
    recipe = Recipe(lr=0.01, batch_size=32, epochs=2, probe_every=0)
    spreads = {}
    for gamma in (0.0, 1.0):
        model = train("logreg", tiny, dataclasses.replace(recipe, sd_gamma=gamma), device="cpu")
        spreads[gamma] = float(predict_logits(model.model, tiny, "test").std(dim=1).mean())
    assert spreads[1.0] < 0.8 * spreads[0.0]
