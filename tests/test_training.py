import dataclasses

import pytest
import torch
import torch.nn.functional as F

from unlearn_core.errors import UserError
from unlearn_core.training import (
    Recipe,
    epoch_order,
    initial_model,
    per_sample_loss,
    retrain_without,
    train,
)


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _bitwise_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_weights_bitwise(tiny):
    recipe = Recipe(epochs=1, batch_size=50, seed=3)
    first = train("smallcnn", tiny, recipe, device="cpu")
    second = train("smallcnn", tiny, recipe, device="cpu")
    assert _bitwise_equal(_weights(first.model), _weights(second.model))
    other = train("smallcnn", tiny, dataclasses.replace(recipe, seed=4), device="cpu")
    assert not _bitwise_equal(_weights(first.model), _weights(other.model))


def test_w0_and_history_are_recorded(tiny, tiny_trained, tiny_recipe):
    expected_w0 = initial_model("smallcnn", tiny, tiny_recipe.seed).state_dict()
    assert _bitwise_equal(tiny_trained.w0, expected_w0)
    assert [h["epoch"] for h in tiny_trained.history] == [1, 2]
    assert all(0 <= h["test_acc"] <= 1 and h["loss"] > 0 for h in tiny_trained.history)
    assert tiny_trained.history[-1]["test_acc"] > 0.5  # learnt something in two epochs


@pytest.mark.parametrize("convention", ["standard", "replay"])
def test_retrain_removing_nothing_reproduces_training_bitwise(tiny, tiny_trained, convention):
    """600 samples in batches of 32 leave a short last batch of 24, which training divides by
    32: the standard convention must keep that divisor when the batch loses nothing."""
    assert tiny.train_y.numel() % tiny_trained.recipe.batch_size == 24
    nothing = torch.tensor([], dtype=torch.long)
    again = retrain_without(tiny_trained, tiny, nothing, convention=convention, device="cpu")
    assert _bitwise_equal(_weights(again), _weights(tiny_trained.model))


def test_unknown_convention_is_one_line(tiny, tiny_trained):
    with pytest.raises(UserError, match="unknown oracle convention 'mean'; use standard or replay"):
        retrain_without(tiny_trained, tiny, torch.tensor([0]), convention="mean", device="cpu")


def _hand_sgd(data, recipe, removed, divisor):
    """Oracle: a hand-rolled SGD loop on logreg over 10 samples in slots of 4, 4 and 2; each
    batch's loss is its remaining samples' summed cross-entropy over divisor(kept, slot)."""
    model = initial_model("logreg", data, recipe.seed)
    weight, bias = (p.detach().clone() for p in model.parameters())
    for epoch in range(recipe.epochs):
        order = epoch_order(recipe.seed, epoch, 10)
        for step in range(3):  # batches of 4, 4 and a short one of 2
            slot = [int(i) for i in order[step * 4 : (step + 1) * 4]]
            batch = [i for i in slot if i not in removed]
            w, b = weight.clone().requires_grad_(), bias.clone().requires_grad_()
            x = data.normalize(data.train_x[batch]).flatten(1)
            loss = F.cross_entropy(x @ w.T + b, data.train_y[batch], reduction="sum")
            loss = loss / divisor(len(batch), len(slot))
            gw, gb = torch.autograd.grad(loss, (w, b))
            weight = weight - recipe.lr * (gw + recipe.weight_decay * weight)
            bias = bias - recipe.lr * (gb + recipe.weight_decay * bias)
    return weight, bias


def _ten(tiny):
    return dataclasses.replace(tiny, train_x=tiny.train_x[:10], train_y=tiny.train_y[:10])


def test_removed_sample_deletes_exactly_its_term(tiny):
    """Replay: every batch's loss is the sum over its remaining samples divided by the nominal
    batch size b (Unrolling SGD, Eq. 4)."""
    data = _ten(tiny)
    recipe = Recipe(lr=0.1, batch_size=4, epochs=2, weight_decay=0.01, seed=1)
    removed = torch.tensor([2, 7])
    got = train("logreg", data, recipe, exclude=removed, convention="replay", device="cpu").model
    weight, bias = _hand_sgd(data, recipe, (2, 7), lambda kept, slot: 4)
    torch.testing.assert_close(got[1].weight, weight, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got[1].bias, bias, rtol=1e-5, atol=1e-6)


def test_standard_retrain_takes_the_mean_over_the_kept_samples(tiny):
    """Standard: a full batch's loss is the mean over the samples it kept; the short last slot
    (2 of b = 4) keeps the recipe's weight 2/4 on its mean. Removes samples from every slot of
    some epoch, so both rules are exercised, and differs from replay."""
    data = _ten(tiny)
    recipe = Recipe(lr=0.1, batch_size=4, epochs=2, weight_decay=0.01, seed=1)
    removed = (2, 7, 5)
    orders = [epoch_order(recipe.seed, e, 10).tolist() for e in range(recipe.epochs)]
    slots = [o[s * 4 : (s + 1) * 4] for o in orders for s in range(3)]
    assert all(set(slot) & set(removed) for slot in slots[:3]), "every slot of epoch 1 loses one"
    got = train("logreg", data, recipe, exclude=torch.tensor(removed), device="cpu").model
    weight, bias = _hand_sgd(data, recipe, removed, lambda kept, slot: kept * 4 / slot)
    torch.testing.assert_close(got[1].weight, weight, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got[1].bias, bias, rtol=1e-5, atol=1e-6)
    replay = train("logreg", data, recipe, exclude=torch.tensor(removed), convention="replay")
    gap = (replay.model[1].weight - got[1].weight).norm()
    assert gap > 100 * (weight - got[1].weight).norm() + 1e-4


def test_sd_loss_matches_hand_computation():
    logits = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    labels = torch.tensor([0, 1])
    ce = torch.log(1 + torch.exp(torch.tensor([-2.0]))).item(), torch.log(torch.tensor(2.0)).item()
    # population std across the two classes: |a - b| / 2 -> 1.0 and 0.0
    got = per_sample_loss(logits, labels, sd_gamma=0.5)
    torch.testing.assert_close(got, torch.tensor([ce[0] + 0.5, ce[1]]))


def test_bad_recipe_is_refused():
    with pytest.raises(UserError, match="lr > 0"):
        Recipe(lr=0)
    with pytest.raises(UserError, match="unknown optimizer"):
        Recipe(optimizer="lbfgs")
