"""The job engine through the inline executor: specs checked at submit, jobs that finish,
fail or are cancelled (and store only what succeeded), interrupted owners, sweeps with one
shared oracle, and summary statistics against hand-computed values."""

from __future__ import annotations

import csv
import dataclasses
import json
import time

import pytest
from scipy import stats

from unlearn_core.engine.executors import InlineExecutor
from unlearn_core.engine.jobs import JobManager
from unlearn_core.engine.ray_node import check_reachable
from unlearn_core.engine.runner import load_inputs
from unlearn_core.engine.state import JobBoard, JobRecord
from unlearn_core.engine.sweep import (
    new_sweep_id,
    run_sweep,
    split_overrides,
    summary_rows,
    sweep_specs,
)
from unlearn_core.errors import UserError
from unlearn_core.metrics.summary_stats import average_gap, mean_interval, tug_of_war
from unlearn_core.run.report import Gaps
from unlearn_core.run.store import RunStore
from unlearn_core.specs.run import RunSpec


def manager(tmp_path) -> JobManager:
    return JobManager(tmp_path / "store", InlineExecutor())


def test_a_spec_is_a_command_line_and_round_trips(spec):
    assert RunSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    command = spec.command()
    assert "unlearn --checkpoint" in command and "--forget-indices 0,5,17" in command
    assert "--set epochs=1" in command and "--oracle-convention" not in command
    replay = dataclasses.replace(spec, oracle_convention="replay")
    assert "--oracle-convention replay" in replay.command()
    with pytest.raises(UserError, match="unknown job field"):
        RunSpec.from_dict({**spec.to_dict(), "evil": 1})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"method": "nope"}, "unknown method"),
        ({"overrides": {"epochs": "zero"}}, "expected a int"),
        ({"overrides": {"lr": "-1"}}, "lr must lie in"),
        ({"checkpoint_sha256": "0" * 64}, "changed since"),
        ({"checkpoint": "/nonexistent.safetensors"}, "does not exist"),
        ({"method": "unsir", "overrides": {}}, "unsir takes a classes"),
        ({"forget": {"classes": [42]}}, "unknown class 42"),
        ({"forget": {"indices": []}}, "empty"),
        ({"seed": -1}, "seed"),
        ({"threads": 0}, "threads"),
        ({"oracle_convention": "mean"}, "unknown oracle convention"),
    ],
)
def test_a_bad_spec_is_one_line_at_submit_and_nothing_is_queued(spec, tmp_path, change, message):
    jobs = manager(tmp_path)
    with pytest.raises(UserError, match=message) as err:
        jobs.submit(dataclasses.replace(spec, **change))
    assert "\n" not in str(err.value)
    assert jobs.board.list() == []


def test_a_job_runs_and_stores_its_run_tagged_with_the_job(spec, tmp_path):
    jobs = manager(tmp_path)
    job = jobs.submit(dataclasses.replace(spec, sweep_id="sweep-x"))
    assert jobs.board.get(job.id).state in ("queued", "running")
    (done,) = jobs.wait([job.id])
    assert done.state == "done" and done.progress == 1.0 and done.seconds > 0
    report = RunStore(tmp_path / "store").open(done.run_id)
    assert report.method == "finetune" and report.forget.indices == [0, 5, 17]
    assert report.job.id == job.id and report.job.sweep_id == "sweep-x"
    assert report.job.executor == "inline" and report.job.threads == 1
    assert report.command == spec.command()  # the same run from a shell, shown under results


def test_a_failing_job_is_one_line_and_stores_nothing(spec, tmp_path, monkeypatch):
    def breaks(*args, **kwargs):
        raise RuntimeError("the worker broke\nand said more")

    monkeypatch.setattr("unlearn_core.engine.kinds.unlearn.execute", breaks)
    jobs = manager(tmp_path)
    (failed,) = jobs.wait([jobs.submit(spec).id])
    assert failed.state == "failed" and failed.error == "RuntimeError: the worker broke"
    assert RunStore(tmp_path / "store").list() == []


def test_cancelling_a_running_job_stops_it_and_stores_nothing(spec, tmp_path):
    jobs = manager(tmp_path)
    long = dataclasses.replace(spec, overrides={"epochs": "500"})
    job = jobs.submit(long)
    while jobs.board.get(job.id).state != "running":
        jobs.poll()
        time.sleep(0.05)
    asked = time.perf_counter()
    other_process = JobBoard(tmp_path / "store")  # any process may ask
    assert "asked job" in other_process.request_cancel(job.id)
    (ended,) = jobs.wait([job.id])
    assert ended.state == "cancelled" and time.perf_counter() - asked < 5
    assert RunStore(tmp_path / "store").list() == []
    assert "already cancelled" in other_process.request_cancel(job.id)


def test_a_job_whose_owner_died_reads_as_interrupted(tmp_path, spec):
    board = JobBoard(tmp_path)
    dead = {"host": JobRecord(id="x", spec={}).owner["host"], "pid": 2**22 + 7, "start": "1"}
    board.write(JobRecord(id="job-1", spec=spec.to_dict(), state="running", owner=dead))
    assert board.get("job-1").state == "interrupted"
    assert [j.state for j in board.list()] == ["interrupted"]
    with pytest.raises(UserError, match="no job"):
        board.get("../job-1")


def test_an_unreachable_cluster_is_one_line():
    with pytest.raises(UserError, match="cannot reach a Ray cluster at 127.0.0.1:9"):
        check_reachable("127.0.0.1:9")
    with pytest.raises(UserError, match="not host:port"):
        check_reachable("nowhere")


def test_a_sweep_shares_one_oracle_and_summarises_every_method(spec, tmp_path):
    jobs = manager(tmp_path)
    base = dataclasses.replace(spec, oracle=True, sweep_id=new_sweep_id())
    inputs = load_inputs(base)
    methods = ["finetune", "neggrad"]
    overrides = split_overrides([("finetune.epochs", "1"), ("neggrad.epochs", "1")], methods)
    specs, errors = sweep_specs(base, overrides, [0, 1])
    assert errors == []
    sweep = run_sweep(jobs, specs, inputs, tmp_path / "out")
    written = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert written["id"] == base.sweep_id and written["wall_seconds"] > 0
    assert [(j["method"], j["seed"], j["state"]) for j in written["jobs"]] == [
        ("finetune", 0, "done"),
        ("neggrad", 0, "done"),
        ("finetune", 1, "done"),
        ("neggrad", 1, "done"),
    ]
    store = RunStore(tmp_path / "store")
    reports = [store.open(j["run_id"]) for j in sweep["jobs"]]
    assert {r.timing.retrain_seconds for r in reports} == {reports[0].timing.retrain_seconds}
    assert all(r.has_oracle and r.job.sweep_id == base.sweep_id for r in reports)
    assert {r.oracle_convention for r in reports} == {"standard"}
    with open(tmp_path / "out" / "summary.csv") as f:
        rows = {row["method"]: row for row in csv.DictReader(f)}
    assert set(rows) == {"finetune", "neggrad"} and rows["finetune"]["n"] == "2"
    for metric in ("forget_acc", "retain_acc", "test_acc", "gap_forget_acc", "seconds"):
        for stat in ("mean", "std", "ci_low", "ci_high"):
            assert f"{metric}_{stat}" in rows["finetune"]
    values = [r.metrics.unlearned.test_acc for r in reports if r.method == "finetune"]
    assert float(rows["finetune"]["test_acc_mean"]) == pytest.approx(sum(values) / 2, rel=1e-5)


def test_random_samples_draw_a_forget_set_per_seed(spec, tmp_path):
    inputs = load_inputs(spec)
    overrides = split_overrides([], ["finetune"])
    specs, _ = sweep_specs(spec, overrides, [0, 1], inputs.data, random_samples=20)
    first, second = (s.forget["indices"] for s in specs)
    assert len(first) == len(second) == 20 and first != second
    (again,), _ = sweep_specs(spec, overrides, [0], inputs.data, 20)
    assert again.forget["indices"] == first


def test_sweep_settings_name_their_method():
    assert split_overrides([("unsir.repair_epochs", "1")], ["unsir", "finetune"]) == {
        "unsir": {"repair_epochs": "1"},
        "finetune": {},
    }
    with pytest.raises(UserError, match="METHOD.KEY=VALUE"):
        split_overrides([("epochs", "1")], ["finetune"])


def test_mean_interval_and_tow_against_hand_values():
    got = mean_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 / 3**0.5  # t(0.975, 2) * std 1 / sqrt(3)
    assert got == pytest.approx({"mean": 2.0, "std": 1.0, "ci_low": 2 - half, "ci_high": 2 + half})
    assert stats.t.ppf(0.975, 2) == pytest.approx(4.302652729911275)
    assert mean_interval([5.0]) == {"mean": 5.0, "std": None, "ci_low": None, "ci_high": None}
    gaps = Gaps(forget_acc=0.1, retain_acc=-0.2, test_acc=0.0)
    assert tug_of_war(gaps) == pytest.approx(0.9 * 0.8 * 1.0)
    assert tug_of_war(None) is None
    assert average_gap(gaps, 0.7, 0.9) == pytest.approx((0.1 + 0.2 + 0.0 + 0.2) / 4)  # SalUn's
    assert average_gap(gaps, 0.7, None) is None  # no retrained attack


def test_summary_rows_skip_unfinished_jobs(tmp_path):
    assert (
        summary_rows(
            tmp_path, [{"state": "failed", "method": "x", "run_id": None, "seconds": None}]
        )
        == []
    )


def test_validate_returns_the_data_for_reuse(spec, tiny):
    assert spec.validate() is tiny


def test_the_sweep_and_jobs_commands(spec, tmp_path, capsys, monkeypatch):
    from unlearn_core.cli.main import main

    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(tmp_path / "store"))
    args = ["sweep", "--checkpoint", spec.checkpoint, "--methods", "finetune,none"]
    args += ["--forget-indices", "0,5", "--seeds", "0,1", "--set", "finetune.epochs=1"]
    assert main([*args, "--executor", "inline", "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "4 of 4 jobs done" in captured.out
    assert captured.err.count(": done") == 4  # a progress line per job when it ends
    sweep = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert {j["method"] for j in sweep["jobs"]} == {"finetune", "none"}
    assert main(["jobs"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 4 and all(line.split()[1] == "done" for line in listed)
    job_id = listed[0].split()[0]
    assert main(["jobs", "cancel", job_id]) == 0
    assert "already done" in capsys.readouterr().out
    bad = [*args, "--executor", "ray", "--address", "127.0.0.1:9", "--out", str(tmp_path / "o2")]
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach a Ray cluster") and err.count("\n") == 1
    assert main([*args[:-2], "--set", "epochs=1", "--out", str(tmp_path / "o3")]) == 2
    assert "METHOD.KEY=VALUE" in capsys.readouterr().err
