"""scripts/setup.sh chooses torch's build by the machine: the CPU build (from TORCH_CPU_INDEX)
before the requirements when no NVIDIA GPU answers, the default build otherwise. Run with pip
replaced by echo and a PATH that holds only the tools the script uses, so nothing installs."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from conftest import ROOT

TOOLS = ("bash", "dirname", "grep", "sed")


def setup_lines(tmp_path, nvidia_smi: str | None, cpu_index: str | None) -> list[str]:
    """The script's output; nvidia_smi: the body of a fake nvidia-smi, None for none."""
    bin_dir, venv = tmp_path / "bin", tmp_path / "venv"
    bin_dir.mkdir()
    for tool in TOOLS:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    if nvidia_smi is not None:
        (bin_dir / "nvidia-smi").write_text(f"#!/bin/sh\n{nvidia_smi}\n")
        (bin_dir / "nvidia-smi").chmod(0o755)
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("#!/bin/sh\nexit 1\n")  # an existing venv: not rebuilt
    (venv / "bin" / "python").chmod(0o755)
    env = {"PATH": str(bin_dir), "VENV": str(venv), "PIP": "echo PIP"}
    if cpu_index is not None:
        env["TORCH_CPU_INDEX"] = cpu_index
    proc = subprocess.run(
        [shutil.which("bash"), str(ROOT / "scripts" / "setup.sh"), "requirements.txt"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def torch_ranges() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.startswith("torch")]


@pytest.mark.parametrize("nvidia_smi", [None, "exit 9"], ids=["absent", "failing"])
def test_without_a_gpu_the_cpu_build_comes_first(tmp_path, nvidia_smi):
    lines = setup_lines(tmp_path, nvidia_smi, "file:///cpu-index")
    ranges = torch_ranges()
    assert ranges == ["torch>=2.4,<2.15", "torchvision>=0.19,<0.30"]  # admit 2.14.1 / 0.29.1
    pips = [line for line in lines if line.startswith("PIP")]
    assert pips == [
        f"PIP install --extra-index-url file:///cpu-index {' '.join(ranges)}",
        "PIP install -r requirements.txt",
    ]
    assert "setup: no NVIDIA GPU: installing the CPU build" in lines[0]


def test_with_a_gpu_the_default_build(tmp_path):
    lines = setup_lines(tmp_path, "exit 0", "file:///cpu-index")
    assert [line for line in lines if line.startswith("PIP")] == ["PIP install -r requirements.txt"]
    assert lines[0].startswith("setup: NVIDIA GPU found")


def test_without_a_gpu_or_a_cpu_index_it_says_so(tmp_path):
    lines = setup_lines(tmp_path, None, None)
    assert [line for line in lines if line.startswith("PIP")] == ["PIP install -r requirements.txt"]
    assert "no CPU build of torch" in lines[0] and "TORCH_CPU_INDEX" in lines[0]
    assert lines[-1] == "setup: done: " + os.path.join(str(tmp_path), "venv") + " is ready"
