"""The app through its public face: what AppTest sees on the "Model and data" page.

The model and its summary are cached by Streamlit for the whole process, so only the first test
pays for loading and evaluating the demo model (a few seconds on 2 CPU cores).
"""

from __future__ import annotations

import hashlib

import pytest
from conftest import DEMO_CHECKPOINT, ROOT
from streamlit.testing.v1 import AppTest

from unlearn_core.data import load_dataset

APP, PAGE = str(ROOT / "app.py"), str(ROOT / "app_pages" / "model_and_data.py")
DRESS = 3


def run(script: str = APP, **state) -> AppTest:
    at = AppTest.from_file(script, default_timeout=60)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def captions(at: AppTest) -> list[str]:
    return [c for image in at.image for c in image.captions]


def index_of(caption: str) -> int:
    return int(caption.split(" · ")[0].lstrip("#"))


@pytest.fixture
def app() -> AppTest:
    at = run()
    assert not at.exception
    assert not at.error
    return at


def test_page_shows_the_demo_model(app):
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Test accuracy"] == "86.6%"  # assets/models/demo_smallcnn.json: 0.866
    assert metrics["Architecture"] == "smallcnn"
    assert metrics["Parameters"] == "421,642"
    assert app.session_state["checkpoint_path"] == str(DEMO_CHECKPOINT)
    assert app.session_state["dataset_name"] == "demo"
    sha = hashlib.sha256(DEMO_CHECKPOINT.read_bytes()).hexdigest()
    sidebar = " ".join(e.value for e in [*app.sidebar.markdown, *app.sidebar.caption])
    assert "smallcnn" in sidebar and "demo" in sidebar and sha[:12] in sidebar
    assert "cpu" in sidebar  # tests run with UNLEARN_DEVICE=cpu (conftest)
    charts = [chart.proto.spec for chart in app.get("plotly_chart")]
    assert len(charts) == 2
    assert "Epoch" in charts[0] and "Loss" in charts[0] and "Dress" in charts[1]


def test_first_page_of_images(app):
    shown = captions(app)
    assert len(shown) == 40
    assert [index_of(c) for c in shown] == list(range(40))


def test_class_filter_shows_only_that_class(app):
    app.selectbox(key="browse_class").select(DRESS).run()
    shown = captions(app)
    assert len(shown) == 40 and all(c.endswith(" · Dress") for c in shown)
    labels = load_dataset("demo").train_y
    assert all(int(labels[index_of(c)]) == DRESS for c in shown)


def test_paging_moves_through_the_class_and_resets_on_a_new_class(app):
    app.selectbox(key="browse_class").select(DRESS).run()
    first = [index_of(c) for c in captions(app)]
    app.number_input(key="browse_page").set_value(2).run()
    second = [index_of(c) for c in captions(app)]
    assert len(second) == 40 and min(second) > max(first)
    assert any("Page 2 of 15" in c.value for c in app.caption)  # 600 dresses, 40 a page
    app.selectbox(key="browse_class").select(None).run()
    assert app.number_input(key="browse_page").value == 1
    assert [index_of(c) for c in captions(app)] == list(range(40))


def test_page_past_the_end_is_one_error(app):
    app.number_input(key="browse_page").set_value(151).run()  # 6000 images make 150 pages
    assert not app.exception
    assert len(app.error) == 1 and "from 1 to 150" in app.error[0].value
    assert captions(app) == []
    assert app.metric  # the rest of the page is still there


@pytest.mark.parametrize("script", [APP, PAGE])
def test_a_corrupt_checkpoint_is_one_error(tmp_path, script):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    at = run(script, checkpoint_path=str(broken), dataset_name="demo")
    assert not at.exception
    assert len(at.error) == 1 and "broken.safetensors" in at.error[0].value
    assert not at.metric and not at.image


def test_a_missing_checkpoint_is_one_error(tmp_path):
    at = run(checkpoint_path=str(tmp_path / "gone.safetensors"), dataset_name="demo")
    assert not at.exception
    assert len(at.error) == 1 and "does not exist" in at.error[0].value
