"""Bad Teacher (Chundawat et al., AAAI 2023): on the forget set the student's outputs move
toward the randomly initialised teacher's; on the retain set they stay with the original's."""

import pytest
import torch

from unlearn_core.errors import UserError
from unlearn_core.methods import get_method, parse_config
from unlearn_core.methods.bad_teacher import incompetent_teacher
from unlearn_core.methods.unlearn_ops import distill_kl
from unlearn_core.metrics.accuracy import predict_logits
from unlearn_core.randomness import as_generator
from unlearn_core.request import ForgetRequest


def _kl(model, teacher, data, indices):
    student = predict_logits(model, data, "train", indices)
    return float(distill_kl(student, predict_logits(teacher, data, "train", indices)))


def test_forget_outputs_move_toward_the_random_teacher(tiny, tiny_trained):
    request = ForgetRequest.for_classes(tiny, [6])
    spec = get_method("bad-teacher")
    config = parse_config(spec.config_cls, {"epochs": "5", "lr": "0.001", "batch_size": "64"})
    out = spec.run(tiny_trained, request, tiny, config, seed=3).model
    bad = incompetent_teacher(tiny_trained, tiny, as_generator(3))  # the method's first draw
    original = tiny_trained.model
    forget, retain = request.forget_indices, request.retain_indices
    assert _kl(out, bad, tiny, forget) < 0.5 * _kl(original, bad, tiny, forget)
    assert _kl(out, original, tiny, retain) < _kl(out, bad, tiny, retain)


def test_the_random_teacher_comes_from_the_seed(tiny, tiny_trained):
    def weights(seed):
        return incompetent_teacher(tiny_trained, tiny, as_generator(seed)).state_dict()

    a, b, c = weights(0), weights(0), weights(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("key, value", [("retain_fraction", "0"), ("temperature", "-1")])
def test_bad_teacher_refuses_impossible_settings(key, value):
    with pytest.raises(UserError):
        parse_config(get_method("bad-teacher").config_cls, {key: value})
