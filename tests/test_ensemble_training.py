"""Pools trained together (issue 26): K models trained as one vectorised ensemble
(privacy/ensemble.py) are the models `train` makes one by one, within TOLERANCE; the SGD update on
stacked parameters is each model's, bitwise; the ensemble is used only where the rule allows
(privacy/pool_training.py), and the pool keeps its files.

TOLERANCE: 1e-4, absolute, on weights of magnitude about 0.3 that training moves by about 0.1.
Not bitwise, because vmap runs the network as other kernels (a convolution as one grouped
convolution over the K models, a linear layer as a batched matmul, the padding's zero rows in
the weight gradient's sums), whose summation orders differ in the last bit, and a ReLU or a
max-pool near a tie can turn that into a step of its own. Measured on these tests' models: at
most 7.5e-8 with this CPU's AVX512 kernels, and up to 8.4e-6 (smallcnn, standard) with
ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE, so 1e-4 leaves a factor of 12 for other
x86 CPUs and orders. Wrong implementations land at least 2e-3 away (measured: a divisor of the
other convention, momentum 0.85 for 0.9); a shared data order or one w_0 for all fail them.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import per_class_subset
from torch import nn

from unlearn_core.checkpoint import load_checkpoint, save_checkpoint
from unlearn_core.models import ARCHS
from unlearn_core.privacy import pool_training
from unlearn_core.privacy.ensemble import train_ensemble
from unlearn_core.privacy.pool import ModelPool
from unlearn_core.privacy.pool_training import train_seeds, trains_together
from unlearn_core.training import CONVENTIONS, Recipe, epoch_order, make_optimizer, train

TOLERANCE = 1e-4
RECIPE = Recipe(
    lr=0.05, batch_size=32, epochs=2, weight_decay=5e-3, momentum=0.9, sd_gamma=0.1, probe_every=0
)
SEEDS = [0, 1, 2]
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def small(tiny):
    """200 training images (20 a class: 6 batches of 32 and a short one of 8) and 50 test."""
    return per_class_subset(tiny, 20, 5, "demo-small")


def _forget(n: int, b: int) -> torch.Tensor:
    """Every 7th sample and all of model 0's second batch (a step it takes with no data)."""
    return torch.cat([epoch_order(0, 0, n)[b : 2 * b], torch.arange(0, n, 7)]).unique()


def _one_by_one(arch, data, recipe, seeds, **kwargs):
    return [
        train(arch, data, dataclasses.replace(recipe, seed=s), device="cpu", probes=False, **kwargs)
        for s in seeds
    ]


def _difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def _bitwise(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _assert_same_models(together, alone, n: int) -> None:
    """Weights within TOLERANCE; w_0, recipe and record bitwise; history within a sample."""
    for t, a in zip(together, alone, strict=True):
        assert _difference(t.model.state_dict(), a.model.state_dict()) <= TOLERANCE
        assert _bitwise(t.w0, a.w0) and t.recipe == a.recipe and not t.model.training
        assert (t.arch, t.dataset, t.probes) == (a.arch, a.dataset, a.probes)
        for rt, ra in zip(t.history, a.history, strict=True):
            assert rt["epoch"] == ra["epoch"] and rt["loss"] == pytest.approx(ra["loss"], 1e-4)
            assert abs(rt["train_acc"] - ra["train_acc"]) <= 1 / n
            assert abs(rt["test_acc"] - ra["test_acc"]) <= 1 / 50


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize(("arch", "epochs"), [("logreg", 2), ("smallcnn", 1)])
def test_the_ensemble_trains_what_one_by_one_trains(small, arch, epochs, convention):
    """Both conventions, a forget set (an emptied batch, short batches), SD loss, weight decay
    and momentum (smallcnn one epoch, to keep the test short)."""
    n, recipe = small.train_y.numel(), dataclasses.replace(RECIPE, epochs=epochs)
    kwargs = {"exclude": _forget(n, RECIPE.batch_size), "convention": convention}
    together = train_ensemble(arch, small, recipe, SEEDS, device="cpu", **kwargs)
    _assert_same_models(together, _one_by_one(arch, small, recipe, SEEDS, **kwargs), n)


def test_sgd_on_stacked_tensors_is_each_models_update_bitwise():
    """torch.optim.SGD (weight decay, momentum) on (K, ...) tensors steps slice k exactly as
    it steps model k's own tensors: the update is elementwise."""
    gen = torch.Generator().manual_seed(0)
    shapes, k = [(10, 7), (13,), (5, 3, 3, 3)], 3
    stacked = [torch.randn(k, *s, generator=gen).requires_grad_() for s in shapes]
    single = [[p[j].detach().clone().requires_grad_() for p in stacked] for j in range(k)]
    optimisers = [make_optimizer(params, RECIPE) for params in [stacked, *single]]
    for _ in range(4):
        grads = [torch.randn(k, *s, generator=gen) for s in shapes]
        for p, g in zip(stacked, grads, strict=True):
            p.grad = g.clone()
        for j, params in enumerate(single):
            for p, g in zip(params, grads, strict=True):
                p.grad = g[j].clone()
        for optimiser in optimisers:
            optimiser.step()
    for j, params in enumerate(single):
        assert all(torch.equal(p[j], q) for p, q in zip(stacked, params, strict=True))


def test_the_ensemble_applies_only_where_the_rule_allows(small, monkeypatch):
    assert trains_together("logreg", small, RECIPE, CPU, list(range(8)))
    assert not trains_together("logreg", small, RECIPE, CPU, list(range(7)))  # too few
    monkeypatch.setattr(pool_training, "MIN_TOGETHER", 2)
    assert trains_together("logreg", small, RECIPE, CPU, SEEDS)
    assert not trains_together(
        "logreg", small, dataclasses.replace(RECIPE, optimizer="adam"), CPU, SEEDS
    )
    assert not trains_together("logreg", small, RECIPE, torch.device("cuda"), SEEDS)
    assert not trains_together("mlp", small, RECIPE, CPU, SEEDS)  # not measured
    assert not trains_together("smallcnn", small, RECIPE, CPU, SEEDS)  # measured, not faster
    first = epoch_order(1, 0, small.train_y.numel())[: RECIPE.batch_size]  # model 1's first
    assert not trains_together("logreg", small, RECIPE, CPU, SEEDS, first)
    assert trains_together("logreg", small, RECIPE, CPU, SEEDS, first[1:])
    monkeypatch.setattr(pool_training, "MEASURED_FASTER", ("allcnn", "dropnet"))
    monkeypatch.setitem(ARCHS, "dropnet", _dropnet)
    assert not trains_together("allcnn", small, RECIPE, CPU, SEEDS)  # BatchNorm's buffers
    assert not trains_together("dropnet", small, RECIPE, CPU, SEEDS)  # dropout's masks


def _dropnet(channels, num_classes, image_size):
    return nn.Sequential(
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(channels * image_size[0] * image_size[1], num_classes),
    )


def _forbidden(*args, **kwargs):
    raise AssertionError("this path should not be taken")


def test_an_emptied_first_batch_falls_back_and_must(small, monkeypatch):
    monkeypatch.setattr(pool_training, "MIN_TOGETHER", 2)
    """Model 1's first batch wholly excluded: the ensemble would differ (that step has no
    gradient yet, so SGD skips the model's weight decay, which a stacked tensor cannot; a
    strong decay makes the difference plain), so train_seeds trains one by one: bitwise
    `train`."""
    n, recipe = small.train_y.numel(), dataclasses.replace(RECIPE, weight_decay=0.05)
    first = epoch_order(1, 0, n)[: recipe.batch_size]
    alone = _one_by_one("logreg", small, recipe, SEEDS, exclude=first)
    wrong = train_ensemble("logreg", small, recipe, SEEDS, exclude=first, device="cpu")
    assert _difference(wrong[1].model.state_dict(), alone[1].model.state_dict()) > TOLERANCE
    monkeypatch.setattr(pool_training, "train_ensemble", _forbidden)
    got = list(train_seeds("logreg", small, recipe, SEEDS, exclude=first, device="cpu"))
    for g, a in zip(got, alone, strict=True):
        assert _bitwise(g.model.state_dict(), a.model.state_dict())


def test_the_pool_trains_what_it_lacks_together_and_keeps_its_files(small, tmp_path, monkeypatch):
    """Missing originals trained together in even groups of at most MAX_TOGETHER, in seed
    order; a file written as pools always wrote it is read, not retrained; what is saved reads
    back bitwise; retrains go where they always went."""
    recipe = dataclasses.replace(RECIPE, epochs=1)
    template = train("logreg", small, recipe, device="cpu", probes=False)
    pool = ModelPool(tmp_path, template, small, "sha")
    old = _one_by_one("logreg", small, recipe, [1])[0]
    save_checkpoint(old, pool.folder / "seed-1.safetensors")
    monkeypatch.setattr(pool_training, "MIN_TOGETHER", 2)
    monkeypatch.setattr(pool_training, "MAX_TOGETHER", 3)
    monkeypatch.setattr(pool_training, "train", _forbidden)
    groups = []

    def spy(arch, data, recipe, seeds, **kwargs):
        groups.append(seeds)
        return train_ensemble(arch, data, recipe, seeds, **kwargs)

    monkeypatch.setattr(pool_training, "train_ensemble", spy)
    models = pool.originals([0, 1, 2, 3, 4])
    assert _bitwise(models[1].model.state_dict(), old.model.state_dict())
    n = small.train_y.numel()
    _assert_same_models(models, _one_by_one("logreg", small, recipe, [0, 1, 2, 3, 4]), n)
    for seed, model in enumerate(models):
        read, _ = load_checkpoint(pool.folder / f"seed-{seed}.safetensors", small, "logreg")
        assert _bitwise(read.model.state_dict(), model.model.state_dict())
        assert read.history == model.history and read.w0.keys() == model.w0.keys()
    exclude = _forget(n, recipe.batch_size)
    retrains = pool.retrains([7, 8], exclude, "replay")
    alone = _one_by_one("logreg", small, recipe, [7, 8], exclude=exclude, convention="replay")
    assert groups == [[0, 2], [3, 4], [7, 8]]  # 4 missing: two groups of at most 3
    for model, a in zip(retrains, alone, strict=True):
        assert _difference(model.state_dict(), a.model.state_dict()) <= TOLERANCE
    monkeypatch.setattr("unlearn_core.privacy.pool.train_seeds", _forbidden)
    again = ModelPool(tmp_path, template, small, "sha")
    assert _bitwise(again.retrained(8, exclude, "replay").state_dict(), retrains[1].state_dict())
    assert _bitwise(again.original(3).model.state_dict(), models[3].model.state_dict())


def test_an_audit_trains_its_pool_together_before_its_models_run(tmp_path, monkeypatch):
    """A logistic regression's audit of 8 models: the 8 pool models and the 8 references are
    trained as two ensembles before the members run, which then read them (one-by-one training
    is forbidden here); the audit reads as an audit of 8 models."""
    from unlearn_core.checkpoint import sha256_file
    from unlearn_core.data import load_dataset
    from unlearn_core.privacy.audit import REFERENCE_SEED
    from unlearn_core.privacy.run import run_audit
    from unlearn_core.privacy.spec import AuditSpec

    data = load_dataset("demo-300")
    recipe = dataclasses.replace(RECIPE, epochs=1)
    path = tmp_path / "logreg.safetensors"
    save_checkpoint(train("logreg", data, recipe, device="cpu", probes=False), path)
    groups = []

    def spy(arch, data, recipe, seeds, **kwargs):
        groups.append(list(seeds))
        return train_ensemble(arch, data, recipe, seeds, **kwargs)

    monkeypatch.setattr(pool_training, "train_ensemble", spy)
    monkeypatch.setattr(pool_training, "train", _forbidden)
    spec = AuditSpec(
        checkpoint=str(path),
        checkpoint_sha256=sha256_file(path),
        method="none",
        forget={"indices": [5, 31, 64]},
        models=8,
        attack_seeds=1,
        store_root=str(tmp_path / "store"),
    )
    privacy = run_audit(spec).privacy
    assert groups == [list(range(8)), [REFERENCE_SEED + j for j in range(8)]]
    assert privacy["models"] == 8 and privacy["seeds"] == list(range(8))
