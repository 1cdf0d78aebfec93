"""The audit record: the HTML shows what an auditor needs, escapes what it shows, fetches nothing,
and the zip holds the run's files with sha256 sums that match them."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import re
import zipfile

import pytest
import torch
from plotly.offline import get_plotlyjs
from torch import nn

from unlearn_core.cli.audit import add_parsers, run_audit
from unlearn_core.errors import UserError
from unlearn_core.privacy.store import AuditStore
from unlearn_core.run.pipeline import RunRecord
from unlearn_core.run.report import Report
from unlearn_core.run.store import write_run_folder
from unlearn_core.views.audit_page import audit_html
from unlearn_core.views.audit_record import write_audit_record
from unlearn_core.views.compare import comparison_rows

HOSTILE = "<script>alert(1)</script>"
CLASSES = ["zero", "one", HOSTILE]


def metrics(forget: float, retain: float) -> dict:
    return {
        "forget_acc": forget,
        "retain_acc": retain,
        "test_acc": 0.8125,
        "per_class_acc": [0.9, 0.8, 0.7],
        "mia_auc": 0.5625,
        "forget_loss": 1.25,
    }


def attack(auc: float) -> dict:
    roc = {"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 0.75, 1.0]}
    return {
        "auc": auc,
        "tpr_at_1pct_fpr": 0.03125,
        "tpr_at_0_1pct_fpr": 0.0,
        "members": 4,
        "nonmembers": 8,
        "roc": roc,
    }


def make_report(**changes) -> Report:
    """A report as the pipeline writes it (hand-made: no model is trained)."""
    report = {
        "method": "unsir",
        "run_id": "20260101-000000-unsir-abcdef",
        "config": {"lr": 0.0123, "noise_steps": 7, "note": HOSTILE},
        "seed": 4242,
        "dataset": "toy",
        "arch": "logreg",
        "device": "cpu",
        "forget": {"classes": [], "indices": [11, 23, 35], "count": 3},
        "timing": {"unlearn_seconds": 1.5, "retrain_seconds": 6.0},
        "metrics": {
            "original": metrics(0.9375, 0.875),
            "unlearned": metrics(0.3125, 0.8671875),
            "retrained": metrics(0.28125, 0.86328125),
        },
        "gaps_to_retrained": {"forget_acc": 0.03125},
        "mia": {
            m: {"loss": attack(a), "svc": None}
            for m, a in (("original", 0.71875), ("unlearned", 0.53125), ("retrained", 0.515625))
        },
        "mia_flags": {"loss": {"status": "matches retrained", "gap": 0.015, "margin": 0.2}},
        "speedup_over_retrain": 4.0,
        "layer_distance": [
            {"layer": "fc.weight", "to_original": 0.5, "to_retrained": 0.25},
            {"layer": "fc.bias", "to_original": 0.125, "to_retrained": 0.0625},
        ],
        "prediction_distribution": {
            "original": [3, 0, 0],
            "unlearned": [0, 2, 1],
            "retrained": [0, 1, 2],
        },
        "selected_slices": None,
        "unlearning_error": None,
        "verification_error": 0.046875,
        "checkpoints": {"original_sha256": "a1" * 32, "unlearned_sha256": None},
        "recipe": {"optimizer": "sgd", "lr": 0.05, "epochs": 3, "seed": 17},
        "versions": {"unlearn_core": "0.1.0", "torch": torch.__version__},
    }
    report.update(changes)
    return Report.from_dict(report)


@pytest.fixture
def run_folder(tmp_path):
    torch.manual_seed(0)
    record = RunRecord(make_report(), nn.Linear(4, 3), nn.Linear(4, 3))
    return write_run_folder(record, tmp_path / "run")


def cli(*argv: str) -> None:
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    run_audit(parser.parse_args(["audit", *argv]))


def test_html_shows_hashes_forget_list_config_and_metrics():
    page = audit_html(
        make_report(
            checkpoints={
                "original_sha256": "a1" * 32,
                "unlearned_sha256": "b2" * 32,
                "retrained_sha256": "c3" * 32,
            }
        )
    )
    for digest in ("a1" * 32, "b2" * 32, "c3" * 32):
        assert digest in page
    assert "11, 23, 35" in page
    assert "0.0123" in page and "noise_steps" in page and ">7<" in page and "4242" in page
    assert "0.3125" in page and "0.2812" in page  # unlearned and retrained forget accuracy
    assert "0.7188" in page and "0.03125" in page  # original loss-attack AUC, TPR at 1% FPR
    assert "matches retrained" in page and "0.04688" in page  # MIA flag, verification error
    assert "Metric definitions" in page and "Thudi et al." in page and "Carlini et al." in page
    assert page.count('class="plotly-graph-div"') == 3  # predictions, distances, ROC


def test_html_is_self_contained():
    page = audit_html(make_report())
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.IGNORECASE)
    assert not re.search(r"<link[^>]*href\s*=\s*[\"']?https?:", page, re.IGNORECASE)
    assert page.count("Plotly.newPlot") == 3
    assert page.count(get_plotlyjs()[-2000:]) == 1  # plotly.js inlined once


def test_hostile_strings_are_escaped():
    report = make_report(forget={"classes": [2], "indices": [], "count": 5})
    page = audit_html(report, class_names=CLASSES)
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the config note, shown as text
    assert "2 (&lt;script&gt;" in page  # the forgotten class's name
    assert "\\u003cscript\\u003ealert(1)" in page  # in the figure's JSON, inert


def test_a_run_without_oracle_says_so():
    report = make_report(mia=None, mia_flags=None, gaps_to_retrained=None)
    report = dataclasses.replace(
        report, metrics=dataclasses.replace(report.metrics, retrained=None)
    )
    page = audit_html(report)
    assert "No retrained oracle" in page and "no membership-inference block" in page


def test_zip_holds_the_run_and_sums_that_match(run_folder, tmp_path):
    out = write_audit_record(run_folder, tmp_path / "audit.zip", CLASSES)
    assert out == tmp_path / "audit.zip"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".audit.zip")]  # no temp left
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        files = {name: zf.read(name) for name in names}
    assert names == {
        "report.json",
        "request.json",
        "model.safetensors",
        "retrained.safetensors",
        "audit.html",
        "SHA256SUMS",
    }
    sums = dict(reversed(line.split("  ", 1)) for line in files["SHA256SUMS"].decode().splitlines())
    assert set(sums) == names - {"SHA256SUMS"}
    for name, digest in sums.items():
        assert hashlib.sha256(files[name]).hexdigest() == digest
    assert files["model.safetensors"] == (run_folder / "model.safetensors").read_bytes()
    report = json.loads(files["report.json"])
    assert report["checkpoints"]["unlearned_sha256"] in files["audit.html"].decode()


def test_zip_into_a_folder_and_without_a_retrained_model(tmp_path):
    record = RunRecord(make_report(), nn.Linear(4, 3))
    folder = write_run_folder(record, tmp_path / "run-b")
    out = write_audit_record(folder, tmp_path)
    assert out == tmp_path / "run-b-audit.zip"
    assert "retrained.safetensors" not in zipfile.ZipFile(out).namelist()


def test_a_tampered_run_is_refused(run_folder, tmp_path):
    (run_folder / "model.safetensors").write_bytes(b"swapped weights")
    with pytest.raises(UserError, match=r"^model\.safetensors: does not match SHA256SUMS"):
        write_audit_record(run_folder, tmp_path / "audit.zip")
    assert not (tmp_path / "audit.zip").exists()


def test_comparison_rows_put_runs_side_by_side():
    rows = comparison_rows({"A": make_report(), "B": make_report(method="lfoci", seed=1)})
    by_field = {row["field"]: row for row in rows}
    assert by_field["method"] == {"field": "method", "A": "unsir", "B": "lfoci"}
    assert by_field["unlearned: Forget accuracy"]["A"] == "0.3125"
    assert by_field["config: lr"]["B"] == "0.0123"
    assert by_field["forget count"]["A"] == "3"


@pytest.mark.parametrize("name", ["record.zip", "page.html"])
def test_cli_audit_writes_the_record(run_folder, tmp_path, name, capsys):
    cli("--run", str(run_folder), "--out", str(tmp_path / name))
    assert f"wrote {tmp_path / name}" in capsys.readouterr().out
    payload = (tmp_path / name).read_bytes()
    page = (
        zipfile.ZipFile(io.BytesIO(payload)).read("audit.html") if name.endswith("zip") else payload
    )
    assert b"11, 23, 35" in page and b"<script>alert" not in page


def test_cli_audit_finds_a_run_by_id_in_the_store(tmp_path):
    torch.manual_seed(0)
    write_run_folder(RunRecord(make_report(), nn.Linear(4, 3)), tmp_path / "runs" / "run-c")
    cli("--run", "run-c", "--out", str(tmp_path / "out"))  # conftest: the store is tmp/runs
    assert zipfile.ZipFile(tmp_path / "out" / "run-c-audit.zip").read("report.json")


def test_cli_audit_refuses_a_folder_that_is_no_run(tmp_path):
    with pytest.raises(UserError, match="not a run folder"):
        cli("--run", str(tmp_path), "--out", str(tmp_path / "x.zip"))
    with pytest.raises(UserError, match="no run 'nope'"):
        cli("--run", "nope", "--out", str(tmp_path / "x.zip"))
    assert not (tmp_path / "x.zip").exists()


def test_the_record_says_what_the_features_still_know():
    probe = {
        "original": {"accuracy": 0.96875, "ci_low": 0.9, "ci_high": 0.99, "n_test": 64},
        "unlearned": {"accuracy": 0.90625, "ci_low": 0.81, "ci_high": 0.96, "n_test": 64},
        "retrained": {"accuracy": 0.71875, "ci_low": 0.6, "ci_high": 0.81, "n_test": 64},
    }
    summary = {
        "per_group": 100,
        "seed": 0,
        "probe": {
            "task": "forgotten class vs rest",
            "layer": "penultimate",
            "probe": probe,
            "flag": True,
        },
        "cka": {
            "layers": ["0", "penultimate"],
            "original_vs_unlearned": [0.9921875, 0.4375],
            "unlearned_vs_retrained": [0.5, 0.3125],
        },
    }
    page = audit_html(make_report(representations=summary))
    section = page[page.index("What the features still know") :]
    assert "still encode what was forgotten" in section
    assert "0.9062" in section and "0.7188" in section and "[0.81, 0.96]" in section
    assert "0.9922" in section and "0.3125" in section
    assert "Not measured" in audit_html(make_report(representations=None))


def _privacy(method: str, verdict: str, reason: str) -> dict:
    """A privacy.json of the fixture run's request (hand-made numbers)."""
    block = {
        "auc": 0.96,
        "auc_ci": [0.93, 0.98],
        "tpr_at_1pct_fpr": 0.5,
        "tpr_at_0_1pct_fpr": 0.25,
        "per_sample": [],
    }
    report = make_report()
    return {
        "models": 8,
        "method": method,
        "config": report.config,
        "forget": {"classes": [], "indices": [11, 23, 35], "count": 3},
        "checkpoint_sha256": "a1" * 32,
        "verdict": verdict,
        "verdict_reason": reason,
        "attacks": {"ulira": block, "loss": block, "svc": block},
        "challenge": {"forgetting_quality": 0.25, "final_score": 0.2, "epsilons": [2.0] * 3},
        "tow": {"mean": 0.8, "ci_low": 0.7, "ci_high": 0.9},
        "avg_gap": {"mean": 0.1, "ci_low": 0.05, "ci_high": 0.15},
        "seeds": list(range(8)),
        "oracle_convention": "standard",
    }


def test_the_record_holds_the_runs_privacy_audit(run_folder, tmp_path, capsys):
    store = AuditStore(tmp_path)  # the run's store: the folder above the run
    store.save(_privacy("finetune", "forgotten", "another method's audit"))
    audit_id = store.save(_privacy("unsir", "remembers", "U-LiRA tells <them> apart."))
    out = write_audit_record(run_folder, tmp_path / "audit.zip", CLASSES)
    with zipfile.ZipFile(out) as zf:
        privacy = json.loads(zf.read("privacy.json"))
        page = zf.read("audit.html").decode()
    assert privacy["audit_id"] == audit_id and privacy["verdict"] == "remembers"
    assert "U-LiRA tells &lt;them&gt; apart." in page and "another method" not in page
    cli("--verify", str(out))  # privacy.json is listed in SHA256SUMS like every other file
    first, second = capsys.readouterr().out.splitlines()[:2]
    assert first.startswith("unsigned:") and second.startswith("ok:")


def test_the_record_shows_the_margin_the_paired_control_power_and_relearning():
    """Issue 22: what the verdict rests on, and the relearning attack beside it."""
    privacy = _privacy("unsir", "remembers", "U-LiRA tells them apart.")
    recovered = {
        "recovery": 0.4,
        "recovery_ci": [0.3, 0.5],
        "forget_acc_after": 0.45,
        "per_model": [0.4] * 8,
    }
    privacy |= {
        "margin": 0.05,
        "control": {"ulira": {"auc_ci": [0.97, 0.99]}, "difference": {"ci": [0.01, 0.05]}},
        "power": {"models_needed": 8, "min_detectable_auc": 0.61, "max_models_tried": 256},
    }
    privacy["attacks"]["relearn"] = {
        "steps": 20,
        "samples": 256,
        "unlearned": recovered,
        "retrained": {**recovered, "recovery": 0.0, "recovery_ci": [0.0, 0.01]},
        "gap": 0.4,
        "gap_ci": [0.3, 0.5],
        "beyond_retrained": True,
    }
    page = audit_html(make_report(), privacy=privacy)
    section = page[page.index("Privacy audit over many models") :]
    assert "equivalence margin 0.05" in section and "official scorer" in section
    assert "[0.010, 0.050]" in section  # the paired difference
    assert "models that would settle it" in section and "0.610" in section
    assert "hidden, not removed" in section  # the relearning attack's sentence
    assert section.count("<tr>") >= 3 + 1  # three attacks, not a row for the relearning one


def test_the_record_says_when_there_is_no_audit(run_folder):
    assert "No privacy audit" in audit_html(make_report(), privacy=None)


def test_the_record_names_the_supplied_file_and_the_data_sets_content():
    """Issue 15, item 3: the file as uploaded beside the re-saved one, and the data set by its
    content hash rather than a path on the server."""
    checkpoints = {
        "original_sha256": "a1" * 32,
        "original_file": "theirs-0123456789.safetensors",
        "source_file": "theirs.pt",
        "source_sha256": "b2" * 32,
    }
    page = audit_html(
        make_report(
            checkpoints=checkpoints, data_sha256="d4" * 32, data_source="/srv/x/fashion.npz"
        )
    )
    assert re.search(r"original, as supplied</td><td>theirs\.pt</td><td[^>]*>(b2){32}<", page)
    assert re.search(r"original</td><td>theirs-0123456789\.safetensors</td><td[^>]*>(a1){32}", page)
    assert re.search(r"data set toy \(its tensors\)</td><td></td><td[^>]*>(d4){32}<", page)
    assert "fashion.npz" in page and "/srv/x" not in page


def test_the_record_lists_who_asked_and_a_class_requests_indices():
    forget = {"classes": [2], "indices": [4, 9], "count": 2, "requester": HOSTILE}
    page = audit_html(make_report(forget={**forget, "request_date": "2024-02-29"}), None, CLASSES)
    assert "<td>requested by</td><td>&lt;script&gt;" in page
    assert "<td>request date</td><td>2024-02-29</td>" in page
    assert "every training image labelled with these classes" in page
    assert '<p class="mono">4, 9</p>' in page
    assert "<td>requested by</td><td>not recorded</td>" in audit_html(make_report())
