"""A sweep's summary (engine/sweep.py: summary_rows) as table rows and a chart with error bars:
data in, figure out."""

from __future__ import annotations

import plotly.graph_objects as go

from unlearn_core.views.figures import BLUE, GREEN, UNIT, VERMILLION, interval_bars, styled

SHOWN = {"forget_acc": "forget acc", "retain_acc": "retain acc", "test_acc": "test acc"}
STATS = ("mean", "ci_low", "ci_high")
COLOURS = {"forget_acc": VERMILLION, "retain_acc": BLUE, "test_acc": GREEN}


def _cell(row: dict, column: str) -> str:
    mean, low, high = (row.get(f"{column}_{s}") for s in ("mean", "ci_low", "ci_high"))
    if mean is None:
        return ""
    if low is None:
        return f"{mean:.3f}"
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def sweep_table(rows: list[dict]) -> list[dict]:
    """One row per method: n, then mean [95% interval] of each headline metric, its gap to the
    retrained model, ToW, SalUn's average gap and the unlearning seconds (blank where a value
    does not exist)."""
    out = []
    for row in rows:
        cells = {"method": row["method"], "n": row["n"]}
        for column, label in SHOWN.items():
            cells[label] = _cell(row, column)
            cells[f"{label} gap"] = _cell(row, f"gap_{column}")
        cells["ToW"] = _cell(row, "tow")
        cells["avg gap (SalUn)"] = _cell(row, "avg_gap")
        cells["unlearn (s)"] = _cell(row, "seconds")
        out.append(cells)
    return out


def sweep_bars(rows: list[dict]) -> go.Figure:
    """Mean accuracy per method and metric with its 95% interval as error bars."""
    fig = go.Figure()
    methods = [row["method"] for row in rows]
    for column, label in SHOWN.items():
        means, lows, highs = ([row.get(f"{column}_{s}") for row in rows] for s in STATS)
        bars = interval_bars(means, lows, highs)
        fig.add_bar(x=methods, y=means, name=label, marker_color=COLOURS[column], error_y=bars)
    fig.update_layout(barmode="group", yaxis_title="accuracy")
    fig.update_yaxes(range=UNIT)
    return styled(fig, "Mean over seeds with 95% intervals (Student t)")
