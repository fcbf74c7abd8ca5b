#!/usr/bin/env bash
# Create .venv (if absent) and install the pinned requirements and imbacl into it; fetch the
# JavaScript the static book ships (_assets/, see scripts/fetch_assets.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt
.venv/bin/python -m pip install -q --no-deps -e .
.venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
bash scripts/fetch_assets.sh
