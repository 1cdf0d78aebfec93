"""Writing an Explanation to a folder: what `python -m unlearn_core explain` leaves behind.

maps.npz          one array per model ("original", "unlearned", "retrained"), (n, H, W) float32
differences.npz   "unlearned-original", "retrained-original", "unlearned-retrained" likewise
explain.json      kind, layer, indices, targets, labels and the deletion check per model
panel.png         image, maps and differences side by side, a row per sample (matplotlib:
                  plotly's PNG export needs kaleido and a browser, which we do not assume)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from unlearn_core.metrics.attribution import Explanation, faithfulness_summary
from unlearn_core.views.figures import BLUE, VERMILLION


def save_explanation(expl: Explanation, out: str | Path, class_names: list[str]) -> Path:
    """Write the four files above into `out` (created if needed); returns `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "maps.npz", **{k: v.numpy() for k, v in expl.maps.items()})
    np.savez_compressed(
        out / "differences.npz", **{k: v.numpy() for k, v in expl.differences.items()}
    )
    record = {
        "kind": expl.kind,
        "layer": expl.layer,
        "split": expl.split,
        "indices": expl.indices,
        "labels": expl.labels.tolist(),
        "targets": expl.targets.tolist(),
        "models": list(expl.maps),
        "faithfulness": {"fraction": expl.fraction, **faithfulness_summary(expl)},
    }
    (out / "explain.json").write_text(json.dumps(record, indent=2) + "\n")
    render_panel(expl, out / "panel.png", class_names)
    return out


def render_panel(expl: Explanation, path: Path, class_names: list[str]) -> None:
    """The PNG panel: every map on one colour scale, every difference on one symmetric scale
    around 0, and each map's deletion drop (with the random-pixel control) in its title."""
    import matplotlib

    matplotlib.use("Agg")  # no display: the PNG only
    import matplotlib.pyplot as plt
    from matplotlib.colors import LinearSegmentedColormap

    diverging = LinearSegmentedColormap.from_list("okabe_ito", [BLUE, "#FFFFFF", VERMILLION])
    maps = {k: v.numpy() for k, v in expl.maps.items()}
    diffs = {k: v.numpy() for k, v in expl.differences.items()}
    low = min(float(m.min()) for m in maps.values())
    high = max(float(m.max()) for m in maps.values())
    high = high if high > low else low + 1e-12  # a constant map still draws
    spread = max([float(np.abs(d).max()) for d in diffs.values()] + [1e-12])
    n, cols = len(expl.indices), 1 + len(maps) + len(diffs)
    fig, axes = plt.subplots(
        n, cols, figsize=(2.4 * cols, 2.6 * n + 0.4), squeeze=False, layout="constrained"
    )
    images = expl.images.numpy()
    for i in range(n):
        row = axes[i]
        if images.shape[1] == 1:
            row[0].imshow(images[i, 0], cmap="gray", vmin=0, vmax=255)
        else:
            row[0].imshow(images[i].transpose(1, 2, 0))
        label, target = int(expl.labels[i]), int(expl.targets[i])
        row[0].set_title(
            f"#{expl.indices[i]} {class_names[label]}\ntarget {class_names[target]}", fontsize=9
        )
        for ax, (name, m) in zip(row[1 : 1 + len(maps)], maps.items(), strict=True):
            shown = ax.imshow(m[i], cmap="cividis", vmin=low, vmax=high)
            f = expl.faithfulness[name]
            ax.set_title(
                f"{name}\nΔp {float(f['drop'][i]):.2f} (random {float(f['random_drop'][i]):.2f})",
                fontsize=9,
            )
        for ax, (name, d) in zip(row[1 + len(maps) :], diffs.items(), strict=True):
            delta = ax.imshow(d[i], cmap=diverging, vmin=-spread, vmax=spread)
            ax.set_title(name, fontsize=9)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.colorbar(shown, ax=axes[:, 1 : 1 + len(maps)].ravel().tolist(), shrink=0.8, label="map")
    if diffs:
        fig.colorbar(
            delta, ax=axes[:, 1 + len(maps) :].ravel().tolist(), shrink=0.8, label="difference"
        )
    title = "GradCAM" if expl.kind == "gradcam" else "Activation map"
    fig.suptitle(
        f"{title} of layer {expl.layer}; Δp: confidence drop, top "
        f"{expl.fraction:.0%} of pixels removed",
        fontsize=10,
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)
