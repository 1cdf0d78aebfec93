"""A large embedding runs as a job: the job computes exactly what the page would (same seed,
same coordinates), stores it atomically under <store>/embeddings, refuses bad settings in one
line, and the Representations page offers the job above its inline limit and then shows the
stored result."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import DEMO_CHECKPOINT, ROOT
from streamlit.testing.v1 import AppTest

from unlearn_core.checkpoint import load_checkpoint, sha256_file
from unlearn_core.engine.jobs import JobManager
from unlearn_core.engine.state import JobRecord
from unlearn_core.errors import UserError
from unlearn_core.metrics import representations as rep
from unlearn_core.request import ForgetRequest
from unlearn_core.run.embedding_job import EmbeddingSpec, EmbeddingStore, run_embedding
from unlearn_core.run.reproducible import torch_threads
from unlearn_core.run.store import RunStore, load_run_model

PAGE = str(ROOT / "app_pages" / "representations.py")


@pytest.fixture
def store(app_store, tmp_path):
    """A copy of the fixture's UNSIR run (class 3, with its oracle) in a store of its own."""
    run_id = app_store["unsir"]
    shutil.copytree(Path(app_store["root"]) / run_id, tmp_path / run_id)
    return {"root": tmp_path, "run_id": run_id}


def spec_for(store, per_group=20, method="pca") -> EmbeddingSpec:
    return EmbeddingSpec(
        run_id=store["run_id"],
        store_root=str(store["root"]),
        checkpoint=str(DEMO_CHECKPOINT),
        checkpoint_sha256=sha256_file(DEMO_CHECKPOINT),
        per_group=per_group,
        method=method,
    )


def test_the_job_computes_what_the_page_would_and_stores_it(store, demo):
    spec = spec_for(store)
    result = run_embedding(spec)
    folder = RunStore(store["root"]).path(store["run_id"])
    report = RunStore(store["root"]).open(store["run_id"])
    models = {
        "original": load_checkpoint(DEMO_CHECKPOINT, demo)[0].model,
        "unlearned": load_run_model(folder, demo),
        "retrained": load_run_model(folder, demo, "retrained"),
    }
    request = ForgetRequest.from_dict(demo, report.forget.to_dict())
    sample = rep.representation_sample(demo, request, 20, 0)
    # Bitwise only at the job's thread count: the same code in the same process, with the
    # same reductions. The page runs at the process's count, which splits the feature sums
    # differently (issue 23: up to 9.5e-6 apart under load): equal within rounding.
    with torch_threads(spec.threads):
        inline = rep.embedding_view(models, demo, sample, seed=0, method="pca")
    page = rep.embedding_view(models, demo, sample, seed=0, method="pca")
    for model, coordinates in inline["coordinates"].items():
        np.testing.assert_array_equal(result.values["coordinates"][model], coordinates)
        scale = np.abs(coordinates).max()
        np.testing.assert_allclose(page["coordinates"][model], coordinates, atol=1e-4 * scale)
    EmbeddingStore(store["root"]).save(spec, result.values)
    stored = EmbeddingStore(store["root"]).get(spec)
    np.testing.assert_array_equal(stored["labels"], inline["labels"])
    assert stored["group"].tolist() == inline["group"].tolist() and stored["method"] == "pca"
    assert EmbeddingStore(store["root"]).get(spec_for(store, per_group=21)) is None


def test_an_embedding_job_is_stored_and_named_by_its_job(store):
    manager = JobManager(store["root"])
    job = manager.submit(spec_for(store))
    (ended,) = manager.wait([job.id])
    assert ended.state == "done" and ended.embedding_id == spec_for(store).key
    stored = EmbeddingStore(store["root"]).get(spec_for(store))
    direct = run_embedding(spec_for(store)).values  # the same computation, not through a job
    for model, coordinates in direct["coordinates"].items():
        np.testing.assert_array_equal(stored["coordinates"][model], coordinates)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"per_group": 0}, "images per group"),
        ({"run_id": "nope"}, "nope"),
        ({"method": "tsne"}, "umap or pca"),
    ],
)
def test_bad_settings_are_one_line_and_queue_nothing(store, changes, says):
    import dataclasses

    manager = JobManager(store["root"])
    with pytest.raises(UserError, match=says):
        manager.submit(dataclasses.replace(spec_for(store), **changes))
    assert manager.board.list() == []


def test_the_page_runs_a_large_embedding_as_a_job_then_shows_it(store, monkeypatch):
    monkeypatch.setattr("ui.representations.INLINE_MAX", 10)
    queued = []

    def submit(self, spec, inputs=None, *, checked=False):
        queued.append(spec)
        return JobRecord(id="job-x", spec=spec.to_dict())

    monkeypatch.setattr("unlearn_core.engine.jobs.JobManager.submit", submit)
    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(store["root"]))
    at = AppTest.from_file(PAGE, default_timeout=300)
    at.session_state["open_runs"] = [store["run_id"]]
    at.session_state["checkpoint_path"] = str(DEMO_CHECKPOINT)
    for key, value in {"rep_per_group": 20, "rep_view": "embedding", "rep_method": "pca"}.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception and not at.get("plotly_chart")
    assert any("runs as a job" in i.value for i in at.info)
    at.button(key=f"embed-{spec_for(store).key}").click().run()
    assert [s.key for s in queued] == [spec_for(store).key]
    EmbeddingStore(store["root"]).save(spec_for(store), run_embedding(spec_for(store)).values)
    at.run()
    (chart,) = at.get("plotly_chart")
    assert "shared axes" in json.loads(chart.proto.spec)["layout"]["title"]["text"]
