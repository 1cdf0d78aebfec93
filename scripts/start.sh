#!/usr/bin/env bash
# Sets up .venv and opens the app on the embedded demo (http://localhost:8501).
# UNLEARN_REPRODUCIBLE=1 pins the CPU kernels' ISA for the app and its jobs (the sidebar's
# "Reproducible mode" switch then pins it too; BENCHMARKS.md, "Reproducibility").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements.txt
if [ "${UNLEARN_REPRODUCIBLE:-}" = 1 ]; then  # pin the kernels' ISA (read when torch loads)
    eval "$(.venv/bin/python -c 'import shlex; from unlearn_core.run.reproducible import PINNED_ENV
print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in PINNED_ENV.items()))')"
fi
exec .venv/bin/python -m streamlit run app.py "$@"
