"""The Attribution, Privacy and Verification pages through AppTest, on the fixture's run store
(`app_store`): every number a page shows is compared with report.json or recomputed from the
stored models by the library, and bad input ends in one st.error with the page still there.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import DEMO_CHECKPOINT, ROOT
from streamlit.testing.v1 import AppTest

from unlearn_core.checkpoint import load_checkpoint
from unlearn_core.metrics.attribution import explain, faithfulness_summary
from unlearn_core.metrics.sample_card import sample_card
from unlearn_core.request import ForgetRequest
from unlearn_core.run.store import load_run_model, read_report_dict
from unlearn_core.views import figures as viz

ATTRIBUTION, PRIVACY, VERIFICATION = (
    str(ROOT / "app_pages" / name) for name in ("attribution.py", "privacy.py", "verification.py")
)


def page(script: str, store, monkeypatch, runs=(), **state) -> AppTest:
    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(store))
    at = AppTest.from_file(script, default_timeout=300)
    at.session_state["open_runs"] = list(runs)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def array(value) -> np.ndarray:
    """A trace's data as numpy: plotly writes numpy arrays as base64 typed arrays."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return flat.reshape([int(s) for s in value["shape"].split(",")])
    return np.asarray(value)


def table(at: AppTest, index: int) -> list[dict]:
    return at.dataframe[index].value.to_dict("records")


def texts(elements) -> str:
    return " ".join(e.value for e in elements)


@pytest.fixture(scope="module")
def stored(app_store, demo):
    """The fixture's runs as the library reads them: reports, folders, original model."""
    root = Path(app_store["root"])
    runs = {
        m: {"id": app_store[m], "folder": root / app_store[m]}
        for m in ("unsir", "lfoci", "single-gradient")
    }
    for run in runs.values():
        run["report"] = read_report_dict(run["folder"])
        run["request"] = ForgetRequest.from_dict(demo, run["report"]["forget"])
    original = load_checkpoint(DEMO_CHECKPOINT, demo)[0].model
    return {"root": root, "runs": runs, "original": original}


def models_of(stored, demo, method: str) -> dict:
    folder = stored["runs"][method]["folder"]
    retrained = (folder / "retrained.safetensors").is_file()
    return {
        "original": stored["original"],
        "unlearned": load_run_model(folder, demo),
        "retrained": load_run_model(folder, demo, "retrained") if retrained else None,
    }


# --- page 7: Attribution ------------------------------------------------------------------------


def test_attribution_shows_three_models_their_differences_and_the_deletion_check(
    stored, demo, monkeypatch
):
    run = stored["runs"]["unsir"]
    at = page(ATTRIBUTION, stored["root"], monkeypatch, [run["id"]])
    assert not at.exception and not at.error
    forget = run["request"].forget_indices
    indices = [*forget[:3].tolist(), int(run["request"].retain_indices[0])]
    assert at.text_input[0].value == ", ".join(map(str, indices))

    expected = explain(models_of(stored, demo, "unsir"), demo, indices, "gradcam")
    (fig,) = figures(at)
    traces = fig["data"]
    names = [t["name"] for t in traces[:7]]  # the first row: image, 3 maps, 3 differences
    assert names == ["image", "original", "unlearned", "retrained", *expected.differences]
    per_row = len(names)
    for row in range(len(indices)):
        for name, trace in zip(names[1:], traces[row * per_row + 1 :], strict=False):
            source = expected.maps.get(name, expected.differences.get(name))
            np.testing.assert_allclose(array(trace["z"]), source[row].numpy(), atol=1e-5)
    titles = [a["text"] for a in fig["layout"]["annotations"]]
    assert f"#{indices[0]} Dress<br>forgotten" in titles
    assert f"#{indices[3]} {demo.class_names[int(demo.train_y[indices[3]])]}<br>retained" in titles
    assert not any("-0.00" in t or "−0.00" in t for t in titles)  # "Δp > −0.01" instead
    assert fig["layout"]["width"] == 7 * viz.TILE + 6 * viz.TILE_GAP + 20  # fixed-size tiles

    summary = faithfulness_summary(expected)
    rows = {r["model"]: r for r in table(at, 0)}
    assert set(rows) == {"original", "unlearned", "retrained"}
    for model, s in summary.items():
        assert rows[model]["drop, top pixels"] == pytest.approx(s["mean_drop"], abs=1e-5)
        assert rows[model]["drop, random pixels"] == pytest.approx(s["mean_random_drop"], abs=1e-5)
        assert rows[model]["map beats random"] == (s["mean_drop"] > s["mean_random_drop"])


def test_attribution_kind_layer_and_target_reach_the_maps(stored, demo, monkeypatch):
    run = stored["runs"]["unsir"]
    at = page(ATTRIBUTION, stored["root"], monkeypatch, [run["id"]])
    at.text_input(key=f"attribution_indices-{run['id']}").input("5, 7")
    at.selectbox(key="attribution_kind").select("activation")
    layers = at.selectbox(key="attribution_layer-smallcnn").options
    at.selectbox(key="attribution_layer-smallcnn").select(layers[0])
    at.selectbox(key="attribution_target").select(0)
    at.button[0].click().run()
    assert not at.exception and not at.error
    expected = explain(
        models_of(stored, demo, "unsir"),
        demo,
        [5, 7],
        "activation",
        layer=layers[0],
        target_class=0,
    )
    traces = figures(at)[0]["data"]
    np.testing.assert_allclose(
        array(traces[2]["z"]), expected.maps["unlearned"][0].numpy(), atol=1e-5
    )
    rows = {r["model"]: r for r in table(at, 0)}
    s = faithfulness_summary(expected)["retrained"]
    assert rows["retrained"]["confidence"] == pytest.approx(np.mean(s["confidence"]), abs=1e-5)


def test_attribution_without_the_oracle_says_so_and_shows_two_models(stored, monkeypatch):
    at = page(ATTRIBUTION, stored["root"], monkeypatch, [stored["runs"]["lfoci"]["id"]])
    assert not at.exception and not at.error
    assert "no retrained model" in texts(at.info)
    names = {t["name"] for t in figures(at)[0]["data"]}
    assert names == {"image", "original", "unlearned", "unlearned-original"}
    assert [r["model"] for r in table(at, 0)] == ["original", "unlearned"]


@pytest.mark.parametrize(
    "typed, message", [("0, 99999", "index 99999 is out of range"), ("3, x", "whole numbers")]
)
def test_attribution_bad_index_is_one_error(stored, monkeypatch, typed, message):
    run_id = stored["runs"]["unsir"]["id"]
    at = page(ATTRIBUTION, stored["root"], monkeypatch, [run_id])
    at.text_input(key=f"attribution_indices-{run_id}").input(typed)
    at.button[0].click().run()
    assert not at.exception
    assert len(at.error) == 1 and message in at.error[0].value
    assert not at.get("plotly_chart") and at.text_input  # the form stays usable


def test_pages_without_an_open_run_say_how_to_open_one(stored, monkeypatch):
    for script in (ATTRIBUTION, PRIVACY):
        at = page(script, stored["root"], monkeypatch)
        assert not at.exception and not at.error
        assert "No run is open" in texts(at.info)


# --- page 8: Privacy ----------------------------------------------------------------------------


def test_privacy_shows_the_report_roc_table_flags_and_card(stored, demo, monkeypatch):
    run = stored["runs"]["unsir"]
    report = run["report"]
    at = page(PRIVACY, stored["root"], monkeypatch, [run["id"]])
    assert not at.exception and not at.error

    roc = figures(at)[0]
    assert roc["layout"]["xaxis"]["type"] == "log" and roc["layout"]["yaxis"]["type"] == "log"
    curves = {t["name"]: t for t in roc["data"]}
    for model, attacks in report["mia"].items():
        for attack, s in attacks.items():
            trace = curves[f"{model}, {attack} attack (AUC {s['auc']:.3f})"]
            np.testing.assert_allclose(array(trace["x"]), s["roc"]["fpr"])
            np.testing.assert_allclose(array(trace["y"]), s["roc"]["tpr"])

    rows = table(at, 0)
    assert len(rows) == 6  # 3 models x 2 attacks
    attack_key = {"loss threshold (Yeom et al.)": "loss", "SVC on confidence (Jia et al.)": "svc"}
    for row in rows:
        s = report["mia"][row["model"]][attack_key[row["attack"]]]
        assert row["AUC"] == s["auc"]
        assert row["TPR at 1% FPR"] == s["tpr_at_1pct_fpr"]
        assert row["TPR at 0.1% FPR"] == s["tpr_at_0_1pct_fpr"]

    flags = report["mia_flags"]
    shown = texts([*at.success, *at.warning])
    for flag in flags.values():
        assert f"{flag['gap']:+.3f}" in shown or f"{-flag['gap']:.3f}" in shown
    assert len(at.success) == sum(f["status"] == "matches retrained" for f in flags.values())
    assert "--relearn" in texts(at.info) and "--forget-classes 3" in at.code[0].value

    index = int(run["request"].forget_indices[0])
    assert at.number_input(key=f"card_index-{run['id']}").value == index
    unlearned = models_of(stored, demo, "unsir")["unlearned"]  # one model: each takes seconds
    expected = sample_card(index, {"unlearned": unlearned}, demo, run["request"])["models"]
    card = {r["model"]: r for r in table(at, 1)}
    assert list(card) == ["original", "unlearned", "retrained"]
    assert card["unlearned"]["loss"] == pytest.approx(expected["unlearned"]["loss"], rel=1e-5)
    score = expected["unlearned"]["membership_score"]
    assert card["unlearned"]["membership score"] == pytest.approx(score)
    first = expected["unlearned"]["neighbours"][0]
    neighbours = next(m.value for m in at.markdown if "Nearest retained neighbours" in m.value)
    assert f"- unlearned: #{first['index']} " in neighbours  # a list under the table


def test_privacy_without_the_oracle_has_no_flags(stored, monkeypatch):
    at = page(PRIVACY, stored["root"], monkeypatch, [stored["runs"]["lfoci"]["id"]])
    assert not at.exception and not at.error
    assert "no target" in texts(at.info) and not at.warning and not at.success
    assert {r["model"] for r in table(at, 0)} == {"original", "unlearned"}
    assert "--forget-indices 2" in at.code[0].value


def test_privacy_draws_a_measured_relearn_time(stored, tmp_path, monkeypatch):
    """A copy of the unsir run whose report holds relearn times, in a store of its own."""
    run = stored["runs"]["unsir"]
    shutil.copytree(run["folder"], tmp_path / run["id"])
    relearn = {
        "original": None,
        "unlearned": {
            "epochs": 3,
            "more_than": None,
            "target_forget_acc": 0.9,
            "forget_acc_per_epoch": [0.0, 0.4, 0.8, 0.95],
            "samples_per_epoch": 500,
            "max_epochs": 5,
            "seed": 0,
        },
        "retrained": {
            "epochs": None,
            "more_than": 5,
            "target_forget_acc": 0.9,
            "forget_acc_per_epoch": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
            "samples_per_epoch": 500,
            "max_epochs": 5,
            "seed": 0,
        },
    }
    report_path = tmp_path / run["id"] / "report.json"
    report_path.write_text(json.dumps({**run["report"], "relearn_time": relearn}))
    at = page(PRIVACY, tmp_path, monkeypatch, [run["id"]])
    assert not at.exception and not at.error
    curves = {t["name"]: t for t in figures(at)[1]["data"]}
    assert list(array(curves["unlearned"]["y"])) == [0.0, 0.4, 0.8, 0.95]
    assert len(array(curves["retrained"]["y"])) == 6
    rows = {r["model"]: r["epochs to relearn"] for r in table(at, 1)}
    assert rows == {"unlearned": "3", "retrained": "more than 5"}


@pytest.mark.parametrize("index", [6000, -1])
def test_privacy_card_index_out_of_range_is_one_error(stored, monkeypatch, index):
    run_id = stored["runs"]["single-gradient"]["id"]
    # typed before the first run, so no card is measured for the default index
    at = page(PRIVACY, stored["root"], monkeypatch, [run_id], **{f"card_index-{run_id}": index})
    assert not at.exception
    assert len(at.error) == 1 and f"index {index} is out of range" in at.error[0].value
    assert figures(at) and len(at.dataframe) == 1  # the attacks are still shown


# --- page 9: Verification -----------------------------------------------------------------------


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_verification_of_a_single_gradient_run(stored, monkeypatch):
    runs = stored["runs"]
    report = runs["single-gradient"]["report"]
    at = page(VERIFICATION, stored["root"], monkeypatch, [runs["single-gradient"]["id"]])
    assert not at.exception and not at.error
    assert metrics(at)["Unlearning error (Eq. 9)"] == f"{report['unlearning_error']:.4g}"
    terms = report["method_info"]["unlearning_error_terms"]
    assert f"{terms['steps']} SGD steps" in texts(at.caption)
    assert "needs the retrained model" in texts(at.info)
    assert "No study kept yet" in texts(at.info)


def test_verification_per_layer_of_an_oracle_run(stored, monkeypatch):
    runs = stored["runs"]
    report = runs["unsir"]["report"]
    # the single-gradient run is preselected even when another one is newer
    at = page(
        VERIFICATION,
        stored["root"],
        monkeypatch,
        [runs["single-gradient"]["id"], runs["unsir"]["id"]],
    )
    assert at.selectbox(key="verification_run").value == runs["single-gradient"]["id"]
    at.selectbox(key="verification_run").select(runs["unsir"]["id"]).run()
    assert not at.exception and not at.error
    shown = metrics(at)
    assert shown["Verification error"] == f"{report['verification_error']:.4g}"
    assert shown["Without the update"] == f"{report['verification_error_without_update']:.4g}"
    assert "single-gradient run" in texts(at.info)
    # UNSIR ends farther from the retrained weights than the original: said, and why
    assert report["verification_error"] > report["verification_error_without_update"]
    (warning,) = [w.value for w in at.warning]
    assert "made things worse than not updating" in warning
    assert "unsir does not aim at the retrained weights" in warning
    rows = table(at, 0)
    expected = report["verification_error_per_layer"]
    assert rows[0]["layer"] == "conv 1 (0.weight)"  # named as on Weight distances
    assert [r["layer"].split("(")[1][:-1] for r in rows] == [r["layer"] for r in expected]
    for row, e in zip(rows, expected, strict=True):
        assert row["with update"] == e["with_update"]
        assert row["share removed"] == pytest.approx(1 - e["with_update"] / e["without_update"])
    assert min(r["share removed"] for r in rows) < 0
    assert "A negative share: the update moved that layer farther" in texts(at.caption)


def study_form(at: AppTest, **fields) -> AppTest:
    values = {"dataset": "digits", "arch": "logreg", "sd_gamma": "0, 1", "epochs": "1, 2"}
    values.update(fields)
    at.selectbox(key="study_dataset").select(values["dataset"])
    at.selectbox(key="study_arch").select(values["arch"])
    at.text_input(key="study_sd_gamma").input(values["sd_gamma"])
    at.text_input(key="study_epochs").input(values["epochs"])
    at.text_input(key="study_forget").input("0, 1")
    at.button[0].click()
    return at.run()


def test_study_runs_keeps_and_shows_its_correlation(tmp_path, monkeypatch):
    # a study with a later name is kept already: the page still shows the one just run
    later = tmp_path / "studies" / "29991231-000000-ffffff" / "study.json"
    later.parent.mkdir(parents=True)
    later.write_text(json.dumps({"grid": {}, "rows": [], "pearson_r": None}))
    at = study_form(page(VERIFICATION, tmp_path, monkeypatch))
    assert not at.exception and not at.error
    (path,) = set((tmp_path / "studies").glob("*/study.json")) - {later}
    study = json.loads(path.read_text())
    assert len(study["rows"]) == 4 and study["pearson_r"] is not None
    assert at.selectbox(key="study_choice").value == str(path)
    shown = metrics(at)
    assert shown["Pearson r"] == f"{study['pearson_r']:.3f}"
    assert shown["Settings"] == "4"
    scatter = figures(at)[0]
    points, line = scatter["data"]
    x = [r["unlearning_error"] for r in study["rows"]]
    y = [r["verification_error"] for r in study["rows"]]
    assert list(array(points["x"])) == x and list(array(points["y"])) == y
    slope, intercept = np.polyfit(x, y, 1)
    np.testing.assert_allclose(array(line["y"]), intercept + slope * array(line["x"]), rtol=1e-6)
    assert f"r = {study['pearson_r']:.3f}" in scatter["layout"]["title"]["text"]
    assert [r["verification_error"] for r in table(at, 0)] == y
    groups = table(at, 1)
    assert [g["SD loss"] for g in groups] == ["none", "γ = 1"]
    none = [r["unlearning_error"] for r in study["rows"] if r["sd_gamma"] == 0]
    assert groups[0]["unlearning error"] == pytest.approx(sum(none) / 2)

    # a new session finds both kept studies, the latest name first
    again = page(VERIFICATION, tmp_path, monkeypatch)
    assert again.selectbox(key="study_choice").options == [later.parent.name, path.parent.name]
    assert metrics(again)["Settings"] == "0"
    again.selectbox(key="study_choice").select(str(path)).run()
    assert metrics(again)["Pearson r"] == f"{study['pearson_r']:.3f}"


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"sd_gamma": "0, x"}, "sd_gamma values"),
        ({"epochs": "1.5"}, "epochs values"),
        ({"epochs": "0, 1"}, "epochs >= 1"),
    ],
)
def test_study_bad_grid_value_is_one_error(tmp_path, monkeypatch, fields, message):
    at = study_form(page(VERIFICATION, tmp_path, monkeypatch), **fields)
    assert not at.exception
    assert len(at.error) == 1 and message in at.error[0].value
    assert not list(tmp_path.glob("studies/*/study.json"))
    assert at.button  # the form is still there


@pytest.fixture(scope="module")
def logreg_runs(demo, tmp_path_factory):
    """Single-gradient runs with the replay oracle, forgetting samples 0 and 1 of logistic
    regressions trained one epoch on the demo: at lr 0.01 the step overshoots (share removed
    about -9), at lr 1e-5 it removes most of the gap (about 0.98). -> {"root", lr: run_id}."""
    from unlearn_core.checkpoint import load_checkpoint, save_checkpoint
    from unlearn_core.run.pipeline import unlearn_model
    from unlearn_core.run.store import RunStore
    from unlearn_core.training import Recipe, train

    root = tmp_path_factory.mktemp("logreg-runs")
    runs = {"root": root}
    for lr in (0.01, 1e-5):
        trained = train("logreg", demo, Recipe(lr=lr, epochs=1, probe_every=25), device="cpu")
        path = root / f"logreg-{lr:g}.safetensors"
        save_checkpoint(trained, path)
        trained, meta = load_checkpoint(path, demo)
        request = ForgetRequest.for_indices(demo, [0, 1])
        record = unlearn_model(
            trained, meta, demo, request, "single-gradient", oracle=True, oracle_convention="replay"
        )
        runs[lr] = RunStore(root).save(record)
    return runs


def test_verification_explains_an_overshooting_single_gradient_step(logreg_runs, monkeypatch):
    at = page(VERIFICATION, logreg_runs["root"], monkeypatch, [logreg_runs[0.01]])
    assert not at.exception and not at.error
    report = read_report_dict(logreg_runs["root"] / logreg_runs[0.01])
    share = 1 - report["verification_error"] / report["verification_error_without_update"]
    assert share < 0 and metrics(at)["Share removed"] == f"{share:.1%}"
    (warning,) = [w.value for w in at.warning]
    assert "made things worse than not updating" in warning
    assert "single gradient step overshot" in warning and "smaller learning rate" in warning
    assert "--oracle-convention replay" not in warning  # this run's oracle is the replay one

    at = page(VERIFICATION, logreg_runs["root"], monkeypatch, [logreg_runs[1e-5]])
    report = read_report_dict(logreg_runs["root"] / logreg_runs[1e-5])
    share = 1 - report["verification_error"] / report["verification_error_without_update"]
    assert share > 0.5 and metrics(at)["Share removed"] == f"{share:.1%}"
    assert not at.warning and not at.exception and not at.error


def test_study_defaults_lie_in_single_gradients_regime(tmp_path, monkeypatch):
    at = page(VERIFICATION, tmp_path, monkeypatch)
    at.button[0].click().run()  # the form as it opens: demo, logreg, γ 0 and 1, epochs 1 and 2
    assert not at.exception and not at.error
    (path,) = tmp_path.glob("studies/*/study.json")
    study = json.loads(path.read_text())
    assert study["base_recipe"]["lr"] == at.number_input(key="study_lr").value
    shares = [
        1 - r["verification_error"] / r["verification_error_without_update"] for r in study["rows"]
    ]
    assert len(shares) == 4 and min(shares) > 0.3
    assert [r["share_removed"] for r in table(at, 0)] == pytest.approx(shares)
    assert not at.warning

    at.number_input(key="study_lr").set_value(0.01)
    at.button[0].click().run()  # outside the regime: every setting overshoots
    (warning,) = [w.value for w in at.warning]
    assert "Share removed negative in 4 of 4 settings" in warning
    assert "sd_gamma=1.0 epochs=2" in warning
