"""CONTRIBUTING.md's "Add a method" is true: a throw-away method added to a copy of the project
by exactly those steps is in `list-methods`, the Unlearn page's form and the contract tests."""

from __future__ import annotations

import shutil
import subprocess
import sys

from conftest import ROOT

THROWAWAY = '''"""Throwaway: nudges every weight by seeded noise (a test of CONTRIBUTING.md)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearn_core.errors import UserError
from unlearn_core.methods.registry import UnlearnResult, register, setting
from unlearn_core.randomness import as_generator


@dataclass(frozen=True)
class ThrowawayConfig:
    scale: float = setting(1e-3, "standard deviation of the nudge")

    def __post_init__(self):
        if not self.scale > 0:
            raise UserError(f"scale must be > 0, not {self.scale}.")


@register("throwaway", ThrowawayConfig, """Throwaway: nudges every weight by seeded Gaussian
    noise. Needs no data; changes every weight. A test of CONTRIBUTING.md, no paper.""")
def unlearn(model, request, data, config, *, seed=0, progress=None) -> UnlearnResult:
    net = model.copy_model()
    generator = as_generator(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(config.scale * torch.randn(p.shape, generator=generator))
    if progress:
        progress(1.0, "nudged")
    return UnlearnResult(net.eval())
'''

FORM = """
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app_pages/unlearn.py", default_timeout=120)
at.session_state["forget"] = {"classes": [3]}
at.run()
assert "throwaway" in at.multiselect(key="unlearn_methods").options
at.multiselect(key="unlearn_methods").set_value(["throwaway"]).run()
fields = {n.label: n.help for n in at.number_input}
assert fields.get("scale") == "standard deviation of the nudge", fields
print("form ok")
"""


def run(copy, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=copy, capture_output=True, text=True, timeout=900
    )


def test_add_a_method_by_the_guide(tmp_path):
    copy = tmp_path / "project"
    skip = shutil.ignore_patterns(".venv", ".git", "runs", "assets", "bench", "docs", "__pycache__")
    shutil.copytree(ROOT, copy, ignore=skip)
    (copy / "assets").symlink_to(ROOT / "assets")
    guide = (ROOT / "CONTRIBUTING.md").read_text()
    assert "unlearn_core/methods/<name>.py" in guide and "Nothing to list" in guide
    (copy / "unlearn_core" / "methods" / "throwaway.py").write_text(THROWAWAY)  # step 1

    listed = run(copy, "-m", "unlearn_core", "list-methods", "--verbose")
    assert listed.returncode == 0, listed.stderr
    assert "throwaway\n    Throwaway: nudges every weight" in listed.stdout

    form = run(copy, "-c", FORM)
    assert form.returncode == 0 and "form ok" in form.stdout, form.stderr[-2000:]

    tests = run(
        copy,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-k",
        "throwaway",
        "tests/test_methods_contract.py",
        "tests/test_determinism.py",
    )
    assert tests.returncode == 0, tests.stdout[-2000:]
    assert "failed" not in tests.stdout and " passed" in tests.stdout
