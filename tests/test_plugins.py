"""Bring your own method: a distribution installed beside the project (a package and its
.dist-info with an `unlearn_core.methods` entry point, as pip would leave them) is a method like
the built-in ones, end to end; a plug-in that fails to import is named with its error and
breaks nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import DEMO_CHECKPOINT, ROOT

from unlearn_core.checkpoint import read_weights

PLUGIN = '''"""An example plug-in: shrink every weight toward zero (no paper; a test)."""
from dataclasses import dataclass

import torch

from unlearn_core.methods import UnlearnResult, register, setting


@dataclass(frozen=True)
class ShrinkConfig:
    factor: float = setting(0.9, "multiply every weight by this")


@register("shrink", ShrinkConfig, "Shrink: multiplies every weight by a factor. Needs no data.")
def unlearn(model, request, data, config, *, seed=0, progress=None):
    net = model.copy_model()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(config.factor)
    return UnlearnResult(net.eval())
'''


def install(site, name: str, module: str, source: str) -> None:
    """What `pip install` leaves: the module and a dist-info naming its entry point."""
    (site / f"{module}.py").write_text(source)
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[unlearn_core.methods]\n{name} = {module}\n")


@pytest.fixture
def site(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    install(site, "shrink-plugin", "shrink_plugin", PLUGIN)
    install(site, "broken-plugin", "broken_plugin", "import nowhere_to_be_found\n")
    return site


def cli(site, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}
    return subprocess.run(
        [sys.executable, "-m", "unlearn_core", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )


def test_a_plugin_is_listed_and_a_broken_one_is_named(site):
    listed = cli(site, "list-methods")
    assert listed.returncode == 0 and "shrink" in listed.stdout.split()
    assert "finetune" in listed.stdout.split()
    warning = "warning: plug-in broken-plugin could not be loaded: ModuleNotFoundError"
    assert warning in listed.stderr and "Traceback" not in listed.stderr


def test_a_plugin_runs_end_to_end(site, tmp_path):
    out = tmp_path / "run"
    done = cli(
        site,
        "unlearn",
        "--checkpoint",
        str(DEMO_CHECKPOINT),
        "--method",
        "shrink",
        "--forget-indices",
        "1,2",
        "--set",
        "factor=0.5",
        "--no-store",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr[-1500:]
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == "shrink" and report["config"] == {"factor": 0.5}
    unlearned, _ = read_weights(out / "model.safetensors")
    original, _ = read_weights(DEMO_CHECKPOINT)
    key = next(k for k in unlearned if k.endswith("weight"))
    torch.testing.assert_close(unlearned[key], 0.5 * original[key])


def test_a_plugin_cannot_replace_a_builtin(site):
    install(site, "impostor", "impostor_plugin", PLUGIN.replace('"shrink"', '"finetune"'))
    listed = cli(site, "list-methods")
    assert listed.returncode == 0
    assert "plug-in impostor could not be loaded: UserError: method 'finetune' is already" in (
        listed.stderr
    )


def test_a_command_that_needs_no_plugin_never_imports_one(site, tmp_path):
    """Issue 28: a plug-in whose import took 90 s delayed every command. Plug-ins are imported
    only when a method no built-in has is named (or all are listed): a marker the plug-in
    writes on import shows whether it was."""
    marker = tmp_path / "imported"
    source = f"from pathlib import Path\nPath({str(marker)!r}).write_text('yes')\n"
    install(site, "marking-plugin", "marking_plugin", source)
    builtin = cli(
        site, "unlearn", "--checkpoint", str(DEMO_CHECKPOINT), "--method", "finetune",
        "--forget-indices", "999999", "--no-store", "--out", str(tmp_path / "o"),
    )  # fmt: skip
    assert builtin.returncode == 2 and "out of range" in builtin.stderr
    assert not marker.exists()
    assert cli(site, "list-datasets").returncode == 0 and not marker.exists()
    unknown = cli(
        site, "unlearn", "--checkpoint", str(DEMO_CHECKPOINT), "--method", "nope",
        "--forget-indices", "1", "--no-store", "--out", str(tmp_path / "o"),
    )  # fmt: skip
    assert unknown.returncode == 2 and "unknown method 'nope'" in unknown.stderr
    assert "shrink" in unknown.stderr and marker.exists()  # the plug-ins were looked in
