#!/usr/bin/env bash
# Re-execute chapters in place (top to bottom), then drop what changes on every run (cell
# execution timestamps) so that the committed notebooks hold only their outputs.
#   bash scripts/execute_chapters.sh [chapters/NN_name.ipynb ...]   (default: every chapter)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(pwd)/.venv/bin:$PATH"
nbs=("$@")
[ ${#nbs[@]} -gt 0 ] || nbs=(chapters/*.ipynb)
for nb in "${nbs[@]}"; do
  echo "executing $nb"
  jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=1800 "$nb"
done
python scripts/strip_metadata.py "${nbs[@]}"
