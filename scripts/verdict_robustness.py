"""Are the verdict labels robust to float rounding? Re-measure the d = 9 chapters under another
machine's rounding and compare every label with the committed ``results/verdicts/``.

A copy of the book is made in a temporary folder; there the chapters are executed with MKL's
processor-independent path (``MKL_CBWR=COMPATIBLE``, which changes the rounding of every matrix
product) and one trainer thread, with ``IMBACL_RECORD=write``: every run a chapter trains on the
page is retrained and its measurement record rewritten, so every number those runs give, and
every label computed from it, comes from perturbed numerics. The cached sweeps the chapters
read (``results/*.npz``, ``results/remedies/``) are not regenerated here (hours on two cores):
labels computed from them alone cannot move, and the chapters' retrain checks assert that
their runs reproduce under the perturbation within the stated tolerance. The committed book is
not touched. Prints one line per label that flips and a tally; exits 1 if any flips.

Usage: python scripts/verdict_robustness.py [--keep] [CHAPTER ...]
(default chapters: 02b_regime 03_stage1 04_stage2 05_stage3 06_ratio 07_width
08_regularisation 09_remedies)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
D9 = [
    "02b_regime",
    "03_stage1",
    "04_stage2",
    "05_stage3",
    "06_ratio",
    "07_width",
    "08_regularisation",
    "09_remedies",
]
PERTURBED = {"MKL_CBWR": "COMPATIBLE", "IMBACL_THREADS": "1", "IMBACL_RECORD": "write"}


def copy_book(dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for f in files + [str(p.relative_to(ROOT)) for p in (ROOT / "results").rglob("*")]:
        src = ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)


def labels(folder: Path, chapter: str) -> list:
    path = folder / "results" / "verdicts" / f"{chapter}.json"
    return [(r["claim"], r["label"]) for r in json.loads(path.read_text())["rows"]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chapters", nargs="*", default=D9)
    ap.add_argument("--keep", action="store_true", help="keep the temporary copy")
    args = ap.parse_args()
    unknown = [c for c in args.chapters if not (ROOT / "chapters" / f"{c}.ipynb").exists()]
    if unknown:
        print(f"error: no chapter {', '.join(unknown)} (chapters/NAME.ipynb)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="imbacl-robust-"))
    env = dict(os.environ, **PERTURBED)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    try:
        copy_book(tmp)
        for chapter in args.chapters:
            print(f"executing {chapter} with {PERTURBED}", flush=True)
            subprocess.run(
                [
                    "jupyter",
                    "nbconvert",
                    "--to",
                    "notebook",
                    "--execute",
                    "--inplace",
                    "--ExecutePreprocessor.timeout=1800",
                    str(tmp / "chapters" / f"{chapter}.ipynb"),
                ],
                cwd=tmp,
                env=env,
                check=True,
                capture_output=True,
            )
        flips, total = [], 0
        for chapter in args.chapters:
            before, after = labels(ROOT, chapter), labels(tmp, chapter)
            if [c for c, _ in before] != [c for c, _ in after]:
                print(f"{chapter}: the rows differ (claims changed), compare by hand")
                flips.append(chapter)
                continue
            for k, ((claim, a), (_, b)) in enumerate(zip(before, after)):
                total += 1
                if a != b:
                    flips.append(f"{chapter}#{k}")
                    print(f"FLIP {chapter}#{k}: {claim!r}: {a} -> {b}")
        print(f"{len(flips)} of {total} labels flip under {PERTURBED}")
        return 1 if flips else 0
    finally:
        if args.keep:
            print(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
