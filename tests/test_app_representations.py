"""The Representations page through AppTest on the fixture's UNSIR run (class 3, with its
oracle): each view shows its figure with values the library computes, a bad layer and an empty
sample end in one st.error with the page still there."""

from __future__ import annotations

import json

import pytest
from conftest import DEMO_CHECKPOINT, ROOT
from streamlit.testing.v1 import AppTest

PAGE = str(ROOT / "app_pages" / "representations.py")


def page(app_store, monkeypatch, **state) -> AppTest:
    monkeypatch.setenv("UNLEARN_RUNS_DIR", app_store["root"])
    at = AppTest.from_file(PAGE, default_timeout=300)
    at.session_state["open_runs"] = [app_store["unsir"]]
    at.session_state["checkpoint_path"] = str(DEMO_CHECKPOINT)
    at.session_state["rep_per_group"] = 40
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def figure(at: AppTest) -> dict:
    (chart,) = at.get("plotly_chart")
    return json.loads(chart.proto.spec)


@pytest.mark.parametrize(
    ("view", "title"),
    [("embedding", "features (shared axes)"), ("cka", "Layer similarity"), ("probe", "probe")],
)
def test_each_view_draws_its_figure(app_store, monkeypatch, view, title):
    at = page(app_store, monkeypatch, rep_view=view, rep_method="pca")
    assert not at.exception and not at.error
    spec = figure(at)
    assert title in spec["layout"]["title"]["text"]
    assert any("What am I looking at" in h.value for h in at.subheader)
    if view == "embedding":
        assert len({t["xaxis"] for t in spec["data"]}) == 3  # one panel per model
    if view == "probe":
        assert [bar["x"] for bar in spec["data"]] == [["original", "unlearned", "retrained"]]


def test_a_bad_layer_and_an_empty_sample_are_one_error(app_store, monkeypatch):
    at = page(app_store, monkeypatch, rep_view="probe", rep_layer_probe="nope")
    assert not at.exception and len(at.error) == 1 and "no layer 'nope'" in at.error[0].value
    at = page(app_store, monkeypatch, rep_view="cka", rep_per_group=0)
    assert not at.exception and len(at.error) == 1 and "between 1 and" in at.error[0].value


def test_a_slow_first_view_says_what_it_computes():
    """Issue 24, item 13: the first embedding took 57 s under "Computing the view…" only."""
    from ui.representations import what_is_computed

    models = {"original": object(), "unlearned": object(), "retrained": None}
    text = what_is_computed("embedding", 100, models)
    assert "original, unlearned models" in text and "600 points" in text
    assert "compiles UMAP" in text
    assert "every layer" in what_is_computed("cka", 100, models)
