"""Several runs on shared axes (views.compare), the runs' comparison table and CSV, and the
log axes that label only powers of ten."""

import csv
import io

import plotly.graph_objects as go
import pytest
from test_audit import make_report

from unlearn_core.run.report import PerModel, read_layer_distance
from unlearn_core.views import compare, figures
from unlearn_core.views.privacy_audit import audit_roc

CLASSES = ["a", "b", "c"]


def names(fig: go.Figure) -> list[str]:
    return [t.name for t in fig.data]


def axes(fig: go.Figure) -> set[tuple[str, str]]:
    """The (x, y) axes the traces are drawn on; plotly leaves the first pair's names unset."""
    return {(t.xaxis or "x", t.yaxis or "y") for t in fig.data}


def test_prediction_distribution_overlays_every_run_on_one_axis():
    runs = {
        "A": {"original": [3, 0, 0], "unlearned": [0, 2, 1], "retrained": [0, 1, 2]},
        "B": {"original": [3, 0, 0], "unlearned": [1, 1, 1], "retrained": None},
    }
    fig = compare.runs_prediction_distribution(CLASSES, runs)
    # the shared original once, a trace per run, the one retrained model named after its run
    assert names(fig) == ["original", "A", "B", "retrained (A)"]
    assert axes(fig) == {("x", "y")} and fig.layout.barmode == "group"
    assert list(fig.data[2].y) == [1, 1, 1]
    assert fig.data[1].marker.color == compare.run_colour(0) != fig.data[2].marker.color
    assert fig.data[3].marker.color == figures.GREEN
    assert "count" in fig.layout.yaxis.title.text


def test_references_that_differ_between_runs_are_each_shown_and_patterned():
    runs = {
        "A": {"original": [1, 0, 0], "unlearned": [0, 1, 0], "retrained": [0, 1, 0]},
        "B": {"original": [1, 0, 0], "unlearned": [0, 0, 1], "retrained": [0, 0, 1]},
        "C": {"original": [1, 0, 0], "unlearned": [0, 0, 1], "retrained": [0, 1, 0]},
    }
    fig = compare.runs_prediction_distribution(CLASSES, runs)
    assert names(fig) == ["original", "A", "B", "C", "retrained (A)", "retrained (B)"]
    assert fig.data[4].marker.pattern.shape != fig.data[5].marker.pattern.shape


def test_per_class_accuracy_of_every_run_on_one_axis():
    runs = {
        "A": {"original": [1.0, 0.5, 0.5], "unlearned": [0.0, 0.5, 0.5], "retrained": None},
        "B": {"original": [1.0, 0.5, 0.5], "unlearned": [0.5, 0.5, 0.5], "retrained": None},
    }
    fig = compare.runs_per_class_accuracy(CLASSES, runs, forgotten=[0])
    assert names(fig) == ["original", "A", "B"]
    assert list(fig.data[1].x) == ["a (forgotten)", "b", "c"]
    assert axes(fig) == {("x", "y")} and fig.layout.yaxis.tickformat == ".0%"


RAW_ROWS = [
    {"layer": "fc.weight", "to_original": 0.5, "to_retrained": 0.25},
    {"layer": "fc.bias", "to_original": 0.002, "to_retrained": 0.0625},
]
ROWS = read_layer_distance(RAW_ROWS)


def test_layer_distances_of_every_run_share_one_distance_axis():
    runs = {"A": ROWS, "B": read_layer_distance([{**r, "to_retrained": None} for r in RAW_ROWS])}
    fig = compare.runs_layer_distance(runs)
    # A: to the original (top) and to the retrained (bottom); B: to the original only
    assert names(fig) == ["A", "A", "B", "B"]
    assert [t.yaxis for t in fig.data] == ["y", "y2", "y", "y2"]
    assert [t.showlegend for t in fig.data] == [True, False, True, False]  # one entry a run
    assert fig.data[0].marker.color == fig.data[1].marker.color != fig.data[2].marker.color
    assert list(fig.data[1].y) == [0.25, 0.0625]
    assert fig.layout.yaxis2.matches == "y"  # both panels on one scale
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis.dtick == 1
    assert list(fig.layout.yaxis.range) == [-3, 0]  # 0.002 to 0.5: whole decades


def test_layer_distances_without_any_oracle_have_one_panel_linear_or_relative():
    rows = [{**r, "to_retrained": None, "to_original_relative": 0.1} for r in RAW_ROWS]
    fig = compare.runs_layer_distance({"A": read_layer_distance(rows)}, relative=True, log=False)
    assert names(fig) == ["A"] and "yaxis2" not in fig.layout
    assert list(fig.data[0].y) == [0.1, 0.1] and fig.layout.yaxis.type != "log"
    assert "relative" in fig.layout.yaxis.title.text


@pytest.mark.parametrize(
    "fig, axes",
    [
        (figures.layer_distance_bars(ROWS), ("yaxis",)),
        (figures.roc_curves(PerModel()), ("xaxis", "yaxis")),
        (audit_roc({"attacks": {"ulira": {}}, "control": {"ulira": {}}}), ("xaxis", "yaxis")),
        (compare.runs_layer_distance({"A": ROWS}), ("yaxis", "yaxis2")),
    ],
)
def test_log_axes_label_powers_of_ten_only(fig, axes):
    for name in axes:
        axis = fig.layout[name]
        assert axis.type == "log" or axis.matches == "y"
        if axis.type == "log":  # a tick a decade; the minor ticks carry no label
            assert axis.dtick == 1 and axis.exponentformat in ("power", "none")
            assert axis.minor.ticks == "outside"


def test_compare_runs_flags_differences_and_lists_the_forget_indices():
    reports = {
        "A": make_report(),
        "B": make_report(method="lfoci", forget={"classes": [], "indices": [11, 23], "count": 2}),
    }
    rows = {row["field"]: row for row in compare.compare_runs(reports)}
    assert rows["method"]["differs"] and not rows["dataset"]["differs"]
    assert rows["forget indices"] == {"field": "forget indices", "A": "11, 23, 35",
                                      "B": "11, 23", "differs": True}  # fmt: skip
    assert rows["forget indices in every run"]["A"] == "2 of 3"
    fields = list(rows)
    assert fields.index("forget indices") == fields.index("forget count") + 1


def test_forget_indices_differ_even_when_their_shortened_text_is_equal():
    even = list(range(0, 200, 2))
    one_odd = [101 if i == 100 else i for i in even]  # same ends, same count
    reports = {
        "A": make_report(forget={"classes": [], "indices": even, "count": 100}),
        "B": make_report(forget={"classes": [], "indices": one_odd, "count": 100}),
    }
    rows = {row["field"]: row for row in compare.compare_runs(reports)}
    assert rows["forget indices"]["A"] == "0, 2, 4, …, 194, 196, 198 (100)"
    assert rows["forget indices"]["A"] == rows["forget indices"]["B"]
    assert rows["forget indices"]["differs"]
    same = compare.compare_runs({"A": reports["A"], "B": reports["A"]})
    assert not any(row["differs"] for row in same)


def test_highlight_differences_colours_only_the_differing_rows():
    rows = [{"field": "x", "A": "1", "B": "2", "differs": True},
            {"field": "y", "A": "1", "B": "1", "differs": False}]  # fmt: skip
    style = compare.highlight_differences(rows).to_html().split("</style>")[0]
    assert compare.DIFFERS.split(": ")[1] in style
    assert all(f"row0_col{c}" in style for c in range(4)) and "row1" not in style


def test_rows_csv_keeps_every_column_and_empties_none():
    rows = [{"run": "a", "forget acc": 0.125, "speed-up": None}, {"run": "b", "extra": 1}]
    parsed = list(csv.DictReader(io.StringIO(compare.rows_csv(rows))))
    assert parsed == [
        {"run": "a", "forget acc": "0.125", "speed-up": "", "extra": ""},
        {"run": "b", "forget acc": "", "speed-up": "", "extra": "1"},
    ]
