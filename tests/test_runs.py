import json

import pytest
import torch

import unlearn_core.run.store as runs_module
from unlearn_core.errors import UserError
from unlearn_core.request import ForgetRequest
from unlearn_core.run.pipeline import unlearn_model
from unlearn_core.run.store import RunStore, load_run_model, read_report, verify_run_folder

CONTRACT_KEYS = {
    "method",
    "config",
    "seed",
    "dataset",
    "arch",
    "device",
    "forget",
    "timing",
    "metrics",
    "layer_distance",
    "prediction_distribution",
    "selected_slices",
    "unlearning_error",
    "verification_error",
    "checkpoints",
    "versions",
}
METRIC_KEYS = {"forget_acc", "retain_acc", "test_acc", "per_class_acc", "mia_auc", "forget_loss"}


@pytest.fixture(scope="module")
def record(tiny, tiny_trained):
    request = ForgetRequest.for_indices(tiny, [3, 4])
    meta = {"sha256": "ab" * 32}
    return unlearn_model(
        tiny_trained, meta, tiny, request, "finetune", {"epochs": "1"}, oracle=True
    )


def test_report_follows_the_contract(record):
    report = record.report.to_dict()  # report.json's content
    assert report.keys() >= CONTRACT_KEYS
    for which in ("original", "unlearned", "retrained"):
        assert report["metrics"][which].keys() >= METRIC_KEYS
    assert report["forget"] == {
        "classes": [], "indices": [3, 4], "count": 2, "requester": None, "request_date": None
    }  # fmt: skip
    assert report["config"] == {"epochs": 1, "lr": 0.02, "batch_size": 64, "momentum": 0.9}
    assert report["timing"]["unlearn_seconds"] > 0 and report["timing"]["retrain_seconds"] > 0
    assert {r["layer"] for r in report["layer_distance"]} >= {"0.weight", "7.bias"}
    assert all(r["to_retrained"] is not None for r in report["layer_distance"])
    assert sum(report["prediction_distribution"]["retrained"]) == 2
    assert report["checkpoints"]["original_sha256"] == "ab" * 32
    assert report["versions"]["torch"] == torch.__version__
    json.dumps(report, allow_nan=False)


def test_save_list_reopen(tmp_path, record, tiny):
    store = RunStore(tmp_path / "store")
    run_id = store.save(record)
    assert [r["run_id"] for r in store.list()] == [run_id]
    reopened = store.open(run_id)
    assert reopened.run_id == run_id and record.report.run_id == run_id
    stored = json.loads(json.dumps(record.report.metrics.to_dict()))
    assert reopened.metrics.to_dict() == stored
    model = load_run_model(store.path(run_id), tiny)
    for k, v in record.model.state_dict().items():
        assert torch.equal(model.state_dict()[k], v)
    retrained = load_run_model(store.path(run_id), tiny, which="retrained")
    for k, v in record.retrained.state_dict().items():
        assert torch.equal(retrained.state_dict()[k], v)
    checks = verify_run_folder(store.path(run_id))
    assert set(checks) == {
        "report.json",
        "model.safetensors",
        "retrained.safetensors",
        "request.json",
    }
    assert RunStore(tmp_path / "store").list()[0]["run_id"] == run_id  # a "restart"
    store.delete(run_id)
    assert store.list() == []


def test_a_run_without_the_oracle_has_no_retrained_model(tmp_path, tiny, tiny_trained):
    request = ForgetRequest.for_indices(tiny, [3])
    record = unlearn_model(tiny_trained, {}, tiny, request, "neggrad", {"epochs": "1"})
    folder = RunStore(tmp_path / "store").path(RunStore(tmp_path / "store").save(record))
    assert not (folder / "retrained.safetensors").exists()
    with pytest.raises(UserError, match="no retrained model"):
        load_run_model(folder, tiny, which="retrained")


def test_crash_mid_write_leaves_no_run(tmp_path, record, monkeypatch):
    store = RunStore(tmp_path / "store")

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(runs_module, "_write_json", crash)
    with pytest.raises(UserError, match="disk full"):
        store.save(record)
    assert store.list() == []
    assert list((tmp_path / "store").iterdir()) == []


def test_out_folder_is_replaced_whole_or_refused(tmp_path, record):
    target = tmp_path / "out"
    runs_module.write_run_folder(record, target)
    runs_module.write_run_folder(record, target)  # a run folder of ours: replaced whole
    assert read_report(target).method == "finetune"
    (target / "notes.txt").write_text("the user's own file")
    with pytest.raises(UserError, match="not a run folder"):  # no longer only a run: kept
        runs_module.write_run_folder(record, target)
    assert (target / "notes.txt").read_text() == "the user's own file"
    other = tmp_path / "precious"
    other.mkdir()
    (other / "thesis.tex").write_text("x")
    with pytest.raises(UserError, match="not a run folder"):
        runs_module.write_run_folder(record, other)
    assert (other / "thesis.tex").read_text() == "x"


def test_tampering_is_detected(tmp_path, record):
    target = runs_module.write_run_folder(record, tmp_path / "run")
    report = json.loads((target / "report.json").read_text())
    report["metrics"]["unlearned"]["forget_acc"] = 0.0
    (target / "report.json").write_text(json.dumps(report))
    with pytest.raises(UserError, match=r"^report\.json: does not match SHA256SUMS"):
        verify_run_folder(target)


def test_unknown_run_id(tmp_path):
    with pytest.raises(UserError, match="no run 'nope'"):
        RunStore(tmp_path).open("nope")


def test_the_unlearned_model_is_measured_before_the_shared_oracle_is_asked_for(
    tiny, tiny_trained, record, monkeypatch
):
    """A sweep's job that would wait on its shared oracle evaluates the original and unlearned
    models first (engine/ray_pool.py: its worker runs another job meanwhile); the report is the
    one measuring all three at the end gives."""
    import unlearn_core.run.pipeline as pipeline

    evaluated = []
    real = pipeline.evaluate
    monkeypatch.setattr(pipeline, "evaluate", lambda m, *a: evaluated.append(m) or real(m, *a))

    def shared_oracle():
        assert len(evaluated) == 2 and tiny_trained.model in evaluated  # original and unlearned
        return record.retrained, 1.0

    request = ForgetRequest.for_indices(tiny, [3, 4])
    shared = unlearn_model(
        tiny_trained,
        {"sha256": "ab" * 32},
        tiny,
        request,
        "finetune",
        {"epochs": "1"},
        shared_oracle=shared_oracle,
    )
    assert len(evaluated) == 3 and evaluated[2] is record.retrained
    models = pipeline.PerModel(tiny_trained.model, shared.model, record.retrained)
    at_once = pipeline.measure(models, tiny_trained, tiny, request, seed=0)
    assert shared.report.metrics == at_once.metrics and shared.report.mia == at_once.mia
    assert shared.report.representations == at_once.representations
    assert shared.report.metrics == record.report.metrics  # the same run, its own oracle
