"""The "Forget request" and "Unlearn" pages through AppTest.

The Unlearn tests run on a logistic regression trained one epoch on the demo data and saved to a
temporary checkpoint: the page and the pipeline are the same as for the demo CNN, but evaluating
and attacking it takes a second instead of half a minute on 2 CPU cores.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import time

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from unlearn_core.checkpoint import save_checkpoint
from unlearn_core.engine.state import JobBoard
from unlearn_core.run.store import RunStore
from unlearn_core.training import Recipe, train

REQUEST_PAGE = str(ROOT / "app_pages" / "forget_request.py")
UNLEARN_PAGE = str(ROOT / "app_pages" / "unlearn.py")
DRESS = 3


def run(script: str, **state) -> AppTest:
    at = AppTest.from_file(script, default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def captions(at: AppTest) -> list[str]:
    return [c for image in at.image for c in image.captions]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


# ---- Forget request ----


def test_classes_give_the_forget_and_retain_counts():
    at = run(REQUEST_PAGE)
    assert any("No forget request yet" in i.value for i in at.info)
    at.multiselect(key="forget_classes").select(DRESS)
    at.button(key="forget_classes_submit").click().run()
    assert not at.exception and not at.error
    assert at.session_state["forget"] == {"classes": [DRESS], "indices": [], "count": 600}
    shown = metrics(at)
    assert shown["Forget set"] == "600" and shown["Retain set"] == "5,400"  # 600 per class
    assert len(captions(at)) == 40 and all(c.endswith(" · Dress") for c in captions(at))
    assert any("first 40 of the 600" in c.value for c in at.caption)


def test_typed_indices_show_those_images():
    at = run(REQUEST_PAGE)
    at.radio(key="forget_kind").set_value("samples").run()
    at.text_input(key="forget_indices_text").input("17, 2,305")
    at.button(key="forget_samples_submit").click().run()
    assert not at.exception and not at.error
    assert at.session_state["forget"] == {"classes": [], "indices": [2, 17, 305], "count": 3}
    assert [c.split(" · ")[0] for c in captions(at)] == ["#2", "#17", "#305"]
    assert metrics(at)["Forget set"] == "3" and metrics(at)["Retain set"] == "5,997"


def test_random_draw_is_seeded_and_stays_in_its_class(demo):
    def draw(seed: int) -> list[int]:
        at = run(REQUEST_PAGE, forget_kind="samples", forget_how="random")
        at.selectbox(key="forget_pool").select(DRESS)
        at.number_input(key="forget_n").set_value(5)
        at.number_input(key="forget_seed").set_value(seed)
        at.button(key="forget_samples_submit").click().run()
        assert not at.exception and not at.error
        return at.session_state["forget"]["indices"]

    first = draw(7)
    assert len(first) == 5 and all(int(demo.train_y[i]) == DRESS for i in first)
    assert draw(7) == first and draw(8) != first


@pytest.mark.parametrize(
    "kind, value, message",
    [
        ("samples", "6000", "index 6000 is out of range"),
        ("samples", "4, x", "'x' is not a training index"),
        ("samples", "", "the forget request is empty"),
        ("classes", list(range(10)), "cannot forget every class"),
    ],
)
def test_bad_request_is_one_error_and_keeps_the_previous(kind, value, message):
    at = run(REQUEST_PAGE, forget={"classes": [1]}, forget_kind=kind)
    if kind == "classes":
        at.multiselect(key="forget_classes").set_value(value)
    else:
        at.text_input(key="forget_indices_text").input(value)
    at.button(key=f"forget_{kind}_submit").click().run()
    assert not at.exception
    assert len(at.error) == 1 and message in at.error[0].value
    assert "previous request is kept" in at.error[0].value
    assert at.session_state["forget"]["classes"] == [1]
    assert metrics(at)["Forget set"] == "600"  # the kept request is still shown


# ---- Unlearn ----


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory, demo) -> str:
    """logreg trained one epoch on the demo data, saved like any checkpoint."""
    recipe = Recipe(lr=0.05, batch_size=64, epochs=1, seed=0, probe_every=0)
    trained = train("logreg", demo, recipe, device="cpu", probes=False)
    path = tmp_path_factory.mktemp("ckpt") / "logreg.safetensors"
    save_checkpoint(trained, path)
    return str(path)


def unlearn(
    checkpoint: str, methods: list[str], settings: dict, oracle: bool = False, seeds: str = "0"
) -> AppTest:
    """Open the Unlearn page on `checkpoint` with class 3 to forget, choose `methods`, set
    `settings` ({widget key: value}), press Run (which only submits: it must return within 2
    s), wait for the jobs, and show the page again."""
    at = run(UNLEARN_PAGE, checkpoint_path=checkpoint, dataset_name="demo", forget={"classes": [3]})
    at.multiselect(key="unlearn_methods").set_value(methods).run()
    for key, value in settings.items():
        at.number_input(key=key).set_value(value)
    at.checkbox(key="unlearn_oracle").set_value(oracle)
    at.text_input(key="unlearn_seeds").set_value(seeds)
    start = time.perf_counter()
    at.button(key="unlearn_run").click().run()
    assert time.perf_counter() - start < 2, "submitting waited for the run"
    at.submitted_errors = [e.value for e in at.error]
    wait_for_jobs(at)
    return at.run()


def wait_for_jobs(at: AppTest, timeout: float = 300) -> None:
    board = JobBoard(RunStore().root)
    end = time.monotonic() + timeout
    ids = at.session_state["my_jobs"] if "my_jobs" in at.session_state else []  # noqa: SIM401
    while any(board.get(i).state in ("queued", "running") for i in ids):
        assert time.monotonic() < end, "the jobs did not finish"
        time.sleep(0.2)


def table(at: AppTest, detail: bool = False) -> list[dict]:
    """The results table as shown (text cells), with all columns when `detail`."""
    if detail:
        at.toggle(key="results_detail").set_value(True).run()
    return at.dataframe[0].value.to_dict("records")


def test_unlearn_stores_the_run_and_shows_it(small_checkpoint):
    at = unlearn(
        small_checkpoint, ["neggrad"], {"unlearn_neggrad_epochs": 1, "unlearn_neggrad_lr": 0.005}
    )
    assert not at.exception and not at.error
    store = RunStore()  # the test's own store (conftest points UNLEARN_RUNS_DIR at tmp_path)
    [stored] = store.list()
    assert stored["method"] == "neggrad" and stored["forget_classes"] == [3]
    assert at.session_state["open_runs"] == [stored["run_id"]]
    report = json.loads((store.path(stored["run_id"]) / "report.json").read_text())
    assert report["config"] == {"epochs": 1, "lr": 0.005, "batch_size": 64}
    [lead] = table(at)
    assert list(lead)[:4] == ["method", "seed", "forgotten", "forget acc"]
    [row] = table(at, detail=True)
    assert row["run"] == stored["run_id"] and row["forgotten"] == "classes 3"
    metrics = report["metrics"]
    before, after = metrics["original"]["forget_acc"], metrics["unlearned"]["forget_acc"]
    assert row["forget acc"] == f"{before:.1%} → {after:.1%}"  # no retrained model: no (…)
    assert row["MIA AUC (retrained)"] == f"{report['mia']['unlearned']['loss']['auc']:.3f}"
    assert row["gap: forget / retain / test"] == ""  # blank, not None
    assert "None" not in row.values()
    assert any("retrain the oracle" in i.value for i in at.info)
    # the same run from a shell, under the results (not only while the submit message shows),
    # by an interpreter that exists, writing outside the run store
    [command] = [c.value for c in at.code]
    assert command == report["command"] and "--set lr=0.005" in command
    assert (ROOT / shlex.split(command)[0]).exists() and "--out cli-runs/" in command


def test_oracle_fills_the_gaps(small_checkpoint):
    at = unlearn(small_checkpoint, ["finetune"], {"unlearn_finetune_epochs": 1}, oracle=True)
    assert not at.exception and not at.error
    [row] = table(at, detail=True)
    report = json.loads((RunStore().path(row["run"]) / "report.json").read_text())
    gaps = report["gaps_to_retrained"]
    assert row["test acc"].endswith(f"({report['metrics']['retrained']['test_acc']:.1%})")
    forget_gap, _, test_gap = row["gap: forget / retain / test"].removesuffix(" pts").split(" / ")
    assert forget_gap == f"{gaps['forget_acc'] * 100:+.1f}"
    assert test_gap == f"{gaps['test_acc'] * 100:+.1f}"
    assert row["speed-up"] == f"{report['speedup_over_retrain']:.1f}×"


def test_a_bad_setting_is_one_error_and_the_other_methods_still_run(small_checkpoint):
    at = unlearn(small_checkpoint, ["neggrad-plus", "neggrad"], {"unlearn_neggrad-plus_alpha": 2.0})
    assert not at.exception
    assert len(at.submitted_errors) == 1 and at.submitted_errors[0].startswith("neggrad-plus:")
    assert "alpha" in at.submitted_errors[0] and not at.error
    assert [row["method"] for row in table(at)] == ["neggrad"]
    assert [r["method"] for r in RunStore().list()] == ["neggrad"]


def test_methods_that_do_not_fit_the_request_are_explained(small_checkpoint):
    at = run(
        UNLEARN_PAGE, checkpoint_path=small_checkpoint, dataset_name="demo", forget={"indices": [2]}
    )
    assert "unsir" not in at.multiselect(key="unlearn_methods").options
    assert any("`unsir` is not offered" in c.value for c in at.caption)


def test_no_request_points_at_the_request_page():
    at = run(UNLEARN_PAGE)
    assert not at.exception and not at.error
    assert len(at.info) == 1 and "Forget request" in at.info[0].value
    assert not at.multiselect


def test_a_setting_out_of_range_is_refused_on_run_with_its_range_and_why(small_checkpoint):
    """No red field that leaves Run doing nothing: the widget takes the number, and Run says
    what range the setting has and why; the help text says it beforehand."""
    at = run(
        UNLEARN_PAGE, checkpoint_path=small_checkpoint, dataset_name="demo", forget={"classes": [3]}
    )
    at.multiselect(key="unlearn_methods").set_value(["neggrad"]).run()
    epochs = at.number_input(key="unlearn_neggrad_epochs")
    assert epochs.min is None and "Range: 1 to 1000" in epochs.help
    epochs.set_value(-1)
    at.button(key="unlearn_run").click().run()
    [error] = at.error
    assert error.value.startswith("neggrad: invalid settings: epochs must")
    assert "[1, 1000]" in error.value and "pass over the data" in error.value
    assert not at.session_state["my_jobs"] if "my_jobs" in at.session_state else True


def test_a_word_setting_is_a_choice_of_its_words(small_checkpoint):
    at = run(
        UNLEARN_PAGE, checkpoint_path=small_checkpoint, dataset_name="demo", forget={"classes": [3]}
    )
    at.multiselect(key="unlearn_methods").set_value(["unsir"]).run()
    optimizer = at.selectbox(key="unlearn_unsir_optimizer")
    assert optimizer.options == ["sgd", "adam"] and optimizer.value == "sgd"


def test_who_asked_and_when_travel_with_the_request_into_the_run(small_checkpoint):
    """Issue 15, item 3: optional requester and date, entered with the request, reach the run's
    report.json, request.json and command line."""
    at = run(REQUEST_PAGE, forget={"classes": [1]})
    at.text_input(key="forget_requester").input("ticket #42, A. Person")
    at.date_input(key="forget_request_date").set_value(dt.date(2024, 2, 29))
    next(b for b in at.button if b.label == "Save who asked and when").click().run()
    assert not at.exception and not at.error
    origin = {"requester": "ticket #42, A. Person", "request_date": "2024-02-29"}
    assert at.session_state["forget"] == {"classes": [1], "indices": [], "count": 600, **origin}
    at.multiselect(key="forget_classes").set_value([DRESS])
    at.button(key="forget_classes_submit").click().run()  # a changed request keeps who asked
    assert at.session_state["forget"] == {"classes": [DRESS], "indices": [], "count": 600, **origin}
    forget = at.session_state["forget"]
    at = run(UNLEARN_PAGE, checkpoint_path=small_checkpoint, dataset_name="demo", forget=forget)
    at.multiselect(key="unlearn_methods").set_value(["none"]).run()
    at.button(key="unlearn_run").click().run()
    wait_for_jobs(at)
    at.run()  # the finished run opens, with its command under the results
    assert any("--requester 'ticket #42, A. Person'" in c.value for c in at.code)
    [stored] = RunStore().list()
    folder = RunStore().path(stored["run_id"])
    report = json.loads((folder / "report.json").read_text())
    assert {k: report["forget"][k] for k in origin} == origin
    assert json.loads((folder / "request.json").read_text()) == report["forget"]


def test_a_requester_on_two_lines_is_one_error_and_saves_nothing():
    at = run(REQUEST_PAGE, forget={"classes": [1]})
    at.text_input(key="forget_requester").input("two\nlines")
    next(b for b in at.button if b.label == "Save who asked and when").click().run()
    assert not at.exception
    assert len(at.error) == 1 and "one line" in at.error[0].value
    assert at.session_state["forget"] == {"classes": [1]}
