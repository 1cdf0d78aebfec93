#!/usr/bin/env bash
# Rebuilds the stored demo run in assets/demo_run (UNSIR forgetting class 3 of the demo model,
# with its oracle retrain, seed 0), the run the app's first page opens at once. A scratch store
# (removed afterwards) gives it a run id; its report.json records this command. About 30 s on
# 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
store=cli-runs/demo-run-store
trap 'rm -rf "$store"' EXIT
UNLEARN_DEVICE=cpu .venv/bin/python -m unlearn_core unlearn \
    --checkpoint assets/models/demo_smallcnn.safetensors --method unsir --forget-classes 3 \
    --oracle --seed 0 --store "$store" --out assets/demo_run
