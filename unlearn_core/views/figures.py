"""Plotly figure builders: data in, figure out. Nothing here computes a metric or runs a model;
every builder takes the plain values a report, a study or `metrics.attribution` produces.

Colours are Okabe and Ito's ("Color Universal Design", 2008), distinguishable with every common
colour-vision deficiency, and each model keeps its colour in every figure; sequential maps use
cividis (Nuñez et al., PLOS ONE 2018), diverging ones blue-white-vermillion. Fonts are sized for
a projector; every axis names its quantity and unit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from unlearn_core.run.report import PerModel
from unlearn_core.run.report_blocks import LayerDistance, MembershipAttacks, RelearnTime

# Okabe-Ito colours
BLACK, ORANGE, SKY_BLUE, GREEN = "#000000", "#E69F00", "#56B4E9", "#009E73"
YELLOW, BLUE, VERMILLION, PURPLE = "#F0E442", "#0072B2", "#D55E00", "#CC79A7"
MODEL_COLOURS = {"original": SKY_BLUE, "unlearned": VERMILLION, "retrained": GREEN}
DIVERGING = [[0.0, BLUE], [0.5, "#FFFFFF"], [1.0, VERMILLION]]
FONT = {"size": 16}
UNIT = [0, 1.05]  # the y range of accuracies and similarities


def _colour(name: str, position: int) -> str:
    others = (BLUE, ORANGE, PURPLE, BLACK, YELLOW)
    return MODEL_COLOURS.get(name, others[position % len(others)])


def interval_bars(means: Sequence, lows: Sequence, highs: Sequence) -> dict:
    """plotly error_y for intervals [low, high] around means (no bar where one is missing)."""

    def gap(a, b) -> float:
        return 0.0 if a is None or b is None else abs(a - b)

    return {
        "type": "data",
        "symmetric": False,
        "array": [gap(h, m) for m, h in zip(means, highs, strict=True)],
        "arrayminus": [gap(m, lo) for m, lo in zip(means, lows, strict=True)],
    }


def log_axis(decades: Sequence[float] | None = None, exponents: bool = True) -> dict:
    """Settings of a logarithmic axis that labels only powers of ten (10^-3, 10^-2, ...): on
    its own, plotly labels the 2s and 5s between them with bare digits. Those stay as unlabelled
    minor ticks and grid lines. decades: the range as [log10 low, log10 high]; exponents: 10^k
    labels, else decimals (0.001)."""
    axis = {
        "type": "log",
        "dtick": 1,
        "exponentformat": "power" if exponents else "none",
        "minor": {"ticks": "outside", "showgrid": True},
    }
    if decades is not None:
        axis["range"] = list(decades)
    return axis


def styled(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(title=title, font=FONT, template="plotly_white")
    return fig


def training_curve(history: list[dict]) -> go.Figure:
    """Loss (left axis) and train/test accuracy (right axis) per epoch."""
    epochs = [row["epoch"] for row in history]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_scatter(
        x=epochs,
        y=[r["loss"] for r in history],
        name="training loss",
        line={"color": VERMILLION},
        secondary_y=False,
    )
    for key, label, colour, dash in (
        ("train_acc", "train accuracy", BLUE, "dash"),
        ("test_acc", "test accuracy", GREEN, "solid"),
    ):
        fig.add_scatter(
            x=epochs,
            y=[r[key] for r in history],
            name=label,
            line={"color": colour, "dash": dash},
            secondary_y=True,
        )
    fig.update_xaxes(title_text="Epoch", dtick=1)
    fig.update_yaxes(title_text="Loss (cross-entropy)", secondary_y=False, rangemode="tozero")
    fig.update_yaxes(
        title_text="Accuracy",
        secondary_y=True,
        tickformat=".0%",
        range=[0, 1],
        tickmode="array",  # own ticks at 0, 20, ..., 100 %, not aligned to the loss axis' grid
        tickvals=[0, 0.2, 0.4, 0.6, 0.8, 1.0],
        showgrid=False,
    )
    fig.update_layout(title="Training curve", legend={"orientation": "h", "y": -0.25})
    return fig


def per_class_bars(class_names: list[str], accs: list, overall: float) -> go.Figure:
    """Test accuracy of each class, with the overall test accuracy as a dashed line."""
    fig = go.Figure(
        go.Bar(
            x=class_names,
            y=accs,
            marker_color=BLUE,
            name="per class",
            text=[f"{a:.0%}" if a is not None else "" for a in accs],
        )
    )
    fig.add_hline(y=overall, line_dash="dash", line_color=ORANGE)
    fig.update_layout(
        title=f"Test accuracy per class (dashed line: overall {overall:.1%})",
        xaxis_title="Class",
        yaxis_title="Test accuracy",
        yaxis={"tickformat": ".0%", "range": [0, 1.05]},
    )
    return fig


def layer_distance_bars(
    rows: list[LayerDistance], relative: bool = False, log: bool = True
) -> go.Figure:
    """UNSIR Fig. 2: per parameter tensor, the L2 distance of the unlearned weights to the
    original's and to the retrained model's (report.json's `layer_distance` rows); the second
    bar is left out where no row has it. relative: ||p - p_ref|| / ||p_ref|| instead. log: a
    logarithmic distance axis (zero distances, of untouched layers, then fall off it)."""
    layers = [r.layer for r in rows]
    fig = go.Figure()
    for reference, colour in (("original", SKY_BLUE), ("retrained", GREEN)):
        values = [r.distance(reference, relative) for r in rows]
        if any(v is not None for v in values):
            fig.add_bar(
                x=layers, y=values, name=f"distance to the {reference}", marker_color=colour
            )
    unit = "relative L2 distance (||Δw|| / ||w_ref||)" if relative else "L2 distance (weight units)"
    fig.update_layout(barmode="group", xaxis_title="Parameter tensor", yaxis_title=unit)
    fig.update_yaxes(**(log_axis() if log else {"type": "linear"}))
    return styled(fig, "Layer-wise weight distance of the unlearned model")


def selected_slices_map(
    slices: list[dict], units_per_layer: dict[str, int] | None = None
) -> go.Figure:
    """L-FOCI's selection (report.json's `selected_slices`, in the order chosen): layers as
    rows, slices (output units or channels) as cells, coloured by selection order (1 = first);
    unselected cells stay blank. units_per_layer: each layer's slice count and the rows' order
    (default: the layers in order of first selection, as wide as their highest selected index)."""
    if units_per_layer is None:
        units_per_layer = {}
        for s in slices:
            units_per_layer[s["layer"]] = max(units_per_layer.get(s["layer"], 0), s["index"] + 1)
    layers = list(units_per_layer)
    width = max(units_per_layer.values(), default=0)
    order = np.full((len(layers), width), np.nan)
    score = np.full((len(layers), width), np.nan)
    for position, s in enumerate(slices, 1):
        row = layers.index(s["layer"])
        if np.isnan(order[row, s["index"]]):  # a slice chosen again keeps its first rank
            order[row, s["index"]], score[row, s["index"]] = position, s["score"]
    fig = go.Figure(
        go.Heatmap(
            z=order,
            x=list(range(width)),
            y=layers,
            customdata=score,
            colorscale="Cividis",
            reversescale=True,
            colorbar={"title": "selection order"},
            hovertemplate="%{y} slice %{x}<br>order %{z}<br>CODEC T %{customdata:.3f}"
            "<extra></extra>",
            xgap=1,
            ygap=1,
            name="selected slices",
        )
    )
    fig.update_layout(xaxis_title="Slice (output unit or channel index)", yaxis_title="Layer")
    fig.update_yaxes(autorange="reversed")
    return styled(fig, f"Slices selected by L-FOCI ({len(slices)})")


def prediction_distribution(
    class_names: list[str], counts: dict[str, list[int] | None]
) -> go.Figure:
    """UNSIR Fig. 4: how each model classifies the forget set (report.json's
    `prediction_distribution`), one panel per model side by side with a shared count axis; one
    dominant class in the unlearned panel that the retrained one lacks is the Streisand effect."""
    present = {name: c for name, c in counts.items() if c is not None}
    fig = make_subplots(
        rows=1, cols=max(len(present), 1), shared_yaxes=True, subplot_titles=list(present)
    )
    for col, (name, c) in enumerate(present.items(), 1):
        fig.add_bar(x=class_names, y=c, name=name, marker_color=_colour(name, col), row=1, col=col)
        fig.update_xaxes(title_text="Predicted class", row=1, col=col)
    fig.update_yaxes(title_text="Forget-set samples (count)", row=1, col=1)
    return styled(fig, "Predictions on the forget set")


def roc_curves(mia: PerModel[MembershipAttacks], title: str = "Membership inference") -> go.Figure:
    """ROC curves of the membership attacks on log-log axes, where the low-FPR regime that matters
    to an auditor is visible (Carlini et al., S&P 2022). mia: a report's `mia` (models and attacks
    without a curve skipped): colour by model, line style by attack. Points at FPR or TPR 0 fall
    off a log axis; the report's tpr_at_* values keep them."""
    fig = go.Figure()
    fig.add_scatter(
        x=[1e-4, 1.0],
        y=[1e-4, 1.0],
        mode="lines",
        name="chance",
        line={"color": BLACK, "dash": "dot"},
    )
    dashes = ("solid", "dash", "dashdot", "longdash")
    for position, (model, attacks) in enumerate(mia.present().items()):
        for number, (attack, summary) in enumerate(attacks.present().items()):
            if summary.roc is None:
                continue
            fig.add_scatter(
                x=summary.roc.fpr,
                y=summary.roc.tpr,
                mode="lines",
                name=f"{model}, {attack} attack (AUC {summary.auc:.3f})",
                line={
                    "color": _colour(model, position),
                    "dash": dashes[number % len(dashes)],
                    "shape": "hv",
                    "width": 3,
                },
            )
    fig.update_xaxes(title_text="False positive rate (log scale)", **log_axis([-3, 0], False))
    fig.update_yaxes(title_text="True positive rate (log scale)", **log_axis([-3, 0], False))
    return styled(fig, title)


TILE, TILE_GAP, TITLE_SPACE = 110, 8, 56  # px: one image or map, between tiles, above a row
TITLE_FONT = {"size": 12}  # seven column titles side by side stay apart at 110 px a tile
MARGIN = {"l": 10, "r": 10, "t": 110, "b": 80, "autoexpand": False}  # colour bars at the bottom


def attribution_panel(
    images: np.ndarray,
    maps: dict[str, np.ndarray],
    differences: dict[str, np.ndarray] | None = None,
    row_titles: list[str] | None = None,
    drops: dict[str, Sequence[float]] | None = None,
) -> go.Figure:
    """GradCAM or activation maps side by side (UNSIR Fig. 6, L-CODEC Fig. 8): a row per sample,
    the image, then each model's map on one shared colour scale (cividis), then the differences
    on a diverging one centred at 0. Every tile is TILE x TILE pixels: the figure has a fixed
    size (draw it at its own width), not the page's.

    images: (n, C, H, W) or (n, H, W) uint8; maps and differences: name -> (n, H, W);
    row_titles: n captions; drops: model name -> (n,) deletion-check drops, shown over its map.
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    differences = differences or {}
    n, cols = images.shape[0], 1 + len(maps) + len(differences)
    width = cols * TILE + (cols - 1) * TILE_GAP  # px of the plotting area
    height = n * TILE + (n - 1) * TITLE_SPACE
    fig = make_subplots(
        rows=n,
        cols=cols,
        subplot_titles=_attribution_titles(n, maps, differences, row_titles, drops),
        horizontal_spacing=TILE_GAP / width,
        vertical_spacing=TITLE_SPACE / height if n > 1 else 0.0,
    )
    for i in range(n):
        _attribution_row(fig, i, images[i], maps, differences)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed", constrain="domain")
    for k in range(1, n * cols + 1):  # each tile square on its own axes, not the first tile's
        suffix = "" if k == 1 else str(k)
        fig.layout[f"yaxis{suffix}"].scaleanchor = f"x{suffix}"
    fig.update_annotations(font=TITLE_FONT)
    below = {"orientation": "h", "len": 0.45, "thickness": 12, "y": -12 / height, "yanchor": "top"}
    fig.update_layout(
        coloraxis={"colorscale": "Cividis", "colorbar": {**below, "title": "map", "x": 0.25}},
        coloraxis2={
            "colorscale": DIVERGING,
            "cmid": 0,
            "colorbar": {**below, "title": "difference", "x": 0.75},
        },
        width=width + MARGIN["l"] + MARGIN["r"],
        height=height + MARGIN["t"] + MARGIN["b"],
        margin=MARGIN,
    )
    return styled(fig, "Attribution maps (Δp: confidence drop when the top pixels are removed)")


def drop_text(drop: float) -> str:
    """A deletion-check drop for a title, signed at two decimals; one too small for them says
    so on its side of zero ("Δp < 0.01", "Δp > −0.01") rather than "Δp -0.00"."""
    if drop == 0:
        return "Δp 0"
    if abs(drop) < 0.005:
        return "Δp < 0.01" if drop > 0 else "Δp > −0.01"
    return f"Δp {drop:+.2f}".replace("-", "−")


def _attribution_titles(n, maps, differences, row_titles, drops) -> list[str]:
    titles = []
    for i in range(n):
        # short lines: seven columns of 110 px must stay apart at 1,280 px
        title = row_titles[i] if row_titles else f"sample {i}"
        titles.append(title.replace(", ", "<br>").replace(" (target", "<br>(target"))
        for name in maps:
            drop = f"<br>{drop_text(drops[name][i])}" if drops and name in drops else ""
            titles.append(f"{name}{drop}")
        titles.extend(name.replace("-", "<br>minus ") for name in differences)
    return titles


def _attribution_row(fig: go.Figure, i: int, image: np.ndarray, maps: dict, differences: dict):
    """Row i + 1: the image (grey or colour), each map, each difference."""
    if image.ndim == 2:
        fig.add_heatmap(z=image, colorscale="gray", showscale=False, row=i + 1, col=1, name="image")
    else:
        fig.add_image(z=image.transpose(1, 2, 0), row=i + 1, col=1, name="image")
    for col, (name, m) in enumerate(maps.items(), 2):
        fig.add_heatmap(z=np.asarray(m[i]), coloraxis="coloraxis", row=i + 1, col=col, name=name)
    for col, (name, d) in enumerate(differences.items(), 2 + len(maps)):
        fig.add_heatmap(z=np.asarray(d[i]), coloraxis="coloraxis2", row=i + 1, col=col, name=name)


def error_scatter(
    unlearning_errors: Sequence[float],
    verification_errors: Sequence[float],
    slope: float,
    intercept: float,
    r: float | None,
    labels: Sequence[str] | None = None,
) -> go.Figure:
    """Unrolling SGD Fig. 3: verification error against the retraining-free unlearning error
    across training settings, with the fitted line y = intercept + slope * x drawn over the
    points' x range and Pearson's r in the title."""
    x = list(unlearning_errors)
    fig = go.Figure()
    fig.add_scatter(
        x=x,
        y=list(verification_errors),
        mode="markers",
        name="training settings",
        text=list(labels) if labels else None,
        marker={"color": BLUE, "size": 12},
    )
    ends = [min(x), max(x)]
    fig.add_scatter(
        x=ends,
        y=[intercept + slope * e for e in ends],
        mode="lines",
        name="least-squares fit",
        line={"color": VERMILLION, "dash": "dash", "width": 3},
    )
    fig.update_layout(
        xaxis_title="Unlearning error (Eq. 9, squared weight units)",
        yaxis_title="Verification error (L2 distance to retrained, weight units)",
    )
    r_text = f"r = {r:.3f}" if r is not None else "r undefined"
    return styled(fig, f"Unlearning vs verification error ({r_text})")


def relearn_curves(relearn: PerModel[RelearnTime]) -> go.Figure:
    """UNSIR's relearn time: forget-set accuracy after each epoch of relearning on random
    training samples (report.json's `relearn_time.<model>.forget_acc_per_epoch`), with the
    original model's forget accuracy, the target, as a dashed line."""
    fig = go.Figure()
    target = None
    for position, (name, r) in enumerate(relearn.present().items()):
        if r.forget_acc_per_epoch is None:
            continue
        target, curve = r.target_forget_acc, r.forget_acc_per_epoch
        fig.add_scatter(
            x=list(range(len(curve))),
            y=curve,
            mode="lines+markers",
            name=name,
            line={"color": _colour(name, position), "width": 3},
        )
    if target is not None:
        fig.add_hline(
            y=target,
            line_dash="dash",
            line_color=BLACK,
            annotation_text="original's forget accuracy",
        )
    fig.update_layout(xaxis_title="Relearning epochs", yaxis_title="Forget-set accuracy")
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    return styled(fig, "Relearn time")


def supported_removals_curve(removals: list[dict], start_acc: float, supported: int) -> go.Figure:
    """L-CODEC Fig. 6-7: validation accuracy after each sequential removal (report.json's
    `method_info.sequential.removals`: {val_acc, accepted}); reverted removals are marked with a
    cross, the accuracy before any removal is dashed and the supported count is a dotted line."""
    attempts = list(range(1, len(removals) + 1))
    fig = go.Figure()
    fig.add_scatter(
        x=attempts,
        y=[r["val_acc"] for r in removals],
        mode="lines+markers",
        name="validation accuracy",
        line={"color": BLUE, "width": 3},
    )
    rejected = [
        (t, r["val_acc"]) for t, r in zip(attempts, removals, strict=True) if not r["accepted"]
    ]
    fig.add_scatter(
        x=[t for t, _ in rejected],
        y=[a for _, a in rejected],
        mode="markers",
        name="rejected (reverted)",
        marker={"color": VERMILLION, "symbol": "x", "size": 14},
    )
    fig.add_hline(y=start_acc, line_dash="dash", line_color=BLACK, annotation_text="before")
    fig.add_vline(
        x=supported, line_dash="dot", line_color=GREEN, annotation_text=f"supported: {supported}"
    )
    fig.update_layout(
        xaxis_title="Samples removed (one at a time)", yaxis_title="Validation accuracy"
    )
    fig.update_yaxes(tickformat=".0%")
    return styled(fig, f"Supported removals: {supported}")
