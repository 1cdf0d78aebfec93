"""Plotly figure builders for the result pages, beyond `views.figures`: data in, figure out.

Same conventions as viz: Okabe-Ito colours, cividis for sequential maps, every axis names its
quantity and unit. Nothing here runs a model; the values come from report.json,
`metrics.confusion` and `metrics.slice_movement`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from unlearn_core.views.figures import BLACK, BLUE, FONT, ORANGE, PURPLE, VERMILLION


def _style(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(title=title, font=FONT, template="plotly_white")
    return fig


def confusion_heatmap(
    counts: Sequence[Sequence[int]], class_names: list[str], title: str, zmax: float | None = None
) -> go.Figure:
    """A (C, C) confusion matrix (rows: true class, columns: predicted class) as a heatmap of
    counts, each cell labelled with its count; hovering shows the share of its true class.
    zmax: the top of the colour scale (from 0), shared by matrices drawn side by side."""
    z = np.asarray(counts, dtype=float)  # (C, C)
    share = z / np.maximum(z.sum(axis=1, keepdims=True), 1)  # (C, C) row-normalised
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=class_names,
            y=class_names,
            customdata=share,
            text=z.astype(int),
            texttemplate="%{text}",
            textfont={"size": 11},  # plotly's automatic size differs between matrices side by side
            colorscale="Cividis",
            zmin=0 if zmax is not None else None,
            zmax=zmax,
            colorbar={"title": "samples"},
            hovertemplate="true %{y}, predicted %{x}<br>%{z:d} samples (%{customdata:.1%} of "
            "the class)<extra></extra>",
            name="confusion",
        )
    )
    fig.update_layout(xaxis_title="Predicted class", yaxis_title="True class")
    fig.update_yaxes(autorange="reversed")
    return _style(fig, title)


def codec_steps(steps: list[dict]) -> go.Figure:
    """L-FOCI's CODEC value T(Y, slice | slices before) at each FOCI step (rows {step, codec,
    sample} of `metrics.slice_movement.foci_steps`); one line per removed sample when a
    sequential run restarted the selection for each."""
    fig = go.Figure()
    samples = list(dict.fromkeys(s["sample"] for s in steps))
    colours = (BLUE, VERMILLION, ORANGE, PURPLE)
    for position, sample in enumerate(samples):
        mine = [s for s in steps if s["sample"] == sample]
        fig.add_scatter(
            x=[s["step"] for s in mine],
            y=[s["codec"] for s in mine],
            mode="lines+markers",
            name="L-FOCI" if sample is None else f"sample {sample}",
            line={"color": colours[position % len(colours)], "width": 3},
        )
    fig.add_hline(y=0, line_dash="dot", line_color=BLACK, annotation_text="stop at T <= 0")
    fig.update_layout(
        xaxis_title="FOCI step (slices selected so far)",
        yaxis_title="CODEC T of the added slice (unitless)",
    )
    fig.update_xaxes(dtick=1)
    return _style(fig, "CODEC value per FOCI step")


def slice_movement_bars(rows: list[dict], relative: bool = False) -> go.Figure:
    """How far each selected slice's parameters moved (rows of
    `metrics.slice_movement.slice_movement`), one bar per slice in selection order."""
    key = "moved_relative" if relative else "moved"
    fig = go.Figure(
        go.Bar(
            x=[f"{r['layer']}[{r['index']}]" for r in rows],
            y=[r[key] for r in rows],
            marker_color=VERMILLION,
            name="slice movement",
        )
    )
    unit = (
        "relative L2 change (||Δw|| / ||w_original||)" if relative else "L2 change (weight units)"
    )
    fig.update_layout(xaxis_title="Slice (layer[unit or channel])", yaxis_title=unit)
    return _style(fig, "How far the selected slices moved")
