"""The stored demo run shipped in assets/demo_run: UNSIR forgetting class 3 of the demo model,
with the retrained model beside it, made by scripts/build_demo_run.sh (its report records the
command). Installing it copies it into a run store, so every page opens it at once: a class can
start with results on screen and no one waits for a retrain.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

from unlearn_core.data import ASSETS
from unlearn_core.errors import UserError
from unlearn_core.run.audit import check_run_folder
from unlearn_core.run.report import Report
from unlearn_core.run.store import RunStore, read_report

DEMO_RUN = ASSETS / "demo_run"


def install_demo_run(store: RunStore, source: Path = DEMO_RUN) -> Report:
    """Copy the demo run into `store` under its recorded run id, once (atomically: a copy to a
    hidden folder, then a rename); returns its report. UserError if the shipped run is missing
    or fails its integrity check (SHA256SUMS and the weights' hashes)."""
    check_run_folder(source)
    report = read_report(source)
    if not report.run_id:
        raise UserError(f"the demo run in {source} records no run id; rebuild it.")
    target = store.root / report.run_id
    if not target.is_dir():
        store.root.mkdir(parents=True, exist_ok=True)
        tmp = store.root / f".{report.run_id}.tmp-{secrets.token_hex(4)}"
        try:
            shutil.copytree(source, tmp)
            tmp.rename(target)
        except OSError as err:
            shutil.rmtree(tmp, ignore_errors=True)
            raise UserError(f"cannot copy the demo run into {store.root} ({err}).") from None
    return report
