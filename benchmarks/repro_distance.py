"""How far does a run retrained on this machine lie from its cached record?

For every cached sweep under results/ (final projections, ``imbacl.io.load_final``), retrain
its first run (or ``--runs N`` of them) here and print the relative distance
||P_here - P_record|| / ||P_record|| of the final projections, with the record's provenance and
this machine's. The largest value across machines and numerics paths is what
``imbacl.io.REPRO_TOL`` must exceed with room (benchmarks/README.md logs the runs). Run it
again under ``MKL_CBWR=COMPATIBLE IMBACL_THREADS=1`` for another rounding on the same machine.

Usage: python benchmarks/repro_distance.py [--runs N] [--only SUBSTRING]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import imbacl
from imbacl import io

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1, help="runs retrained per file (default 1)")
    ap.add_argument("--only", default="", help="only files whose path contains this")
    args = ap.parse_args()
    if args.runs < 1:
        print(f"error: --runs={args.runs}: at least 1", file=sys.stderr)
        return 2
    here = io.provenance()
    print(
        f"here: {here['cpu']}; {here['blas_path']}; {here['threads']} threads; "
        f"torch {here['torch_version']}"
    )
    print(f"{'file':<46} {'run':<40} {'steps':>6} {'distance':>9}  record written on")
    worst = 0.0
    for path in sorted((ROOT / "results").rglob("*.npz")):
        if args.only not in str(path):
            continue
        with np.load(path) as z:
            if str(z["format"]) != "imbacl/final":
                continue
        cached = io.load_final(path)
        prov = io.read_provenance(path)
        for k in range(min(args.runs, len(cached.configs))):
            c = cached.configs[k]
            t0 = time.perf_counter()
            again = imbacl.train(c, record_at=[0, c.steps]).P[0, -1]
            dist = io.retrain_distance(again, cached.P[k])
            worst = max(worst, dist)
            what = ", ".join(f"{n}={v}" for n, v in cached.overrides[k].items()) or "base"
            print(
                f"{str(path.relative_to(ROOT)):<46} {what + f', seed {c.seed}':<40} "
                f"{c.steps:>6} {dist:>9.2e}  {prov['cpu']} ({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
    print(f"largest distance: {worst:.2e} (tolerance {io.REPRO_TOL})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
