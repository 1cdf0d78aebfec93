"""The stored demo run (issue 15, item 4): made by its recorded command, installed into a run
store at once, refused when tampered with, and opened from the first page without a job."""

from __future__ import annotations

import json
import shlex
import shutil

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from unlearn_core.checkpoint import sha256_file
from unlearn_core.errors import UserError
from unlearn_core.run.demo_run import DEMO_RUN, install_demo_run
from unlearn_core.run.store import RunStore

DEMO_CHECKPOINT = ROOT / "assets/models/demo_smallcnn.safetensors"


def shipped() -> dict:
    return json.loads((DEMO_RUN / "report.json").read_text())


def test_the_demo_run_is_unsir_on_class_3_of_the_demo_model_made_by_its_command():
    report = shipped()
    words = shlex.split(report["command"])
    assert words[1:4] == ["-m", "unlearn_core", "unlearn"]
    flag = {w: words[i + 1] for i, w in enumerate(words[:-1]) if w.startswith("--")}
    assert flag["--method"] == "unsir" and flag["--forget-classes"] == "3"
    assert flag["--seed"] == "0" and "--oracle" in words
    # pasted from the app, it makes a new run outside the shipped one (the browser tour saw
    # --out assets/demo_run, which overwrote it); the rebuilding script runs this command
    assert flag["--out"].startswith("cli-runs/") and "--store" not in flag
    script = (ROOT / "scripts/build_demo_run.sh").read_text()
    assert script.count("--method unsir") == 1 and f"--out {flag['--out']}" in script
    assert report["checkpoints"]["original_sha256"] == sha256_file(DEMO_CHECKPOINT)
    assert report["metrics"]["retrained"] is not None  # the oracle is in it


def test_the_demo_run_matches_the_same_run_made_here(app_store):
    """The fixture's UNSIR run is the same request, method, seed and oracle: its numbers agree
    (within what another processor's rounding can move over a training run)."""
    made = RunStore(app_store["root"]).open(app_store["unsir"])
    stored = shipped()["metrics"]
    for which in ("unlearned", "retrained"):
        for key in ("forget_acc", "retain_acc", "test_acc"):
            here = getattr(getattr(made.metrics, which), key)
            assert stored[which][key] == pytest.approx(here, abs=0.01), (which, key)


def test_installing_copies_it_once_and_passes_its_integrity_check(tmp_path):
    store = RunStore(tmp_path)
    report = install_demo_run(store)
    assert [r["run_id"] for r in store.list()] == [report.run_id]
    assert store.open(report.run_id).method == "unsir"
    assert install_demo_run(store).run_id == report.run_id and len(store.list()) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries


def test_a_tampered_demo_run_is_refused_in_one_line(tmp_path):
    copy = tmp_path / "demo_run"
    shutil.copytree(DEMO_RUN, copy)
    weights = bytearray((copy / "model.safetensors").read_bytes())
    weights[-1] ^= 1
    (copy / "model.safetensors").write_bytes(bytes(weights))
    store = RunStore(tmp_path / "store")
    with pytest.raises(UserError, match="model.safetensors"):
        install_demo_run(store, copy)
    assert store.list() == []


def test_the_first_page_opens_the_demo_run_at_once_without_a_job(tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception
    [intro] = [e for e in at.expander if e.label.startswith("Start here")]
    assert "three questions" in intro.markdown[0].value
    at.button(key="open_demo_run").click().run()
    assert not at.exception and not at.error
    run_id = shipped()["run_id"]
    assert at.session_state["open_runs"] == [run_id]
    assert at.session_state["forget"]["classes"] == [3]
    assert "my_jobs" not in at.session_state  # nothing was computed: the stored run opened
    assert [t.value for t in at.title] == ["Unlearn"]  # straight to its results
    [row] = at.dataframe[0].value.to_dict("records")
    assert row["method"] == "unsir" and " → 0.5% (" in row["forget acc"]
