"""SCRUB (Kurmanji et al., NeurIPS 2023): the max-steps raise KL(teacher || student) on the
forget set; SCRUB+R returns the epoch whose forget error is closest to the held-out reference."""

import pytest
import torch

from unlearn_core.errors import UserError
from unlearn_core.methods import get_method, parse_config
from unlearn_core.methods.scrub import held_out_like
from unlearn_core.metrics.accuracy import predict_logits
from unlearn_core.request import ForgetRequest
from unlearn_core.unlearn_ops import distill_kl


def _run(trained, request, data, **overrides):
    spec = get_method("scrub")
    config = parse_config(spec.config_cls, {k: str(v) for k, v in overrides.items()})
    return spec.run(trained, request, data, config, seed=0)


def _forget_kl(model, teacher, data, request):
    student = predict_logits(model, data, "train", request.forget_indices)
    reference = predict_logits(teacher, data, "train", request.forget_indices)
    return float(distill_kl(student, reference))


def test_distill_kl_is_the_kl_divergence_by_hand():
    s, t = torch.tensor([[1.0, 2.0, 0.5]]), torch.tensor([[0.2, -1.0, 3.0]])
    p, q = t.softmax(1), s.softmax(1)
    assert float(distill_kl(s, t)) == pytest.approx(float((p * (p / q).log()).sum()), rel=1e-5)


def test_max_steps_raise_the_kl_on_the_forget_set(tiny, tiny_trained):
    request = ForgetRequest.for_classes(tiny, [5])
    small = {"epochs": 2, "forget_batch_size": 16, "lr": 0.01, "batch_size": 64}
    with_max = _run(tiny_trained, request, tiny, msteps=2, **small).model
    without = _run(tiny_trained, request, tiny, msteps=0, **small).model
    teacher = tiny_trained.model
    raised = _forget_kl(with_max, teacher, tiny, request)
    assert raised > 10 * _forget_kl(without, teacher, tiny, request)
    assert raised > 0.1


def test_rewind_returns_the_epoch_closest_to_the_reference(tiny, tiny_trained):
    request = ForgetRequest.for_classes(tiny, [5])
    result = _run(
        tiny_trained,
        request,
        tiny,
        epochs=3,
        msteps=2,
        forget_batch_size=16,
        lr=0.01,
        rewind="true",
    )
    info = result.info
    errors, reference = info["forget_errors"], info["reference_error"]
    assert len(errors) == 3
    best = min(range(3), key=lambda i: abs(errors[i] - reference))
    assert info["rewound_to_epoch"] == best + 1
    logits = predict_logits(result.model, tiny, "train", request.forget_indices)
    error = float((logits.argmax(1) != 5).float().mean())
    assert error == pytest.approx(errors[best])


def test_the_held_out_set_has_the_forget_sets_class_counts(tiny):
    labels = torch.tensor([1, 1, 1, 4, 7, 7])
    picked = held_out_like(tiny, labels, torch.Generator().manual_seed(0))
    assert sorted(tiny.test_y[picked].tolist()) == sorted(labels.tolist())


@pytest.mark.parametrize(
    "overrides", [{"msteps": "4", "epochs": "3"}, {"temperature": "0"}, {"epochs": "1001"}]
)
def test_scrub_refuses_impossible_settings(overrides):
    with pytest.raises(UserError):
        parse_config(get_method("scrub").config_cls, overrides)
