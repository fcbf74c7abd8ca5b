"""Where a training step's time goes, by kind of work.

    python benchmarks/breakdown.py [--runs 32] [--steps 200] [--json PATH]
                                   [--preset figure1] [--shape d=64,m=600,d1=256]

Trains R runs of the figure1 preset (or ``--preset`` with the ``--shape`` fields, as
engine.py takes them) with imbacl.train, on the default path and with
``compile=True``, once timed and once under torch.profiler, and splits the timed wall time
per run-step in proportion to the operators' own CPU time in the profiled run:

- random draws: the runs' generators (torch's uniform, normal and random-integer kernels, and
  with ``compile=True`` their C copy, imbacl.fast.draw_like_torch, which the profiler sees
  because this script labels its calls while profiling);
- matrix products: bmm and mm (MKL or oneDNN);
- other kernels: every other operator, and inductor's fused kernels with ``compile=True``
  (also given alone as ``inductor_kernels`` in the JSON rows);
- framework: the profiler's own regions (compiled-graph calls, guards) and the wall time no
  operator accounts for (Python, dispatch), which the profiler itself inflates somewhat.

One thread, as in engine.py's "processes x 1 thread" rows: CPU time and wall time are then the
same thing, and every draw is made in the profiled thread (with more threads, the generators
run on a thread pool the profiler does not see). It tells which part a faster engine would have
to cut. The JSON rows also list each kind's operators, largest first. Inductor is asked to name
its kernels in the profile (``cpp.enable_kernel_profile``) for the timed runs too, so the
compiled rows time that build; ``compile=True`` needs a C++ compiler. Run it as a script: it
imports ``timed`` from engine.py beside it.
"""

import argparse
import contextlib
import json
import sys
import time
import warnings

import torch

import imbacl
import imbacl.fast
from engine import bench_config, timed  # benchmarks/engine.py (run this file as a script)

RANDOM = (
    "aten::normal_",
    "aten::uniform_",
    "aten::random_",
    "aten::randn",
    "aten::rand",
    "aten::randint",
    "imbacl::draw_like_torch",
)
MATMUL = ("aten::bmm", "aten::mm", "aten::matmul", "aten::addmm", "aten::baddbmm")
KINDS = ("random draws", "matrix products", "other kernels", "framework")


def kind(name: str) -> str:
    if name in RANDOM:
        return "random draws"
    if name in MATMUL:
        return "matrix products"
    if name.startswith("aten::") or "cpp_fused" in name:
        return "other kernels"
    return "framework"


@contextlib.contextmanager
def c_draws_labelled():
    """The C draws (a ctypes call, which the profiler does not see) as a profiled region; its
    own time then includes the generator's get_state and set_state, which belong to the draws."""
    draw = imbacl.fast.draw_like_torch

    def labelled(*args):
        with torch.profiler.record_function("imbacl::draw_like_torch"):
            return draw(*args)

    imbacl.fast.draw_like_torch = labelled
    try:
        yield
    finally:
        imbacl.fast.draw_like_torch = draw


def profile(train):
    """Own CPU time (s) per kind in one profiled call of ``train``; framework also gets the call's
    wall time that no operator accounts for."""
    from torch.profiler import profile as torch_profile

    with torch_profile() as prof, c_draws_labelled():
        t = time.perf_counter()
        train()
        wall = time.perf_counter() - t
    seconds, fused, names = dict.fromkeys(KINDS, 0.0), 0.0, {k: [] for k in KINDS}
    for event in sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total):
        seconds[kind(event.key)] += event.self_cpu_time_total / 1e6
        names[kind(event.key)].append(event.key)
        fused += event.self_cpu_time_total / 1e6 if "cpp_fused" in event.key else 0.0
    seconds["framework"] += max(0.0, wall - sum(seconds.values()))
    return seconds, fused, names


def breakdown(base, R, steps, compile):
    cfgs = [base.replace(steps=steps, seed=s) for s in range(R)]

    def train():
        imbacl.train(cfgs, n_snapshots=2, threads=1, compile=compile)

    wall = timed(train)  # best of 3 after a warm-up (which compiles)
    seconds, fused, names = profile(train)
    # the profiler slows the call down: split the unprofiled wall time in its proportions
    scale = wall / sum(seconds.values()) / (R * steps) * 1e6
    return dict(
        how="compile=True" if compile else "default",
        R=R,
        rate=R * steps / wall,
        us=wall / (R * steps) * 1e6,
        **{k: seconds[k] * scale for k in KINDS},
        inductor_kernels=fused * scale,
        operators=names,
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=32)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--json", help="also write the rows to this JSON file")
    ap.add_argument("--preset", default="figure1", help="the preset every row trains")
    ap.add_argument("--shape", default="", help="its fields overridden, e.g. d=64,m=600,d1=256")
    args = ap.parse_args()
    base = bench_config(args)
    import torch._inductor.config as inductor_config

    inductor_config.cpp.enable_kernel_profile = True  # name inductor's kernels in the profile
    warnings.filterwarnings("ignore", category=FutureWarning, module="torch")  # inductor's own
    print(
        f"{args.preset} preset{' with ' + args.shape if args.shape else ''}, "
        f"R = {args.runs} runs, {args.steps} steps, 1 thread, "
        f"torch {torch.__version__}; microseconds per run-step (share of the step)"
    )
    print(
        f"{'path':>13} {'run-steps/s':>12} {'us/run-step':>12} "
        + " ".join(f"{k:>17}" for k in KINDS)
    )
    rows = []
    for compile in (False, True):
        r = breakdown(base, args.runs, args.steps, compile)
        rows.append(r)
        print(
            f"{r['how']:>13} {r['rate']:>12.0f} {r['us']:>12.1f} "
            + " ".join(f"{r[k]:>9.1f} ({100 * r[k] / r['us']:>3.0f}%)" for k in KINDS)
        )
    if args.json:
        json.dump(rows, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    sys.exit(main())
