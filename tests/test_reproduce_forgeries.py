"""Issue 28, findings 1 and 2: forgeries of an audit record whose SHA256SUMS (and the report's
weight hashes) were remade, so that `audit --verify` alone passes them. `--reproduce` must fail
each with one line: it recomputes every number from the weights and re-derives the verdicts."""

from __future__ import annotations

import contextlib
import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from safetensors.torch import load, save

from unlearn_core.checkpoint import load_checkpoint
from unlearn_core.cli.main import main
from unlearn_core.records.reproduce import verify_record
from unlearn_core.request import ForgetRequest
from unlearn_core.run.integrity import SUMS, verify_run
from unlearn_core.run.pipeline import unlearn_model
from unlearn_core.run.report import Report
from unlearn_core.run.store import write_run_folder
from unlearn_core.views.audit_page import audit_html
from unlearn_core.views.audit_record import write_audit_record


@pytest.fixture(scope="module")
def original(logreg_checkpoint) -> Path:
    return logreg_checkpoint


@pytest.fixture(scope="module")
def run_folder(demo, original, tmp_path_factory) -> Path:
    """A finetune run with the oracle (class 3): its honest verdict is "forgotten"."""
    trained, meta = load_checkpoint(original, demo)
    request = ForgetRequest.for_classes(demo, [3])
    run = unlearn_model(trained, meta, demo, request, "finetune", {"epochs": "1"}, oracle=True)
    return write_run_folder(run, tmp_path_factory.mktemp("forge") / "run")


@pytest.fixture(scope="module")
def record(run_folder) -> Path:
    return write_audit_record(run_folder, run_folder.parent / "record.zip")


def files_of(zip_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(zip_path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def forge(record: Path, target: Path, change, fooled: bool = True) -> Path:
    """The record with `change(files, report)` applied, then the weights' hashes in report.json
    and SHA256SUMS remade, as a forger would."""
    files = files_of(record)
    report = json.loads(files["report.json"])
    change(files, report)
    for name, key in (("model.safetensors", "unlearned"), ("retrained.safetensors", "retrained")):
        if name in files:
            report["checkpoints"][f"{key}_sha256"] = hashlib.sha256(files[name]).hexdigest()
    files["report.json"] = json.dumps(report).encode()
    files.pop(SUMS)
    sums = "".join(f"{hashlib.sha256(v).hexdigest()}  {k}\n" for k, v in files.items())
    with zipfile.ZipFile(target, "w") as zf:
        for name, data in {**files, SUMS: sums.encode()}.items():
            zf.writestr(name, data)
    if fooled:
        verify_run(target)  # the hash check alone is fooled by the forgery
    return target


def original_as_run_weights(original: Path) -> bytes:
    """The original checkpoint's weights as a run stores a model (model.-prefixed names)."""
    tensors = load(original.read_bytes())
    return save({k: v for k, v in tensors.items() if k.startswith("model.")})


def first_failure(checks) -> str:
    return next(c.line for c in checks if not c.passed)


def test_nan_accuracies_on_the_original_weights_fail(record, original, tmp_path, capsys):
    """Finding 1: the untouched original as the "unlearned" model with NaN accuracies."""

    def change(files, report):
        files["model.safetensors"] = original_as_run_weights(original)
        for key in ("forget_acc", "retain_acc", "test_acc"):
            report["metrics"]["unlearned"][key] = float("nan")

    forged = forge(record, tmp_path / "nan.zip", change, fooled=False)
    assert main(["audit", "--verify", str(forged), "--reproduce"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error == ["error: FAIL: hashes: report.json: is not valid JSON (run nan.zip); the run "
                     "cannot be trusted."]  # fmt: skip


def test_nan_against_a_number_is_a_mismatch():
    from unlearn_core.run.recompute import differences

    assert differences(0.5, float("nan")) == ["value"]
    assert differences(float("nan"), float("nan")) == ["value"]
    assert differences(0.5, float("inf")) == ["value"]
    assert differences(0.5, None) == ["value"] and differences(0.5, "0.5") == ["value"]
    assert differences([0.5, 1.0], [0.5]) == ["value"]
    assert differences({"a": 0.5}, {"a": 0.5}) == []


def test_a_nan_verdict_input_is_never_forgotten(run_folder):
    from unlearn_core.run.store import read_report
    from unlearn_core.run.verdict import verdict

    report = Report.from_dict(
        {
            **read_report(run_folder).to_dict(),
            "metrics": {
                **read_report(run_folder).to_dict()["metrics"],
                "unlearned": {"forget_acc": float("nan")},
            },
        }  # fmt: skip
    )
    assert verdict(report).outcome == "inconclusive"


def test_the_original_as_unlearned_model_says_so_on_the_first_line(record, original, tmp_path):
    def change(files, report):
        files["model.safetensors"] = original_as_run_weights(original)

    forged = forge(record, tmp_path / "same.zip", change)
    checks = verify_record(forged, checkpoint=original)
    assert checks[0].line == (
        "FAIL: weights: model.safetensors holds the original's weights, unchanged: the method "
        "finetune changed nothing"
    )


def test_the_original_as_both_models_fails_even_without_the_checkpoint(record, original, tmp_path):
    def change(files, report):
        files["model.safetensors"] = files["retrained.safetensors"] = original_as_run_weights(
            original
        )
        report["metrics"]["unlearned"] = report["metrics"]["retrained"] = report["metrics"][
            "original"
        ]

    forged = forge(record, tmp_path / "both.zip", change)
    checks = verify_record(forged)
    assert checks[0].line == (
        "FAIL: weights: retrained.safetensors is model.safetensors: no independent retrained model"
    )
    assert verify_record(forged, checkpoint=original)[0].line.startswith(
        "FAIL: weights: model.safetensors holds the original's weights"
    )


def edit(path: str, value):
    """A change that sets report.json's key at the dotted `path` to `value`."""

    def change(files, report):
        *parents, last = path.split(".")
        node = report
        for key in parents:
            node = node[key]
        node[int(last) if isinstance(node, list) else last] = value

    return change


@pytest.mark.parametrize(
    "change, failing",
    [
        (edit("metrics.original.forget_acc", 0.999), "FAIL: original model: forget_acc is"),
        (edit("metrics.unlearned.per_class_acc.0", 0.123), "FAIL: unlearned model: per_class_acc"),
        (edit("metrics.retrained.forget_loss", 9.0), "FAIL: retrained model: forget_loss is"),
        (edit("mia.unlearned.loss.auc", 0.5), "FAIL: attacks and gaps: report.json's mia."),
        (edit("gaps_to_retrained.forget_acc", 0.25), "FAIL: attacks and gaps: report.json's gaps"),
        (edit("mia_flags", None), "FAIL: attacks and gaps: report.json's mia_flags"),
        (edit("method", "neggrad"), "FAIL: method and config: config is not neggrad's settings"),
        (edit("config.epochs", "two"), "FAIL: method and config:"),
        (edit("prediction_distribution.unlearned.3", 77), "FAIL: unlearned model: prediction"),
    ],
)
def test_an_edited_number_or_label_fails(record, original, tmp_path, change, failing):
    forged = forge(record, tmp_path / "edited.zip", change)
    assert first_failure(verify_record(forged, checkpoint=original)).startswith(failing)


def test_an_edited_verdict_sentence_fails(record, original, tmp_path):
    def change(files, report):
        page = files["audit.html"].decode()
        files["audit.html"] = page.replace(
            "its forget accuracy is", "its forget accuracy was"
        ).encode()

    forged = forge(record, tmp_path / "sentence.zip", change)
    assert first_failure(verify_record(forged, checkpoint=original)) == (
        "FAIL: verdict: audit.html's verdict sentence is not the one the recomputed numbers give"
    )


def test_a_dropped_retrained_model_fails(record, original, tmp_path):
    def change(files, report):
        files.pop("retrained.safetensors")
        report["checkpoints"]["retrained_sha256"] = None

    forged = forge(record, tmp_path / "dropped.zip", change)
    assert first_failure(verify_record(forged, checkpoint=original)).startswith(
        "FAIL: oracle: report.json shows a retrained model (metrics.retrained, mia.retrained, "
        "mia_flags) but the record holds no retrained.safetensors"
    )


def privacy_json(report: dict, verdict: str, low: float, **changes) -> bytes:
    """A privacy audit of the record's request whose U-LiRA interval is [low, low + 0.08] and
    whose control tells the original models apart: the paired rule gives "forgotten" inside
    0.5 +- 0.05 and "remembers" above it."""
    rates = {"tpr_at_1pct_fpr": 0.01, "tpr_at_0_1pct_fpr": 0.001}
    attack = {"auc": low + 0.04, "auc_ci": [low, low + 0.08], **rates}
    privacy = {
        "models": 8,
        "method": report["method"],
        "config": report["config"],
        "forget": report["forget"],
        "checkpoint_sha256": report["checkpoints"]["original_sha256"],
        "verdict": verdict,
        "verdict_reason": "",
        "attacks": {"ulira": attack},
        "control": {
            "ulira": {"auc": 0.9, "auc_ci": [0.85, 0.95], **rates},
            "difference": {"value": 0.4, "ci": [0.3, 0.5]},
        },
        "margin": 0.05,
        "power": {"models_needed": 8, "min_detectable_auc": 0.6, "max_models_tried": 256},
        "challenge": {"forgetting_quality": 0.5, "final_score": 0.4},
        "tow": {"mean": 0.9, "ci_low": 0.8, "ci_high": 1.0},
        "avg_gap": {"mean": 0.1, "ci_low": 0.0, "ci_high": 0.2},
        "seeds": list(range(8)),
        "oracle_convention": "standard",
        **changes,
    }
    from unlearn_core.privacy.scores import rederive_verdict

    with contextlib.suppress(TypeError):  # models=None: the check must say it cannot re-derive
        privacy["verdict_reason"] = rederive_verdict(privacy)[1]
    return json.dumps(privacy).encode()


def with_privacy(verdict: str, low: float, **changes):
    def change(files, report):
        files["privacy.json"] = privacy_json(report, verdict, low, **changes)
        privacy = json.loads(files["privacy.json"])
        page = audit_html(Report.from_dict(report), privacy=privacy)
        files["audit.html"] = page.encode()

    return change


def test_a_consistent_privacy_audit_reproduces(record, original, tmp_path, demo):
    forged = forge(record, tmp_path / "p.zip", with_privacy("forgotten", 0.45))
    checks = verify_record(forged, lambda name: demo, checkpoint=original)
    assert all(c.passed for c in checks), [c.line for c in checks]
    assert "privacy audit" in [c.name for c in checks]


@pytest.mark.parametrize(
    "change, failing",
    [
        (
            with_privacy("forgotten", 0.6),  # its own interval lies above 0.5: remembers
            "FAIL: privacy audit: privacy.json says 'forgotten'; its own attack results give "
            "'remembers'",
        ),
        (
            with_privacy("forgotten", 0.45, forget={"classes": [4]}),
            "FAIL: privacy audit: privacy.json audits another forget request",
        ),
        (
            with_privacy("forgotten", 0.45, config={"epochs": 9}),
            "FAIL: privacy audit: privacy.json audits another configuration of the method",
        ),
        (
            with_privacy("forgotten", 0.45, models=None),
            "FAIL: privacy audit: privacy.json's verdict cannot be re-derived",
        ),
    ],
)
def test_a_privacy_verdict_flipped_or_borrowed_fails(record, original, tmp_path, change, failing):
    forged = forge(record, tmp_path / "p.zip", change)
    assert first_failure(verify_record(forged, checkpoint=original)).startswith(failing)


def test_audit_run_refuses_a_nan_report(run_folder, tmp_path, capsys):
    """Finding 1's `audit --run` said "forgotten" for NaN accuracies: NaN is no JSON."""
    import shutil

    folder = tmp_path / "nanrun"
    shutil.copytree(run_folder, folder)
    report = json.loads((folder / "report.json").read_text())
    report["metrics"]["unlearned"]["forget_acc"] = float("nan")
    (folder / "report.json").write_text(json.dumps(report))
    sums = "".join(
        f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}\n"
        for n in sorted(p.name for p in folder.iterdir())
        if n != SUMS
    )
    (folder / SUMS).write_text(sums)
    assert main(["audit", "--run", str(folder), "--out", str(tmp_path / "a.html")]) == 2
    assert "is not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "a.html").exists()


def test_an_edited_original_number_fails_with_or_without_the_checkpoint(record, original, tmp_path):
    """The original's weights are not in a record: without --checkpoint its numbers are taken
    as recorded, yet audit.html's verdict sentence, made from the true ones, no longer follows
    from them; with the checkpoint the number itself fails."""
    forged = forge(record, tmp_path / "orig.zip", edit("metrics.original.forget_acc", 0.999))
    assert first_failure(verify_record(forged)) == (
        "FAIL: verdict: audit.html's verdict sentence is not the one the recomputed numbers give"
    )
    assert first_failure(verify_record(forged, checkpoint=original)).startswith(
        "FAIL: original model: forget_acc is"
    )
