"""Shared fixtures: a small slice of the demo data and a model trained on it in seconds."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import torch

from unlearn_core.checkpoint import save_checkpoint, sha256_file
from unlearn_core.data import load_dataset
from unlearn_core.specs.run import RunSpec
from unlearn_core.training import Recipe, train

ROOT = Path(__file__).resolve().parent.parent
DEMO_CHECKPOINT = ROOT / "assets" / "models" / "demo_smallcnn.safetensors"


def first_per_class(labels: torch.Tensor, per_class: int) -> torch.Tensor:
    keep = [torch.nonzero(labels == c).flatten()[:per_class] for c in labels.unique()]
    return torch.sort(torch.cat(keep)).values


def per_class_subset(data, train: int, test: int, name: str | None = None):
    """The first `train` training and `test` test images of each class of `data`."""
    tr, te = first_per_class(data.train_y, train), first_per_class(data.test_y, test)
    return dataclasses.replace(
        data,
        name=name or data.name,
        train_x=data.train_x[tr],
        train_y=data.train_y[tr],
        test_x=data.test_x[te],
        test_y=data.test_y[te],
    )


@pytest.fixture(scope="session")
def demo():
    return load_dataset("demo")


@pytest.fixture(scope="session")
def logreg_checkpoint(demo, tmp_path_factory) -> Path:
    """A logistic regression trained one epoch on the demo data, saved as a checkpoint: a run
    on it takes seconds on 2 CPU cores."""
    recipe = Recipe(lr=0.05, batch_size=64, epochs=1, seed=0, probe_every=0)
    path = tmp_path_factory.mktemp("logreg") / "original.safetensors"
    save_checkpoint(train("logreg", demo, recipe, device="cpu", probes=False), path)
    return path


@pytest.fixture(scope="session")
def tiny(demo):
    """60 training and 20 test images per class of the demo set (600 / 200)."""
    return per_class_subset(demo, 60, 20, "demo-tiny")


@pytest.fixture(scope="session")
def tiny_recipe():
    return Recipe(lr=0.05, batch_size=32, epochs=2, weight_decay=5e-4, seed=0)


@pytest.fixture(scope="session")
def tiny_trained(tiny, tiny_recipe):
    """smallcnn trained two epochs on `tiny` (CPU); read-only: tests copy before changing it."""
    return train("smallcnn", tiny, tiny_recipe, device="cpu")


@pytest.fixture(autouse=True)
def same_torch_threads():
    """Every test starts at the session's torch thread count: a command run in-process with
    --reproducible or --threads sets it for the process, and a later test comparing bitwise with
    a session fixture trained at another count would compare two summation orders."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def isolated_run_store(tmp_path, monkeypatch):
    """Every test gets its own run store, runs on the CPU, and the app's jobs run inline (the
    marked Ray tests start Ray themselves)."""
    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("UNLEARN_DEVICE", "cpu")
    monkeypatch.setenv("UNLEARN_EXECUTOR", "inline")


@pytest.fixture(scope="session")
def app_store(tmp_path_factory, demo):
    """A run store holding three demo runs for the app's result pages, built once per session:
      "unsir"           classes 3 with the oracle (retrained model stored)
      "lfoci"           training index 2, no oracle (m = 200, noise off: fast)
      "single-gradient" training indices 0-3, no oracle
    -> {"root": str, "unsir": run_id, "lfoci": run_id, "single-gradient": run_id}.
    Tests that read it set UNLEARN_RUNS_DIR to root; none may write to it.
    UNLEARN_TEST_APP_STORE=DIR (developers only; CI leaves it unset) keeps the store in DIR and
    reuses it across pytest sessions while the demo checkpoint is unchanged."""
    import json

    from unlearn_core.checkpoint import load_checkpoint
    from unlearn_core.request import ForgetRequest
    from unlearn_core.run.pipeline import unlearn_model
    from unlearn_core.run.store import RunStore

    keep = os.environ.get("UNLEARN_TEST_APP_STORE")
    root = Path(keep) if keep else tmp_path_factory.mktemp("app-runs")
    trained, meta = load_checkpoint(DEMO_CHECKPOINT, demo)
    index = root / "fixture.json"
    if keep and index.is_file():
        runs = json.loads(index.read_text())
        if runs.get("checkpoint_sha256") == meta["sha256"]:
            return runs
    store = RunStore(root)
    runs = {"root": str(root), "checkpoint_sha256": meta["sha256"]}
    for method, request, overrides, oracle in (
        ("unsir", ForgetRequest.for_classes(demo, [3]), {}, True),
        (
            "lfoci",
            ForgetRequest.for_indices(demo, [2]),
            {"perturbations": "200", "dp_noise": "false"},
            False,
        ),
        ("single-gradient", ForgetRequest.for_indices(demo, [0, 1, 2, 3]), {}, False),
    ):
        torch.manual_seed(0)
        record = unlearn_model(trained, meta, demo, request, method, overrides, oracle=oracle)
        runs[method] = store.save(record)
    index.write_text(json.dumps(runs))
    return runs


@pytest.fixture(scope="module")
def tiny_checkpoint(tiny_trained, tmp_path_factory):
    """`tiny_trained` saved as a checkpoint file."""
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(tiny_trained, path)
    return path


@pytest.fixture
def spec(tiny_checkpoint, tiny, monkeypatch):
    """A finetune job on the tiny checkpoint (the engine tests); the tiny slice stands in for
    the demo set the checkpoint records."""
    monkeypatch.setattr("unlearn_core.data.load_dataset", lambda *a, **k: tiny)
    return RunSpec(
        checkpoint=str(tiny_checkpoint),
        checkpoint_sha256=sha256_file(tiny_checkpoint),
        method="finetune",
        forget={"indices": [0, 5, 17]},
        overrides={"epochs": "1"},
    )


@pytest.fixture(scope="session")
def memorising(tmp_path_factory):
    """An MLP fitted to all 300 images of demo-300 (train accuracy 1.0), saved as a checkpoint;
    and a store whose pool the audits share (they must not change it)."""
    data = load_dataset("demo-300")
    recipe = Recipe(lr=0.05, batch_size=32, epochs=40, weight_decay=0.0, probe_every=0, seed=0)
    trained = train("mlp", data, recipe, device="cpu", probes=False)
    assert trained.history[-1]["train_acc"] == 1.0
    folder = tmp_path_factory.mktemp("audit")
    path = folder / "mlp.safetensors"
    save_checkpoint(trained, path)
    return {"path": str(path), "store": str(folder / "store")}
