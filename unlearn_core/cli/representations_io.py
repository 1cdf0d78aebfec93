"""What `explain --kind embedding|cka|probe` leaves in --out (DESIGN.md's contract):

summary.json   embedding: {"models": {name: {"points": n}}, method, reason, layer, seed};
               cka: {"layers", "original_vs_unlearned", "unlearned_vs_retrained", and the same
               two on retained images with the suffix _retain}; probe: {"probe_accuracy":
               {original, unlearned, retrained}, "flag", "probe" (with intervals), task, layer}
maps.npz       embedding: one (n, 2) array per model; points.npz: labels and groups of the points
cka.npz        cka: one array per pair, a value per layer
probe.npz      probe: accuracy, ci_low and ci_high per model (NaN for a missing model)
panel.png      the figure (matplotlib: plotly's PNG export needs kaleido and a browser)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from unlearn_core.views.figures import MODEL_COLOURS


def save_embedding(view: dict, out: Path, seed: int, class_names: list[str]) -> dict:
    coords = view["coordinates"]
    np.savez_compressed(out / "maps.npz", **coords)
    np.savez_compressed(out / "points.npz", labels=view["labels"], group=view["group"])
    summary = {
        "models": {name: {"points": int(xy.shape[0])} for name, xy in coords.items()},
        "method": view["method"],
        "reason": view["reason"],
        "layer": view["layer"],
        "seed": seed,
    }
    _panel(out, lambda fig: _embedding_axes(fig, view, class_names), width=4 * len(coords))
    return summary


def save_cka(summary: dict, out: Path) -> dict:
    arrays = {
        k: np.asarray(v, dtype=np.float64)
        for k, v in summary.items()
        if k != "layers" and v is not None
    }
    np.savez_compressed(out / "cka.npz", layers=np.asarray(summary["layers"]), **arrays)
    _panel(out, lambda fig: _cka_axes(fig, summary), width=8)
    return summary


def save_probe(report: dict, out: Path) -> dict:
    arrays = {
        f"{name}_{key}": np.float64(np.nan if r is None else r[key])
        for name, r in report["probe"].items()
        for key in ("accuracy", "ci_low", "ci_high")
    }
    np.savez_compressed(out / "probe.npz", **arrays)
    _panel(out, lambda fig: _probe_axes(fig, report), width=6)
    return report


def write_summary(out: Path, summary: dict) -> Path:
    path = out / "summary.json"
    path.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    return path


def _panel(out: Path, draw, width: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(width, 4))
    try:
        draw(fig)
        fig.tight_layout()
        fig.savefig(out / "panel.png", dpi=110)
    finally:
        plt.close(fig)


def _embedding_axes(fig, view: dict, class_names: list[str]) -> None:
    models = list(view["coordinates"])
    labels, forget = np.asarray(view["labels"]), np.asarray(view["group"]) == "forget"
    first = None
    for i, name in enumerate(models):
        ax = fig.add_subplot(1, len(models), i + 1, sharex=first, sharey=first)
        first = first or ax
        xy = view["coordinates"][name]
        ax.scatter(xy[~forget, 0], xy[~forget, 1], c=labels[~forget], cmap="tab10", s=6)
        ax.scatter(xy[forget, 0], xy[forget, 1], c=labels[forget], cmap="tab10", s=22, marker="x")
        ax.set_title(f"{name} ({view['method']})")


def _cka_axes(fig, summary: dict) -> None:
    ax = fig.add_subplot(1, 1, 1)
    for key, colour in (
        ("original_vs_unlearned", MODEL_COLOURS["unlearned"]),
        ("unlearned_vs_retrained", MODEL_COLOURS["retrained"]),
    ):
        for suffix, style in (("", "-"), ("_retain", ":")):
            if summary.get(key + suffix) is not None:
                values = [np.nan if v is None else v for v in summary[key + suffix]]
                ax.plot(summary["layers"], values, style, color=colour, label=key + suffix)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("layer")
    ax.set_ylabel("linear CKA")
    ax.legend(fontsize=7)


def _probe_axes(fig, report: dict) -> None:
    ax = fig.add_subplot(1, 1, 1)
    names = [n for n, r in report["probe"].items() if r is not None]
    results = [report["probe"][n] for n in names]
    acc = [r["accuracy"] for r in results]
    err = [
        [r["accuracy"] - r["ci_low"] for r in results],
        [r["ci_high"] - r["accuracy"] for r in results],
    ]
    ax.bar(names, acc, yerr=err, color=[MODEL_COLOURS.get(n, "#0072B2") for n in names])
    ax.axhline(0.5, linestyle=":", color="black")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(f"probe accuracy ({report['task']})")
