#!/usr/bin/env bash
# Tests: install, then unit tests, nbval on every chapter (re-executed, compared with the
# committed outputs), a clean -W -n book build and every page opened in headless Chromium, in
# one pytest run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# the browser test (tests/test_browser.py) drives Debian's chromium
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
export PATH="$(pwd)/.venv/bin:$PATH"
.venv/bin/python -m pytest tests chapters --nbval --nbval-sanitize-with tests/sanitize.cfg \
  --nbval-cell-timeout 1800 -p no:cacheprovider "$@"
