"""Hessian probes: power iteration against an explicitly formed Hessian, and probing that leaves
training untouched (weights bitwise, global RNG, BatchNorm buffers, gradients)."""

import dataclasses

import pytest
import torch
from torch import nn

from unlearn_core.checkpoint import load_checkpoint, save_checkpoint
from unlearn_core.hessian import hessian_vector_product, power_iteration
from unlearn_core.training import Recipe, per_sample_loss, train


def _loss_fn(logits, labels):
    return per_sample_loss(logits, labels, sd_gamma=0.5)


def test_power_iteration_finds_the_top_eigenvalue_of_the_explicit_hessian():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    x, y = torch.randn(8, 5, dtype=torch.float64), torch.randint(0, 3, (8,))
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])  # (39,)

    def loss_of(vector):
        params, offset = {}, 0
        for name, shape in zip(names, shapes, strict=True):
            params[name] = vector[offset : offset + shape.numel()].view(shape)
            offset += shape.numel()
        return _loss_fn(torch.func.functional_call(model, params, (x,)), y).mean()

    hessian = torch.autograd.functional.hessian(loss_of, flat)  # (39, 39)
    eigenvalues = torch.linalg.eigvalsh(hessian)
    expected = eigenvalues[eigenvalues.abs().argmax()]
    second = eigenvalues.abs().sort().values[-2]
    assert abs(expected) > 1.2 * second  # a spectral gap, so the iteration converges

    hvp = hessian_vector_product(model, x, y, _loss_fn)
    start = [torch.randn(s, dtype=torch.float64) for s in shapes]
    got, vector, used = power_iteration(hvp, start, iters=2000, tol=1e-12)
    assert got == pytest.approx(float(expected), rel=1e-6)
    flat_vector = torch.cat([v.flatten() for v in vector])
    torch.testing.assert_close(hessian @ flat_vector, expected * flat_vector, rtol=0, atol=1e-4)
    assert used < 2000


def test_probe_leaves_buffers_gradients_and_rng_alone():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5))
    model.append(nn.Linear(8, 3)).train()
    x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    rng = torch.get_rng_state()
    with torch.random.fork_rng(devices=[]):
        hvp = hessian_vector_product(model, x, y, _loss_fn)
        power_iteration(hvp, [torch.ones_like(p) for p in model.parameters()], iters=5)
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(v, buffers[k]) for k, v in model.named_buffers())
    assert all(p.grad is None for p in model.parameters())


def test_weights_are_bitwise_identical_with_and_without_probes(tiny, tmp_path):
    data = dataclasses.replace(tiny, train_x=tiny.train_x[:96], train_y=tiny.train_y[:96])
    recipe = Recipe(  # cheap probes: only the weights matter here
        batch_size=32, epochs=2, sd_gamma=0.5, seed=2, probe_every=2, probe_size=16, probe_iters=3
    )
    rng = torch.get_rng_state()
    probed = train("smallcnn", data, recipe, device="cpu")
    assert torch.equal(torch.get_rng_state(), rng), "probing consumed the global RNG"
    plain = train("smallcnn", data, dataclasses.replace(recipe, probe_every=0), device="cpu")
    for k, v in plain.model.state_dict().items():
        assert torch.equal(v, probed.model.state_dict()[k])
    assert plain.probes is None

    record = probed.probes
    assert record["steps"] == 6 and record["at_step"] == [1, 3, 5]  # midpoints of every k = 2
    assert record["probe_size"] == 16 and len(record["eigenvalues"]) == 3
    assert all(e > 0 for e in record["eigenvalues"])  # cross-entropy is locally convex-ish here
    save_checkpoint(probed, tmp_path / "m.safetensors")
    loaded, _ = load_checkpoint(tmp_path / "m.safetensors", data)
    assert loaded.probes == record
