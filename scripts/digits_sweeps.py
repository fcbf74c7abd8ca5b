"""Train and measure every cached sweep of chapter 12 (the long-tailed digits).

    python scripts/digits_sweeps.py          # resumable: a file already saved is skipped
    python scripts/digits_sweeps.py --force  # rewrite every file

Writes imbacl.digits.FILES under results/digits/: the dictionary atoms (the features of real
data), the sweep over the minority fraction f (with the early snapshots of Stage 1 and the
balanced probes and the norms along atoms and class means), the weight-decay sweep at f = 1
(the null control) and f = 0.3 and the remedy arms at f = 0.03. One
trainer thread (IMBACL_THREADS is ignored here), so the files do not depend on the machine's
cores; every file records this command and the seconds it took.
"""

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from imbacl import digits, io  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true", help="rewrite files that exist")
    args = ap.parse_args()
    os.makedirs(os.path.join(ROOT, "results", "digits"), exist_ok=True)
    path = {k: os.path.join(ROOT, v) for k, v in digits.FILES.items()}
    start = time.process_time()
    if args.force or not os.path.exists(path["atoms"]):
        t0 = time.process_time()
        atoms = digits.learn_atoms()
        digits.save(path["atoms"], [], {"atoms": atoms}, time.process_time() - t0)
        print(f"atoms: {time.process_time() - t0:.0f} s CPU", flush=True)
    atoms = io.load_record(path["atoms"])["atoms"]
    for name, configs in digits.plan().items():
        if os.path.exists(path[name]) and not args.force:
            print(f"{name}: cached", flush=True)
            continue
        t0 = time.process_time()
        arrays = digits.run_sweep(name, configs, atoms, threads=1)
        digits.save(path[name], configs, arrays, time.process_time() - t0)
        print(f"{name}: {len(configs)} runs, {time.process_time() - t0:.0f} s CPU", flush=True)
    print(f"total {time.process_time() - start:.0f} s CPU", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
