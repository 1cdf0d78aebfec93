"""Plotly figures of the Representations view: data in, figure out (metrics/representations.py
computes the values). Same conventions as views/figures.py: Okabe-Ito colours, each model its
own colour, every axis names its quantity."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from unlearn_core.views.figures import (
    BLACK,
    BLUE,
    GREEN,
    MODEL_COLOURS,
    ORANGE,
    PURPLE,
    SKY_BLUE,
    UNIT,
    VERMILLION,
    YELLOW,
    interval_bars,
    styled,
)

CLASS_COLOURS = (
    BLUE,
    ORANGE,
    GREEN,
    VERMILLION,
    PURPLE,
    SKY_BLUE,
    YELLOW,
    BLACK,
    "#999999",
    "#8C564B",
)
PAIRS = {
    "original_vs_unlearned": ("original vs unlearned", VERMILLION),
    "unlearned_vs_retrained": ("unlearned vs retrained", GREEN),
}


def embedding_panels(view: dict, class_names: Sequence[str]) -> go.Figure:
    """One scatter per model on shared axes, points coloured by class; the forget set's points
    drawn as crosses."""
    models = list(view["coordinates"])
    fig = make_subplots(
        rows=1, cols=len(models), shared_xaxes="all", shared_yaxes="all", subplot_titles=models
    )
    labels, forget = np.asarray(view["labels"]), np.asarray(view["group"]) == "forget"
    for col, name in enumerate(models, 1):
        xy = np.asarray(view["coordinates"][name])
        for c in np.unique(labels):
            for marked in (False, True):
                rows = (labels == c) & (forget == marked)
                if not rows.any():
                    continue
                fig.add_trace(_points(xy[rows], c, class_names, marked, show=col == 1), 1, col)
    # the legend below the maps, in rows: 10 classes and the forgotten ones do not fit beside
    # a 460-pixel plot, and a scrolled legend hides the last classes
    fig.update_layout(
        legend={"title": "class (× forgotten)", "orientation": "h", "yanchor": "top", "y": -0.12},
        height=560,
    )
    return styled(fig, f"{view['method'].upper()} of the {view['layer']} features (shared axes)")


def _points(xy: np.ndarray, c: int, class_names: Sequence[str], marked: bool, show: bool):
    name = f"{c}: {class_names[c]}" + (" ×" if marked else "")
    return go.Scattergl(
        x=xy[:, 0],
        y=xy[:, 1],
        mode="markers",
        name=name,
        legendgroup=name,
        showlegend=show,
        marker={
            "color": CLASS_COLOURS[int(c) % len(CLASS_COLOURS)],
            "size": 9 if marked else 6,
            "symbol": "x" if marked else "circle",
            "opacity": 0.95 if marked else 0.6,
        },
    )


def cka_lines(summary: dict) -> go.Figure:
    """Linear CKA per layer: original vs unlearned and unlearned vs retrained, solid on the
    forget images, dotted on retained ones."""
    fig = go.Figure()
    layers = summary["layers"]
    for key, (label, colour) in PAIRS.items():
        for suffix, dash, images in (("", "solid", "forget"), ("_retain", "dot", "retain")):
            values = summary.get(key + suffix)
            if values is None:
                continue
            fig.add_trace(
                go.Scatter(
                    x=layers,
                    y=values,
                    mode="lines+markers",
                    name=f"{label}, {images} images",
                    line={"color": colour, "dash": dash},
                )
            )
    fig.update_layout(xaxis_title="layer (forward order)", yaxis_title="linear CKA")
    fig.update_yaxes(range=UNIT)
    return styled(fig, "Layer similarity (linear CKA; 1 = the same representation up to rotation)")


def probe_bars(report: dict) -> go.Figure:
    """The probe's held-out accuracy per model with its 95% interval; chance at 0.5."""
    names = [n for n, r in report["probe"].items() if r is not None]
    results = [report["probe"][n] for n in names]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=[r["accuracy"] for r in results],
            marker_color=[MODEL_COLOURS.get(n, BLUE) for n in names],
            error_y=interval_bars(
                [r["accuracy"] for r in results],
                [r["ci_low"] for r in results],
                [r["ci_high"] for r in results],
            ),
        )
    )
    fig.add_hline(y=0.5, line_dash="dot", annotation_text="chance")
    fig.update_layout(yaxis_title="held-out accuracy (95% interval)")
    fig.update_yaxes(range=UNIT)
    return styled(fig, f"Linear probe: {report['task']} ({report['layer']} features)")
