#!/usr/bin/env bash
# Tests: install, then unit tests, nbval on every chapter (re-executed, compared with the
# committed outputs) and a clean -W -n book build, in one pytest run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$(pwd)/.venv/bin:$PATH"
.venv/bin/python -m pytest tests chapters --nbval --nbval-sanitize-with tests/sanitize.cfg \
  --nbval-cell-timeout 600 -p no:cacheprovider "$@"
