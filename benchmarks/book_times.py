"""Execute every chapter in a fresh kernel and print its wall time (the book budget).

python benchmarks/book_times.py [chapters/NN_x.ipynb ...]
"""

import glob
import sys
import time

import nbformat
from nbclient import NotebookClient


def main():
    paths = sys.argv[1:] or sorted(glob.glob("chapters/*.ipynb"))
    total = 0.0
    print(f"{'chapter':<36} {'seconds':>8}")
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        t = time.perf_counter()
        NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": "chapters"}}
        ).execute()
        dt = time.perf_counter() - t
        total += dt
        print(f"{path:<36} {dt:>8.1f}")
    print(f"{'total':<36} {total:>8.1f}")


if __name__ == "__main__":
    main()
