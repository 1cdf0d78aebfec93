"""A sweep: every method x seed as a job, the oracle once per forget set, and a summary.

Each job is an ordinary stored run tagged with the sweep's id (report.job.sweep_id). With the
oracle, the retrain without each distinct forget set runs once (as its own task beside the
jobs) and every job of that set shares it: the recipe replays the checkpoint's own seed and
data order, so the retrain does not depend on the unlearning seed. `--random-samples N` draws
a different forget set per seed (the "random forgetting" protocol), each with its own oracle.

DIR/sweep.json: {"id", "jobs": [{"id", "method", "seed", "state", "run_id", "seconds"}],
"wall_seconds", ...}; DIR/summary.csv: one row per method, n and, for each metric, mean, std
and the 95% Student-t interval (DESIGN.md's contract).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from unlearn_core.engine.jobs import JobManager
from unlearn_core.engine.runner import SharedInputs
from unlearn_core.engine.state import DONE, JobRecord
from unlearn_core.errors import UserError
from unlearn_core.files import write_bytes_atomic
from unlearn_core.metrics.summary_stats import METRICS, average_gap, mean_interval, tug_of_war
from unlearn_core.request import random_indices
from unlearn_core.run.report_blocks import MembershipAttacks
from unlearn_core.run.store import RunStore
from unlearn_core.specs.run import RunSpec

GAPS = tuple(f"gap_{m}" for m in METRICS)
SUMMARY_COLUMNS = (*METRICS, *GAPS, "tow", "avg_gap", "seconds", "job_seconds")
MAX_JOBS = 1000


def split_overrides(pairs: Sequence[tuple[str, str]], methods: Sequence[str]) -> dict:
    """`--set method.key=value` options -> {method: {key: value}}, one entry per method (each
    named once)."""
    if len(set(methods)) != len(methods):
        raise UserError("name each method and each seed once.")
    out: dict[str, dict[str, str]] = {m: {} for m in methods}
    for key, value in pairs:
        method, dot, setting = key.partition(".")
        if not dot or method not in out:
            raise UserError(
                f"--set {key}={value}: name the method, as METHOD.KEY=VALUE with METHOD one of "
                f"{', '.join(methods)}."
            )
        out[method][setting] = value
    return out


def check_sweep(methods: Sequence[str], seeds: Sequence[int]) -> None:
    """The limits of a sweep, whichever door builds it: a method and a seed at least, each seed
    once and in [0, 2**32), at most MAX_JOBS jobs."""
    if not methods or not seeds:
        raise UserError("a sweep needs at least one method and one seed.")
    if not all(isinstance(s, int) and 0 <= s < 2**32 for s in seeds):
        raise UserError(f"seeds must be whole numbers in [0, 2**32), not {list(seeds)[:3]}.")
    if len(set(seeds)) != len(seeds):
        raise UserError("name each method and each seed once.")
    if len(methods) * len(seeds) > MAX_JOBS:
        raise UserError(f"a sweep is limited to {MAX_JOBS} jobs; use fewer methods or seeds.")


def sweep_specs(
    base: RunSpec,
    overrides: dict[str, dict[str, str]],
    seeds: Sequence[int],
    data=None,
    random_samples: int | None = None,
) -> tuple[list[RunSpec], list[str]]:
    """One validated spec per method (the keys of `overrides`, each with its settings) x seed,
    seed by seed, for the command line's sweep and the Unlearn page alike; with random_samples,
    a forget set drawn per seed from `data`. Returns (specs, one error line per refused method,
    whose jobs are left out): the command line refuses the sweep, the page runs the rest."""
    check_sweep(list(overrides), seeds)
    forgets = {
        seed: base.forget
        if random_samples is None
        else {"indices": random_indices(data.train_y, None, random_samples, seed)}
        for seed in seeds
    }
    kept, errors = {}, []
    for method, settings in overrides.items():
        mine = [
            dataclasses.replace(
                base, method=method, seed=seed, forget=forgets[seed], overrides=settings
            )
            for seed in seeds
        ]
        try:
            for spec in mine:
                spec.validate()
        except UserError as err:
            errors.append(f"{method}: {err}")
            continue
        kept[method] = mine
    return [kept[m][i] for i in range(len(seeds)) for m in kept], errors


def run_sweep(
    manager: JobManager,
    specs: list[RunSpec],
    inputs: SharedInputs,
    out: str | Path,
    on_change: Callable[[JobRecord], None] | None = None,
) -> dict:
    """Run the specs (already validated, one sweep id) and write sweep.json and summary.csv."""
    out = Path(out)
    _check_out(out)
    start = time.perf_counter()
    jobs = [manager.submit(spec, inputs, checked=True) for spec in specs]
    ended = manager.wait([j.id for j in jobs], on_change)
    sweep = {
        "id": specs[0].sweep_id,
        "executor": manager.executor.name,
        "nodes": sorted({j.node for j in ended if j.node}),
        "jobs": [_job_row(job, spec) for job, spec in zip(ended, specs, strict=True)],
        "wall_seconds": time.perf_counter() - start,
    }
    sweep["jobs_seconds"] = sum(j["seconds"] or 0.0 for j in sweep["jobs"])
    out.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out / "sweep.json", json.dumps(sweep, indent=2).encode())
    rows = summary_rows(manager.root, sweep["jobs"])
    write_bytes_atomic(out / "summary.csv", summary_csv(rows).encode())
    return sweep


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; name a folder for sweep.json and summary.csv.")
    if out.is_dir() and any(out.iterdir()) and not (out / "sweep.json").is_file():
        raise UserError(f"--out {out} holds other files; choose a new folder.")


def _job_row(job: JobRecord, spec: RunSpec) -> dict:
    return {
        "id": job.id,
        "method": spec.method,
        "seed": spec.seed,
        "state": job.state,
        "run_id": job.run_id,
        "seconds": job.seconds,
        "node": job.node,
        "error": job.error,
        "forget_count": len(spec.forget.get("indices") or []) or None,
    }


def new_sweep_id() -> str:
    return f"sweep-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


def summary_rows(store_root: Path, jobs: list[dict]) -> list[dict]:
    """One row per method over its finished jobs: n, and mean, std, ci_low, ci_high of every
    column of SUMMARY_COLUMNS (None where a value is missing or n < 2 for the spread)."""
    store = RunStore(store_root)
    values: dict[str, dict[str, list[float]]] = {}
    for job in jobs:
        if job["state"] != DONE:
            continue
        report = store.open(job["run_id"])
        row = values.setdefault(job["method"], {c: [] for c in SUMMARY_COLUMNS})
        for column, value in run_values(report, job["seconds"]).items():
            if value is not None:
                row[column].append(value)
    return [{"method": m, **_statistics(cols)} for m, cols in values.items()]


def _efficacy(attacks: MembershipAttacks | None) -> float | None:
    """The SVC attack's MIA-Efficacy on one model of a run (None where it was not run)."""
    svc = attacks.svc if attacks is not None else None
    return svc.efficacy if svc is not None else None


def run_values(report, job_seconds: float | None) -> dict[str, float | None]:
    """The summary's columns for one run."""
    unlearned = report.metrics.unlearned
    gaps = report.gaps_to_retrained
    out = {m: getattr(unlearned, m) for m in METRICS}
    out.update({f"gap_{m}": (getattr(gaps, m) if gaps else None) for m in METRICS})
    out["tow"] = tug_of_war(gaps)
    mia = report.mia
    out["avg_gap"] = average_gap(gaps, _efficacy(mia.unlearned), _efficacy(mia.retrained))
    out["seconds"] = report.timing.unlearn_seconds
    out["job_seconds"] = job_seconds
    return out


def _statistics(columns: dict[str, list[float]]) -> dict:
    out: dict = {"n": max((len(v) for v in columns.values()), default=0)}
    for column, values in columns.items():
        for stat, value in mean_interval(values).items():
            out[f"{column}_{stat}"] = value
    return out


def summary_csv(rows: list[dict]) -> str:
    """summary.csv: `method, n`, then `m_mean, m_std, m_ci_low, m_ci_high` per column; blank
    where a value does not exist."""
    header = ["method", "n"] + [
        f"{c}_{s}" for c in SUMMARY_COLUMNS for s in ("mean", "std", "ci_low", "ci_high")
    ]
    lines = [",".join(header)]
    for row in rows:
        cells = [row["method"], str(row["n"])]
        cells += ["" if row[h] is None else f"{row[h]:.6g}" for h in header[2:]]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"
