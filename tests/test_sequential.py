"""Sequential requests (UNSIR Sec. 5.6.2): forget class 0, then 1, then 2, each step on the
previous step's model; the oracle of every step is the retrain without everything forgotten."""

import json

import pytest
import torch
from conftest import DEMO_CHECKPOINT
from test_cli import assert_one_line_error, cli

from unlearn_core.checkpoint import load_checkpoint
from unlearn_core.errors import UserError
from unlearn_core.metrics.mia import membership_report
from unlearn_core.request import ForgetRequest
from unlearn_core.run.sequential import run_sequence, sequence_requests
from unlearn_core.training import retrain_without


def test_each_step_forgets_its_classes_and_retains_what_no_step_forgot(tiny):
    requests = sequence_requests(tiny, [[0], [1, 2], [5]])
    labels = tiny.train_y
    for request, classes, gone in zip(
        requests, ([0], [1, 2], [5]), ([0], [0, 1, 2], [0, 1, 2, 5]), strict=True
    ):
        assert list(request.classes) == classes
        assert torch.equal(
            request.forget_indices, torch.isin(labels, torch.tensor(classes)).nonzero().flatten()
        )
        assert torch.equal(
            request.retain_indices, (~torch.isin(labels, torch.tensor(gone))).nonzero().flatten()
        )
        outside = request.outside_retain(labels.numel())
        assert torch.equal(outside, torch.isin(labels, torch.tensor(gone)).nonzero().flatten())


@pytest.mark.parametrize(
    ("steps", "fragment"),
    [
        ([[0], [1, 0]], "class 0 is forgotten again in step 2"),
        ([], "at least one step"),
        ([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]], "cannot forget every class"),
    ],
)
def test_bad_sequences_are_user_errors(tiny, steps, fragment):
    with pytest.raises(UserError, match=fragment):
        sequence_requests(tiny, steps)


@pytest.fixture(scope="module")
def union_oracle(tiny, tiny_trained):
    """The retrain without classes 0 and 1, straight from the recipe."""
    union = ForgetRequest.for_classes(tiny, [0, 1])
    return retrain_without(tiny_trained, tiny, union.forget_indices, device="cpu")


def per_class(step, which):
    return step["metrics"][which]["per_class_acc"]


def _same_weights(model, reference):
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_steps_chain_and_the_oracle_is_the_retrain_without_the_union(
    tiny, tiny_trained, union_oracle
):
    record = run_sequence(tiny_trained, {}, tiny, [[0], [1]], "neggrad", oracle=True)
    report = record.report.to_dict()  # report.json's content
    _same_weights(record.retrained, union_oracle)
    union = ForgetRequest.for_classes(tiny, [0, 1])  # the record names the indices too
    indices, origin = union.forget_indices.tolist(), {"requester": None, "request_date": None}
    assert report["forget"] == {**union.to_dict(), "indices": indices, **origin}
    first, second = report["sequence"]
    assert (first["classes"], second["classes"]) == ([0], [1])
    assert second["forgotten_so_far"] == [0, 1]
    # step 2 starts from step 1's model, and the report's ends are the sequence's ends
    assert per_class(second, "original") == per_class(first, "unlearned")
    assert report["metrics"]["unlearned"]["per_class_acc"] == per_class(second, "unlearned")
    assert report["metrics"]["original"]["per_class_acc"] == per_class(first, "original")
    assert report["timing"]["unlearn_seconds"] == pytest.approx(
        first["timing"]["unlearn_seconds"] + second["timing"]["unlearn_seconds"]
    )
    assert report["timing"]["retrain_seconds"] == second["timing"]["retrain_seconds"]
    # the attacks target the union (classes 0 and 1), not the last step's class alone
    models = {"original": tiny_trained.model, "unlearned": record.model, "retrained": union_oracle}
    union = ForgetRequest.for_classes(tiny, [0, 1])
    assert report["mia"] == membership_report(models, tiny, union, seed=0)
    assert second["mia"] != report["mia"]


def test_sequential_retrain_is_the_retrain_without_the_union(tiny, tiny_trained, union_oracle):
    _same_weights(run_sequence(tiny_trained, {}, tiny, [[0], [1]], "retrain").model, union_oracle)


# --- done-means on the demo: UNSIR forgets 0, then 1, then 2 -----------------------------------


def _check_steps(report):
    original = report["metrics"]["original"]
    assert report["forget"]["classes"] == [0, 1, 2] and report["forget"]["count"] == 1800
    for step in report["sequence"]:
        assert step["metrics"]["original"]["forget_acc"] >= 0.75  # each class was known
        assert step["metrics"]["unlearned"]["forget_acc"] <= 0.05  # this step's classes
        assert step["cumulative"]["forget_acc"] <= 0.05  # and every class forgotten before
    assert [s["classes"] for s in report["sequence"]] == [[0], [1], [2]]
    assert report["metrics"]["unlearned"]["forget_acc"] <= 0.05
    assert original["retain_acc"] - report["metrics"]["unlearned"]["retain_acc"] <= 0.08


@pytest.mark.slow
def test_sequential_unsir_from_the_api(demo):
    trained, meta = load_checkpoint(DEMO_CHECKPOINT, demo)
    _check_steps(run_sequence(trained, meta, demo, [[0], [1], [2]], "unsir").report.to_dict())


@pytest.mark.slow
def test_sequential_unsir_from_the_command_line(tmp_path):
    out = tmp_path / "run"
    proc = cli(
        "unlearn",
        "--checkpoint",
        DEMO_CHECKPOINT,
        "--method",
        "unsir",
        "--forget-classes",
        "0",
        "--then-classes",
        "1",
        "--then-classes",
        "2",
        "--relearn",
        "--relearn-max-epochs",
        "2",
        "--no-store",
        "--out",
        out,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    _check_steps(report)
    relearn = report["relearn_time"]
    assert relearn["original"]["epochs"] == 0 and relearn["retrained"] is None
    assert relearn["unlearned"]["forget_acc_per_epoch"][0] <= 0.05


def test_then_classes_needs_a_class_request(tmp_path):
    proc = cli(
        "unlearn",
        "--checkpoint",
        DEMO_CHECKPOINT,
        "--method",
        "finetune",
        "--forget-indices",
        "1,2",
        "--then-classes",
        "3",
        "--out",
        tmp_path / "run",
    )
    assert_one_line_error(proc, "start with --forget-classes")
