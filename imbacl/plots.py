"""Figures. Every function returns a matplotlib Figure; chapters and widgets only call these."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from . import metrics

MAJ, MIN, NOISE = "tab:blue", "tab:orange", "0.6"


def figure1(P: np.ndarray, d: int, n_majority: int, n_neurons: int = 13, ax=None, title=None):
    """Figure 1 of the paper: squared cosines cos^2_ij of the first ``n_neurons`` neurons
    (rows) on the d atoms (columns); majority columns first, a line marks the split."""
    c = metrics.cos2(P, d)[:n_neurons]
    fig, ax = _axes(ax, (0.45 * d + 1.6, 0.3 * len(c) + 1.2))
    im = ax.imshow(c, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.axvline(n_majority - 0.5, color="w", lw=2)
    ax.set_xticks(range(d), [str(j + 1) for j in range(d)])
    ax.set_yticks(range(len(c)), [str(i + 1) for i in range(len(c))])
    ax.set_xlabel(r"atom $j$ (majority | minority)")
    ax.set_ylabel(r"neuron $i$")
    ax.set_title(title or r"$\cos^2(w_i, M_j)$")
    fig.colorbar(im, ax=ax, fraction=0.05)
    return fig


def trajectories(history, run: int = 0, neuron=None, ax=None):
    """|<w_i, M_j>| against step on log axes for one run: majority features (blue), minority
    (orange), and the largest non-feature direction (grey). ``neuron=None`` draws every
    neuron's projection on its final dominant feature."""
    c = history.configs[run]
    P = np.abs(history.P[run])                          # (S, m, d1)
    steps = np.maximum(history.steps, 1)
    fig, ax = _axes(ax, (6, 3.6))
    if neuron is None:
        top = metrics.dominant_feature(history.P[run, -1], c.d)
        for i, j in enumerate(top):
            ax.plot(steps, P[:, i, j], color=MAJ if j < c.n_majority else MIN, lw=1, alpha=0.7)
        ax.plot(steps, P[:, :, c.d:].max(-1).mean(-1), color=NOISE, lw=2, ls="--")
        ax.set_title("each neuron's dominant feature (blue: majority, orange: minority)")
    else:
        for j in range(c.d):
            ax.plot(steps, P[:, neuron, j], color=MAJ if j < c.n_majority else MIN, lw=1.2)
        ax.plot(steps, P[:, neuron, c.d:].max(-1), color=NOISE, lw=2, ls="--")
        ax.set_title(f"neuron {neuron + 1}: every feature (grey dashed: largest noise direction)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step $t$ (step 0 drawn at 1)")
    ax.set_ylabel(r"$|\langle w_i^{(t)}, M_j\rangle|$")
    return fig


def loss_curve(history, ax=None, smooth: int = 50):
    """The InfoNCE loss of each run against step (moving average over ``smooth`` steps)."""
    fig, ax = _axes(ax, (6, 3.2))
    kernel = np.ones(smooth) / smooth
    for r in range(len(history)):
        y = np.convolve(history.loss[r], kernel, mode="valid")
        ax.plot(np.arange(len(y)) + smooth // 2, y, lw=1, alpha=0.8)
    ax.axhline(np.log(history.configs[0].batch), color="k", ls=":", lw=1, label=r"$\log K$")
    ax.set_xlabel("step $t$")
    ax.set_ylabel(r"$\hat L_{aug}$ (moving average)")
    ax.legend()
    return fig


def sweep_curve(x, values, ax=None, label=None, color=None, xlabel="", ylabel="", logx=False):
    """Mean over seeds with a band of +-1 standard deviation. values: (len(x), n_seeds)."""
    fig, ax = _axes(ax, (5, 3.4))
    v = np.asarray(values, dtype=float)
    mean, sd = np.nanmean(v, axis=1), np.nanstd(v, axis=1)
    ax.plot(x, mean, "o-", label=label, color=color)
    ax.fill_between(x, mean - sd, mean + sd, alpha=0.25, color=ax.lines[-1].get_color())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logx:
        ax.set_xscale("log")
    if label:
        ax.legend()
    return fig


def _axes(ax, size):
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    return fig, ax
