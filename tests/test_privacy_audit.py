"""The privacy audit end to end on a model that memorises (an MLP trained on demo-300 until it
fits every image): `none` is told apart from the retrained models, `retrain` is measured against
independent retrains; the relearning attack; the pool is trained once and reused; the command
line writes DESIGN.md's privacy.json and refuses bad input in one line; a cancelled audit
stores nothing."""

from __future__ import annotations

import json
import time

import pytest

from unlearn_core.checkpoint import load_checkpoint, read_weights, save_model, sha256_file
from unlearn_core.cli.main import main
from unlearn_core.data import load_dataset
from unlearn_core.engine.jobs import JobManager
from unlearn_core.engine.state import JobBoard
from unlearn_core.privacy.run import run_audit
from unlearn_core.privacy.spec import AuditSpec
from unlearn_core.privacy.store import AuditStore
from unlearn_core.training import Recipe, train

FORGET = [5, 31, 64, 90, 122, 150, 177, 203, 241, 288]  # ten images of demo-300
MODELS = 5


def audit_spec(memorising, method, **changes) -> AuditSpec:
    values = dict(
        checkpoint=memorising["path"],
        checkpoint_sha256=sha256_file(memorising["path"]),
        method=method,
        forget={"indices": FORGET},
        models=MODELS,
        attack_seeds=2,
        store_root=memorising["store"],
    )
    return AuditSpec(**{**values, **changes})


@pytest.fixture(scope="module")
def audits(memorising):
    """privacy.json of `none` and of `retrain` (the second reuses the first one's pool)."""
    return {m: run_audit(audit_spec(memorising, m)).privacy for m in ("none", "retrain")}


def test_none_remembers_and_retrain_is_a_real_measurement(audits):
    none, retrain = audits["none"], audits["retrain"]
    assert none["verdict"] == "remembers"
    assert none["attacks"]["ulira"]["auc_ci"][0] > 0.5
    # `none` is the original: its paired difference from the control is 0 on every draw
    assert none["control"]["difference"] == {"value": 0.0, "ci": [0.0, 0.0]}
    # `retrain`'s models are not its references (other seeds), so its AUC is measured, with
    # an interval around chance, and ten samples and five models cannot call it "forgotten"
    assert set(retrain["seeds"]).isdisjoint(retrain["reference_seeds"])
    low, high = retrain["attacks"]["ulira"]["auc_ci"]
    assert low < 0.5 < high and high - low > 0.05
    assert retrain["verdict"] == "inconclusive" and "models" in retrain["verdict_reason"]
    # the official challenge score: the retrained models' F above the original's
    assert retrain["challenge"]["forgetting_quality"] > none["challenge"]["forgetting_quality"]
    assert none["tow"]["mean"] < retrain["tow"]["mean"]


def test_the_relearning_attack_compares_with_the_retrained_models(audits):
    for privacy in audits.values():
        relearn = privacy["attacks"]["relearn"]
        assert relearn["steps"] == 20 and relearn["samples"] == 256
        for role in ("unlearned", "retrained"):
            assert len(relearn[role]["per_model"]) == MODELS
            for key in ("recovery", "forget_acc_after"):
                low, high = relearn[role][f"{key}_ci"]
                assert low <= relearn[role][key] <= high
        after = relearn["unlearned"]["forget_acc_after"] - relearn["retrained"]["forget_acc_after"]
        assert relearn["gap"] == pytest.approx(after)
    # `none` never forgot: after relearning it still knows the forget set better than models
    # that never saw it; `retrain`'s models are such models, so they end near them
    assert audits["none"]["attacks"]["relearn"]["beyond_retrained"]
    assert abs(audits["retrain"]["attacks"]["relearn"]["gap"]) < 0.15


def test_privacy_json_has_the_contracts_keys(audits):
    privacy = audits["none"]
    for key in ("models", "method", "forget", "verdict", "verdict_reason", "attacks"):
        assert key in privacy
    assert privacy["models"] == MODELS and privacy["forget"]["indices"] == FORGET
    for name in ("ulira", "loss", "svc"):
        attack = privacy["attacks"][name]
        for key in ("auc", "auc_ci", "tpr_at_1pct_fpr", "tpr_at_0_1pct_fpr", "per_sample"):
            assert key in attack, (name, key)
        assert len(attack["per_sample"]) == len(FORGET)
    assert set(privacy["challenge"]) >= {"forgetting_quality", "final_score", "epsilons"}
    assert len(privacy["challenge"]["epsilons"]) == len(FORGET)
    assert set(privacy["tow"]) >= {"mean", "ci_low", "ci_high"}
    # the turn-3 additions (DESIGN.md)
    assert privacy["margin"] == 0.05
    assert set(privacy["power"]) >= {"models_needed", "min_detectable_auc"}
    official = privacy["challenge"]["official"]
    assert official["forget_score"] == privacy["challenge"]["forgetting_quality"]
    assert len(official["epsilons"]) == len(FORGET)
    assert [s["index"] for s in privacy["samples"]] == FORGET
    for sample in privacy["samples"]:
        assert set(sample) == {
            "index",
            "epsilon",
            "ulira_score",
            "conf_unlearned",
            "conf_retrained",
        }
        assert 0 <= sample["conf_unlearned"] <= 1 and 0 <= sample["epsilon"] <= 50
    assert "relearn" in privacy["attacks"]
    json.dumps(privacy, allow_nan=False)


def test_the_pool_is_trained_once_and_reused(memorising, audits, monkeypatch):
    monkeypatch.setattr("unlearn_core.privacy.pool.train_seeds", _no_training)
    again = run_audit(audit_spec(memorising, "none")).privacy
    assert again["attacks"]["ulira"] == audits["none"]["attacks"]["ulira"]  # bitwise the same


def test_the_command_line_writes_privacy_json(memorising, audits, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        ["privacy-audit", "--checkpoint", memorising["path"], "--method", "none"]
        + ["--forget-indices", ",".join(map(str, FORGET)), "--models", str(MODELS)]
        + ["--attack-seeds", "2", "--executor", "inline", "--store", memorising["store"]]
        + ["--out", str(out)]
    )
    assert code == 0
    written = json.loads((out / "privacy.json").read_text())
    assert written["verdict"] == "remembers"
    assert capsys.readouterr().out.startswith("remembers: U-LiRA AUC")


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--method", "none", "--models", "2"], "--models must be"),
        (["--method", "nope", "--models", "4"], "unknown method"),
        (["--method", "none", "--models", "4", "--forget-indices", "999"], "out of range"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(memorising, tmp_path, capsys, flags, says):
    target = [] if "--forget-indices" in flags else ["--forget-indices", "1,2"]
    argv = ["privacy-audit", "--checkpoint", memorising["path"], *flags, *target]
    code = main(
        argv + ["--executor", "inline", "--store", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err.strip()
    assert code != 0 and says in err and "\n" not in err
    assert not (tmp_path / "o").exists()


def test_a_checkpoint_without_a_recipe_is_refused(memorising, tmp_path, capsys):
    bare = tmp_path / "bare.safetensors"
    data = load_dataset("demo-300")
    save_model(train("mlp", data, Recipe(epochs=1, probe_every=0), probes=False).model, bare)
    code = main(
        ["privacy-audit", "--checkpoint", str(bare), "--arch", "mlp", "--dataset", "demo-300"]
        + ["--method", "none", "--forget-indices", "1", "--executor", "inline"]
        + ["--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "bare.safetensors records no training recipe" in err
    assert "--recipe" in err and str(tmp_path) not in err and "\n" not in err


HANDED_RECIPE = {  # the memorising fixture's recipe, as an auditor would write it down
    "dataset": "demo-300",
    "arch": "mlp",
    "epochs": 40,
    "lr": 0.05,
    "batch_size": 32,
    "weight_decay": 0.0,
    "optimizer": "sgd",
    "seed": 0,
}


def _handed_model(memorising, folder) -> str:
    """The memorising model's weights alone, as a model handed to an auditor: no recipe."""
    data = load_dataset("demo-300")
    path = folder / "handed.safetensors"
    save_model(load_checkpoint(memorising["path"], data)[0].model, path)
    assert "recipe" not in read_weights(path)[1]
    return str(path)


def test_a_handed_model_is_audited_by_the_recipe_given(
    memorising, audits, tmp_path, capsys, monkeypatch
):
    """Given its true recipe, a model without one gets the audit of the checkpoint that
    records it, from the same pool (the pool key ignores seed and probe settings), bitwise."""
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps(HANDED_RECIPE))
    monkeypatch.setattr("unlearn_core.privacy.pool.train_seeds", _no_training)
    out = tmp_path / "out"
    code = main(
        ["privacy-audit", "--checkpoint", _handed_model(memorising, tmp_path), "--method"]
        + ["none", "--recipe", str(recipe), "--forget-indices", ",".join(map(str, FORGET))]
        + ["--models", str(MODELS), "--attack-seeds", "2", "--executor", "inline"]
        + ["--store", memorising["store"], "--out", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    written = json.loads((out / "privacy.json").read_text())
    assert written["attacks"]["ulira"] == audits["none"]["attacks"]["ulira"]
    given = {**Recipe.from_dict(HANDED_RECIPE).to_dict(), **HANDED_RECIPE, "source": "given"}
    assert written["recipe"] == given
    assert audits["none"]["recipe"]["source"] == "checkpoint"
    assert audits["none"]["recipe"]["probe_every"] == 0  # the memorising checkpoint's own


def _no_training(*args, **kwargs):
    raise AssertionError("the pool should have been read from the store")


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"lr": None}, "lacks lr"),
        ({"learning_rate": 0.1}, "unknown key 'learning_rate'"),
        ({"lr": "fast"}, "lr must be a finite number"),
        ({"epochs": 2.5}, "epochs must be a whole number"),
        ({"batch_size": 10**9}, "batch_size must lie in"),
        ({"optimizer": "lbfgs"}, "unknown optimizer"),
        ({"arch": 7}, "arch must be a name"),
    ],
)
def test_a_bad_recipe_file_is_one_line_and_writes_nothing(
    memorising, tmp_path, capsys, change, says
):
    values = {k: v for k, v in {**HANDED_RECIPE, **change}.items() if v is not None}
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps(values))
    code = main(
        ["privacy-audit", "--checkpoint", _handed_model(memorising, tmp_path), "--method"]
        + ["none", "--recipe", str(recipe), "--forget-indices", "1", "--executor", "inline"]
        + ["--store", str(tmp_path / "store"), "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and says in err and "\n" not in err, err
    assert not (tmp_path / "o").exists() and not (tmp_path / "store").exists()


@pytest.mark.parametrize("content", [b"[1, 2]", b"{", b'{"lr": NaN}', None])
def test_a_recipe_that_is_not_a_json_object_file_is_refused(memorising, tmp_path, capsys, content):
    recipe = tmp_path / "recipe.json"
    if content is None:
        recipe.mkdir()
    else:
        recipe.write_bytes(content)
    code = main(
        ["privacy-audit", "--checkpoint", memorising["path"], "--method", "none"]
        + ["--recipe", str(recipe), "--forget-indices", "1", "--executor", "inline"]
        + ["--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "recipe" in err and "\n" not in err, err


def test_a_cancelled_audit_stores_nothing(memorising, tmp_path):
    manager = JobManager(tmp_path)
    spec = audit_spec(memorising, "finetune", store_root=str(tmp_path / "fresh-pool"), models=8)
    job = manager.submit(spec)
    end = time.monotonic() + 60
    while manager.board.get(job.id).state == "queued" and time.monotonic() < end:
        manager.poll()
        time.sleep(0.05)
    JobBoard(tmp_path).request_cancel(job.id)
    (ended,) = manager.wait([job.id])
    assert ended.state == "cancelled" and ended.audit_id is None
    assert not AuditStore(tmp_path).folder.exists()
