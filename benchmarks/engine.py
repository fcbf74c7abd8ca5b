"""Throughput of the batched engine against a plain one-run-at-a-time autograd loop.

    python benchmarks/engine.py [--steps 200] [--threads 2]

Prints steps x runs per second for the figure1 preset at R = 1, 8, 64 runs (engine) and for a
straightforward PyTorch loop (one run, autograd, fresh data every step), plus the ratio.
"""
import argparse
import math
import time

import torch

import imbacl
from imbacl import preset


def plain_loop(cfg, steps):
    """The code a researcher would write first: one run, autograd, torch.optim-free SGD."""
    g = torch.Generator().manual_seed(cfg.seed)
    M = torch.linalg.qr(torch.randn(cfg.d1, cfg.d1, generator=g))[0]
    W = (cfg.init_std * torch.randn(cfg.m, cfg.d1, generator=g)).requires_grad_(True)
    eps = torch.tensor(cfg.freqs)
    for _ in range(steps):
        u = torch.rand(cfg.batch, cfg.seq_len, cfg.d, generator=g)
        z = (u < eps / 2).float() - ((u >= eps / 2) & (u < eps)).float()
        X = z @ M[:, :cfg.d].T + cfg.sigma * torch.randn(cfg.batch, cfg.seq_len, cfg.d1, generator=g)
        D = (torch.rand(X.shape, generator=g) < 0.5).float()
        views = []
        for V in (2 * D * X, 2 * (1 - D) * X):
            att = torch.softmax(V @ V.transpose(1, 2) / math.sqrt(cfg.d1), -1) @ V
            b = (cfg.bias_scale * cfg.sigma * math.sqrt(math.log(cfg.d)) * W.norm(dim=1)).detach()
            s = att @ W.T
            views.append((torch.relu(s - b) - torch.relu(-s - b)).sum(1))
        logits = views[0] @ views[1].detach().T / cfg.tau
        loss = torch.nn.functional.cross_entropy(logits, torch.arange(cfg.batch))
        loss = loss + 0.5 * cfg.lam * (W ** 2).sum()
        W.grad = None
        loss.backward()
        with torch.no_grad():
            W -= cfg.lr * W.grad
    return W


def rate(fn, runs, steps):
    fn()                                   # warm-up
    t = time.perf_counter()
    fn()
    return runs * steps / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", default="1,8,64")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = preset("figure1", steps=args.steps)
    plain = rate(lambda: plain_loop(cfg, args.steps), 1, args.steps)
    print(f"figure1 preset, {args.steps} steps, {args.threads} threads, torch {torch.__version__}")
    print(f"{'R':>5} {'engine steps*runs/s':>20} {'plain loop steps/s':>19} {'ratio':>7}")
    for R in (int(r) for r in args.runs.split(",")):
        cfgs = [cfg.replace(seed=s) for s in range(R)]
        eng = rate(lambda: imbacl.train(cfgs, n_snapshots=20, threads=args.threads), R, args.steps)
        print(f"{R:>5} {eng:>20.0f} {plain:>19.0f} {eng / plain:>7.1f}")


if __name__ == "__main__":
    main()
