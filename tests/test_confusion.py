"""The confusion matrix against a hand-counted case and against the model's own accuracy."""

import torch

from unlearn_core.metrics.accuracy import accuracy, per_class_accuracy, predict_logits
from unlearn_core.metrics.confusion import confusion_counts, confusion_matrix


def test_hand_counted_case():
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    predictions = torch.tensor([0, 1, 1, 1, 2, 0])
    expected = [
        [1, 1, 0],  # class 0: one right, one called 1
        [0, 2, 1],  # class 1: two right, one called 2
        [1, 0, 0],  # class 2: called 0
    ]
    counts = confusion_counts(predictions, labels, 3)
    assert counts.dtype == torch.int64 and counts.tolist() == expected


def test_a_class_never_seen_or_predicted_is_a_zero_row_and_column():
    counts = confusion_counts(torch.tensor([0, 0]), torch.tensor([0, 2]), 4)
    assert counts.shape == (4, 4) and counts.sum() == 2
    assert counts[0, 0] == 1 and counts[2, 0] == 1 and counts[:, 3].sum() == 0


def test_model_on_a_split_matches_its_accuracy(tiny_trained, tiny):
    model = tiny_trained.model
    grad_modes = []
    hook = model.register_forward_hook(lambda *_: grad_modes.append(torch.is_grad_enabled()))
    was_training = model.training
    model.train()
    try:
        counts = confusion_matrix(model, tiny, "test")
        assert model.training  # the mode is restored
    finally:
        hook.remove()
        model.train(was_training)  # the fixture is shared: leave it as found
    assert grad_modes and not any(grad_modes)  # no autograd graph was built
    assert counts.shape == (tiny.num_classes, tiny.num_classes)
    assert counts.sum(1).tolist() == torch.bincount(tiny.test_y, minlength=10).tolist()
    assert int(counts.trace()) / counts.sum().item() == accuracy(model, tiny, "test")
    per_class = per_class_accuracy(predict_logits(model, tiny, "test"), tiny.test_y, 10)
    assert [int(counts[c, c]) / int(counts[c].sum()) for c in range(10)] == per_class


def test_indices_restrict_the_samples(tiny_trained, tiny):
    counts = confusion_matrix(tiny_trained.model, tiny, "train", torch.tensor([0, 1, 2]))
    assert counts.sum() == 3
    assert counts.sum(1).tolist() == torch.bincount(tiny.train_y[:3], minlength=10).tolist()
