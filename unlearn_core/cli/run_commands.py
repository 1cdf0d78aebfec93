"""Command lines that repeat a stored run's request (shown by the pages beside a run's numbers),
built by cli/commands.py's own command builder from the run's report."""

from __future__ import annotations

from unlearn_core.run.report import Report
from unlearn_core.specs.commands import unlearn_command


def relearn_command(report: Report, checkpoint: str) -> str:
    """The command that repeats a run's request from `checkpoint` with the oracle and the
    relearn time measured (the method's settings stay at their defaults unless --set is added)."""
    method = report.method
    return unlearn_command(
        checkpoint,
        method,
        report.forget.to_dict(),
        oracle=True,
        seed=report.seed,
        relearn=True,
        out=f"runs/{method}-relearn",
    )
