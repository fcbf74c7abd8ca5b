"""Remove per-run notebook metadata (cell execution timestamps) from the given notebooks, in
place; outputs are kept. tests/test_notebooks.py checks that none is committed."""

import json
import sys


def strip(path: str) -> None:
    with open(path) as f:
        nb = json.load(f)
    for cell in nb["cells"]:
        cell.get("metadata", {}).pop("execution", None)
    with open(path, "w") as f:
        json.dump(nb, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        strip(p)
