"""The unlearning-error study (Thudi et al., Unrolling SGD, Sec. 8.3): is the retraining-free
unlearning error (Eq. 9) a proxy for the verification error?

For every setting of a grid over the recipe (SD-loss gamma, epochs, learning rate, batch size),
train with Hessian probes, unlearn the forget set by single-gradient unlearning, retrain without it
by the same recipe and order (the replay convention, training.py: the one single-gradient
unlearning and its verification error are derived for), and record both errors; then their
Pearson correlation across the settings (the paper reports 0.88 to 0.99), and their partial
correlation controlling for the step count t, which both grow with. Writes study.csv (a row per
setting) and study.json.

With `each_sample`, every forget index is unlearned and retrained without on its own and the
row's verification error is their mean (the paper's v is an average too, Sec. 4): on a CNN one
sample's verification error is at the level of floating-point drift amplified by training
(BENCHMARKS.md), so a mean over ten samples measures something larger than the drift.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import math
import statistics
import time
from pathlib import Path

import torch

import unlearn_core
from unlearn_core.data import ImageDataset
from unlearn_core.errors import UserError
from unlearn_core.methods import get_method
from unlearn_core.metrics.linear_fit import partial_pearson, pearson
from unlearn_core.metrics.unlearning_error import unlearning_error
from unlearn_core.metrics.verification_error import verification_errors
from unlearn_core.progress import Progress, sub_progress
from unlearn_core.request import ForgetRequest
from unlearn_core.run.pipeline import code_commit
from unlearn_core.run.reproducible import environment, torch_threads
from unlearn_core.training import Recipe, retrain_without, train

GRID_KEYS = {"sd_gamma": float, "epochs": int, "lr": float, "batch_size": int}
COLUMNS = (
    "unlearning_error",
    "verification_error",
    "verification_error_without_update",
    "test_acc",
    "sigma_avg",
    "weight_change",
    "steps",
    "train_seconds",
    "unlearn_seconds",
    "retrain_seconds",
    "seconds",
    "verification_error_sd",  # over the samples, with each_sample; else 0
    "samples",  # verification errors averaged: 1, or each forget index with each_sample
)


MAX_SETTINGS = 1000  # a study trains twice per setting: more would run for weeks


def parse_grid(items: list[str]) -> dict[str, list]:
    """["sd_gamma=0,1", "epochs=1,2,3"] -> {"sd_gamma": [0.0, 1.0], "epochs": [1, 2, 3]}."""
    grid: dict[str, list] = {}
    for item in items:
        key, _, values = item.partition("=")
        key = key.strip()
        if key not in GRID_KEYS:
            raise UserError(f"--grid {item}: vary one of {', '.join(GRID_KEYS)}.")
        if key in grid:
            raise UserError(f"--grid {key} is given twice; list all its values in one --grid.")
        try:
            grid[key] = [GRID_KEYS[key](v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise UserError(f"--grid {item}: expected comma-separated numbers.") from None
        if not grid[key]:
            raise UserError(f"--grid {item}: give at least one value.")
        if not all(math.isfinite(v) for v in grid[key]):
            raise UserError(f"--grid {item}: every value must be a finite number.")
    if math.prod(len(v) for v in grid.values()) > MAX_SETTINGS:
        raise UserError(f"--grid gives more than {MAX_SETTINGS} settings (the cap); vary fewer.")
    return grid


def settings(grid: dict[str, list]) -> list[dict]:
    """The cartesian product of the grid, the last key varying fastest."""
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def run_setting(
    arch: str,
    data: ImageDataset,
    recipe: Recipe,
    requests: list[ForgetRequest],
    *,
    progress: Progress | None = None,
) -> dict:
    """Train once; per request, single-gradient unlearn and retrain without it; -> the row's
    measured columns, the verification errors averaged over the requests."""
    start = time.perf_counter()
    trained = train(arch, data, recipe, progress=sub_progress(progress, 0.0, 0.5, "training"))
    train_seconds = time.perf_counter() - start
    measured = []
    for i, request in enumerate(requests):
        part = sub_progress(
            progress,
            0.5 + 0.5 * i / len(requests),
            0.5 + 0.5 * (i + 1) / len(requests),
            "retraining",
        )
        measured.append(_verify(trained, data, request, recipe.seed, part))
    errors = [m["verification_error"] for m in measured]
    terms = unlearning_error(trained) or {}
    return {
        "unlearning_error": terms.get("unlearning_error"),
        "verification_error": statistics.fmean(errors),
        "verification_error_without_update": statistics.fmean(
            m["verification_error_without_update"] for m in measured
        ),
        "test_acc": trained.history[-1]["test_acc"],
        "sigma_avg": terms.get("sigma_avg"),
        "weight_change": terms.get("weight_change"),
        "steps": terms.get("steps"),
        "train_seconds": train_seconds,
        "unlearn_seconds": sum(m["unlearn_seconds"] for m in measured),
        "retrain_seconds": sum(m["retrain_seconds"] for m in measured),
        "seconds": time.perf_counter() - start,
        "verification_error_sd": statistics.stdev(errors) if len(errors) > 1 else 0.0,
        "samples": len(errors),
    }


def _verify(trained, data, request, seed, progress) -> dict:
    """Single-gradient unlearning of `request` and the retrain without it (the replay
    convention: single-gradient's own target, Unrolling SGD Eq. 4) -> both errors and times."""
    spec = get_method("single-gradient")
    tick = time.perf_counter()
    result = spec.run(trained, request, data, spec.config_cls(), seed=seed)
    unlearn_seconds = time.perf_counter() - tick
    tick = time.perf_counter()
    retrained = retrain_without(
        trained, data, request.forget_indices, convention="replay", progress=progress
    )
    errors = verification_errors(result.model, trained.model, retrained)
    return {
        **errors,
        "unlearn_seconds": unlearn_seconds,
        "retrain_seconds": time.perf_counter() - tick,
    }


def run_study(
    arch: str,
    data: ImageDataset,
    base: Recipe,
    grid: dict[str, list],
    forget_indices: list[int],
    out: str | Path,
    *,
    each_sample: bool = False,
    threads: int | None = None,
    progress: Progress | None = None,
) -> dict:
    """Every grid setting of `base`, forgetting `forget_indices` (as one set, or each on its
    own with `each_sample`); writes out/study.csv and out/study.json and returns the latter's
    content.

    threads: torch threads for the whole study (None: the process's). Set it: a CPU run is
    bitwise reproducible only at a fixed thread count, and here the verification error of a
    sample is no larger than the drift between thread counts (BENCHMARKS.md), so study.json
    records the count, the CPU and its kernels' ISA (pinned or not: reproducible.py) with the
    versions.
    """
    request = ForgetRequest.for_indices(data, forget_indices)
    requests = _requests(data, request, each_sample)
    recipes = [dataclasses.replace(base, **combo) for combo in settings(grid)]  # validates all
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with torch_threads(threads):
        env = environment()  # the threads in use, the CPU, its kernels' ISA, pinned or not
        rows = _rows(arch, data, grid, recipes, requests, progress)
    with open(out / "study.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*grid, *COLUMNS])
        writer.writeheader()
        writer.writerows(rows)
    summary = {
        "dataset": data.name,
        "arch": arch,
        "base_recipe": base.to_dict(),
        "grid": grid,
        "forget_indices": request.forget_indices.tolist(),
        "each_sample": each_sample,
        "rows": rows,
        **_correlations(rows),
        "seconds": time.perf_counter() - start,
        "versions": {
            "unlearn_core": unlearn_core.__version__,
            "torch": torch.__version__,
            "git_commit": code_commit(),
        },
        "environment": env,
    }
    (out / "study.json").write_text(json.dumps(summary, indent=2) + "\n")
    if progress:
        progress(1.0, "done")
    return summary


def _correlations(rows: list[dict]) -> dict:
    """Pearson r of the two errors over the rows, and their partial r given the step count t
    (r once both errors' linear trend in t is removed), with p-values; None without probes."""
    ue = [r["unlearning_error"] for r in rows]
    ve = [r["verification_error"] for r in rows]
    if None in ue:
        return dict.fromkeys(("pearson_r", "p_value", "partial_r_given_steps", "partial_p_value"))
    r, p = pearson(ue, ve)
    partial, partial_p = partial_pearson(ue, ve, [row["steps"] for row in rows])
    return {
        "pearson_r": r,
        "p_value": p,
        "partial_r_given_steps": partial,
        "partial_p_value": partial_p,
    }


def _requests(data: ImageDataset, request: ForgetRequest, each_sample: bool) -> list:
    """The request as one, or one request per forget index (each_sample)."""
    if not each_sample:
        return [request]
    return [ForgetRequest.for_indices(data, [i]) for i in request.forget_indices.tolist()]


def _rows(arch, data, grid, recipes, requests, progress) -> list[dict]:
    """run_setting for each recipe of the grid, in order: one row each."""
    combos, rows = settings(grid), []
    for i, (combo, recipe) in enumerate(zip(combos, recipes, strict=True)):
        label = " ".join(f"{k}={v}" for k, v in combo.items())
        prefix = f"setting {i + 1}/{len(combos)} ({label})"
        sub = sub_progress(progress, i / len(combos), (i + 1) / len(combos), prefix)
        rows.append({**combo, **run_setting(arch, data, recipe, requests, progress=sub)})
    return rows
