"""The result views a class reads (issue 24, items 11 to 15): a colour per open run, legends
clear of axis titles, layers named, intervals only where measured, a results table that fits
1280 px and a CSV with each run's seed. Fast: the shipped demo run and hand-made rows."""

from __future__ import annotations

import csv
import io

import pytest

from unlearn_core.data import load_dataset
from unlearn_core.run.demo_run import DEMO_RUN
from unlearn_core.run.report import read_layer_distance
from unlearn_core.run.store import read_report
from unlearn_core.training import initial_model
from unlearn_core.views import compare, sweep
from unlearn_core.views.layer_names import parameter_labels
from unlearn_core.views.run_table import results_table, shown_table


def test_twenty_open_runs_have_twenty_colours_none_a_references():
    colours = [compare.run_colour(position) for position in range(20)]
    assert len(set(colours)) == 20
    assert not {compare.SKY_BLUE, compare.GREEN} & set(colours)


def test_the_run_legends_stand_beside_the_bars_not_under_the_axis_title():
    runs = {
        f"run {n}": {"original": [1, 2], "unlearned": [2, 1], "retrained": None} for n in range(15)
    }
    fig = compare.runs_prediction_distribution(["a", "b"], runs)
    assert fig.layout.legend.orientation != "h" and fig.layout.legend.x > 1
    assert len({bar.marker.color for bar in fig.data if bar.name.startswith("run")}) == 15


def test_parameters_are_named_by_layer_kind_and_order():
    labels = parameter_labels(initial_model("smallcnn", load_dataset("demo"), 0))
    assert labels["0.weight"] == "conv 1 (0.weight)"
    assert labels["3.bias"] == "conv 2 bias (3.bias)"
    assert labels["9.weight"] == "linear 2 (9.weight)"
    rows = {"r": read_layer_distance([{"layer": "0.weight", "to_original": 1.0}])}
    fig = compare.runs_layer_distance(rows, labels=labels)
    assert list(fig.data[0].x) == ["conv 1 (0.weight)"]


def _summary(n: int, low: float | None, high: float | None) -> dict:
    row = {"method": "ssd", "n": n}
    for column in ("forget_acc", "retain_acc", "test_acc"):
        row |= {f"{column}_mean": 0.71, f"{column}_ci_low": low, f"{column}_ci_high": high}
    return row


def test_one_seed_promises_no_interval():
    rows = [_summary(1, None, None)]
    assert "no interval" in sweep.sweep_title(rows)
    assert sweep.sweep_table(rows)[0]["test acc"] == "0.710"
    fig = sweep.sweep_bars(rows)
    assert all(bar.error_y.array is None for bar in fig.data)
    assert "95%" not in fig.layout.title.text


def test_a_seed_independent_method_says_so_instead_of_an_empty_interval():
    rows = [_summary(3, 0.71, 0.71), {**_summary(3, 0.70, 0.72), "method": "unsir"}]
    table = sweep.sweep_table(rows)
    assert table[0]["test acc"] == "0.710 (same every seed)"
    assert table[1]["test acc"] == "0.710 ± 0.010"
    assert "95% interval" in sweep.sweep_title(rows)


@pytest.fixture(scope="module")
def demo_report():
    return read_report(DEMO_RUN)


def test_the_results_table_leads_with_six_columns(demo_report):
    [row] = shown_table([demo_report])
    assert len(row) == 6 and "None" not in row.values()
    assert row["seed"] == str(demo_report.seed)
    [detail] = shown_table([demo_report], detail=True)
    assert len(detail) <= 13


def test_the_csv_export_has_a_seed_column(demo_report):
    [row] = csv.DictReader(io.StringIO(compare.rows_csv(results_table([demo_report]))))
    assert row["seed"] == str(demo_report.seed)
