"""The unlearning-error study: its rows against independent recomputation, its correlation
against numpy, and the `study` command end to end on a small data set."""

import csv
import json

import numpy as np
import pytest
from test_cli import assert_one_line_error, cli

from unlearn_core.methods import get_method
from unlearn_core.metrics.linear_fit import partial_pearson, pearson
from unlearn_core.metrics.unlearning_error import unlearning_error
from unlearn_core.metrics.verification_error import verification_errors
from unlearn_core.request import ForgetRequest
from unlearn_core.run.study import parse_grid, run_study
from unlearn_core.training import Recipe, retrain_without, train


def textbook_partial(x, y, z) -> float:
    """r_xy.z = (r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2))."""
    c = np.corrcoef([x, y, z])
    return (c[0, 1] - c[0, 2] * c[1, 2]) / np.sqrt((1 - c[0, 2] ** 2) * (1 - c[1, 2] ** 2))


def test_the_partial_r_removes_what_both_owe_to_t():
    """Two errors that each grow with t plus independent noise: r near 1, partial r not."""
    rng = np.random.default_rng(0)
    t = np.repeat([94.0, 188.0, 282.0], 4)
    x, y = t + rng.normal(0, 5, t.size), 0.01 * t + rng.normal(0, 0.05, t.size)
    r, _ = pearson(list(x), list(y))
    partial, p = partial_pearson(list(x), list(y), list(t))
    assert r > 0.95 and abs(partial) < 0.7 and p > 0.05
    assert partial == pytest.approx(textbook_partial(x, y, t))
    assert partial_pearson([1.0, 2.0, 3.0], [2.0, 1.0, 3.0], [1.0, 1.0, 2.0]) == (None, None)


def test_rows_and_correlation_match_independent_computation(tiny, tmp_path):
    base = Recipe(lr=0.02, batch_size=64, probe_every=4, probe_size=32)
    grid = parse_grid(["sd_gamma=0,1", "epochs=1,2"])
    assert grid == {"sd_gamma": [0.0, 1.0], "epochs": [1, 2]}
    summary = run_study("logreg", tiny, base, grid, [3, 8], tmp_path)

    with open(tmp_path / "study.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(float(r["sd_gamma"]), int(r["epochs"])) for r in rows] == [
        (0.0, 1),
        (0.0, 2),
        (1.0, 1),
        (1.0, 2),
    ]
    assert json.loads((tmp_path / "study.json").read_text()) == summary
    ue = [float(r["unlearning_error"]) for r in rows]
    ve = [float(r["verification_error"]) for r in rows]
    assert summary["pearson_r"] == pytest.approx(np.corrcoef(ue, ve)[0, 1])
    assert 0 <= summary["p_value"] <= 1
    steps = [r["steps"] for r in summary["rows"]]
    assert summary["partial_r_given_steps"] == pytest.approx(textbook_partial(ue, ve, steps))

    # the last setting, recomputed by hand from the public pieces
    recipe = Recipe(lr=0.02, batch_size=64, probe_every=4, probe_size=32, sd_gamma=1.0, epochs=2)
    trained = train("logreg", tiny, recipe, device="cpu")
    request = ForgetRequest.for_indices(tiny, [3, 8])
    spec = get_method("single-gradient")
    unlearned = spec.run(trained, request, tiny, spec.config_cls(), seed=0).model
    retrained = retrain_without(
        trained, tiny, request.forget_indices, convention="replay", device="cpu"
    )
    errors = verification_errors(unlearned, trained.model, retrained)
    last = summary["rows"][-1]
    assert last["verification_error"] == pytest.approx(errors["verification_error"], rel=1e-6)
    assert last["unlearning_error"] == pytest.approx(unlearning_error(trained)["unlearning_error"])
    assert last["test_acc"] == trained.history[-1]["test_acc"] and last["steps"] == 20


def test_each_sample_averages_one_retraining_per_index(tiny, tmp_path):
    """--each-sample: the row's verification error is the mean over the indices of each one's
    own unlearning and retraining (recomputed by hand), not the error of forgetting the set."""
    base = Recipe(lr=0.02, batch_size=64, probe_every=4, probe_size=32, epochs=1)
    grid = parse_grid(["epochs=1"])
    summary = run_study("logreg", tiny, base, grid, [3, 8], tmp_path, each_sample=True)
    trained = train("logreg", tiny, base, device="cpu")
    spec = get_method("single-gradient")
    each = []
    for index in (3, 8):
        request = ForgetRequest.for_indices(tiny, [index])
        unlearned = spec.run(trained, request, tiny, spec.config_cls(), seed=0).model
        retrained = retrain_without(trained, tiny, [index], convention="replay", device="cpu")
        each.append(verification_errors(unlearned, trained.model, retrained)["verification_error"])
    (row,) = summary["rows"]
    assert summary["each_sample"] and row["samples"] == 2
    assert row["verification_error"] == pytest.approx(np.mean(each), rel=1e-6)
    assert row["verification_error_sd"] == pytest.approx(np.std(each, ddof=1), rel=1e-5)
    together = run_study("logreg", tiny, base, grid, [3, 8], tmp_path / "set")["rows"][0]
    assert together["samples"] == 1 and together["verification_error_sd"] == 0.0
    assert abs(together["verification_error"] - row["verification_error"]) > 1e-3 * max(each)


def test_study_command_on_digits(tmp_path):
    out = tmp_path / "study"
    proc = cli(
        "study",
        "--dataset",
        "digits",
        "--arch",
        "logreg",
        "--grid",
        "epochs=1,2,3",
        "--lr",
        "0.01",
        "--forget-indices",
        "0,1",
        "--each-sample",
        "--out",
        out,
    )
    assert proc.returncode == 0, proc.stderr
    assert "pearson r" in proc.stdout and "setting 3/3" in proc.stderr
    summary = json.loads((out / "study.json").read_text())
    assert len(summary["rows"]) == 3 and summary["base_recipe"]["probe_every"] == 25
    assert summary["each_sample"] and all(r["samples"] == 2 for r in summary["rows"])
    env = summary["environment"]  # reproducible by default: the ISA pinned by a re-exec
    assert env["threads"] == 1 and env["pinned_isa"] == "avx2" and env["cpu_capability"] == "AVX2"
    assert env["cpu_model"] and "torch threads 1; AVX2 kernels, ISA pinned avx2" in proc.stdout
    assert all(r["verification_error"] > 0 for r in summary["rows"])
    assert_one_line_error(
        cli("study", "--grid", "momentum=0,1", "--forget-indices", "0", "--out", out), "momentum"
    )
    assert_one_line_error(
        cli("study", "--grid", "epochs=1", "--forget-indices", "0", "--threads", "0", "--out", out),
        "--threads must be between 1 and 256",
    )
