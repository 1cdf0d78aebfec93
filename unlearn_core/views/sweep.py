"""A sweep's summary (engine/sweep.py: summary_rows) as table rows and a chart with error bars:
data in, figure out. An interval is shown only where there is one: one seed has none, and a
method whose result does not depend on the seed (ssd, single-gradient) has no spread to show."""

from __future__ import annotations

import plotly.graph_objects as go

from unlearn_core.views.figures import BLUE, GREEN, UNIT, VERMILLION, interval_bars, styled

SHOWN = {"forget_acc": "forget acc", "retain_acc": "retain acc", "test_acc": "test acc"}
STATS = ("mean", "ci_low", "ci_high")
COLOURS = {"forget_acc": VERMILLION, "retain_acc": BLUE, "test_acc": GREEN}
SAME = "same every seed"  # a zero-width interval: the method ignores the seed


def _cell(row: dict, column: str) -> str:
    """ "0.710 ± 0.012" (mean ± half the 95% interval), "0.710" for one seed, "0.710 (same
    every seed)" where every seed gave the same value; blank where there is no value."""
    mean, low, high = (row.get(f"{column}_{s}") for s in STATS)
    if mean is None:
        return ""
    if low is None:
        return f"{mean:.3f}"
    if high - low < 5e-4:  # equal at the shown precision
        return f"{mean:.3f} ({SAME})"
    return f"{mean:.3f} ± {(high - low) / 2:.3f}"


def sweep_title(rows: list[dict]) -> str:
    """The summary's heading: an interval is promised only where some method has two seeds."""
    if all(row["n"] < 2 for row in rows):
        return "Sweep: one seed per method (no interval: add seeds for one)"
    return "Sweep: mean ± half its 95% interval over seeds"


def sweep_table(rows: list[dict], detail: bool = False) -> list[dict]:
    """One row per method: n, then mean ± half its 95% interval (see _cell) of each headline
    metric, ToW and the unlearning seconds; with `detail` also each metric's gap to the
    retrained model and SalUn's average gap (blank where a value does not exist)."""
    out = []
    for row in rows:
        cells = {"method": row["method"], "n": row["n"]}
        cells |= {label: _cell(row, column) for column, label in SHOWN.items()}
        if detail:
            cells |= {f"{label} gap": _cell(row, f"gap_{c}") for c, label in SHOWN.items()}
            cells["avg gap (SalUn)"] = _cell(row, "avg_gap")
        cells["ToW"] = _cell(row, "tow")
        cells["unlearn (s)"] = _cell(row, "seconds")
        out.append(cells)
    return out


def sweep_bars(rows: list[dict]) -> go.Figure:
    """Mean accuracy per method and metric, with its 95% interval as error bars where one
    exists (no bar for one seed)."""
    fig = go.Figure()
    methods = [row["method"] for row in rows]
    for column, label in SHOWN.items():
        means, lows, highs = ([row.get(f"{column}_{s}") for row in rows] for s in STATS)
        bars = interval_bars(means, lows, highs) if any(lo is not None for lo in lows) else None
        fig.add_bar(x=methods, y=means, name=label, marker_color=COLOURS[column], error_y=bars)
    fig.update_layout(barmode="group", yaxis_title="accuracy")
    fig.update_yaxes(range=UNIT)
    many = any(row["n"] >= 2 for row in rows)
    return styled(
        fig,
        "Mean over seeds with 95% intervals (Student t)"
        if many
        else "Accuracy, one seed per method",
    )
