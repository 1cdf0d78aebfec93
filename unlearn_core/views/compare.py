"""Several runs on shared axes, and two runs side by side in a table: data in, figure or rows out.

The result pages overlay every open run on one figure per view, so that methods are compared
on one scale: the prediction distribution on the forget set (UNSIR, Tarun et al., 2023,
Fig. 4), test accuracy per class, and the layer-wise weight distances (UNSIR Fig. 2). Each run
keeps one colour in every figure; the original and the retrained model, the references, keep
theirs from `views.figures`.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from unlearn_core.run.report import MODELS, Report, metric
from unlearn_core.run.report_blocks import LayerDistance
from unlearn_core.views.audit_page import METRIC_ROWS, format_value
from unlearn_core.views.figures import (
    BLACK,
    BLUE,
    GREEN,
    ORANGE,
    PURPLE,
    SKY_BLUE,
    VERMILLION,
    YELLOW,
    log_axis,
    styled,
)

# One colour per open run (ui.session_url.MAX_OPEN_RUNS = 20), never a reference's: Okabe-Ito's
# six, then Paul Tol's muted and light schemes without their greens and pale blues.
RUN_COLOURS = (VERMILLION, BLUE, ORANGE, PURPLE, BLACK, YELLOW) + (
    "#332288",
    "#882255",
    "#999933",
    "#CC6677",
    "#44AA99",
    "#AA4499",
    "#DDCC77",
    "#661100",
    "#6699CC",
    "#888888",
    "#EE3377",
    "#FFAABB",
    "#BBCC33",
    "#EE8866",
)
PATTERNS = ("", "/", "x", ".", "+")  # tell apart references that differ between runs
SHOWN_INDICES = 6  # forget indices written out before "…"
DIFFERS = "background-color: #FFF3C4"  # the comparison's highlight (a pale yellow)


def run_colour(position: int) -> str:
    """The colour of the run at `position` among the open runs (distinct up to 20 runs)."""
    return RUN_COLOURS[position % len(RUN_COLOURS)]


def _references(name: str, per_run: dict[str, list | None]) -> list[tuple[str, list]]:
    """The distinct values of a reference model (original or retrained) over the runs, each
    once: named `name` when every run has the same one, else after the first run that has it."""
    distinct: list[tuple[str, list]] = []
    for label, values in per_run.items():
        if values is not None and all(values != v for _, v in distinct):
            distinct.append((label, values))
    if len(distinct) == 1 and all(v is not None for v in per_run.values()):
        return [(name, distinct[0][1])]
    return [(f"{name} ({label})", values) for label, values in distinct]


def _reference_bars(fig: go.Figure, ticks: list[str], references: list, colour: str) -> None:
    for number, (name, values) in enumerate(references):
        pattern = PATTERNS[number % len(PATTERNS)]
        fig.add_bar(x=ticks, y=values, name=name, marker_color=colour, marker_pattern_shape=pattern)


def _grouped_bars(ticks: list[str], runs: dict[str, dict[str, list | None]]) -> go.Figure:
    """Bars grouped by class: the original model, each run's unlearned model, the retrained
    model. runs: label -> {"original", "unlearned", "retrained": (C,) values or None}."""
    fig = go.Figure()
    references = {
        model: _references(model, {label: r.get(model) for label, r in runs.items()})
        for model in ("original", "retrained")
    }
    _reference_bars(fig, ticks, references["original"], SKY_BLUE)
    for position, (label, r) in enumerate(runs.items()):
        if r.get("unlearned") is not None:
            fig.add_bar(x=ticks, y=r["unlearned"], name=label, marker_color=run_colour(position))
    _reference_bars(fig, ticks, references["retrained"], GREEN)
    # the legend beside the bars: below them it met the axis title once tick labels turned
    fig.update_layout(barmode="group", xaxis_title="Class", legend={"x": 1.02, "y": 1})
    return fig


def runs_prediction_distribution(
    class_names: list[str], runs: dict[str, dict[str, list[int] | None]]
) -> go.Figure:
    """UNSIR Fig. 4 for several runs on one count axis: how the original model, each run's
    unlearned model and the retrained one classify the forget set (report.json's
    `prediction_distribution` per run label). One dominant class in a run's bars that the
    retrained model lacks is the Streisand effect."""
    fig = _grouped_bars(list(class_names), runs)
    fig.update_layout(xaxis_title="Predicted class", yaxis_title="Forget-set samples (count)")
    return styled(fig, "Predictions on the forget set")


def runs_per_class_accuracy(
    class_names: list[str],
    runs: dict[str, dict[str, list[float | None] | None]],
    forgotten: Sequence[int] = (),
) -> go.Figure:
    """Test accuracy per class of the original model, each run's unlearned model and the
    retrained one on one axis (report.json's `metrics.<model>.per_class_acc` per run label);
    classes any run forgot are marked in their tick labels."""
    ticks = [f"{n} (forgotten)" if i in forgotten else n for i, n in enumerate(class_names)]
    fig = _grouped_bars(ticks, runs)
    fig.update_layout(yaxis_title="Test accuracy")
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    return styled(fig, "Test accuracy per class, before and after unlearning")


def _log_range(values: list[float]) -> list[float] | None:
    """A log axis' range from the decade below the smallest positive value to the one above
    the largest, so at least two decades carry a label (None when nothing is positive)."""
    positive = [v for v in values if v is not None and v > 0]
    if not positive:
        return None
    low, high = math.floor(math.log10(min(positive))), math.ceil(math.log10(max(positive)))
    return [low, max(high, low + 1)]


def runs_layer_distance(
    runs: dict[str, list[LayerDistance]],
    relative: bool = False,
    log: bool = True,
    labels: dict[str, str] | None = None,
) -> go.Figure:
    """UNSIR Fig. 2 for several runs: per parameter tensor, the L2 distance of each run's
    unlearned weights to the original's (top panel) and to the retrained model's (bottom panel,
    left out when no run has it), one colour per run, both panels on one distance axis.
    runs: label -> report.json's `layer_distance` rows. relative: ||p - p_ref|| / ||p_ref||.
    labels: a tick label per parameter name (views.layer_names), else the bare name."""
    values = {
        (label, reference): [r.distance(reference, relative) for r in rows]
        for label, rows in runs.items()
        for reference in ("original", "retrained")
    }
    panels = ["original"]
    if any(v is not None for (_, ref), vs in values.items() if ref == "retrained" for v in vs):
        panels.append("retrained")
    titles = {reference: f"Distance to the {reference}" for reference in panels}
    fig = make_subplots(
        rows=len(panels),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.1,
        subplot_titles=[titles[k] for k in panels],
    )
    for position, (label, rows) in enumerate(runs.items()):
        for row, key in enumerate(panels, 1):
            fig.add_bar(
                x=[(labels or {}).get(r.layer, r.layer) for r in rows],
                y=values[label, key],
                name=label,
                legendgroup=label,
                showlegend=row == 1,
                marker_color=run_colour(position),
                row=row,
                col=1,
            )
    unit = "relative L2 distance (||Δw|| / ||w_ref||)" if relative else "L2 distance (weight units)"
    axis = (
        log_axis(_log_range([v for vs in values.values() for v in vs]))
        if log
        else {"type": "linear"}
    )
    fig.update_yaxes(title_text=unit, **axis)
    if len(panels) == 2:
        fig.update_yaxes(matches="y", row=2, col=1)  # one distance scale for both panels
    fig.update_xaxes(title_text="Parameter tensor", row=len(panels), col=1)
    fig.update_layout(barmode="group", height=300 + 250 * len(panels))
    return styled(fig, "Layer-wise weight distance of the unlearned models")


def shorten_indices(indices: Sequence[int], shown: int = SHOWN_INDICES) -> str:
    """Sorted indices written out, the middle elided past `shown` with the count:
    "0, 1, 2, …, 5997, 5998, 5999 (6000)"; "none" when empty."""
    ordered = sorted(indices)
    if not ordered:
        return "none"
    if len(ordered) <= shown:
        return ", ".join(map(str, ordered))
    half = shown // 2
    ends = [*map(str, ordered[:half]), "…", *map(str, ordered[-half:])]
    return f"{', '.join(ends)} ({len(ordered)})"


def _forget_rows(reports: dict[str, Report]) -> list[dict]:
    """The forget indices of each run (shortened) and how many of them every run forgets: equal
    sets read "n of n" in every column."""
    sets = {label: set(r.forget.indices or []) for label, r in reports.items()}
    common = set.intersection(*sets.values()) if sets else set()
    return [
        {"field": "forget indices", **{k: shorten_indices(s) for k, s in sets.items()}},
        {
            "field": "forget indices in every run",
            **{k: f"{len(common)} of {len(s)}" for k, s in sets.items()},
        },
    ]


def compare_runs(reports: dict[str, Report]) -> list[dict]:
    """comparison_rows (one row per field, one column per run label) with the forget
    indices after the forget count, and a boolean column "differs": the row's values are not
    all equal (for the indices, the full sets, not their shortened text)."""
    rows = comparison_rows(reports)
    at = next((i + 1 for i, r in enumerate(rows) if r["field"] == "forget count"), len(rows))
    rows[at:at] = _forget_rows(reports)
    sets = [frozenset(r.forget.indices or []) for r in reports.values()]
    for row in rows:
        cells = [row[label] for label in reports]
        if row["field"] == "forget indices":
            cells = sets
        row["differs"] = len(set(cells)) > 1
    return rows


def highlight_differences(rows: list[dict]) -> pd.io.formats.style.Styler:
    """compare_runs' rows as a pandas Styler: rows whose values differ get a pale yellow
    background (the "differs" column stays, so the table sorts and filters by it)."""
    frame = pd.DataFrame(rows)
    return frame.style.apply(lambda row: [DIFFERS if row["differs"] else "" for _ in row], axis=1)


def rows_csv(rows: list[dict]) -> str:
    """Rows (one dict a row, e.g. views.run_table.results_table) as CSV text: the columns in
    order of first appearance, empty cells for None, floats at full precision."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return out.getvalue()


def comparison_rows(reports: dict[str, Report]) -> list[dict]:
    """Runs side by side, in the audit page's wording of values: one row per field (method,
    forget request, metrics of each model, timings, config and recipe values), one text column
    per run label in `reports`."""
    fields: dict[str, dict[str, str]] = {}

    def put(field: str, label: str, value, exact: bool = False) -> None:
        fields.setdefault(field, {})[label] = format_value(value, exact)

    for label, r in reports.items():
        for key in ("method", "dataset", "arch", "seed", "created"):
            put(key, label, getattr(r, key))
        put("forget classes", label, r.forget.classes or None)
        put("forget count", label, r.forget.count)
        for model in MODELS:
            for key, name in METRIC_ROWS:
                put(f"{model}: {name}", label, metric(getattr(r.metrics, model), key))
        for key, value in r.timing.to_dict().items():
            put(f"timing: {key}", label, value)
        for block, values in (("config", r.config), ("recipe", r.recipe)):
            for key, value in (values or {}).items():
                put(f"{block}: {key}", label, value, exact=True)
        put("unlearned sha256", label, r.checkpoints.unlearned_sha256)
    return [
        {"field": field, **{label: values.get(label, "") for label in reports}}
        for field, values in fields.items()
    ]
