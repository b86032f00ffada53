#!/usr/bin/env bash
# Set up myoseg in ./.venv (Python 3.11+) with the dev extras, then (unless --no-demo) run the demo.
# torch is pinned to 2.13.0; where the package index serves only CUDA builds, pass
#   PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"
if [ "${1:-}" != "--no-demo" ]; then
  .venv/bin/myoseg demo
fi
