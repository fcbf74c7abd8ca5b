"""Throughput, distance to the machine's limit, and memory of the batched engine.

    python benchmarks/engine.py [--steps 200] [--threads 2] [--runs 1,8,64,256] [--device cpu]
                                [--split 2] [--compile] [--preset figure1]
                                [--shape d=64,m=600,d1=256]
                                [--snapshots 200]

One table, all rows measured in this one run of the script:
- steps x runs per second of imbacl.train at R runs of the figure1 preset, next to a plain
  one-run-at-a-time PyTorch autograd loop of the same model (the code one would write first),
  run in a fresh process in turn with each row's timed runs, so that a drifting machine speed
  moves both sides of the ratio alike;
- GFLOP/s of the engine, FLOPs counted from the shapes (forward + backward, data and attention
  included), as a fraction of this machine's dense float32 matmul rate measured here too;
- peak resident memory per run, measured in a fresh subprocess per R;
- with ``--split P``: the same R runs as P worker processes of R/P runs and 1 thread each
  (imbacl.sweep.run with a process pool, started and warmed up before timing), which uses the
  cores better than torch's intra-op threads on these small tensors and gives bitwise the same
  histories;
- with ``--preset`` / ``--shape``: another preset, or its fields overridden (the large shapes of
  the scaling issue, e.g. ``--preset theory --shape d=64,m=600,d1=256``), for every row;
- with ``--snapshots N``: each run records about N snapshots (default 200: every step of a
  30-step run, about half of a 200-step one). A snapshot is one more (m, d1) x (d1, d1) product
  per run, uncounted in the FLOPs, as large
  as a training product at large shapes; the scaling chapter's runs record <= 20, so its large-shape
  rows are measured with ``--steps 300 --snapshots 20``;
- the step's matrix products alone (the shapes of one step, timed in isolation): the rate the engine
  would reach if every other kernel took no time, its ceiling on this machine;
- with ``--compile``: every row again with ``imbacl.train(..., compile=True)``, which makes each
  step one torch.compile'd function, with its compile time (the first call, which compiles with
  a cold inductor cache, less a timed call) and how far its final weights are from the default
  path's.
"""

import argparse
import json
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

if "--compile" in sys.argv and "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
    # Cold compiles: a fresh inductor cache (its precompiled headers too), removed at exit.
    # Set before torch is imported, which is when inductor reads it.
    _CACHE = tempfile.TemporaryDirectory()
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = _CACHE.name

import numpy as np
import torch

import imbacl
from imbacl import preset


def plain_loop(cfg, steps):
    """The code a researcher would write first: one run, autograd, plain SGD."""
    g = torch.Generator().manual_seed(cfg.seed)
    M = torch.linalg.qr(torch.randn(cfg.d1, cfg.d1, generator=g))[0]
    W = (cfg.init_std * torch.randn(cfg.m, cfg.d1, generator=g)).requires_grad_(True)
    eps = torch.tensor(cfg.freqs)
    for _ in range(steps):
        u = torch.rand(cfg.batch, cfg.seq_len, cfg.d, generator=g)
        z = (u < eps / 2).float() - ((u >= eps / 2) & (u < eps)).float()
        X = z @ M[:, : cfg.d].T + cfg.sigma * torch.randn(
            cfg.batch, cfg.seq_len, cfg.d1, generator=g
        )
        D = (torch.rand(X.shape, generator=g) < 0.5).float()
        views = []
        for V in (2 * D * X, 2 * (1 - D) * X):
            att = torch.softmax(V @ V.transpose(1, 2) / math.sqrt(cfg.d1), -1) @ V
            b = (cfg.bias_scale * cfg.sigma * math.sqrt(math.log(cfg.d)) * W.norm(dim=1)).detach()
            s = att @ W.T
            views.append((torch.relu(s - b) - torch.relu(-s - b)).sum(1))
        logits = views[0] @ views[1].detach().T / cfg.tau
        loss = torch.nn.functional.cross_entropy(logits, torch.arange(cfg.batch))
        loss = loss + 0.5 * cfg.lam * (W**2).sum()
        W.grad = None
        loss.backward()
        with torch.no_grad():
            W -= cfg.lr * W.grad
    return W


def flops_per_run_step(c):
    """Multiply-adds x 2 of one training step of one run, from the shapes."""
    K, L, d, d1, m = c.batch, c.seq_len, c.d, c.d1, c.m
    data = 2 * K * L * d * d1  # z @ M^T
    attention = 2 * (2 * K * L * L * d1) * 2  # scores and weighted sum, two views
    forward = 2 * (2 * K * L * d1 * m) + 2 * K * K * m  # pre-activations of two views, logits
    backward = 2 * K * K * m + 2 * K * L * m * d1  # d loss / d f1, then d loss / d W
    return data + attention + forward + backward


def products_seconds(c, R, reps=20):
    """Seconds per run-step of one step's matrix products alone, at the engine's shapes: data
    (z M^T), attention (scores, weighted sums), both views' pre-activations, logits, d loss / d f1
    and d loss / d W, in the step's order, into outputs allocated once (best of 3 batches of
    ``reps`` steps)."""
    K, L, d, d1, m = c.batch, c.seq_len, c.d, c.d1, c.m
    z, M = torch.randn(R, K * L, d), torch.randn(R, d, d1)
    X, W = torch.randn(R * K, L, d1), torch.randn(R, m, d1)
    A, f, G = torch.randn(R, K * L, d1), torch.randn(R, K, m), torch.randn(R, K * L, m)
    out = dict(
        X=torch.empty(R, K * L, d1),
        S=torch.empty(R * K, L, L),
        V=torch.empty(R * K, L, d1),
        H=torch.empty(R, K * L, m),
        P=torch.empty(R, K, K),
        g=torch.empty(R, K, m),
        W=torch.empty(R, m, d1),
    )

    def step():
        for _ in range(2):  # two views
            torch.bmm(z, M, out=out["X"])
            torch.bmm(torch.bmm(X, X.transpose(1, 2), out=out["S"]), X, out=out["V"])
            torch.bmm(A, W.transpose(1, 2), out=out["H"])
        torch.bmm(torch.bmm(f, f.transpose(1, 2), out=out["P"]), f, out=out["g"])
        torch.bmm(G.transpose(1, 2), A, out=out["W"])

    return timed(lambda: [step() for _ in range(reps)]) / (reps * R)


def matmul_rate(threads, n=1024, reps=20):
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t)


def timed(fn, repeats=3, beside=None, warm_up=True):
    """Best of ``repeats`` timed calls after a warm-up: a shared machine only ever slows a run
    down, so the minimum is the least disturbed measurement. ``beside``, a function that returns
    seconds it measured itself, is called in turn with fn (so that a ratio of the two is not
    moved by the machine speeding up or slowing down); then the best of both is returned.
    ``warm_up=False`` when the caller has just made a call of its own."""
    if warm_up:
        fn()  # allocations, thread pool
    best, other = float("inf"), float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
        if beside is not None:
            other = min(other, beside())
    return best if beside is None else (best, other)


def row(R, steps, dt, plain, flops, peak, **extra):
    """One table row: R runs of ``steps`` steps in ``dt`` seconds beside a plain rate."""
    rate = R * steps / dt
    return dict(
        R=R,
        rate=rate,
        plain=plain,
        ratio=rate / plain,
        gflops=rate * flops / 1e9,
        fraction=rate * flops / peak,
        **extra,
    )


def bench_config(args):
    """The config every row trains: ``--preset`` with ``--steps`` and the ``--shape`` fields."""
    from imbacl.config import parse_value

    shape = dict(kv.split("=", 1) for kv in args.shape.split(",")) if args.shape else {}
    return preset(args.preset, steps=args.steps, **{k: parse_value(k, v) for k, v in shape.items()})


def plain_in_fresh_process(args):
    """Seconds of the plain loop, best of 3, in a fresh process, as a researcher's own script would
    run it (not after the engine's large runs in this one)."""
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--plain-only",
            "--steps",
            str(args.steps),
            "--threads",
            str(args.threads),
            "--preset",
            args.preset,
            "--shape",
            args.shape,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return args.steps / float(out.stdout.strip().splitlines()[-1])


def peak_rss_mb(cfg, R, steps, threads, snapshots):
    """Peak resident memory of a fresh process training R runs of ``cfg`` (and of one doing
    nothing)."""
    code = (
        f"import imbacl, resource; cfg = imbacl.Config(**{cfg.to_dict()!r}).replace(steps={steps});"
        f"R = {R}; h = imbacl.train([cfg.replace(seed=s) for s in range(R)], "
        f"n_snapshots={snapshots}, threads={threads}) if R else None;"
        f"print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", default="1,8,64,256")
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--split",
        type=int,
        default=0,
        help="also time R runs as this many 1-thread worker processes",
    )
    ap.add_argument(
        "--compile",
        action="store_true",
        help="also time every row with imbacl.train(..., compile=True)",
    )
    ap.add_argument("--json", help="also write the rows to this JSON file")
    ap.add_argument("--preset", default="figure1", help="the preset every row trains")
    ap.add_argument("--shape", default="", help="its fields overridden, e.g. d=64,m=600,d1=256")
    ap.add_argument(
        "--snapshots", type=int, default=200, help="snapshots each run records (default 200)"
    )
    ap.add_argument("--plain-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = bench_config(args)

    if args.plain_only:
        print(args.steps / timed(lambda: plain_loop(cfg, args.steps)))
        return
    if args.compile:
        import warnings

        warnings.filterwarnings("ignore", category=FutureWarning, module="torch")  # inductor's own

    plain = args.steps / plain_in_fresh_process(args)
    peak = matmul_rate(args.threads)
    flops = flops_per_run_step(cfg)
    base_mb = (
        peak_rss_mb(cfg, 0, args.steps, args.threads, args.snapshots)
        if args.device == "cpu"
        else float("nan")
    )
    print(
        f"{args.preset} preset{' with ' + args.shape if args.shape else ''} "
        f"({cfg.m} neurons, d={cfg.d}, "
        f"d1={cfg.d1}, K={cfg.batch}, L={cfg.seq_len}), "
        f"{args.steps} steps, {args.threads} threads, torch {torch.__version__}, "
        f"device {args.device}"
    )
    print(
        f"plain autograd loop: {plain:.0f} steps/s;  dense fp32 matmul: {peak / 1e9:.1f} GFLOP/s;  "
        f"{flops / 1e6:.2f} MFLOP per run-step; {args.snapshots} snapshots asked per run"
    )
    ceiling = {R: flops / products_seconds(cfg, R) for R in (int(r) for r in args.runs.split(","))}
    print(
        "the step's matrix products alone (every other kernel free): "
        + ", ".join(
            f"R = {R}: {c / 1e9:.1f} GFLOP/s, {100 * c / peak:.1f}% of matmul"
            for R, c in ceiling.items()
        )
    )
    print(
        "every row's 'x plain' divides by the plain loop run in turn with that row ('plain'); "
        "compile s: the first call (which compiles) less a timed one; drift: max |W - W_default| / "
        f"max |W_default| after {args.steps} steps"
    )
    print(
        f"{'R':>5} {'how':>32} {'run-steps/s':>12} {'plain':>6} {'x plain':>8} {'GFLOP/s':>8} "
        f"{'% of matmul':>12} {'peak MB/run':>12} {'compile s':>9} {'drift':>8}"
    )
    rows = []
    for R in (int(r) for r in args.runs.split(",")):
        cfgs = [cfg.replace(seed=s) for s in range(R)]

        def train(n=args.snapshots, compile=False):
            return imbacl.train(
                cfgs, n_snapshots=n, threads=args.threads, device=args.device, compile=compile
            )

        rows.append(measure(args, R, train, "engine", flops, peak))
        rows[-1]["mb_per_run"] = (
            (peak_rss_mb(cfg, R, args.steps, args.threads, args.snapshots) - base_mb) / R
            if args.device == "cpu"
            else float("nan")
        )
        report(rows[-1])
        if args.compile:
            rows.append(report(measure(args, R, train, "engine", flops, peak, compile=rows[-1])))
    if args.split:
        rows += split_rows(args, cfg, peak, flops)
    for r in rows:
        r.pop("W", None)
    if args.json:
        json.dump(
            dict(
                plain=plain,
                matmul=peak,
                flops=flops,
                snapshots=args.snapshots,
                products_alone=ceiling,
                rows=rows,
            ),
            open(args.json, "w"),
            indent=1,
        )


def measure(args, R, train, how, flops, peak, compile=None):
    """One row: a first call (the warm-up; with compile=True it compiles), then the best of 3
    timed calls with the plain loop run in turn. ``compile``: the default row to compare with."""
    fn = train if compile is None else lambda n=args.snapshots: train(n, compile=True)
    t = time.perf_counter()
    W = fn(n=2).W
    first = time.perf_counter() - t
    dt, dp = timed(fn, beside=lambda: plain_in_fresh_process(args), warm_up=False)
    r = row(
        R,
        args.steps,
        dt,
        args.steps / dp,
        flops,
        peak,
        W=W,
        how=how + ("" if compile is None else ", compile=True"),
    )
    if compile is not None:
        r["compile_s"] = first - dt
        r["drift"] = float(abs(W - compile["W"]).max() / abs(compile["W"]).max())
    return r


def report(r):
    mb = f"{r['mb_per_run']:.2f}" if "mb_per_run" in r else ""
    drift = f"{r['drift']:.1e}" if "drift" in r else ""
    comp = f"{r['compile_s']:.1f}" if "compile_s" in r else ""
    print(
        f"{r['R']:>5} {r['how']:>32} {r['rate']:>12.0f} {r['plain']:>6.0f} {r['ratio']:>8.1f} "
        f"{r['gflops']:>8.2f} {100 * r['fraction']:>11.1f}% {mb:>12} {comp:>9} "
        f"{drift:>8}"
    )
    return r


def split_rows(args, cfg, peak, flops):
    from concurrent.futures import ProcessPoolExecutor
    from imbacl import sweep

    P = args.split
    rows = []
    # spawn, not fork: a process forked after this one has compiled (--compile) can hang
    with ProcessPoolExecutor(P, mp_context=multiprocessing.get_context("spawn")) as pool:
        sweep.run(
            [cfg.replace(steps=10, seed=s) for s in range(P)], executor=pool, max_batch=1, threads=1
        )  # start and warm the workers
        for R in (int(r) for r in args.runs.split(",")):
            if R < P:
                continue
            cfgs = [cfg.replace(seed=s) for s in range(R)]

            def train(n=args.snapshots, compile=False):
                result = sweep.run(
                    cfgs,
                    executor=pool,
                    max_batch=-(-R // P),
                    threads=1,
                    n_snapshots=n,
                    compile=compile,
                )
                return SimpleNamespace(W=np.concatenate([h.W for h in result.histories]))

            how = f"{P} processes x 1 thread"
            rows.append(report(measure(args, R, train, how, flops, peak)))
            if args.compile:
                rows.append(report(measure(args, R, train, how, flops, peak, compile=rows[-1])))
    return rows


if __name__ == "__main__":
    main()
