#!/usr/bin/env bash
# Create .venv (if absent) and install the pinned requirements and imbacl into it; fetch the
# JavaScript the static book ships (_assets/, see scripts/fetch_assets.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# the pins (numpy 2.4, matplotlib 3.11, scikit-learn 1.9) need Python 3.11 or newer
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  found=$("$PY" -c 'import platform; print(platform.python_version())' 2>/dev/null || echo "none")
  echo "setup.sh: Python 3.11 or newer is needed; $PY is $found (choose one: PYTHON=python3.11)" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# --retries 1: requirements.txt names PyTorch's CPU wheel index; where it cannot be reached,
# pip's default 5 retries would cost about 8 s for every package (1 retry: well under a second)
.venv/bin/python -m pip install -q --retries 1 --upgrade pip
.venv/bin/python -m pip install -q --retries 1 -r requirements.txt
.venv/bin/python -m pip install -q --no-deps -e .
.venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
bash scripts/fetch_assets.sh
