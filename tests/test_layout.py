"""House rules that keep the two doors honest."""

import ast
import re

import pytest
from conftest import ROOT


def test_core_never_imports_streamlit():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "unlearn_core").rglob("*.py")
        if re.search(r"^\s*(import|from)\s+streamlit", path.read_text(), re.MULTILINE)
    ]
    assert offenders == []


APP_FILES = sorted(f"{d}/{p.name}" for d in ("app_pages", "ui") for p in (ROOT / d).glob("*.py"))


def _draws_without_export_config(path) -> bool:
    """Whether a file calls st.plotly_chart without a config (ui.charts.plot passes one)."""
    calls = [
        node
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "plotly_chart"
    ]
    return any(all(k.arg != "config" for k in call.keywords) for call in calls)


@pytest.mark.parametrize("name", APP_FILES)
def test_every_chart_can_be_downloaded_as_png_or_svg(name):
    assert not _draws_without_export_config(ROOT / name)


def test_every_citation_of_mehta_et_al_gives_the_papers_one_title():
    """Two titles for one paper were shown (issue 15, item 12): every "Deep Unlearning via ..."
    in the app, the core and the README names the CVPR 2022 paper's title."""
    title = re.compile(r"Deep\s+Unlearning\s+via\s+([A-Za-z -]+?)[\"'*,]", re.MULTILINE)
    files = [
        *ROOT.glob("app_pages/*.py"),
        *ROOT.glob("ui/*.py"),
        *ROOT.glob("unlearn_core/**/*.py"),
    ]
    joined = (re.sub(r"\"\s*\n\s*\"", "", p.read_text()) for p in [*files, ROOT / "README.md"])
    found = {" ".join(m.group(1).split()) for text in joined for m in title.finditer(text)}
    assert found == {"Randomized Conditionally Independent Hessians"}
