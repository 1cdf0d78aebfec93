"""The unlearning-error study (study.py; Thudi et al., Unrolling SGD, Sec. 8.3) as the app keeps
and shows it: grid values typed into fields, a folder per study under the run store, the fitted
line of the scatter, and the SD loss (Eq. 10) against none, rows grouped by its weight gamma.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import secrets
from pathlib import Path

from unlearn_core.errors import UserError
from unlearn_core.metrics.linear_fit import linear_fit
from unlearn_core.metrics.verification_error import share_removed
from unlearn_core.run.study import parse_grid

STUDIES = "studies"  # the subfolder of the run store root that keeps the app's studies
STUDY_JSON = "study.json"
# The form's learning rate, inside single-gradient's near-linear regime (Unrolling SGD, Sec. 5):
# the app's default study (demo, logreg, forget 0 and 1, batch 64, gamma 0 and 1, epochs 1 and 2)
# measured, share removed by setting: lr 1e-4: 0.40 to 0.88; 2e-4: negative at gamma 1 with
# 2 epochs; 3e-4: also gamma 1 with 1 epoch; 5e-4: also gamma 0 with 2 epochs; 1e-3 and up:
# negative in all four (0.01, the old default: -9 to -17).
DEFAULT_LR = 1e-4
REGIME_END_LR = 2e-4  # the smallest measured lr at which a default setting's share turns negative


def grid_from_fields(fields: dict[str, str]) -> dict[str, list]:
    """{"sd_gamma": "0, 1", "epochs": "1,2"} -> {"sd_gamma": [0.0, 1.0], "epochs": [1, 2]} with
    study.GRID_KEYS' types; one UserError naming the field for a value that is not a number."""
    grid: dict[str, list] = {}
    for key, text in fields.items():
        try:
            grid.update(parse_grid([f"{key}={text}"]))
        except UserError:
            raise UserError(
                f"{key} values {text!r}: type comma-separated numbers, e.g. 0, 1."
            ) from None
    return grid


def new_study_folder(store_root: str | Path) -> Path:
    """<store_root>/studies/<UTC time>-<random>: a fresh folder name (not created) that keeps
    the study beside the runs, so a reload or a restart loses none."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path(store_root) / STUDIES / f"{stamp}-{secrets.token_hex(3)}"


def list_studies(store_root: str | Path) -> list[Path]:
    """The study.json files kept under <store_root>/studies, newest first."""
    folder = Path(store_root) / STUDIES
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"*/{STUDY_JSON}"), key=lambda p: p.parent.name, reverse=True)


def parse_study(text: str | bytes, name: str = STUDY_JSON) -> dict:
    """The content of a study.json; UserError for anything that is not one."""
    try:
        study = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise UserError(f"{name} is not JSON; choose a study.json written by a study.") from None
    if not isinstance(study, dict) or not isinstance(study.get("rows"), list):
        raise UserError(f"{name} holds no study rows; choose a study.json written by a study.")
    return study


def read_study(path: str | Path) -> dict:
    """parse_study of the file at `path`; UserError if it cannot be read."""
    try:
        return parse_study(Path(path).read_bytes(), str(path))
    except OSError:
        raise UserError(f"cannot read {path}; choose another study.") from None


def setting_label(row: dict, grid: dict) -> str:
    """ "sd_gamma=1.0 epochs=2": the grid values of one row."""
    return " ".join(f"{key}={row[key]}" for key in grid)


def study_fit(study: dict) -> dict | None:
    """The scatter's data: {x: unlearning errors, y: verification errors, labels, slope,
    intercept, r} over the rows with both errors; r is the study's own Pearson r. None when
    fewer than two distinct unlearning errors leave no line to fit."""
    rows = [
        r
        for r in study["rows"]
        if r.get("unlearning_error") is not None and r.get("verification_error") is not None
    ]
    x = [r["unlearning_error"] for r in rows]
    y = [r["verification_error"] for r in rows]
    if len(set(x)) < 2:
        return None
    fit = linear_fit(x, y)
    return {
        "x": x,
        "y": y,
        "labels": [setting_label(r, study["grid"]) for r in rows],
        "slope": fit["slope"],
        "intercept": fit["intercept"],
        "r": study.get("pearson_r"),
    }


def _share(row: dict) -> float | None:
    after, before = row.get("verification_error"), row.get("verification_error_without_update")
    return None if after is None or before is None else share_removed(after, before)


def study_rows(study: dict) -> list[dict]:
    """The study's rows, each with its share_removed (1 - verification error / the one without
    the update; None where either is missing)."""
    return [{**row, "share_removed": _share(row)} for row in study["rows"]]


def overshot_settings(study: dict) -> list[str]:
    """The labels of the settings whose share removed is negative: those where single-gradient's
    step overshot, outside the near-linear regime of Unrolling SGD's Taylor argument (Sec. 5)."""
    return [
        setting_label(row, study.get("grid", {}))
        for row in study_rows(study)
        if row["share_removed"] is not None and row["share_removed"] < 0
    ]


def _mean(values: list) -> float | None:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return sum(kept) / len(kept) if kept else None


def sd_gamma_groups(study: dict) -> list[dict]:
    """Rows grouped by the SD-loss weight gamma (the base recipe's when the grid leaves it
    fixed), in increasing gamma: settings, mean unlearning and verification errors (with and
    without the update) and test accuracy, and each mean unlearning error relative to the one
    without SD loss (gamma = 0; None when the study has no such rows)."""
    base = study.get("base_recipe", {}).get("sd_gamma", 0.0)
    groups: dict[float, list[dict]] = {}
    for row in study["rows"]:
        groups.setdefault(float(row.get("sd_gamma", base)), []).append(row)
    out = []
    for gamma in sorted(groups):
        rows = groups[gamma]
        out.append(
            {
                "SD loss": "none" if gamma == 0 else f"γ = {gamma:g}",
                "settings": len(rows),
                "unlearning error": _mean([r["unlearning_error"] for r in rows]),
                "verification error": _mean([r["verification_error"] for r in rows]),
                "without update": _mean([r["verification_error_without_update"] for r in rows]),
                "test accuracy": _mean([r["test_acc"] for r in rows]),
            }
        )
    baseline = next((g["unlearning error"] for g in out if g["SD loss"] == "none"), None)
    for g in out:
        value = g["unlearning error"]
        usable = baseline and value is not None  # no ratio to a missing or zero baseline
        g["unlearning error / none"] = value / baseline if usable else None
    return out
