"""One row per run for the app's results table: how each unlearned model compares with the
retrained one (the oracle), and how much faster it got there.

Pure python over report.json dicts (DESIGN.md's contract plus `mia`, `speedup_over_retrain`);
reports written before those keys existed give None in their columns rather than failing.
"""

from __future__ import annotations

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


def forgotten_label(forget: dict) -> str:
    """report["forget"] -> "classes 1, 2" or "4 samples"."""
    if forget.get("classes"):
        return "classes " + ", ".join(str(c) for c in forget["classes"])
    count = forget.get("count", len(forget.get("indices", [])))
    return f"{count} sample{'s' if count != 1 else ''}"


def _gap(unlearned: float | None, retrained: float | None) -> float | None:
    """unlearned - retrained: 0 is the target, the sign says on which side the method missed."""
    if unlearned is None or retrained is None:
        return None
    return unlearned - retrained


def _loss_auc(mia: dict | None, model: str) -> float | None:
    """AUC of the loss-threshold attack (Yeom et al., 2018) on `model`, or None."""
    attacks = (mia or {}).get(model) or {}
    return (attacks.get("loss") or {}).get("auc")


def results_row(report: dict) -> dict:
    """One run's row: see results_table."""
    metrics = report["metrics"]
    unlearned, retrained = metrics["unlearned"], metrics.get("retrained") or {}
    timing = report.get("timing") or {}
    unlearn_s, retrain_s = timing.get("unlearn_seconds"), timing.get("retrain_seconds")
    speedup = report.get("speedup_over_retrain")
    if speedup is None and unlearn_s and retrain_s:
        speedup = retrain_s / unlearn_s
    row = {
        "run": report.get("run_id"),
        "method": report["method"],
        "forgotten": forgotten_label(report["forget"]),
        "forget count": report["forget"]["count"],
    }
    for name, key in _METRICS:
        row[f"{name} acc"] = unlearned.get(key)
    for name, key in _METRICS:
        row[f"retrained {name} acc"] = retrained.get(key)
    for name, key in _METRICS:
        row[f"{name} gap"] = _gap(unlearned.get(key), retrained.get(key))
    mia = report.get("mia")
    row["MIA AUC"] = _loss_auc(mia, "unlearned")
    row["retrained MIA AUC"] = _loss_auc(mia, "retrained")
    row["MIA AUC gap"] = _gap(row["MIA AUC"], row["retrained MIA AUC"])
    row["unlearn s"] = unlearn_s
    row["speed-up"] = speedup
    return row


def results_table(reports: list[dict]) -> list[dict]:
    """One row per report, in the given order, with the same keys in every row:

    run, method, forgotten ("classes 3" / "4 samples"), forget count; forget/retain/test acc of
    the unlearned model; the same for the retrained model and the gaps (unlearned - retrained),
    None without the oracle; MIA AUC of the loss attack on the forget set for both models and its
    gap; unlearn s (seconds) and speed-up (retrain seconds / unlearn seconds, None without the
    oracle). Accuracies are fractions in [0, 1].
    """
    return [results_row(report) for report in reports]
