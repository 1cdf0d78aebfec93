"""SalUn (Fan et al., ICLR 2024): the mask is the top fraction of |gradient of the forget loss|
over all weights, and random-label unlearning then moves only masked weights."""

import pytest
import torch
import torch.nn.functional as F

from unlearn_core.errors import UserError
from unlearn_core.methods import get_method, parse_config
from unlearn_core.methods.salun import authors_epoch, saliency_mask
from unlearn_core.metrics.accuracy import accuracy
from unlearn_core.request import ForgetRequest


def _forget_gradient(model, data, forget):
    """|d mean CE(forget set) / d theta|, one backward over the whole forget set."""
    model = model.eval()
    model.zero_grad()
    x, y = data.batch(forget, "cpu")
    F.cross_entropy(model(x), y).backward()
    grads = {k: p.grad.abs().clone() for k, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    return grads


def test_the_mask_is_the_top_fraction_of_the_gradient(tiny, tiny_trained):
    request = ForgetRequest.for_indices(tiny, list(range(0, 600, 7)))
    net = tiny_trained.copy_model()
    mask = saliency_mask(net, tiny, request.forget_indices, 0.3, torch.device("cpu"))
    grads = _forget_gradient(tiny_trained.copy_model(), tiny, request.forget_indices)
    inside = torch.cat([grads[k][m] for k, m in mask.items()])
    outside = torch.cat([grads[k][~m] for k, m in mask.items()])
    total = inside.numel() + outside.numel()
    assert inside.numel() == round(0.3 * total)
    assert inside.min() >= outside.max() * (1 - 1e-5)


@pytest.mark.parametrize("loop", ["mixed", "authors"])
def test_salun_moves_only_masked_weights_and_forgets(tiny, tiny_trained, loop):
    request = ForgetRequest.for_classes(tiny, [2])
    spec = get_method("salun")
    settings = {"keep": "0.2", "epochs": "3", "batch_size": "64", "loop": loop}
    config = parse_config(spec.config_cls, settings)
    out = spec.run(tiny_trained, request, tiny, config, seed=0).model
    mask = saliency_mask(
        tiny_trained.copy_model(), tiny, request.forget_indices, 0.2, torch.device("cpu")
    )
    before = dict(tiny_trained.model.named_parameters())
    moved = 0
    for name, new in out.named_parameters():
        old, m = before[name].detach(), mask[name]
        assert torch.equal(new.detach()[~m], old[~m]), f"{name}: an unmasked weight moved"
        moved += int((new.detach()[m] != old[m]).sum())
    assert moved > 0
    assert accuracy(out, tiny, "train", request.forget_indices) < 0.5 * accuracy(
        tiny_trained.model, tiny, "train", request.forget_indices
    )


@pytest.mark.parametrize("value", ["0", "1.5"])
def test_salun_refuses_a_fraction_outside_0_1(value):
    with pytest.raises(UserError, match="keep"):
        parse_config(get_method("salun").config_cls, {"keep": value})


def test_salun_refuses_an_unknown_loop():
    with pytest.raises(UserError, match="mixed or authors"):
        parse_config(get_method("salun").config_cls, {"loop": "forget-last"})


def test_the_authors_loop_runs_forget_batches_first_each_relabelled_afresh(tiny):
    """Their CIFAR-10 loop (unlearn/RL.py): every epoch, the forget batches, each with new
    random labels, then the retain batches with their own; every sample once an epoch."""
    request = ForgetRequest.for_classes(tiny, [2, 7])
    forget, k = set(request.forget_indices.tolist()), request.forget_indices.numel()
    generator = torch.Generator().manual_seed(0)
    epochs = [authors_epoch(tiny, request, 32, generator) for _ in range(2)]
    drawn = []
    for steps in epochs:
        f_steps = -(-k // 32)
        assert all(set(i.tolist()) <= forget for i, _ in steps[:f_steps])
        assert not any(set(i.tolist()) & forget for i, _ in steps[f_steps:])
        order = torch.cat([i for i, _ in steps])
        assert sorted(order.tolist()) == list(range(len(tiny.train_y)))
        labels = dict(zip(order.tolist(), torch.cat([y for _, y in steps]).tolist(), strict=True))
        for i, y in labels.items():
            wrong = i in forget
            assert (
                (y != int(tiny.train_y[i]) and y not in (2, 7)) if wrong else y == tiny.train_y[i]
            )
        drawn.append([labels[i] for i in sorted(forget)])
    changed = sum(a != b for a, b in zip(*drawn, strict=True))
    assert changed > k // 2  # afresh: 8 classes left, so about 7 in 8 labels change
