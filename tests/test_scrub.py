"""SCRUB (Kurmanji et al., NeurIPS 2023): the max-steps raise KL(teacher || student) on the
forget set; SCRUB+R returns the epoch whose forget error is closest to the held-out reference."""

import pytest
import torch

from unlearn_core.errors import UserError
from unlearn_core.methods import get_method, parse_config
from unlearn_core.methods.scrub import _Losses, held_out_like
from unlearn_core.methods.unlearn_ops import distill_kl
from unlearn_core.metrics.accuracy import predict_logits
from unlearn_core.request import ForgetRequest
from unlearn_core.training import index_batches, run_epoch

MAX_LR = 0.005  # the max-epoch's learning rate in the ascent test


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


def _phases(trained, request, data, **overrides) -> list[str]:
    """The phase of each SGD step SCRUB reports (max-step or min-step), in order."""
    seen: list[str] = []

    spec = get_method("scrub")
    config = parse_config(spec.config_cls, {k: str(v) for k, v in overrides.items()})
    spec.run(trained, request, data, config, seed=0, progress=lambda _f, phase: seen.append(phase))
    return [phase.split()[0] for phase in seen]


def test_max_epochs_run_in_the_first_msteps_epochs_only(tiny, tiny_trained):
    """The authors' loop (`for epoch in range(1, E + 1): if epoch <= msteps: max-epoch`): a
    max-epoch opens each of the first msteps epochs, every epoch ends with a min-epoch.
    Checked by structure, not by a trajectory, so it holds on any CPU."""
    request = ForgetRequest.for_classes(tiny, [5])
    big = {"epochs": 3, "forget_batch_size": 64, "batch_size": 512, "lr": 1e-6}
    epoch_with_max, epoch_without = ["max-step", "min-step", "min-step"], ["min-step"] * 2
    # 60 forget samples: one max-step an epoch; 540 retain samples: two min-steps
    assert _phases(tiny_trained, request, tiny, msteps=2, **big) == [
        *epoch_with_max * 2,
        *epoch_without,
    ]
    assert _phases(tiny_trained, request, tiny, msteps=0, **big) == epoch_without * 3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_max_epoch_raises_the_kl_on_the_forget_set(tiny, tiny_trained, seed):
    """Eq. 2: a max-epoch ascends KL(teacher || student) on the forget set. The student starts
    off the teacher (at the teacher the KL's gradient is zero, so how far SCRUB's first ascent
    gets depends on rounding: the earlier end-to-end test of this held on one CPU's kernels
    and failed on another's, issue 23). From a perturbed student, one max-epoch (4 steps of
    plain SGD) raises the KL at least twofold: measured ratios 2.7 to 7.2 over two trained
    models x seeds 0-2, and within 0.1% of each other under AVX-512, AVX2 and scalar kernels
    (ATEN_CPU_CAPABILITY): a property of the ascent, not of one rounding."""
    request = ForgetRequest.for_classes(tiny, [5])
    teacher = tiny_trained.model
    student = tiny_trained.copy_model()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(0.05 * p.std() * torch.randn(p.shape, generator=generator))
    before = _forget_kl(student, teacher, tiny, request)
    config = parse_config(get_method("scrub").config_cls, {"msteps": "1", "epochs": "1"})
    losses = _Losses(teacher, config)
    optimizer = torch.optim.SGD(student.parameters(), lr=MAX_LR)
    order = request.forget_indices[
        torch.randperm(request.forget_indices.numel(), generator=generator)
    ]
    run_epoch(student, optimizer, index_batches(tiny, order, 16, "cpu"), losses.max_step)
    after = _forget_kl(student.eval(), teacher, tiny, request)
    assert after > 2 * before and before > 0


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
