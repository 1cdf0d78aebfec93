"""The typed run report: built through the pipeline, it writes exactly report.json's keys of
before it was typed; it reads older and newer reports without a KeyError and keeps what it does
not know."""

from __future__ import annotations

import json

import pytest
import torch

from unlearn_core.request import ForgetRequest
from unlearn_core.run.pipeline import unlearn_model
from unlearn_core.run.report import Report, gaps_to_retrained
from unlearn_core.run.sequential import run_sequence
from unlearn_core.run.store import RunStore, read_report, read_report_dict
from unlearn_core.training import retrain_without

# report.json's keys as the pipeline, the store and the command line wrote them before the
# report was typed (a finetune run with the oracle, stored, with its command)
SINGLE_RUN_KEYS = [
    "arch",
    "checkpoints",
    "checkpoints.original_sha256",
    "checkpoints.retrained_sha256",
    "checkpoints.unlearned_sha256",
    "command",
    "config",
    "created",
    "data_source",
    "dataset",
    "device",
    "forget",
    "forget.classes",
    "forget.count",
    "forget.indices",
    "gaps_to_retrained",
    "gaps_to_retrained.forget_acc",
    "gaps_to_retrained.forget_loss",
    "gaps_to_retrained.mia_auc",
    "gaps_to_retrained.retain_acc",
    "gaps_to_retrained.test_acc",
    "layer_distance",
    "layer_distance[].layer",
    "layer_distance[].to_original",
    "layer_distance[].to_original_relative",
    "layer_distance[].to_retrained",
    "layer_distance[].to_retrained_relative",
    "method",
    "method_info",
    "metrics",
    "metrics.original",
    "metrics.original.forget_acc",
    "metrics.original.forget_loss",
    "metrics.original.forgotten_classes_test_acc",
    "metrics.original.mia_auc",
    "metrics.original.per_class_acc",
    "metrics.original.retain_acc",
    "metrics.original.test_acc",
    "metrics.retrained",
    "metrics.retrained.forget_acc",
    "metrics.retrained.forget_loss",
    "metrics.retrained.forgotten_classes_test_acc",
    "metrics.retrained.mia_auc",
    "metrics.retrained.per_class_acc",
    "metrics.retrained.retain_acc",
    "metrics.retrained.test_acc",
    "metrics.unlearned",
    "metrics.unlearned.forget_acc",
    "metrics.unlearned.forget_loss",
    "metrics.unlearned.forgotten_classes_test_acc",
    "metrics.unlearned.mia_auc",
    "metrics.unlearned.per_class_acc",
    "metrics.unlearned.retain_acc",
    "metrics.unlearned.test_acc",
    "mia",
    "mia.original",
    "mia.original.loss",
    "mia.original.svc",
    "mia.retrained",
    "mia.retrained.loss",
    "mia.retrained.svc",
    "mia.unlearned",
    "mia.unlearned.loss",
    "mia.unlearned.svc",
    "mia_flags",
    "mia_flags.loss",
    "mia_flags.loss.gap",
    "mia_flags.loss.margin",
    "mia_flags.loss.status",
    "mia_flags.svc",
    "mia_flags.svc.gap",
    "mia_flags.svc.margin",
    "mia_flags.svc.status",
    "prediction_distribution",
    "prediction_distribution.original",
    "prediction_distribution.retrained",
    "prediction_distribution.unlearned",
    "privacy_risk",
    "recipe",
    "recipe_recorded",
    "relearn_time",
    "relearn_time.original",
    "relearn_time.retrained",
    "relearn_time.unlearned",
    "run_id",
    "seed",
    "selected_slices",
    "sequence",
    "speedup_over_retrain",
    "timing",
    "timing.retrain_seconds",
    "timing.unlearn_seconds",
    "unlearning_error",
    "verification_error",
    "verification_error_per_layer",
    "verification_error_per_layer[].layer",
    "verification_error_per_layer[].with_update",
    "verification_error_per_layer[].without_update",
    "verification_error_without_update",
    "versions",
    "versions.python",
    "versions.torch",
    "versions.unlearn_core",
]
# keys added since (DESIGN.md, "Added this turn"): extensions, never renames
ADDED_KEYS = [
    "job",
    # issue 12: what a rerun needs (threads, commit) and what the run used (content hashes)
    "checkpoints.source_sha256",
    "data_sha256",
    "environment",
    "environment.threads",
    "versions.git_commit",
    # issue 17: what the features still know (with the oracle)
    "representations",
    # issue 15: one-line warnings shown with the run
    "warnings",
    # issue 14: which retrain the oracle was ("standard" or "replay")
    "oracle_convention",
    # issue 23: the CPU and kernels a run used, and whether --reproducible pinned them
    "environment.cpu_model",
    "environment.cpu_capability",
    "environment.pinned_isa",
    # issue 15, item 3: the checkpoint's file name and the file as its owner supplied it
    "checkpoints.original_file",
    "checkpoints.source_file",
    # issue 15, item 3: who asked for the deletion and when (optional: null when not given)
    "forget.requester",
    "forget.request_date",
]
SEQUENCE_STEP_KEYS = [
    "sequence[].classes",
    "sequence[].cumulative",
    "sequence[].cumulative.forget_acc",
    "sequence[].cumulative.forget_loss",
    "sequence[].cumulative.forgotten_classes_test_acc",
    "sequence[].cumulative.mia_auc",
    "sequence[].cumulative.per_class_acc",
    "sequence[].cumulative.retain_acc",
    "sequence[].cumulative.test_acc",
    "sequence[].forgotten_so_far",
    "sequence[].gaps_to_retrained",
    "sequence[].gaps_to_retrained.forget_acc",
    "sequence[].gaps_to_retrained.forget_loss",
    "sequence[].gaps_to_retrained.mia_auc",
    "sequence[].gaps_to_retrained.retain_acc",
    "sequence[].gaps_to_retrained.test_acc",
    "sequence[].method_info",
    "sequence[].metrics",
    "sequence[].metrics.original",
    "sequence[].metrics.original.forget_acc",
    "sequence[].metrics.original.forget_loss",
    "sequence[].metrics.original.forgotten_classes_test_acc",
    "sequence[].metrics.original.mia_auc",
    "sequence[].metrics.original.per_class_acc",
    "sequence[].metrics.original.retain_acc",
    "sequence[].metrics.original.test_acc",
    "sequence[].metrics.retrained",
    "sequence[].metrics.retrained.forget_acc",
    "sequence[].metrics.retrained.forget_loss",
    "sequence[].metrics.retrained.forgotten_classes_test_acc",
    "sequence[].metrics.retrained.mia_auc",
    "sequence[].metrics.retrained.per_class_acc",
    "sequence[].metrics.retrained.retain_acc",
    "sequence[].metrics.retrained.test_acc",
    "sequence[].metrics.unlearned",
    "sequence[].metrics.unlearned.forget_acc",
    "sequence[].metrics.unlearned.forget_loss",
    "sequence[].metrics.unlearned.forgotten_classes_test_acc",
    "sequence[].metrics.unlearned.mia_auc",
    "sequence[].metrics.unlearned.per_class_acc",
    "sequence[].metrics.unlearned.retain_acc",
    "sequence[].metrics.unlearned.test_acc",
    "sequence[].mia",
    "sequence[].mia.original",
    "sequence[].mia.original.loss",
    "sequence[].mia.original.svc",
    "sequence[].mia.retrained",
    "sequence[].mia.retrained.loss",
    "sequence[].mia.retrained.svc",
    "sequence[].mia.unlearned",
    "sequence[].mia.unlearned.loss",
    "sequence[].mia.unlearned.svc",
    "sequence[].prediction_distribution",
    "sequence[].prediction_distribution.original",
    "sequence[].prediction_distribution.retrained",
    "sequence[].prediction_distribution.unlearned",
    "sequence[].step",
    "sequence[].timing",
    "sequence[].timing.retrain_seconds",
    "sequence[].timing.unlearn_seconds",
]


def key_paths(value, prefix: str = "") -> set[str]:
    """Every key of a report.json, dotted; list items as `[]`; the content of config, recipe,
    method_info and of each membership attack left out (they are the method's and the metric's)."""
    parts = prefix.replace("[]", "").split(".")
    if parts[0] == "sequence":
        parts = parts[1:] or [""]
    opaque = parts[0] in ("config", "recipe", "method_info", "representations") or (
        parts[0] == "mia" and len(parts) >= 3
    )
    out: set[str] = set()
    if isinstance(value, dict) and not opaque:
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            out |= {path} | key_paths(item, path)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for item in value:
            out |= key_paths(item, f"{prefix}[]")
    return out


@pytest.fixture(scope="module")
def stored(tiny, tiny_trained, tmp_path_factory):
    """A finetune run with the oracle as the command line stores it (command, run id)."""
    request = ForgetRequest.for_indices(tiny, [3, 4])
    record = unlearn_model(
        tiny_trained, {"sha256": "ab" * 32}, tiny, request, "finetune", {"epochs": "1"}, oracle=True
    )
    record.report = record.report.with_command("unlearn --method finetune")
    store = RunStore(tmp_path_factory.mktemp("store"))
    return record, store.path(store.save(record))


def test_to_dict_writes_exactly_the_keys_of_before_and_the_added_ones(stored):
    record, folder = stored
    assert key_paths(record.report.to_dict()) == set(SINGLE_RUN_KEYS) | set(ADDED_KEYS)
    written = read_report_dict(folder)
    assert key_paths(written) == set(SINGLE_RUN_KEYS) | set(ADDED_KEYS)
    json.dumps(written, allow_nan=False)


def test_the_stored_report_reads_back_equal(stored):
    record, folder = stored
    reopened = read_report(folder)
    assert reopened.to_dict() == read_report_dict(folder)
    assert reopened.run_id == folder.name and reopened.command == "unlearn --method finetune"
    assert reopened.checkpoints.unlearned_sha256 and reopened.checkpoints.retrained_sha256
    assert reopened.metrics == record.report.metrics


def test_the_report_records_the_oracle_convention_and_its_retrain_follows_it(
    stored, tiny, tiny_trained
):
    record, folder = stored
    assert record.report.oracle_convention == "standard"
    assert read_report(folder).oracle_convention == "standard"
    expected = retrain_without(tiny_trained, tiny, torch.tensor([3, 4]), device="cpu")
    got, want = record.retrained.state_dict(), expected.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert Report.from_dict({"method": "x"}).oracle_convention is None  # a run of before


def test_single_gradient_against_the_standard_oracle_is_warned(tiny, tiny_trained):
    request = ForgetRequest.for_indices(tiny, [3])
    report = unlearn_model(tiny_trained, {}, tiny, request, "single-gradient", oracle=True).report
    (warning,) = [w for w in report.warnings if "oracle" in w]  # beside the method's own notes
    assert "--oracle-convention replay" in warning and report.oracle_convention == "standard"


def test_gaps_and_speedup_are_derived_in_one_place(stored):
    report = stored[0].report
    gaps = gaps_to_retrained(report.metrics)
    assert report.gaps_to_retrained == gaps
    unlearned, retrained = report.metrics.unlearned, report.metrics.retrained
    assert gaps.forget_acc == pytest.approx(unlearned.forget_acc - retrained.forget_acc)
    timing = report.timing
    assert report.speedup_over_retrain == timing.retrain_seconds / timing.unlearn_seconds


def test_a_sequence_writes_the_step_keys_of_before(tiny, tiny_trained):
    report = run_sequence(
        tiny_trained, {}, tiny, [[0], [1]], "neggrad", oracle=True, oracle_convention="replay"
    ).report
    assert report.oracle_convention == "replay"
    paths = key_paths(report.to_dict())
    assert {p for p in paths if p.startswith("sequence[]")} == set(SEQUENCE_STEP_KEYS)
    assert {p for p in paths if not p.startswith("sequence[]")} <= set(SINGLE_RUN_KEYS) | set(
        ADDED_KEYS
    )
    step = report.sequence[1]
    assert step.gaps_to_retrained == gaps_to_retrained(step.metrics)
    assert report.selected_slices is None and report.method_info == {}


def test_missing_keys_read_as_none_and_unknown_keys_are_kept():
    report = Report.from_dict({"method": "x", "later": [1], "timing": {"cpu_seconds": 2.0}})
    assert report.metrics.unlearned is None and report.forget.classes is None
    assert report.checkpoints.original_sha256 is None and report.gaps_to_retrained is None
    assert report.speedup_over_retrain is None and not report.has_oracle
    out = report.to_dict()
    assert out["later"] == [1] and out["timing"]["cpu_seconds"] == 2.0
    assert Report.from_dict(out) == report
    assert Report.from_dict(None) == Report()


def test_non_finite_numbers_become_null_with_a_warning():
    raw = {
        "method": "lfoci",
        "metrics": {"unlearned": {"forget_loss": float("inf"), "test_acc": 0.5}},
        "method_info": {"ratio": float("nan"), "fine": 1.0},
    }
    report = Report.from_dict(raw).finite()
    written = report.to_dict()
    json.dumps(written, allow_nan=False)  # what the store writes
    assert written["metrics"]["unlearned"]["forget_loss"] is None
    assert written["metrics"]["unlearned"]["test_acc"] == 0.5
    assert written["method_info"] == {"ratio": None, "fine": 1.0}
    (warning,) = written["warnings"]
    assert "metrics.unlearned.forget_loss" in warning and "method_info.ratio" in warning
    assert Report.from_dict({"method": "x"}).finite().warnings == []
