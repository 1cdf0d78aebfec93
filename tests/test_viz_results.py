"""The result pages' figure builders return the traces their input calls for, axes labelled."""

import numpy as np

from unlearn_core.views import result_figures as viz_results

CLASSES = ["a", "b", "c"]


def test_confusion_heatmap():
    counts = [[5, 1, 0], [0, 6, 0], [2, 0, 0]]
    fig = viz_results.confusion_heatmap(counts, CLASSES, "Confusion matrix")
    (heat,) = fig.data
    assert np.array_equal(np.asarray(heat.z), counts)
    assert list(heat.x) == CLASSES and list(heat.y) == CLASSES
    share = np.asarray(heat.customdata)
    assert share[0].tolist() == [5 / 6, 1 / 6, 0] and share[2].tolist() == [1, 0, 0]
    assert fig.layout.xaxis.title.text == "Predicted class"
    assert fig.layout.yaxis.title.text == "True class"
    assert fig.layout.title.text == "Confusion matrix"
    assert heat.textfont.size == 11  # one size in every matrix, not fitted to each one's cells


def test_confusion_heatmaps_share_a_colour_scale_when_given_its_top():
    fig = viz_results.confusion_heatmap([[5, 1], [0, 6]], CLASSES[:2], "t", zmax=100)
    assert (fig.data[0].zmin, fig.data[0].zmax) == (0, 100)
    assert viz_results.confusion_heatmap([[5, 1], [0, 6]], CLASSES[:2], "t").data[0].zmax is None


def test_confusion_heatmap_with_an_empty_class_has_no_nan():
    fig = viz_results.confusion_heatmap([[0, 0], [1, 3]], CLASSES[:2], "t")
    assert np.asarray(fig.data[0].customdata)[0].tolist() == [0, 0]


def test_codec_steps_one_line_per_sample():
    steps = [{"step": 1, "codec": 0.5, "sample": None}, {"step": 2, "codec": 0.7, "sample": None}]
    fig = viz_results.codec_steps(steps)
    assert [t.name for t in fig.data] == ["L-FOCI"]
    assert list(fig.data[0].x) == [1, 2] and list(fig.data[0].y) == [0.5, 0.7]
    assert "CODEC" in fig.layout.yaxis.title.text and "step" in fig.layout.xaxis.title.text
    sequential = [
        {"step": 1, "codec": 0.3, "sample": 7},
        {"step": 1, "codec": 0.4, "sample": 9},
        {"step": 2, "codec": 0.1, "sample": 9},
    ]
    fig = viz_results.codec_steps(sequential)
    assert [t.name for t in fig.data] == ["sample 7", "sample 9"]
    assert list(fig.data[1].y) == [0.4, 0.1]


def test_slice_movement_bars():
    rows = [
        {"layer": "9", "index": 0, "score": 0.5, "moved": 0.2, "moved_relative": 0.1},
        {"layer": "3", "index": 12, "score": 0.7, "moved": 0.0, "moved_relative": 0.0},
    ]
    fig = viz_results.slice_movement_bars(rows)
    assert list(fig.data[0].x) == ["9[0]", "3[12]"] and list(fig.data[0].y) == [0.2, 0.0]
    assert "weight units" in fig.layout.yaxis.title.text
    relative = viz_results.slice_movement_bars(rows, relative=True)
    assert list(relative.data[0].y) == [0.1, 0.0]
    assert "relative" in relative.layout.yaxis.title.text


def test_the_embedding_legend_sits_below_the_maps_so_no_class_is_scrolled_away():
    """Ten classes and their forgotten marks did not fit beside a 460-pixel map (the browser
    tour saw "8: Bag" and "9: Ankle boot" only by scrolling the legend)."""
    from unlearn_core.views.representations import embedding_panels

    labels = list(range(10)) * 2
    view = {
        "method": "pca",
        "layer": "fc1",
        "coordinates": {"original": [[i, i] for i in range(20)]},
        "labels": labels,
        "group": ["forget"] * 2 + ["retain"] * 18,
    }
    fig = embedding_panels(view, [f"class {c}" for c in range(10)])
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.y < 0
    assert len([t for t in fig.data if t.showlegend]) == 12  # every class, both forgotten ones
