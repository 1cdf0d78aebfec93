"""The rows and messages of the Attribution, Privacy and Verification pages against hand-written
reports, explanations and cards."""

import pytest
import torch
from torch import nn

from unlearn_core.cli.run_commands import relearn_command
from unlearn_core.metrics.attribution import Explanation
from unlearn_core.request import ForgetRequest
from unlearn_core.run.report import (
    PerModel,
    Report,
    read_layer_verification,
    read_mia,
    read_relearn_time,
)
from unlearn_core.run.report_blocks import MiaFlags
from unlearn_core.views.inspect import (
    attribution_titles,
    card_rows,
    conv_layers,
    default_indices,
    faithfulness_rows,
    mia_flag_notes,
    mia_rows,
    neighbour_lines,
    relearn_rows,
    svc_spread_rows,
    verification_rows,
)


def test_default_indices_are_three_forgotten_and_one_retained(tiny):
    request = ForgetRequest.for_classes(tiny, [4])
    fours = (tiny.train_y == 4).nonzero().flatten().tolist()
    first_other = next(i for i, y in enumerate(tiny.train_y.tolist()) if y != 4)
    assert default_indices(request) == [*fours[:3], first_other]
    assert default_indices(ForgetRequest.for_indices(tiny, [8]), 3) == [8, 0]


def test_conv_layers_in_module_order():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Sequential(nn.Conv2d(2, 2, 3)))
    assert conv_layers(net) == ["0", "2.0"]
    assert conv_layers(nn.Sequential(nn.Flatten(), nn.Linear(4, 2))) == []


def explanation() -> Explanation:
    expl = Explanation(
        kind="gradcam",
        layer="3",
        split="train",
        indices=[5, 9],
        targets=torch.tensor([1, 0]),
        labels=torch.tensor([1, 1]),
        images=torch.zeros(2, 1, 2, 2, dtype=torch.uint8),
        fraction=0.1,
    )
    expl.faithfulness = {
        "original": {
            "confidence": torch.tensor([0.9, 0.7]),
            "drop": torch.tensor([0.5, 0.3]),
            "random_drop": torch.tensor([0.1, 0.1]),
        },
        "unlearned": {
            "confidence": torch.tensor([0.2, 0.4]),
            "drop": torch.tensor([0.0, 0.1]),
            "random_drop": torch.tensor([0.1, 0.2]),
        },
    }
    return expl


def test_attribution_titles_and_faithfulness_rows():
    expl = explanation()
    titles = attribution_titles(expl, ["cat", "dog"], torch.tensor([5, 6]))
    assert titles == ["#5 dog, forgotten", "#9 dog, retained (target cat)"]
    rows = faithfulness_rows(expl)
    assert [r["model"] for r in rows] == ["original", "unlearned"]
    assert rows[0]["confidence"] == pytest.approx(0.8)
    assert rows[0]["drop, top pixels"] == pytest.approx(0.4)
    assert rows[0]["drop, random pixels"] == pytest.approx(0.1)
    assert rows[0]["map beats random"] is True
    assert rows[1]["drop, top pixels"] == pytest.approx(0.05)
    assert rows[1]["map beats random"] is False


def summary(auc: float) -> dict:
    return {
        "auc": auc,
        "tpr_at_1pct_fpr": auc / 10,
        "tpr_at_0_1pct_fpr": auc / 100,
        "members": 4,
        "nonmembers": 50,
        "roc": None,
    }


def test_mia_rows_skip_missing_models_and_attacks():
    mia = {
        "original": {"loss": summary(0.8), "svc": summary(0.7)},
        "unlearned": {"loss": summary(0.5), "svc": None},
        "retrained": None,
    }
    rows = mia_rows(read_mia(mia))
    assert [(r["model"], r["attack"]) for r in rows] == [
        ("original", "loss threshold (Yeom et al.)"),
        ("original", "SVC on confidence (Jia et al.)"),
        ("unlearned", "loss threshold (Yeom et al.)"),
    ]
    assert rows[2]["AUC"] == 0.5 and rows[2]["TPR at 1% FPR"] == 0.05
    assert rows[2]["TPR at 0.1% FPR"] == 0.005 and rows[2]["non-members"] == 50
    assert mia_rows(read_mia(None)) == []


def test_mia_flag_notes_name_each_status():
    flags = {
        "loss": {"status": "over-unlearning", "gap": -0.2, "margin": 0.05},
        "svc": {"status": "under-unlearning", "gap": 0.1, "margin": 0.04},
    }
    notes = mia_flag_notes(MiaFlags.from_dict(flags))
    assert [s for s, _ in notes] == ["over-unlearning", "under-unlearning"]
    assert "0.200 below" in notes[0][1] and "±0.050" in notes[0][1]
    assert "0.100 above" in notes[1][1]
    matches = {"svc": None, "loss": {"status": "matches retrained", "gap": -0.01, "margin": 0.05}}
    ((status, text),) = mia_flag_notes(MiaFlags.from_dict(matches))
    assert status == "matches retrained" and "-0.010" in text


def test_relearn_rows_and_command():
    relearn = {
        "original": None,
        "unlearned": {
            "epochs": 2,
            "more_than": None,
            "target_forget_acc": 0.9,
            "samples_per_epoch": 500,
            "max_epochs": 50,
        },
        "retrained": {
            "epochs": None,
            "more_than": 50,
            "target_forget_acc": 0.9,
            "samples_per_epoch": 500,
            "max_epochs": 50,
        },
    }
    rows = relearn_rows(read_relearn_time(relearn))
    assert [(r["model"], r["epochs to relearn"]) for r in rows] == [
        ("unlearned", "2"),
        ("retrained", "more than 50"),
    ]
    assert relearn_rows(read_relearn_time(dict.fromkeys(relearn))) == []
    assert relearn_rows(PerModel()) == []
    report = {"method": "unsir", "seed": 3, "forget": {"classes": [1, 2], "indices": []}}
    command = relearn_command(Report.from_dict(report), "m.safetensors")
    assert "--checkpoint m.safetensors --method unsir --forget-classes 1,2 " in command
    assert "--oracle --relearn --seed 3 --out runs/unsir-relearn" in command
    report["forget"] = {"classes": [], "indices": [4, 7]}
    assert "--forget-indices 4,7 " in relearn_command(Report.from_dict(report), "m.safetensors")


def test_card_rows():
    card = {
        "models": {
            "original": {
                "loss": 0.1,
                "confidence": 0.9,
                "predicted": 1,
                "predicted_class_name": "dog",
                "predicted_confidence": 0.9,
                "membership_score": 0.95,
                "neighbours": [
                    {"index": 3, "label": 1, "distance": 0.5},
                    {"index": 8, "label": 0, "distance": 0.6},
                ],
            },
            "retrained": None,
        }
    }
    (row,) = card_rows(card, ["cat", "dog"])
    assert row["model"] == "original" and row["loss"] == 0.1
    assert row["predicted"] == "dog (90%)" and row["membership score"] == 0.95
    assert "nearest neighbours" not in row  # a column of them scrolled sideways at 1280 px
    assert neighbour_lines(card, ["cat", "dog"]) == ["original: #3 dog, #8 cat"]


def test_verification_rows_share_removed():
    per_layer = [
        {"layer": "a", "with_update": 1.0, "without_update": 4.0},
        {"layer": "b", "with_update": 3.0, "without_update": 2.0},
        {"layer": "c", "with_update": 0.5, "without_update": 0.0},
    ]
    rows = verification_rows(read_layer_verification(per_layer))
    assert [r["share removed"] for r in rows] == [0.75, -0.5, None]
    assert rows[0]["with update"] == 1.0 and rows[0]["without update"] == 4.0
    assert verification_rows(None) == []


def test_svc_spread_rows_by_hand():
    spread = {"original": [{"efficacy": 0.1, "auc": 0.6}, {"efficacy": 0.9, "auc": 0.8}]}
    (row,) = svc_spread_rows(spread)
    assert row["model"] == "original" and row["draws"] == 2
    assert row["MIA-Efficacy mean"] == pytest.approx(0.5) and row["AUC mean"] == pytest.approx(0.7)
    assert row["MIA-Efficacy range"] == "0.100 – 0.900"
    (empty,) = svc_spread_rows({"unlearned": [{"efficacy": None, "auc": None}]})
    assert empty["AUC mean"] is None and empty["AUC range"] == "–"
