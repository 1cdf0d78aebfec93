#!/usr/bin/env bash
# The GPU rows of BENCHMARKS.md in one command, for a lent CUDA machine (no registry there):
# L-FOCI and UNSIR on a CIFAR-shaped ResNet-18, then 8 UNSIR jobs sharing the card through Ray.
# Ray travels as wheels unpacked into /tmp/site when `.whl/` holds them (see BENCHMARKS.md).
# usage: bash bench/gpu_benches.sh OUTDIR
set -uo pipefail
out=${1:?usage: bash bench/gpu_benches.sh OUTDIR}
if compgen -G ".whl/*" >/dev/null; then
    python3 bench/unpack_wheels.py .whl /tmp/site
    export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1
nvidia-smi -L | tee "$out/machine.txt"
python3 -c "import torch; print('torch', torch.__version__)" | tee -a "$out/machine.txt"
timeout 170 python3 bench/bench_lfoci.py --device cuda --arch resnet18-cifar 2>&1 | tee "$out/lfoci.md"
timeout 170 python3 bench/bench_unsir.py --device cuda --arch resnet18-cifar 2>&1 | tee "$out/unsir.md"
timeout 200 python3 bench/bench_sweep_gpu.py 2>&1 | tee "$out/sweep.md"
