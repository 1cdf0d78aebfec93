"""2-D maps of several models' features on shared axes, for the Representations view.

UMAP (McInnes, Healy and Melville, 2018, via `umap-learn`) is fitted ONCE on the union of every
model's features, so a point's position means the same in every panel and the three panels can
be compared; PCA is the fallback (no umap-learn, or too few points for its neighbourhood graph),
and the result says which ran and why. The same seed gives the same coordinates: UMAP runs
single-threaded with `random_state`, PCA with the full SVD.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA

from unlearn_core.errors import UserError

MIN_UMAP_POINTS = 20  # below this UMAP's 15-neighbour graph is not meaningful


@dataclass(frozen=True)
class Embedding:
    coordinates: dict[str, np.ndarray]  # model name -> (n, 2) float32
    method: str  # "umap" or "pca"
    reason: str | None  # why PCA ran instead of UMAP, when it did


def embed(features: dict[str, np.ndarray], *, seed: int, method: str = "umap") -> Embedding:
    """Map each model's features (n, d), the same n images for every model, to (n, 2) by one fit
    on their union (k * n, d)."""
    shapes = {f.shape for f in features.values()}
    if len(shapes) != 1:
        raise UserError(f"every model needs features of one shape to share axes, got {shapes}.")
    n = next(iter(shapes))[0]
    if n < 3:
        raise UserError("an embedding needs at least three images: raise the sample size.")
    union = np.concatenate([np.asarray(f, dtype=np.float32) for f in features.values()])
    coords, used, reason = _fit(union, seed, method)
    split = {name: coords[i * n : (i + 1) * n] for i, name in enumerate(features)}
    return Embedding(split, used, reason)


def _fit(union: np.ndarray, seed: int, method: str) -> tuple[np.ndarray, str, str | None]:
    if method not in ("umap", "pca"):
        raise UserError(f"unknown embedding {method!r}; choose umap or pca.")
    reason = None
    if method == "umap":
        reason = _umap_unavailable(union.shape[0])
        if reason is None:
            import umap

            reducer = umap.UMAP(n_components=2, random_state=seed, n_jobs=1)
            return reducer.fit_transform(union).astype(np.float32), "umap", None
    pca = PCA(n_components=2, svd_solver="full", random_state=seed)
    return pca.fit_transform(union).astype(np.float32), "pca", reason


def _umap_unavailable(points: int) -> str | None:
    """Why UMAP cannot run here, or None."""
    if points < MIN_UMAP_POINTS:
        return f"{points} points are too few for a UMAP graph (it needs {MIN_UMAP_POINTS})"
    try:
        import umap  # noqa: F401
    except ImportError:
        return "umap-learn is not installed"
    return None
