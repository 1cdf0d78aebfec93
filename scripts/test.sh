#!/usr/bin/env bash
# Sets up .venv with the test tools, lints, checks the import layers, and runs the whole test
# suite on the CPU.
# pytest exits non-zero (5) when it collects no test, so an empty run fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements-dev.txt
.venv/bin/python -m ruff check .
.venv/bin/lint-imports --no-logo  # the layers contract (pyproject.toml, [tool.importlinter])
.venv/bin/python -m pytest "$@"
