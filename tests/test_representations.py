"""What the features still know: CKA, linear probes and embeddings against hand computations and
synthetic problems with known answers, then on the demo's stored UNSIR run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unlearn_core.errors import UserError
from unlearn_core.metrics.cka import linear_cka
from unlearn_core.metrics.embedding import embed
from unlearn_core.metrics.probe import probe_accuracy, wilson_interval
from unlearn_core.metrics.representations import (
    PENULTIMATE,
    balanced_pick,
    feature_layers,
    layer_features,
    layer_similarity,
    probe_report,
    representation_sample,
)
from unlearn_core.metrics.sample_card import features_and_logits
from unlearn_core.request import ForgetRequest

# --- CKA -------------------------------------------------------------------------------------


def test_cka_matches_a_hand_computation():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = torch.tensor([[2.0], [0.0], [1.0]])
    # by hand: centred x = [[1/3, -1/3], [-2/3, 2/3], [1/3, 1/3]], centred y = [[1], [-1], [0]]
    # y^T x = [1, -1] -> ||.||^2 = 2; x^T x = [[2/3, -1/3], [-1/3, 2/3]] -> ||.||_F = sqrt(10)/3
    # y^T y = [[2]] -> 2; CKA = 2 / (sqrt(10)/3 * 2) = 3 / sqrt(10)
    assert linear_cka(x, y) == pytest.approx(3 / np.sqrt(10), abs=1e-12)


def test_cka_is_one_for_identical_features_and_keeps_its_invariances():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 8, generator=g, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(8, 8, generator=g, dtype=torch.float64))  # orthogonal
    y = torch.randn(50, 5, generator=g, dtype=torch.float64)
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    base = linear_cka(x, y)
    assert linear_cka(x @ q, y) == pytest.approx(base, abs=1e-10)
    assert linear_cka(3.7 * x, y) == pytest.approx(base, abs=1e-10)
    # not invariant to an anisotropic rescaling: the test can fail
    stretch = torch.diag(torch.tensor([10.0, 1, 1, 1, 1, 1, 1, 0.1], dtype=torch.float64))
    assert abs(linear_cka(x @ stretch, y) - base) > 1e-3


def test_cka_refuses_mismatched_inputs_and_is_undefined_for_constants():
    with pytest.raises(UserError):
        linear_cka(torch.zeros(3, 2), torch.zeros(4, 2))
    assert linear_cka(torch.ones(5, 2), torch.randn(5, 3)) is None


# --- probes ----------------------------------------------------------------------------------


def test_wilson_interval_hand_values():
    low, high = wilson_interval(8, 10)
    assert (low, high) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0


def test_probe_reads_separable_features_and_not_noise():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 200)
    separable = rng.normal(size=(400, 10)) + 3.0 * labels[:, None]
    fit, score = slice(None, None, 2), slice(1, None, 2)
    good = probe_accuracy(separable[fit], labels[fit], separable[score], labels[score])
    assert good.accuracy > 0.97 and good.ci_low > 0.9
    noise = rng.normal(size=(400, 10))
    chance = probe_accuracy(noise[fit], labels[fit], noise[score], labels[score])
    assert 0.4 < chance.accuracy < 0.6 and chance.ci_low < 0.5 < chance.ci_high


def test_probe_refuses_one_kind_of_label():
    with pytest.raises(UserError, match="both kinds"):
        probe_accuracy(np.zeros((4, 2)), np.zeros(4), np.zeros((4, 2)), np.array([0, 1, 0, 1]))


# --- embeddings ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["pca", "umap"])
def test_embedding_is_deterministic_for_a_seed_and_shares_axes(method):
    rng = np.random.default_rng(1)
    feats = {name: rng.normal(size=(40, 6)).astype(np.float32) for name in ("a", "b", "c")}
    first, again = embed(feats, seed=3, method=method), embed(feats, seed=3, method=method)
    assert first.method == method and first.reason is None
    for name in feats:
        assert first.coordinates[name].shape == (40, 2)
        np.testing.assert_array_equal(first.coordinates[name], again.coordinates[name])


def test_identical_features_land_on_identical_points_and_pca_is_the_fallback():
    feats = np.random.default_rng(2).normal(size=(8, 4)).astype(np.float32)
    result = embed({"a": feats, "b": feats.copy()}, seed=0)  # 16 points: too few for UMAP
    assert result.method == "pca" and "too few" in result.reason
    np.testing.assert_allclose(result.coordinates["a"], result.coordinates["b"], atol=1e-5)
    with pytest.raises(UserError, match="one shape"):
        embed({"a": feats, "b": feats[:, :2]}, seed=0)


# --- the sample and the features of a real model ---------------------------------------------


def test_balanced_pick_spreads_over_classes_and_is_seeded():
    labels = torch.tensor([0] * 50 + [1] * 5 + [2] * 50)
    pool = torch.arange(105)
    pick = balanced_pick(labels, pool, 15, torch.Generator().manual_seed(0))
    assert torch.bincount(labels[pick], minlength=3).tolist() == [5, 5, 5]
    again = balanced_pick(labels, pool, 15, torch.Generator().manual_seed(0))
    assert torch.equal(pick, again)


def test_sample_and_layer_features_match_a_hand_forward(tiny, tiny_trained):
    request = ForgetRequest.for_classes(tiny, [3])
    sample = representation_sample(tiny, request, 30, seed=0)
    assert sample.forget.numel() == 30 and bool((tiny.train_y[sample.forget] == 3).all())
    assert torch.bincount(tiny.test_y[sample.test], minlength=10).tolist() == [3] * 10
    model = tiny_trained.model
    feats = layer_features(model, tiny, "train", sample.forget, ["0", PENULTIMATE])
    expected, _ = features_and_logits(model, tiny, "train", sample.forget)
    torch.testing.assert_close(feats[PENULTIMATE], expected)
    assert feats["0"].shape[0] == 30 and not any(m._forward_hooks for m in model.modules())
    with pytest.raises(UserError, match="no layer 'nope'"):
        layer_features(model, tiny, "train", sample.forget, ["nope"])
    with pytest.raises(UserError, match="between 1 and"):
        representation_sample(tiny, request, 0, seed=0)


def test_layer_similarity_of_a_model_with_itself_is_one(tiny, tiny_trained):
    request = ForgetRequest.for_classes(tiny, [3])
    sample = representation_sample(tiny, request, 20, seed=0)
    model = tiny_trained.model
    summary = layer_similarity(
        {"original": model, "unlearned": model, "retrained": None}, tiny, sample
    )
    assert summary["layers"] == feature_layers(model)
    assert summary["original_vs_unlearned"] == pytest.approx([1.0] * len(summary["layers"]))
    assert summary["unlearned_vs_retrained"] is None


# --- the demo's stored UNSIR run (class 3, with its retrained model) -------------------------


@pytest.fixture(scope="module")
def demo_models(app_store, demo):
    from conftest import DEMO_CHECKPOINT

    from unlearn_core.checkpoint import load_checkpoint
    from unlearn_core.run.store import RunStore, load_run_model

    folder = RunStore(app_store["root"]).path(app_store["unsir"])
    trained, _ = load_checkpoint(DEMO_CHECKPOINT, demo)
    return {
        "original": trained.model,
        "unlearned": load_run_model(folder, demo),
        "retrained": load_run_model(folder, demo, "retrained"),
    }


def test_probe_on_the_demo_recovers_the_class_from_the_original_more_than_retrained(
    demo, demo_models
):
    request = ForgetRequest.for_classes(demo, [3])
    sample = representation_sample(demo, request, 200, seed=0)
    report = probe_report(demo_models, demo, request, sample, seed=0)
    acc = report["probe_accuracy"]
    assert acc["original"] > 0.9
    assert acc["retrained"] < acc["original"]
    assert report["probe"]["retrained"]["n_test"] >= 100
    assert isinstance(report["flag"], bool)


def test_features_of_a_shared_model_are_never_another_callers(tiny, tiny_trained):
    """A job may be running the app's cached model while a page reads its features: the page's
    hooks must not record the job's batches (they go on a copy)."""
    import threading

    model = tiny_trained.model
    stop = threading.Event()

    def job() -> None:
        batch = tiny.normalize(tiny.train_x[:64])
        while not stop.is_set():
            with torch.no_grad():
                model(batch)

    worker = threading.Thread(target=job)
    worker.start()
    try:
        for _ in range(20):
            feats = layer_features(model, tiny, "train", torch.arange(30), [PENULTIMATE, "0"])
            assert feats[PENULTIMATE].shape[0] == 30 and feats["0"].shape[0] == 30
    finally:
        stop.set()
        worker.join()
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
