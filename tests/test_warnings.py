"""A run's warnings reach its reader: the method's notes (L-FOCI's noise that swamps the
weights) go into report.json's `warnings`, every result page shows them, and the audit record
lists them, escaped."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import ROOT
from streamlit.testing.v1 import AppTest

from unlearn_core.request import ForgetRequest
from unlearn_core.run.pipeline import unlearn_model
from unlearn_core.run.report import Report
from unlearn_core.views.audit_page import audit_html

NOISY = {"perturbations": "50", "dp_noise": "true", "hessian_samples": "64"}


def test_lfocis_swamping_noise_is_a_warning(tiny, tiny_trained):
    record = unlearn_model(
        tiny_trained, {}, tiny, ForgetRequest.for_indices(tiny, [3]), "lfoci", NOISY
    )
    assert any("noise sigma" in w and "exceeds" in w for w in record.report.warnings)


def test_result_pages_and_the_record_show_warnings(app_store, tmp_path, monkeypatch):
    run_id = app_store["unsir"]
    shutil.copytree(Path(app_store["root"]) / run_id, tmp_path / run_id)
    path = tmp_path / run_id / "report.json"
    report = json.loads(path.read_text())
    report["warnings"] = ["noise <b>swamps</b> the weights"]
    path.write_text(json.dumps(report))  # a page reads reports; integrity is another test's
    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(tmp_path))
    for name in ("privacy.py", "selected_slices.py"):
        at = AppTest.from_file(str(ROOT / "app_pages" / name), default_timeout=300)
        at.session_state["open_runs"] = [run_id]
        at.run()
        assert any("noise <b>swamps</b> the weights" in w.value for w in at.warning), name
    page = audit_html(Report.from_dict(report))
    assert "<li>noise &lt;b&gt;swamps&lt;/b&gt; the weights</li>" in page
