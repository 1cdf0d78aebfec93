"""One row per run for the app's results table: how each unlearned model compares with the
original and the retrained one (the oracle), and how much faster it got there.

Pure python over typed reports (unlearn_core.run.report); every value is read from the report,
none recomputed. Reports written before a field existed give None in its columns; the shown
table (`shown_table`) turns values into text and None into a blank.
"""

from __future__ import annotations

from unlearn_core.run.report import Report, metric
from unlearn_core.run.report_blocks import MembershipAttacks, MiaFlags

# Columns holding accuracies or accuracy gaps (fractions in [0, 1], gaps in [-1, 1]).
ACCURACY_COLUMNS = (
    "original forget acc",
    "original retain acc",
    "original test acc",
    "forget acc",
    "retain acc",
    "test acc",
    "retrained forget acc",
    "retrained retain acc",
    "retrained test acc",
    "forget gap",
    "retain gap",
    "test gap",
)
AUC_COLUMNS = ("MIA AUC", "retrained MIA AUC", "MIA AUC gap")
_METRICS = (("forget", "forget_acc"), ("retain", "retain_acc"), ("test", "test_acc"))


def _loss_auc(attacks: MembershipAttacks | None) -> float | None:
    """The loss-threshold attack's (Yeom et al., 2018) AUC in a model's `mia` entry, or None."""
    loss = attacks.loss if attacks is not None else None
    return loss.auc if loss is not None else None


def _loss_gap(flags: MiaFlags | None) -> float | None:
    """The loss-threshold attack's AUC gap to the retrained model (`mia_flags`), or None."""
    loss = flags.loss if flags is not None else None
    return loss.gap if loss is not None else None


def results_row(report: Report) -> dict:
    """One run's row: see results_table."""
    unlearned, retrained = report.metrics.unlearned, report.metrics.retrained
    gaps = report.gaps_to_retrained
    row = {
        "run": report.run_id,
        "method": report.method,
        "seed": report.seed,
        "forgotten": report.forget.label(),
        "forget count": report.forget.count,
    }
    for name, key in _METRICS:
        row[f"original {name} acc"] = metric(report.metrics.original, key)
    for name, key in _METRICS:
        row[f"{name} acc"] = metric(unlearned, key)
    for name, key in _METRICS:
        row[f"retrained {name} acc"] = metric(retrained, key)
    for name, key in _METRICS:
        row[f"{name} gap"] = metric(gaps, key)
    row["MIA AUC"] = _loss_auc(report.mia.unlearned)
    row["retrained MIA AUC"] = _loss_auc(report.mia.retrained)
    row["MIA AUC gap"] = _loss_gap(report.mia_flags)
    row["unlearn s"] = report.timing.unlearn_seconds
    row["speed-up"] = report.speedup_over_retrain
    return row


def results_table(reports: list[Report]) -> list[dict]:
    """One row per report, in the given order, with the same keys in every row:

    run, method, seed, forgotten ("classes 3" / "4 samples"), forget count; forget/retain/test
    acc of the original model, then of the unlearned model; the same for the retrained model and the
    gaps (unlearned - retrained), None without the oracle; MIA AUC of the loss attack on the
    forget set for both models and its gap (the report's mia_flags); unlearn s (seconds) and
    speed-up (retrain seconds / unlearn seconds, None without the oracle). Accuracies are
    fractions in [0, 1].
    """
    return [results_row(report) for report in reports]


# The shown table leads with each split's accuracy before, after and in the retrained model,
# one cell a split ("95.0% → 25.0% (75.0%)"): nine columns of their own needed a horizontal
# scroll at 1280 px. The rest appears on demand, pairs sharing a cell the same way.
SPLITS = ("forget", "retain", "test")
LEAD_TITLES = ("method", "seed", "forgotten", *(f"{split} acc" for split in SPLITS))
DETAIL_TITLES = (
    "gap: forget / retain / test",
    "MIA AUC (retrained)",
    "MIA AUC gap",
    "unlearn (s)",
    "speed-up",
    "forget count",
    "run",
)


def _shown(key: str, value) -> str:
    """A cell as text: accuracies in percent, gaps in signed percentage points, AUCs to three
    places, seconds to one, speed-ups with a ×; a missing value is a blank, not "None"."""
    if value is None:
        return ""
    gap = key.endswith("gap")
    if key in ACCURACY_COLUMNS:
        return f"{value * 100:+.1f} pts" if gap else f"{value:.1%}"
    if key in AUC_COLUMNS:
        return f"{value:+.3f}" if gap else f"{value:.3f}"
    if key == "unlearn s":
        return f"{value:.1f}"
    if key == "speed-up":
        return f"{value:.1f}×"
    return str(value)


def _with_reference(value: str, reference: str) -> str:
    """ "25.0% (75.0%)": a value and, in brackets, the retrained model's (left out if none)."""
    return f"{value} ({reference})" if reference else value


def _accuracies(row: dict, split: str) -> str:
    """ "95.0% → 25.0% (75.0%)": before → after (retrained); blank if the run measured none."""
    before, after, retrained = (
        _shown(key, row[key])
        for key in (f"original {split} acc", f"{split} acc", f"retrained {split} acc")
    )
    if not before and not after:
        return ""
    return _with_reference(f"{before} → {after}", retrained)


def _details(row: dict) -> dict:
    gaps = [_shown(f"{split} gap", row[f"{split} gap"]) for split in SPLITS]
    values = [
        " / ".join(g.removesuffix(" pts") for g in gaps) + " pts" if all(gaps) else "",
        _with_reference(
            _shown("MIA AUC", row["MIA AUC"]), _shown("MIA AUC", row["retrained MIA AUC"])
        ),
        _shown("MIA AUC gap", row["MIA AUC gap"]),
        _shown("unlearn s", row["unlearn s"]),
        _shown("speed-up", row["speed-up"]),
        _shown("forget count", row["forget count"]),
        row["run"],
    ]
    return dict(zip(DETAIL_TITLES, values, strict=True))


def shown_table(reports: list[Report], detail: bool = False) -> list[dict]:
    """The results table as the app shows it, every cell text: method, seed, forgotten and each
    split's accuracies (see _accuracies); with `detail` also the gaps to the retrained model,
    the loss attack's AUC (the retrained model's in brackets) and its gap, the time, speed-up,
    forget count and run id (DETAIL_TITLES)."""
    out = []
    for row in results_table(reports):
        cells = {"method": row["method"], "seed": _shown("seed", row["seed"])}
        cells["forgotten"] = row["forgotten"]
        cells |= {f"{split} acc": _accuracies(row, split) for split in SPLITS}
        out.append(cells | (_details(row) if detail else {}))
    return out
