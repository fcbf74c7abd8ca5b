#!/usr/bin/env bash
# Main job: install, then build the book, executing every chapter. HTML: _build/html/index.html
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/jupyter-book build . -W -n --keep-going
echo "The book is in $(pwd)/_build/html/index.html"
