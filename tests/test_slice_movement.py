"""Slice movement, FOCI steps and the random-selection control, on hand-made cases."""

import copy

import pytest
import torch
from torch import nn

from unlearn_core.errors import UserError
from unlearn_core.metrics.slice_movement import (
    foci_steps,
    selection_comparison,
    selection_counterpart,
    slice_movement,
    slice_widths,
)


@pytest.fixture
def pair():
    torch.manual_seed(0)
    original = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 4))
    unlearned = copy.deepcopy(original)
    with torch.no_grad():
        unlearned[3].weight[1] += torch.tensor([3.0] + [0.0] * 11)  # row 1 moves by 3 ...
        unlearned[3].bias[1] += 4.0  # ... and its bias by 4: |(3, 4)| = 5
    return original, unlearned


def test_slice_widths(pair):
    assert slice_widths(pair[0]) == {"0": 3, "3": 4}


def test_only_the_changed_slice_moved(pair):
    original, unlearned = pair
    slices = [{"layer": "3", "index": 1, "score": 0.5}, {"layer": "0", "index": 2, "score": 0.1}]
    rows = slice_movement(original, unlearned, slices)
    assert [(r["layer"], r["index"], r["score"]) for r in rows] == [("3", 1, 0.5), ("0", 2, 0.1)]
    assert rows[0]["moved"] == pytest.approx(5.0) and rows[1]["moved"] == 0.0
    assert rows[0]["parameters"] == 13 and rows[1]["parameters"] == 9 + 1  # 1x3x3 kernel, bias
    norm = torch.cat([original[3].weight[1], original[3].bias[1:2]]).norm().item()
    assert rows[0]["moved_relative"] == pytest.approx(5.0 / norm)


@pytest.mark.parametrize("bad", [{"layer": "1", "index": 0}, {"layer": "3", "index": 4}])
def test_a_slice_not_in_the_model_is_a_user_error(pair, bad):
    with pytest.raises(UserError, match="Model and data"):
        slice_movement(*pair, [{**bad, "score": 0.1}])


def test_foci_steps_at_once_and_sequential():
    assert foci_steps({"foci_scores": [0.5, 0.25]}) == [
        {"step": 1, "codec": 0.5, "sample": None},
        {"step": 2, "codec": 0.25, "sample": None},
    ]
    sequential = {
        "sequential": {
            "removals": [
                {"index": 7, "accepted": True, "foci_scores": [0.3]},
                {"index": 9, "accepted": False, "foci_scores": [0.9]},  # reverted: not shown
            ]
        }
    }
    assert foci_steps(sequential) == [{"step": 1, "codec": 0.3, "sample": 7}]
    assert foci_steps({"selection": "full"}) == []


def report(selection, forget=(2,), forget_acc=0.0, method="lfoci", sha="abc"):
    metric = {"forget_loss": 1.5, "forget_acc": forget_acc, "retain_acc": 0.9, "test_acc": 0.8}
    return {
        "method": method,
        "config": {"selection": selection},
        "forget": {"classes": [], "indices": list(forget), "count": len(forget)},
        "checkpoints": {"original_sha256": sha},
        "metrics": {"original": {**metric, "forget_acc": 1.0}, "unlearned": metric},
    }


def test_counterpart_needs_the_other_selection_on_the_same_request_and_model():
    others = {
        "a": report("random", forget=(3,)),
        "b": report("lfoci"),
        "c": report("random", sha="other"),
        "d": report(None, method="unsir"),
        "e": report("random"),
        "f": report("random"),
    }
    assert selection_counterpart(report("lfoci"), others) == "f"  # the newest of e, f
    assert selection_counterpart(report("random"), others) == "b"
    assert selection_counterpart(report("full"), others) is None
    assert selection_counterpart(report("lfoci"), {"b": others["b"]}) is None


def test_comparison_rows():
    rows = selection_comparison(report("lfoci", forget_acc=0.0), report("random", forget_acc=1.0))
    by_metric = {r["metric"]: r for r in rows}
    accuracy = by_metric["forget accuracy"]
    assert accuracy == {
        "metric": "forget accuracy",
        "original": 1.0,
        "lfoci selection": 0.0,
        "random selection": 1.0,
    }
    assert len(rows) == 4 and "forget loss (cross-entropy, nats)" in by_metric
