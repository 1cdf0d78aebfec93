"""The result pages (4 Selected slices, 5 Weight distances, 6 Predictions) over the stored demo
runs of the `app_store` fixture: what they show must be what report.json and the stored models
say."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from conftest import DEMO_CHECKPOINT, ROOT
from streamlit.testing.v1 import AppTest

from unlearn_core.checkpoint import load_checkpoint
from unlearn_core.metrics.slice_movement import slice_movement
from unlearn_core.run.store import load_run_model, read_report_dict

SLICES, DISTANCES, PREDICTIONS = (
    str(ROOT / "app_pages" / name)
    for name in ("selected_slices.py", "weight_distances.py", "predictions.py")
)


def open_page(script: str, root: str, run_ids: list[str], monkeypatch) -> AppTest:
    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(root))
    at = AppTest.from_file(script, default_timeout=120)
    at.session_state["open_runs"] = list(run_ids)
    at.run()
    assert not at.exception and not at.error
    return at


def charts(at: AppTest) -> list[go.Figure]:
    """The page's plotly figures, decoded (numpy arrays travel base64-encoded in the spec)."""
    return [pio.from_json(chart.proto.spec, skip_invalid=True) for chart in at.get("plotly_chart")]


def values(array) -> list:
    """A trace's array as a list; plotly ships numpy arrays as {dtype, bdata, shape}."""
    if isinstance(array, dict):
        flat = np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
        shape = [int(d) for d in str(array.get("shape", flat.size)).split(",")]
        return flat.reshape(shape).tolist()
    return np.asarray(array).tolist()


def infos(at: AppTest) -> str:
    return " ".join(i.value for i in at.info)


def report_of(app_store, method: str) -> dict:
    return read_report_dict(Path(app_store["root"]) / app_store[method])


def copy_run(app_store, method: str, store: Path, edit) -> str:
    """A copy of a fixture run in `store` under a new id, its report changed by `edit`."""
    run_id = f"{app_store[method]}-copy"
    shutil.copytree(Path(app_store["root"]) / app_store[method], store / run_id)
    report = read_report_dict(store / run_id)
    edit(report)
    (store / run_id / "report.json").write_text(json.dumps(report))
    return run_id


@pytest.mark.parametrize("script", [SLICES, DISTANCES, PREDICTIONS])
def test_no_open_run_says_where_runs_come_from(script, app_store, monkeypatch):
    at = open_page(script, app_store["root"], [], monkeypatch)
    assert "No run is open" in infos(at) and "Unlearn" in infos(at)
    assert not at.get("plotly_chart") and not at.metric


# Page 4: Selected slices


def test_slices_of_the_lfoci_run(app_store, demo, monkeypatch):
    report = report_of(app_store, "lfoci")
    at = open_page(SLICES, app_store["root"], [app_store["lfoci"]], monkeypatch)
    assert "Mehta" in at.markdown[0].value
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Slices selected"] == str(len(report["selected_slices"]))
    assert metrics["Slices in the network"] == str(report["method_info"]["slices_available"])
    slice_map, codec, movement = charts(at)
    heat = slice_map.data[0]
    z, layers = values(heat.z), list(heat.y)
    for order, s in enumerate(report["selected_slices"], 1):
        assert z[layers.index(s["layer"])][s["index"]] == order
    assert values(codec.data[0].y) == report["method_info"]["foci_scores"]

    original, _ = load_checkpoint(DEMO_CHECKPOINT, demo)
    unlearned = load_run_model(Path(app_store["root"]) / app_store["lfoci"], demo)
    expected = slice_movement(original.model, unlearned, report["selected_slices"])
    table = at.dataframe[0].value
    assert table["score"].tolist() == [s["score"] for s in report["selected_slices"]]
    assert table["moved"].tolist() == pytest.approx([r["moved"] for r in expected])
    assert all(r["moved"] > 0 for r in expected)  # the Newton step changed the selected rows
    assert values(movement.data[0].y) == pytest.approx([r["moved"] for r in expected])

    at.toggle(key="slices_relative").set_value(True).run()
    relative = values(charts(at)[2].data[0].y)
    assert relative == pytest.approx([r["moved_relative"] for r in expected])
    assert "selection` = `random`" in infos(at)  # no control run open: how to make one


def test_lfoci_against_an_open_random_control(app_store, tmp_path, monkeypatch):
    store = tmp_path / "store"
    shutil.copytree(app_store["root"], store)

    def as_random(report):
        report["config"]["selection"] = "random"
        report["metrics"]["unlearned"].update(forget_acc=1.0, forget_loss=0.25)

    control = copy_run(app_store, "lfoci", store, as_random)
    runs = [control, app_store["unsir"], app_store["lfoci"]]
    at = open_page(SLICES, store, runs, monkeypatch)
    lfoci = report_of(app_store, "lfoci")["metrics"]
    table = at.dataframe[-1].value.set_index("metric")
    loss = table.loc["forget loss (cross-entropy, nats)"]
    assert loss["lfoci selection"] == pytest.approx(lfoci["unlearned"]["forget_loss"])
    assert loss["random selection"] == 0.25
    assert loss["original"] == pytest.approx(lfoci["original"]["forget_loss"])
    assert table.loc["forget accuracy", "random selection"] == 1.0
    assert "selection` = " not in infos(at)


def test_a_run_from_another_checkpoint_shows_no_movement(app_store, tmp_path, monkeypatch):
    def elsewhere(report):
        report["checkpoints"]["original_sha256"] = "0" * 64

    store = tmp_path / "store"
    store.mkdir()
    run_id = copy_run(app_store, "lfoci", store, elsewhere)
    at = open_page(SLICES, store, [run_id], monkeypatch)
    assert "not the one this run started from" in infos(at)
    assert len(at.get("plotly_chart")) == 2 and not at.dataframe  # map and CODEC still shown


def test_a_non_lfoci_run_is_explained(app_store, monkeypatch):
    runs = [app_store["unsir"], app_store["lfoci"]]
    at = open_page(SLICES, app_store["root"], runs, monkeypatch)
    assert at.selectbox(key="slices_run").value == app_store["lfoci"]  # the newest first
    at.selectbox(key="slices_run").select(app_store["unsir"]).run()
    assert not at.exception and not at.error
    assert "`unsir` run" in infos(at) and "only L-FOCI" in infos(at)
    assert not at.get("plotly_chart") and not at.metric


# Page 5: Weight distances


def test_distances_of_the_unsir_run(app_store, monkeypatch):
    rows = report_of(app_store, "unsir")["layer_distance"]
    at = open_page(DISTANCES, app_store["root"], [app_store["unsir"]], monkeypatch)
    assert "Tarun" in at.markdown[0].value
    (fig,) = charts(at)
    original, retrained = fig.data  # top panel: to the original; bottom: to the retrained
    assert (original.yaxis, retrained.yaxis) == ("y", "y2") and fig.layout.yaxis2.matches == "y"
    assert list(original.x)[0] == "conv 1 (0.weight)"  # named for a class, not 0.weight
    assert [x.split("(")[1].rstrip(")") for x in original.x] == [r["layer"] for r in rows]
    assert values(original.y) == pytest.approx([r["to_original"] for r in rows])
    assert values(retrained.y) == pytest.approx([r["to_retrained"] for r in rows])
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis.dtick == 1
    assert not any(column.get("plotly_chart") for column in at.columns)  # the full width

    at.toggle(key="distance_relative").set_value(True).run()
    at.toggle(key="distance_log").set_value(False).run()
    (fig,) = charts(at)
    assert values(fig.data[1].y) == pytest.approx([r["to_retrained_relative"] for r in rows])
    assert fig.layout.yaxis.type == "linear"
    assert "relative" in fig.layout.yaxis.title.text


def test_distances_of_two_runs_on_one_axis_and_a_run_without_oracle(app_store, monkeypatch):
    runs = [app_store["unsir"], app_store["single-gradient"]]
    at = open_page(DISTANCES, app_store["root"], runs, monkeypatch)
    (fig,) = charts(at)  # one chart, not one per run
    unsir_original, unsir_retrained, single_original, single_retrained = fig.data
    assert unsir_original.marker.color != single_original.marker.color
    assert {unsir_original.yaxis, single_original.yaxis} == {"y"}
    rows = report_of(app_store, "single-gradient")["layer_distance"]
    assert values(single_original.y) == pytest.approx([r["to_original"] for r in rows])
    assert set(values(single_retrained.y)) == {None}  # no retrained model, no bar
    assert "No retrained model" in infos(at)

    at.multiselect(key="distance_runs").set_value([]).run()
    assert not at.exception and not at.get("plotly_chart")
    assert "Choose at least one run" in infos(at)


# Page 6: Predictions


def test_predictions_of_the_unsir_run(app_store, monkeypatch):
    report = report_of(app_store, "unsir")
    at = open_page(PREDICTIONS, app_store["root"], [app_store["unsir"]], monkeypatch)
    assert "Tarun" in at.markdown[0].value
    distribution, per_class, *confusions = charts(at)
    label = [t.name for t in distribution.data][1]  # the run's label
    shown = {t.name: values(t.y) for t in distribution.data}
    assert shown == {
        "original": report["prediction_distribution"]["original"],
        label: report["prediction_distribution"]["unlearned"],
        "retrained": report["prediction_distribution"]["retrained"],
    }
    assert label.startswith("unsir")
    accuracy = {t.name: values(t.y) for t in per_class.data}
    assert accuracy["original"] == report["metrics"]["original"]["per_class_acc"]
    assert accuracy[label] == report["metrics"]["unlearned"]["per_class_acc"]
    assert accuracy["retrained"] == report["metrics"]["retrained"]["per_class_acc"]
    assert "Dress (forgotten)" in per_class.data[0].x  # class 3 of Fashion-MNIST

    assert len(confusions) == 3  # the original (the current model), unlearned and retrained
    for fig, model in zip(confusions, ("original", "unlearned", "retrained"), strict=True):
        assert model in fig.layout.title.text
        counts = values(fig.data[0].z)
        assert [sum(row) for row in counts] == [100] * 10  # 100 test images a class
        diagonal = [counts[c][c] / 100 for c in range(10)]
        assert diagonal == pytest.approx(report["metrics"][model]["per_class_acc"])
    top = max(max(row) for fig in confusions for row in values(fig.data[0].z))
    assert {(fig.data[0].zmin, fig.data[0].zmax) for fig in confusions} == {(0, top)}


def test_predictions_of_two_runs_overlay_them_without_tabs(app_store, monkeypatch):
    runs = [app_store["unsir"], app_store["single-gradient"]]
    at = open_page(PREDICTIONS, app_store["root"], runs, monkeypatch)
    assert not at.tabs
    distribution, per_class, *confusions = charts(at)
    assert len(confusions) == 1 + 2 + 1  # the original; unsir's two; single-gradient's one
    single = report_of(app_store, "single-gradient")
    # the original on each run's forget set (they differ), each run, the one retrained model
    assert [t.name.split(" ")[0] for t in distribution.data] == [
        "original",
        "original",
        "unsir",
        "single-gradient",
        "retrained",
    ]
    assert "(single-gradient" in distribution.data[1].name
    assert values(distribution.data[3].y) == single["prediction_distribution"]["unlearned"]
    # per class on the test split: one original, each run, the retrained model
    assert [t.name.split(" ")[0] for t in per_class.data] == [
        "original",
        "unsir",
        "single-gradient",
        "retrained",
    ]
    assert (
        len({t.marker.color for t in per_class.data}) == 4 and per_class.layout.barmode == "group"
    )
    assert values(per_class.data[2].y) == single["metrics"]["unlearned"]["per_class_acc"]
    assert "No retrained model" in infos(at)


def test_chart_downloads_follow_the_sessions_format(app_store, monkeypatch):
    at = open_page(PREDICTIONS, app_store["root"], [app_store["unsir"]], monkeypatch)
    config = json.loads(at.get("plotly_chart")[0].proto.config)
    assert config["toImageButtonOptions"]["format"] == "png"
    assert config["toImageButtonOptions"]["filename"] == "predictions-on-the-forget-set"
    at.session_state["chart_format"] = "svg"
    at.run()
    formats = {json.loads(c.proto.config)["toImageButtonOptions"]["format"] for c in
               at.get("plotly_chart")}  # fmt: skip
    assert formats == {"svg"}
