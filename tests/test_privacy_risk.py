"""Privacy risk score (Song and Mittal) against hand-worked histograms."""

import math

import pytest
import torch

from unlearn_core.metrics import privacy_risk as pr
from unlearn_core.metrics.privacy_risk import RiskHistograms, modified_entropy
from unlearn_core.request import ForgetRequest


def test_modified_entropy_by_hand():
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3]])
    got = modified_entropy(probs, torch.tensor([0, 2]))
    first = -0.3 * math.log(0.7) - 0.2 * math.log(0.8) - 0.1 * math.log(0.9)
    second = -0.7 * math.log(0.3) - 0.2 * math.log(0.8) - 0.5 * math.log(0.5)
    torch.testing.assert_close(got, torch.tensor([first, second], dtype=torch.float64))


def _tensor(values):
    return torch.tensor(values, dtype=torch.float64)


def test_linear_bins_by_hand():
    """Class 0: members 0.1 0.2 0.3 0.9, non-members 0.5 0.8 1.0 1.0. Three bins over [0.1, 1.0]:
    edges 0.1 0.4 0.7 1.0; members per bin 3/4 0 1/4, non-members 0 1/4 3/4."""
    members, nonmembers = _tensor([0.1, 0.2, 0.3, 0.9]), _tensor([0.5, 0.8, 1.0, 1.0])
    zeros = torch.zeros(4, dtype=torch.long)
    h = RiskHistograms.fit(members, zeros, nonmembers, zeros, 1, num_bins=3, log_bins=False)
    torch.testing.assert_close(h.edges[0], _tensor([0.1, 0.4, 0.7, 1.0]))
    torch.testing.assert_close(h.members[0], _tensor([0.75, 0.0, 0.25]))
    torch.testing.assert_close(h.nonmembers[0], _tensor([0.0, 0.25, 0.75]))
    values = _tensor([0.15, 0.6, 0.95, 2.0, 0.0])  # last two: beyond the edges
    got = h.score(values, torch.zeros(5, dtype=torch.long))
    torch.testing.assert_close(got, _tensor([1.0, 0.0, 0.25, 0.25, 1.0]))


def test_log_bins_and_an_empty_bin_by_hand():
    """Members 1e-3 2e-3 0.5, non-members 0.05 0.5 1.0: log bins with edges at the decades
    1e-3 1e-2 1e-1 1; members 2/3 0 1/3, non-members 0 1/3 2/3. Class 1: members 0.1 0.2,
    non-members 0.95 1.0, so its middle bin (0.4, 0.7) is empty and borrows the lower one."""
    values_in = _tensor([1e-3, 2e-3, 0.5, 0.1, 0.2])
    labels_in = torch.tensor([0, 0, 0, 1, 1])
    values_out = _tensor([0.05, 0.5, 1.0, 0.95, 1.0])
    labels_out = torch.tensor([0, 0, 0, 1, 1])
    h = RiskHistograms.fit(values_in, labels_in, values_out, labels_out, 2, num_bins=3)
    torch.testing.assert_close(h.members[0], _tensor([2 / 3, 0, 1 / 3]))
    torch.testing.assert_close(h.nonmembers[0], _tensor([0, 1 / 3, 2 / 3]))
    got = h.score(_tensor([5e-3, 0.02, 0.3]), torch.tensor([0, 0, 0]))
    torch.testing.assert_close(got, _tensor([1.0, 0.0, 1 / 3]))
    lin = RiskHistograms.fit(values_in, labels_in, values_out, labels_out, 2, 3, log_bins=False)
    assert float(lin.score(_tensor([0.5]), torch.tensor([1]))[0]) == 1.0


def test_shadow_model_is_cached_and_scores_come_from_softmax(
    tiny, tiny_trained, monkeypatch, tmp_path
):
    monkeypatch.setenv("UNLEARN_CACHE_DIR", str(tmp_path))
    request = ForgetRequest.for_indices(tiny, [0, 5, 17])
    models = {"original": tiny_trained.model, "retrained": None}
    first = pr.privacy_risk(tiny_trained, tiny, request, models, "abc")
    assert first["shadow"] == {"cached": False, "members": 300, "nonmembers": 300, "num_bins": 5}
    assert first["retrained"] is None

    def no_training(*args, **kwargs):
        raise AssertionError("the cached shadow model must be reused")

    monkeypatch.setattr(pr, "train", no_training)
    again = pr.privacy_risk(tiny_trained, tiny, request, models, "abc")
    assert again["shadow"]["cached"] is True and again["original"] == first["original"]

    # the same scores by hand: softmax probabilities of the shadow's halves, then the histograms
    shadow, _ = pr.shadow_model(tiny_trained, tiny, "abc")
    members, nonmembers = pr.shadow_split(600, tiny_trained.recipe.seed)
    assert len(set(members.tolist()) | set(nonmembers.tolist())) == 600
    logits = pr.predict_logits(shadow, tiny, "train")
    values = modified_entropy(torch.softmax(logits, 1), tiny.train_y)
    y = tiny.train_y
    h = RiskHistograms.fit(values[members], y[members], values[nonmembers], y[nonmembers], 10)
    target = torch.softmax(
        pr.predict_logits(tiny_trained.model, tiny, "train", request.forget_indices), 1
    )
    labels = y[request.forget_indices]
    expected = h.score(modified_entropy(target, labels), labels)
    assert first["original"]["scores"] == pytest.approx(expected.tolist())
    assert first["original"]["mean"] == pytest.approx(float(expected.mean()))
