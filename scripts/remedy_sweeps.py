"""Train every cached sweep of chapter 9 (remedies) that is not in results/ yet.

    python scripts/remedy_sweeps.py            # resumable: a file already saved is skipped
    python scripts/remedy_sweeps.py --dry-run  # the commands and their estimated cost

Each file is written by exactly the command printed before it (imbacl.cli.sweep_command of
imbacl.remedies.cache_plan), run one after another from the repository root, so that the
chapter's printed commands and this script cannot disagree. Then the linear probes of the runs
imbacl.remedies.to_probe selects are cached in imbacl.remedies.PROBE_FILE (two processes), and
those of every run of the width-limited sweep (imbacl.remedies.WIDTH_LIMITED, once it is written)
in imbacl.remedies.WIDTH_PROBES.
"""

import argparse
import os
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from imbacl import cli, remedies  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="print the commands and estimates only")
    args = ap.parse_args()
    plan = remedies.cache_plan()
    os.makedirs(os.path.join(ROOT, "results", "remedies"), exist_ok=True)
    start = time.time()
    for k, (path, base, axes, name) in enumerate(plan, 1):
        cmd = cli.sweep_command(base, axes, remedies.SEEDS, path, preset_name=name)
        done = os.path.exists(os.path.join(ROOT, path))
        print(f"[{k}/{len(plan)}] {'cached: ' if done else ''}{cmd}", flush=True)
        if done:
            continue
        argv = [sys.executable] + shlex.split(cmd)[1:]
        if args.dry_run:
            argv = [a for a in argv if a != "--save" and a != path] + ["--dry-run"]
        else:
            argv = argv + ["--progress"]
        out = subprocess.run(
            argv, cwd=ROOT, stdout=subprocess.DEVNULL if not args.dry_run else None
        )
        if out.returncode:
            sys.exit(f"error: [{k}/{len(plan)}] exited with {out.returncode}: {cmd}")
        print(f"    {time.time() - start:.0f} s so far", flush=True)
    if args.dry_run:
        return
    from imbacl import io

    probe_file = os.path.join(ROOT, remedies.PROBE_FILE)
    if not os.path.exists(probe_file):
        configs, P = [], []
        for path, *_ in plan:
            final = io.load_final(os.path.join(ROOT, path))
            for i in remedies.to_probe(final):
                configs.append(final.configs[i])
                P.append(final.P[i])
        _probe(probe_file, configs, P, start)
    # every run of the width-limited sweep (written by the command chapter 9 prints)
    wl, wl_probes = (os.path.join(ROOT, p) for p in (remedies.WIDTH_LIMITED, remedies.WIDTH_PROBES))
    if os.path.exists(wl) and not os.path.exists(wl_probes):
        final = io.load_final(wl)
        _probe(wl_probes, final.configs, final.P, start)


def _probe(path, configs, P, start):
    print(
        f"probing {len(configs)} runs ({remedies.PROBE_N} + {remedies.PROBE_N} sequences each)",
        flush=True,
    )
    remedies.save_probes(path, configs, remedies.probe_runs(configs, P, workers=2))
    print(
        f"    {time.time() - start:.0f} s so far; wrote {os.path.relpath(path, ROOT)}", flush=True
    )


if __name__ == "__main__":
    main()
