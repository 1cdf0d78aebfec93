#!/usr/bin/env bash
# Rebuilds the stored demo run in assets/demo_run (UNSIR forgetting class 3 of the demo model,
# with its oracle retrain, seed 0), the run the app's first page opens at once. About 60 s on
# 2 CPU cores. --reproducible pins the kernels' ISA and 1 thread, so that
# tests/test_demo_anchor.py can rebuild it bit for bit (BENCHMARKS.md, "Reproducibility"). The recorded command (report.json's `command`, shown under the app's results)
# writes to cli-runs/ and the default run store, so pasting it makes a new run and never
# touches the shipped one; here a scratch store (removed afterwards) gives the run its id, and
# the folder is then copied into assets/.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=cli-runs/demo-run-build
trap 'rm -rf "$scratch"' EXIT
rm -rf "$scratch"
UNLEARN_DEVICE=cpu UNLEARN_RUNS_DIR="$scratch/store" .venv/bin/python -m unlearn_core unlearn \
    --checkpoint assets/models/demo_smallcnn.safetensors --method unsir --forget-classes 3 \
    --oracle --seed 0 --reproducible --out cli-runs/demo-run
rm -rf assets/demo_run
mv cli-runs/demo-run assets/demo_run
echo "wrote assets/demo_run"
