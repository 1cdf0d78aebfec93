"""Two sessions of the app share one cached model: GradCAM and activation maps computed from two
threads at once must each get their own batch's maps, every time, and leave no hook behind."""

from __future__ import annotations

import threading

import pytest
import torch

from unlearn_core.metrics.attribution import activation_map, gradcam

ITERATIONS = 30


def _no_hooks(model) -> bool:
    return all(
        not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
        for m in model.modules()
    )


@pytest.mark.parametrize("kind", ["gradcam", "activation"])
def test_two_threads_on_one_shared_model_get_their_own_maps(tiny, tiny_trained, kind):
    model = tiny_trained.model  # the shared, cached model: never copied by the callers
    batches = {
        "a": (tiny.normalize(tiny.train_x[:8]), tiny.train_y[:8]),
        "b": (tiny.normalize(tiny.train_x[300:308]), tiny.train_y[300:308]),
    }

    def compute(key: str) -> torch.Tensor:
        inputs, targets = batches[key]
        if kind == "gradcam":
            return gradcam(model, inputs, targets)
        return activation_map(model, inputs)

    expected = {key: compute(key) for key in batches}
    assert not torch.allclose(expected["a"], expected["b"])
    failures: list[str] = []
    start = threading.Barrier(2)

    def worker(key: str) -> None:
        start.wait()
        for i in range(ITERATIONS):
            try:
                got = compute(key)
            except Exception as err:  # noqa: BLE001 - the test reports any failure
                failures.append(f"{key}[{i}] raised {type(err).__name__}: {err}")
                continue
            if got.shape != expected[key].shape or not torch.allclose(got, expected[key]):
                failures.append(f"{key}[{i}] got another batch's maps")

    threads = [threading.Thread(target=worker, args=(key,)) for key in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert _no_hooks(model) and not model.training
