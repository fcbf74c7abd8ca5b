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
    """``|<w_i, M_j>|`` against step on log axes for one run: majority features (blue), minority
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


# -- the data model and the architecture (chapters 1 and 2) ------------------------------------
def dictionary(M, d: int, ax=None):
    """The dictionary M as an image: columns are atoms; the first d are features."""
    fig, ax = _axes(ax, (6, 3.2))
    M = np.asarray(M)
    v = np.abs(M).max()
    im = ax.imshow(M, cmap="RdBu_r", vmin=-v, vmax=v, aspect="auto")
    ax.axvline(d - 0.5, color="k", lw=1.5)
    ax.set_xlabel(r"direction $j$ (features $M_1..M_d$ | non-features $M_j^\perp$)")
    ax.set_ylabel("coordinate")
    ax.set_title(r"dictionary $M$ (orthonormal columns)")
    fig.colorbar(im, ax=ax, fraction=0.04)
    return fig


def frequencies(nominal, empirical, n_majority: int, n_tokens: int, ax=None):
    """Nominal eps_j against the empirical share of tokens with z_j != 0, with 95% binomial bars."""
    fig, ax = _axes(ax, (6, 3.2))
    nominal, empirical = np.asarray(nominal), np.asarray(empirical)
    j = np.arange(1, len(nominal) + 1)
    colors = [MAJ if i < n_majority else MIN for i in range(len(nominal))]
    ax.bar(j, nominal, color=colors, alpha=0.35, label=r"nominal $\epsilon_j$")
    err = 1.96 * np.sqrt(nominal * (1 - nominal) / n_tokens)
    ax.errorbar(j, empirical, yerr=err, fmt="o", color="k", ms=4, label="empirical (95% bar)")
    ax.set_xticks(j)
    ax.set_xlabel(r"feature $j$ (blue: majority, orange: minority)")
    ax.set_ylabel(r"$P(z_j \neq 0)$")
    ax.legend()
    return fig


def energy(signal, noise, ax=None):
    """Histograms of per-token signal energy ||Mz||^2 and noise energy ||xi||^2."""
    fig, ax = _axes(ax, (6, 3.2))
    bins = np.linspace(0, max(np.max(signal), np.max(noise)), 40)
    ax.hist(signal, bins=bins, alpha=0.6, label=r"signal $\|Mz\|^2$")
    ax.hist(noise, bins=bins, alpha=0.6, label=r"noise $\|\xi\|^2$", color=NOISE)
    ax.set_xlabel("energy per token")
    ax.set_ylabel("tokens")
    ax.legend()
    return fig


def sequence_views(X, view1, view2, M, d: int):
    """One sequence and its two views, in the dictionary's basis (rows: tokens)."""
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.6), sharey=True, layout="constrained")
    M = np.asarray(M)
    v = max(np.abs(np.asarray(a) @ M).max() for a in (X, view1, view2))
    for ax, a, t in zip(axes, (X, view1, view2), ("$X$", r"$X^{+} = 2DX$", r"$X^{++} = 2(I-D)X$")):
        im = ax.imshow(np.asarray(a) @ M, cmap="RdBu_r", vmin=-v, vmax=v, aspect="auto")
        ax.axvline(d - 0.5, color="k", lw=1)
        ax.set_title(t + r" in coordinates $\langle x, M_j\rangle$")
        ax.set_xlabel("direction $j$")
    axes[0].set_ylabel("token $r$")
    fig.colorbar(im, ax=axes, fraction=0.03)
    return fig


def brelu(b: float = 1.0, ax=None):
    """The bilateral ReLU and its derivative for one bias b."""
    import torch
    from .model import brelu as f
    fig, ax = _axes(ax, (5, 3))
    s = torch.linspace(-3 * b, 3 * b, 601)
    ax.plot(s, f(s, torch.tensor(b)), label=r"BReLU$_b(s)$")
    ax.plot(s, (s.abs() > b).float(), ls="--", label=r"derivative $1[|s|>b]$")
    ax.axvspan(-b, b, color=NOISE, alpha=0.2, label="dead zone $[-b, b]$")
    ax.set_xlabel("$s$")
    ax.legend()
    return fig


def attention_map(weights, ax=None):
    """The attention weights softmax(<x_r, x_s>/sqrt(d1)) of one sequence."""
    fig, ax = _axes(ax, (3.6, 3))
    im = ax.imshow(np.asarray(weights), cmap="Greys", vmin=0, vmax=1)
    for (r, s), w in np.ndenumerate(np.asarray(weights)):
        ax.text(s, r, f"{w:.2f}", ha="center", va="center", color="tab:red", fontsize=8)
    ax.set_xlabel("key token $s$")
    ax.set_ylabel("query token $r$")
    fig.colorbar(im, ax=ax, fraction=0.05)
    return fig


def response_histograms(noise_resp, feature_resp, b, ax=None):
    """A neuron's pre-activations on noise-only and on feature-carrying tokens, and +-b."""
    fig, ax = _axes(ax, (6, 3.2))
    lim = np.abs(np.concatenate([noise_resp, feature_resp])).max()
    bins = np.linspace(-lim, lim, 60)
    ax.hist(noise_resp, bins=bins, alpha=0.6, color=NOISE, density=True, label="tokens without $M_j$")
    ax.hist(feature_resp, bins=bins, alpha=0.6, color=MAJ, density=True, label="tokens with $M_j$")
    for x in (-b, b):
        ax.axvline(x, color="k", ls="--")
    ax.set_xlabel(r"$\langle w_i, \mathrm{Attention}(x_r)\rangle$ (dashed: $\pm b_i$)")
    ax.set_ylabel("density")
    ax.legend()
    return fig
