"""Every figure builder returns the traces its input calls for, with labelled axes."""

import numpy as np
import plotly.graph_objects as go
import pytest

from unlearn_core.metrics.linear_fit import linear_fit
from unlearn_core.run.report import read_layer_distance, read_mia, read_relearn_time
from unlearn_core.views import figures as viz

CLASSES = ["a", "b", "c"]


def names(fig: go.Figure) -> list[str]:
    return [t.name for t in fig.data]


def test_moved_page_figures():
    history = [{"epoch": e, "loss": 1 / e, "train_acc": 0.5, "test_acc": 0.4} for e in (1, 2)]
    fig = viz.training_curve(history)
    assert names(fig) == ["training loss", "train accuracy", "test accuracy"]
    bars = viz.per_class_bars(CLASSES, [0.5, None, 1.0], 0.75)
    assert list(bars.data[0].y) == [0.5, None, 1.0] and bars.data[0].text == ("50%", "", "100%")


def test_layer_distance_bars():
    rows = [
        {
            "layer": "0.weight",
            "to_original": 2.0,
            "to_retrained": 1.0,
            "to_original_relative": 0.2,
            "to_retrained_relative": 0.1,
        },
        {
            "layer": "0.bias",
            "to_original": 0.5,
            "to_retrained": 0.25,
            "to_original_relative": 0.05,
            "to_retrained_relative": 0.02,
        },
    ]
    fig = viz.layer_distance_bars(read_layer_distance(rows))
    assert names(fig) == ["distance to the original", "distance to the retrained"]
    assert list(fig.data[0].x) == ["0.weight", "0.bias"] and list(fig.data[1].y) == [1.0, 0.25]
    assert fig.layout.yaxis.type == "log" and "L2 distance" in fig.layout.yaxis.title.text
    relative = viz.layer_distance_bars(
        read_layer_distance([{**r, "to_retrained_relative": None} for r in rows]), True
    )
    assert names(relative) == ["distance to the original"] and list(relative.data[0].y) == [
        0.2,
        0.05,
    ]


def test_selected_slices_map():
    slices = [
        {"layer": "3", "index": 2, "score": 0.5},
        {"layer": "0", "index": 0, "score": 0.25},
        {"layer": "3", "index": 2, "score": 0.1},  # chosen again: keeps order 1
    ]
    fig = viz.selected_slices_map(slices)
    (heat,) = fig.data
    assert list(heat.y) == ["3", "0"]
    z = np.asarray(heat.z, dtype=float)
    assert z.shape == (2, 3) and z[0, 2] == 1 and z[1, 0] == 2
    assert np.isnan(z[0, 0]) and np.asarray(heat.customdata, dtype=float)[0, 2] == 0.5
    wide = viz.selected_slices_map(slices, {"0": 4, "3": 5})
    assert np.asarray(wide.data[0].z).shape == (2, 5) and list(wide.data[0].y) == ["0", "3"]


def test_prediction_distribution():
    fig = viz.prediction_distribution(
        CLASSES, {"original": None, "unlearned": [5, 0, 1], "retrained": [2, 2, 2]}
    )
    assert names(fig) == ["unlearned", "retrained"]
    assert fig.data[0].xaxis == "x" and fig.data[1].xaxis == "x2"  # side by side
    assert fig.data[0].marker.color == viz.VERMILLION and fig.data[1].marker.color == viz.GREEN


def test_roc_curves_on_log_axes():
    summary = {"auc": 0.75, "roc": {"fpr": [0.0, 0.1, 1.0], "tpr": [0.25, 0.75, 1.0]}}
    mia = {
        "original": {"loss": summary, "svc": summary},
        "unlearned": {"loss": summary, "svc": None},
        "retrained": None,
    }
    fig = viz.roc_curves(read_mia(mia))
    assert names(fig) == [
        "chance",
        "original, loss attack (AUC 0.750)",
        "original, svc attack (AUC 0.750)",
        "unlearned, loss attack (AUC 0.750)",
    ]
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert fig.data[1].line.dash == "solid" and fig.data[2].line.dash == "dash"
    assert fig.data[1].line.color == fig.data[2].line.color == viz.SKY_BLUE


def test_attribution_panel():
    images = np.zeros((2, 1, 4, 4), dtype=np.uint8)
    maps = {"original": np.ones((2, 4, 4)), "unlearned": np.zeros((2, 4, 4))}
    diffs = {"unlearned-original": -np.ones((2, 4, 4))}
    fig = viz.attribution_panel(
        images, maps, diffs, ["#0 a", "#1 b"], {"original": [0.5, 0.25], "unlearned": [0.0, 0.1]}
    )
    assert len(fig.data) == 2 * 4  # per row: image, two maps, one difference
    assert names(fig)[:4] == ["image", "original", "unlearned", "unlearned-original"]
    assert {fig.data[1].coloraxis, fig.data[2].coloraxis} == {"coloraxis"}
    assert fig.data[3].coloraxis == "coloraxis2" and fig.layout.coloraxis2.cmid == 0
    titles = [a.text for a in fig.layout.annotations]
    assert "original<br>Δp +0.50" in titles and "#1 b" in titles
    assert "unlearned<br>minus original" in titles
    rgb = viz.attribution_panel(
        np.zeros((1, 3, 4, 4), dtype=np.uint8), {"original": np.ones((1, 4, 4))}
    )
    assert isinstance(rgb.data[0], go.Image) and len(rgb.data) == 2


@pytest.mark.parametrize(
    "drop, text",
    [(0.123, "Δp +0.12"), (-0.5, "Δp −0.50"), (0.0, "Δp 0"), (0.001, "Δp < 0.01"),
     (-0.001, "Δp > −0.01"), (-0.006, "Δp −0.01")],
)  # fmt: skip
def test_drops_in_titles_never_read_minus_zero(drop, text):
    assert viz.drop_text(drop) == text


def test_attribution_tiles_are_all_one_size_and_their_titles_small():
    maps = {m: np.ones((3, 28, 28)) for m in ("original", "unlearned", "retrained")}
    diffs = {d: np.ones((3, 28, 28)) for d in ("unlearned-original", "retrained-original")}
    rows = ["#1 a, forgotten (target c)", "#2 b, retained", "#3 c, retained"]
    fig = viz.attribution_panel(np.zeros((3, 3, 28, 28), dtype=np.uint8), maps, diffs, rows)
    layout, cols = fig.layout, 6
    margin = layout.margin
    plot_w, plot_h = layout.width - margin.l - margin.r, layout.height - margin.t - margin.b
    sizes = set()
    for k in range(1, 3 * cols + 1):
        x, y = layout[f"xaxis{k if k > 1 else ''}"], layout[f"yaxis{k if k > 1 else ''}"]
        assert y.scaleanchor == f"x{k if k > 1 else ''}"  # square on its own axes
        sizes.add(round((x.domain[1] - x.domain[0]) * plot_w))
        sizes.add(round((y.domain[1] - y.domain[0]) * plot_h))
    assert sizes == {viz.TILE}  # every tile TILE x TILE px, whatever the page's width
    assert {a.font.size for a in layout.annotations} == {12}
    assert "#1 a<br>forgotten<br>(target c)" in [a.text for a in layout.annotations]


def test_error_scatter_relearn_and_supported_removals():
    fig = viz.error_scatter([1.0, 2.0, 4.0], [2.0, 3.0, 5.0], slope=1.0, intercept=1.0, r=1.0)
    assert names(fig) == ["training settings", "least-squares fit"]
    assert list(fig.data[1].x) == [1.0, 4.0] and list(fig.data[1].y) == [2.0, 5.0]
    assert "r = 1.000" in fig.layout.title.text
    # by hand: points (0, 1), (1, 2), (2, 6): mean x 1, mean y 3; slope = sum dx dy / sum dx^2
    # = (2 + 0 + 3) / 2 = 2.5, intercept 3 - 2.5 = 0.5; r = 5 / sqrt(2 * 14) = 0.9449
    fit = linear_fit([0.0, 1.0, 2.0], [1.0, 2.0, 6.0])
    assert fit["slope"] == pytest.approx(2.5) and fit["intercept"] == pytest.approx(0.5)
    assert fit["r"] == pytest.approx(5 / np.sqrt(28))
    assert linear_fit([0.0, 1.0], [1.0, 2.0])["r"] is None

    curve = {"target_forget_acc": 0.9, "forget_acc_per_epoch": [0.1, 0.5, 0.95]}
    relearn = viz.relearn_curves(
        read_relearn_time({"original": None, "unlearned": curve, "retrained": curve})
    )
    assert names(relearn) == ["unlearned", "retrained"] and list(relearn.data[0].x) == [0, 1, 2]
    assert relearn.layout.shapes[0].y0 == 0.9

    removals = [
        {"val_acc": 0.9, "accepted": True},
        {"val_acc": 0.8, "accepted": False},
        {"val_acc": 0.89, "accepted": True},
    ]
    sr = viz.supported_removals_curve(removals, start_acc=0.91, supported=1)
    assert names(sr) == ["validation accuracy", "rejected (reverted)"]
    assert list(sr.data[1].x) == [2] and list(sr.data[1].y) == [0.8]
    assert "Supported removals: 1" in sr.layout.title.text
    assert sr.layout.xaxis.title.text and sr.layout.yaxis.title.text
