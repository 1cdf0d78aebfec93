"""One row per run for the app's results table: how each unlearned model compares with the
retrained one (the oracle), and how much faster it got there.

Pure python over typed reports (unlearn_core.run.report); every value is read from the report,
none recomputed. Reports written before a field existed give None in its columns.
"""

from __future__ import annotations

from unlearn_core.run.report import Report, metric

# Columns holding accuracies or accuracy gaps (fractions in [0, 1], gaps in [-1, 1]).
ACCURACY_COLUMNS = (
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


def _loss_attack(attacks: dict | None, key: str):
    """`key` of the loss-threshold attack (Yeom et al., 2018) in a model's or the flags' `mia`
    block (unlearn_core.metrics.mia), or None."""
    return ((attacks or {}).get("loss") or {}).get(key)


def results_row(report: Report) -> dict:
    """One run's row: see results_table."""
    unlearned, retrained = report.metrics.unlearned, report.metrics.retrained
    gaps = report.gaps_to_retrained
    row = {
        "run": report.run_id,
        "method": report.method,
        "forgotten": report.forget.label(),
        "forget count": report.forget.count,
    }
    for name, key in _METRICS:
        row[f"{name} acc"] = metric(unlearned, key)
    for name, key in _METRICS:
        row[f"retrained {name} acc"] = metric(retrained, key)
    for name, key in _METRICS:
        row[f"{name} gap"] = metric(gaps, key)
    row["MIA AUC"] = _loss_attack(report.mia.unlearned, "auc")
    row["retrained MIA AUC"] = _loss_attack(report.mia.retrained, "auc")
    row["MIA AUC gap"] = _loss_attack(report.mia_flags, "gap")
    row["unlearn s"] = report.timing.unlearn_seconds
    row["speed-up"] = report.speedup_over_retrain
    return row


def results_table(reports: list[Report]) -> list[dict]:
    """One row per report, in the given order, with the same keys in every row:

    run, method, forgotten ("classes 3" / "4 samples"), forget count; forget/retain/test acc of
    the unlearned model; the same for the retrained model and the gaps (unlearned - retrained),
    None without the oracle; MIA AUC of the loss attack on the forget set for both models and its
    gap (the report's mia_flags); unlearn s (seconds) and speed-up (retrain seconds / unlearn
    seconds, None without the oracle). Accuracies are fractions in [0, 1].
    """
    return [results_row(report) for report in reports]
