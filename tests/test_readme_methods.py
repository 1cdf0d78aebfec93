"""The README's `list-methods` example is the command's real output (issue 24, item 14: it
listed 9 of 15 methods)."""

from __future__ import annotations

import re

from conftest import ROOT

from unlearn_core.methods import METHODS


def test_the_readme_lists_every_built_in_method():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"\$ python -m unlearn_core list-methods\n(.*?)\n\$", text, re.S)
    assert block, "the README has no list-methods example"
    built_in = [n for n, s in METHODS.items() if s.run.__module__.startswith("unlearn_core.")]
    assert block.group(1).split("\n") == sorted(built_in)  # a test's plug-in left out
