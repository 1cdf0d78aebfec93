"""`privacy-audit --scores FILE.npz`: an audit from confidences computed elsewhere.

FILE holds float arrays `unlearned` and `retrained`, and optionally `original` (the control),
each (N models, m forget samples): the logit-scaled confidence log(p_y / (1 - p_y)) of each
forget sample's label under each model (privacy/ulira.py's logit_confidence). The file is read
without pickles, checked whole before anything is computed, and turned into privacy.json by the
same functions as a model audit (privacy/scores.py); attacks that need the models themselves
(loss, SVC, relearning) are absent.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np

from unlearn_core.errors import UserError
from unlearn_core.privacy.scores import score_audit

ROLES = ("unlearned", "retrained", "original")
MIN_MODELS = 3  # U-LiRA fits each model's test on the others, with a variance
MAX_BYTES = 512 * 2**20  # a score file larger than this is not a forget set's confidences


def read_scores(path: str | Path) -> dict[str, np.ndarray]:
    """The phi grids of FILE, checked: one UserError line naming what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--scores {path.name}: no such file; give a .npz of score arrays.")
    if path.stat().st_size > MAX_BYTES:
        raise UserError(f"--scores {path.name} is over {MAX_BYTES // 2**20} MB.")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("one array, not a .npz of named arrays")
        with loaded as npz:
            found = {name: np.asarray(npz[name]) for name in npz.files if name in ROLES}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise UserError(f"--scores {path.name} is not a readable .npz of arrays ({err}).") from None
    for name in ("unlearned", "retrained"):
        if name not in found:
            raise UserError(
                f"--scores {path.name} has no array {name!r}; it needs 'unlearned' and "
                "'retrained' (and optionally 'original'), each (models, samples)."
            )
    grids = {name: _checked(path.name, name, grid) for name, grid in found.items()}
    _check_same_shape(path.name, grids)
    return grids


def _checked(file: str, name: str, grid: np.ndarray) -> np.ndarray:
    if grid.ndim != 2:
        raise UserError(
            f"--scores {file}: {name!r} has shape {grid.shape}; it must be (models, samples)."
        )
    if not np.issubdtype(grid.dtype, np.number) or np.issubdtype(grid.dtype, np.complexfloating):
        raise UserError(f"--scores {file}: {name!r} holds {grid.dtype}, not real numbers.")
    if grid.shape[0] < MIN_MODELS:
        raise UserError(
            f"--scores {file}: {name!r} has {grid.shape[0]} models; U-LiRA needs at least "
            f"{MIN_MODELS} (each model is tested against the others)."
        )
    if grid.shape[1] < 1:
        raise UserError(f"--scores {file}: {name!r} has no samples.")
    grid = grid.astype(float)
    if not np.isfinite(grid).all():
        raise UserError(f"--scores {file}: {name!r} holds NaN or infinite values.")
    return grid


def _check_same_shape(file: str, grids: dict[str, np.ndarray]) -> None:
    shapes = {name: grid.shape for name, grid in grids.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise UserError(
            f"--scores {file}: the arrays' shapes differ ({listed}); each needs the same models "
            "and the same forget samples, in the same order."
        )


def scores_audit(path: str | Path, indices: list[int] | None, margin: float) -> dict:
    """privacy.json's content from FILE; `indices` name the forget samples (default 0..m-1)."""
    phi = read_scores(path)
    models, samples = phi["unlearned"].shape
    if indices is None:
        indices = list(range(samples))
    elif len(indices) != samples:
        raise UserError(
            f"--forget-indices names {len(indices)} samples but the scores have {samples}."
        )
    rng = np.random.default_rng(0)  # the intervals' resampling: fixed, so a rerun agrees
    return {
        "models": models,
        "method": None,
        "forget": {"indices": [int(i) for i in indices], "count": samples},
        "source": {
            "scores_file": Path(path).name,
            "scores_sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
        },
        **score_audit(phi, indices, rng, margin),
    }
