"""Train every cached sweep of the scaling chapter that is not in results/scaling/ yet.

    python scripts/scaling_sweeps.py                 # resumable: a file already saved is skipped
    python scripts/scaling_sweeps.py --only eps_c8_d64   # one file (the command each file records)
    python scripts/scaling_sweeps.py --dry-run       # the files, their runs and steps
    python scripts/scaling_sweeps.py --size 256 --device cuda --only eps_c8_d256
                                                     # the next size, on a GPU (not in the chapter)

Each file holds one (scaling, c, d) cell of imbacl.scaling.cells(): every rho and seed, trained
over two processes of one thread each (imbacl.scaling.run_cell) and saved with the command that
wrote it and its wall time. Then the loss floors of every (scaling, c, d, rho) missing from
results/scaling/floors.npz are added to it. A progress bar counts run-steps. ``--size D`` adds a
file for a size beyond the chapter's grid (eps fixed, d1 = 8d, every rho, 5 seeds; no loss
floors), which the chapter does not read; ``--device cuda`` trains each file as one batch on the
GPU.
"""

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from imbacl import io, scaling, sweep  # noqa: E402

FLOOR_FILE = os.path.join(scaling.CACHE_DIR, "floors.npz")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="list the files and their size only")
    ap.add_argument(
        "--only",
        action="append",
        default=None,
        metavar="NAME",
        help="train only this file (repeatable), even if it exists",
    )
    ap.add_argument("--workers", type=int, default=2, help="processes (one thread each)")
    ap.add_argument(
        "--size",
        type=int,
        action="append",
        default=[],
        metavar="D",
        help=f"also a file at this d (not one of {scaling.DS}), e.g. 256",
    )
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda: one batch per file")
    args = ap.parse_args()
    bad = [d for d in args.size if d in scaling.DS or d < 2]
    if bad:
        ap.error(f"--size {bad[0]}: must be a d >= 2 outside the chapter's grid {scaling.DS}")
    if args.device not in ("cpu", "cuda"):
        ap.error(f"--device {args.device!r}: must be cpu or cuda")
    os.chdir(ROOT)
    os.makedirs(scaling.CACHE_DIR, exist_ok=True)
    cells = scaling.cells(args.size)
    plan = [(n, c) for n, c in cells if args.only is None or n in args.only]
    if args.only and len(plan) != len(args.only):
        known = ", ".join(n for n, _ in cells)
        sys.exit(f"error: --only {args.only} names an unknown file; known: {known}")
    todo = [(n, c) for n, c in plan if args.only or not os.path.exists(scaling.path(n))]
    total = sum(len(c) * c[0].steps for _, c in todo)
    for n, c in plan:
        state = "to train" if (n, c) in todo else "cached"
        print(f"{n:14} {len(c):3} runs x {c[0].steps:6} steps  {state}", flush=True)
    if args.dry_run:
        print(f"{total} run-steps to train")
        return
    from tqdm import tqdm

    start = time.time()
    with tqdm(total=total, unit="run-step", desc="scaling sweeps", file=sys.stderr) as bar:
        for n, c in todo:
            bar.set_postfix_str(n)
            cell = scaling.run_cell(n, c, workers=args.workers, device=args.device)
            scaling.save_cell(scaling.path(n), cell)
            bar.update(len(c) * c[0].steps)
            tqdm.write(
                f"{n}: {len(c)} runs in {cell['seconds']:.0f} s "
                f"({time.time() - start:.0f} s so far)",
                file=sys.stderr,
            )
    if args.only is None and not args.size:
        save_floors()
    print(f"done in {time.time() - start:.0f} s", flush=True)


def save_floors():
    """One loss floor per (scaling, c, d, rho), from seed 0's config, over two processes (one
    config per task, through imbacl.sweep.run_each); floors already in the file are kept, so a
    new cell adds only its own."""
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing as mp

    keys, configs = [], []
    for name, cell in scaling.cells():
        for c in cell:
            key = (name, scaling.ratio(c))
            if c.seed == 0 and key not in keys:
                keys.append(key)
                configs.append(c)
    have, seconds = {}, 0.0
    if os.path.exists(FLOOR_FILE):
        f = io.load_record(FLOOR_FILE)
        have = {
            (str(n), scaling.ratio(c)): (c, float(v))
            for n, c, v in zip(f["name"], f["configs"], f["floor"])
        }
        seconds = float(f["seconds"])
    todo = [k for k, c in zip(keys, configs) if k not in have or have[k][0] != c]
    if not todo:
        return
    start = time.time()
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as ex:
        values = sweep.run_each(
            scaling.floors, [configs[keys.index(k)] for k in todo], executor=ex, max_batch=1
        )
    have.update({k: (configs[keys.index(k)], float(v)) for k, v in zip(todo, values)})
    io.save_record(
        FLOOR_FILE,
        configs,
        floor=np.asarray([have[k][1] for k in keys]),
        name=np.asarray([k[0] for k in keys]),
        seconds=np.asarray(seconds + time.time() - start),
    )
    print(f"loss floors: {len(todo)} new in {time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
