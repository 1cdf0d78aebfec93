"""The per-sample card against quantities recomputed directly from the model's weights."""

import numpy as np
import pytest
import torch
from torch import nn

from unlearn_core.errors import UserError
from unlearn_core.metrics.sample_card import penultimate_layer, sample_card
from unlearn_core.request import ForgetRequest


def small_mlp(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 4), nn.ReLU(), nn.Linear(4, 10))


def by_hand(net, data, images):
    """(features = relu(W1 x + b1), log-probabilities) in float64 from the weights."""
    x = data.normalize(images).flatten(1).double()
    w1, b1 = net[1].weight.double(), net[1].bias.double()
    w2, b2 = net[3].weight.double(), net[3].bias.double()
    feats = torch.relu(x @ w1.T + b1)
    return feats, torch.log_softmax(feats @ w2.T + b2, 1)


@torch.no_grad()
def test_card_matches_the_weights(tiny):
    nets = {"original": small_mlp(0), "unlearned": small_mlp(1), "retrained": None}
    request = ForgetRequest.for_classes(tiny, [4])
    index = int(request.forget_indices[3])
    card = sample_card(index, nets, tiny, request, k=4)
    label = int(tiny.train_y[index])
    assert (card["label"], card["in_forget_set"], card["models"]["retrained"]) == (
        label,
        True,
        None,
    )
    pool = request.retain_indices
    for name in ("original", "unlearned"):
        net, got = nets[name], card["models"][name]
        feats, logp = by_hand(net, tiny, tiny.train_x)
        assert got["loss"] == pytest.approx(-float(logp[index, label]), rel=1e-5)
        assert got["confidence"] == pytest.approx(float(logp[index, label].exp()), rel=1e-5)
        assert got["predicted"] == int(logp[index].argmax())
        # nearest retained neighbours: brute force over the retain set
        dist = (feats[pool] - feats[index]).norm(dim=1).numpy()
        order = np.argsort(dist, kind="stable")[:4]
        assert [n["index"] for n in got["neighbours"]] == pool[order].tolist()
        assert [n["distance"] for n in got["neighbours"]] == pytest.approx(dist[order], rel=1e-4)
        assert all(n["label"] != 4 for n in got["neighbours"])  # the forgotten class is not pooled
        # membership: share of same-class test losses above this sample's, ties half
        test_idx = (tiny.test_y == label).nonzero().flatten()
        _, test_logp = by_hand(net, tiny, tiny.test_x[test_idx])
        test_losses = -test_logp[:, label]
        own = -logp[index, label]
        expected = float(((test_losses > own).double() + 0.5 * (test_losses == own)).mean())
        assert got["membership_score"] == pytest.approx(expected)


def test_card_without_a_request_pools_every_other_sample(tiny):
    card = sample_card(7, {"original": small_mlp(0)}, tiny, k=600)
    neighbours = card["models"]["original"]["neighbours"]
    assert card["in_forget_set"] is None and len(neighbours) == 599
    assert 7 not in {n["index"] for n in neighbours}
    with pytest.raises(UserError, match="out of range"):
        sample_card(600, {"original": small_mlp(0)}, tiny)
    assert penultimate_layer(small_mlp(0))[0] == "3"
