#!/usr/bin/env bash
# Creates the virtual environment .venv (once) and installs a requirements file into it, a line
# per step and pip's own progress (a first install takes minutes).
# usage: bash scripts/setup.sh [requirements.txt | requirements-dev.txt]
#
# torch: with an NVIDIA GPU (nvidia-smi answers), the default build, CUDA included. Without one,
# the CPU build first, when TORCH_CPU_INDEX names a package index that has it (PyTorch's own CPU
# wheel index; on a machine that reaches only the package registries there is none: their x86_64
# Linux torch and torchvision are CUDA builds, and a CPU torch beside their torchvision does not
# import), so the requirements below find torch already met and skip its CUDA packages.
# Otherwise it says why the default build comes instead. VENV, PIP override the venv and pip.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=${1:-requirements.txt}
venv=${VENV:-.venv}
step() { echo "setup: $*"; }

has_nvidia_gpu() { command -v nvidia-smi >/dev/null && nvidia-smi >/dev/null 2>&1; }

# "torch>=2.4,<2.15" and "torchvision>=0.19,<0.30": the ranges requirements.txt asks for.
torch_ranges() { grep -E '^torch(vision)?[<>=]' requirements.txt | sed 's/[[:space:]]*#.*//'; }

if [ ! -x "$venv/bin/python" ]; then
    python=$(command -v python3.11 || command -v python3)
    step "creating the virtual environment $venv with $python"
    "$python" -m venv "$venv"
fi
read -r -a pip <<<"${PIP:-$venv/bin/python -m pip --disable-pip-version-check}"

if has_nvidia_gpu; then
    step "NVIDIA GPU found: torch's default build, with its CUDA packages"
elif [ -n "${TORCH_CPU_INDEX:-}" ]; then
    step "no NVIDIA GPU: installing the CPU build of torch and torchvision from $TORCH_CPU_INDEX"
    mapfile -t ranges < <(torch_ranges)
    "${pip[@]}" install --extra-index-url "$TORCH_CPU_INDEX" "${ranges[@]}"
else
    step "no NVIDIA GPU, but no CPU build of torch to install: set TORCH_CPU_INDEX to an index"
    step "that has one; installing the default build with its CUDA packages (GBs, minutes)"
fi
step "installing $requirements"
"${pip[@]}" install -r "$requirements"
step "done: $venv is ready"
