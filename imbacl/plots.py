"""Figures. Every function returns a matplotlib Figure; chapters and widgets only call these."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Iterable, Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
from numpy.typing import ArrayLike

from . import metrics, model, theory

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import ColorType

    from .history import History

MAJ, MIN, NOISE = "tab:blue", "tab:orange", "0.6"


def figure1(
    P: np.ndarray,
    d: int,
    n_majority: int,
    n_neurons: int = 13,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Figure 1 of the paper: squared cosines cos^2_ij of the first ``n_neurons`` neurons
    (rows) on the d atoms (columns); majority columns first, a line marks the split."""
    c = metrics.cos2(P, d)[:n_neurons]
    fig, ax = _axes(ax, (0.45 * d + 1.6, 0.3 * len(c) + 1.2))
    im = ax.imshow(c, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.axvline(n_majority - 0.5, color="w", lw=2)
    ticks = range(d) if d <= 16 else range(0, d, d // 8)  # at most 16 labels
    ax.set_xticks(ticks, [str(j + 1) for j in ticks])
    ax.set_yticks(range(len(c)), [str(i + 1) for i in range(len(c))])
    ax.set_xlabel(r"atom $j$ (majority | minority)")
    ax.set_ylabel(r"neuron $i$")
    ax.set_title(title or r"$\cos^2(w_i, M_j)$")
    fig.colorbar(im, ax=ax, fraction=0.05)
    return fig


def trajectories(
    history: History, run: int = 0, neuron: int | None = None, ax: Axes | None = None
) -> Figure:
    """``|<w_i, M_j>|`` against step on log axes for one run: majority features (blue), minority
    (orange), and the largest non-feature direction (grey). ``neuron=None`` draws every
    neuron's projection on its final dominant feature."""
    c = history.configs[run]
    P = np.abs(history.P[run])  # (S, m, d1)
    steps = np.maximum(history.steps, 1)
    fig, ax = _axes(ax, (6, 3.6))
    if neuron is None:
        top = metrics.dominant_feature(history.P[run, -1], c.d)
        for i, j in enumerate(top):
            ax.plot(steps, P[:, i, j], color=MAJ if j < c.n_majority else MIN, lw=1, alpha=0.7)
        ax.plot(steps, P[:, :, c.d :].max(-1).mean(-1), color=NOISE, lw=2, ls="--")
        ax.set_title("each neuron's dominant feature (blue: majority, orange: minority)")
    else:
        for j in range(c.d):
            ax.plot(steps, P[:, neuron, j], color=MAJ if j < c.n_majority else MIN, lw=1.2)
        ax.plot(steps, P[:, neuron, c.d :].max(-1), color=NOISE, lw=2, ls="--")
        ax.set_title(f"neuron {neuron + 1}: every feature (grey dashed: largest noise direction)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step $t$ (step 0 drawn at 1)")
    ax.set_ylabel(r"$|\langle w_i^{(t)}, M_j\rangle|$")
    return fig


def loss_curve(history: History, ax: Axes | None = None, smooth: int = 50) -> Figure:
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


def sweep_curve(
    x: ArrayLike,
    values: ArrayLike,
    ax: Axes | None = None,
    label: str | None = None,
    color: ColorType | None = None,
    xlabel: str = "",
    ylabel: str = "",
    logx: bool = False,
) -> Figure:
    """Mean over seeds with a band of +-1 standard deviation. values: (len(x), n_seeds)."""
    fig, ax = _axes(ax, (5, 3.4))
    v = np.asarray(values, dtype=float)
    with warnings.catch_warnings():  # an x without any value (all NaN) is left out of the curve
        warnings.simplefilter("ignore", RuntimeWarning)
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


def run_overview(history: History, run: int = 0) -> dict:
    """The general explorer's two figures for one run: the Figure-1 heatmap of the final
    weights and every neuron's projection on its final dominant feature against step."""
    c = history.configs[run]
    heat = figure1(
        history.P[run, -1], c.d, c.n_majority, title=rf"$\cos^2(w_i, M_j)$ after {c.steps} steps"
    )
    traj = trajectories(
        history, run=run, ax=plt.subplots(figsize=(7.2, 3.6), layout="constrained")[1]
    )
    return {"heatmap": heat, "trajectories": traj}


def pure_vs_ratio(
    rho: ArrayLike, maj: ArrayLike, mino: ArrayLike, title: str | None = None
) -> Figure:
    """Pure neurons per majority and per minority feature against rho (chapter 6 and its
    explorer). maj, mino: (len(rho), n_seeds)."""
    fig = sweep_curve(rho, maj, label="majority features", color=MAJ)
    sweep_curve(
        rho,
        mino,
        ax=fig.axes[0],
        label="minority features",
        color=MIN,
        xlabel=r"$\rho = \epsilon_{min} / \epsilon_{max}$",
        ylabel="pure neurons per feature",
        logx=True,
    )
    fig.axes[0].set_title(title or f"mean ± sd over {np.shape(maj)[1]} seeds")
    return fig


def coverage_vs_width(
    ms: Sequence[int], shares: dict, level: float = 0.8, title: str | None = None
) -> Figure:
    """Share of seeds in which every minority feature has a pure neuron, against the number of
    neurons m (chapter 7 and its explorer). shares: label -> values of len(ms)."""
    fig, ax = _axes(None, (5, 3.4))
    for label, v in shares.items():
        ax.plot(ms, v, "o-", label=label)
    ax.axhline(level, color="k", ls=":", lw=1, label=f"{level:.0%} of seeds")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ms, [str(m) for m in ms])
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("neurons $m$")
    ax.set_ylabel("share of seeds, all minority covered")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig


def _axes(ax, size):
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    return fig, ax


# -- the data model and the architecture (chapters 1 and 2) ------------------------------------
def dictionary(M: ArrayLike, d: int, ax: Axes | None = None) -> Figure:
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


def frequencies(
    nominal: ArrayLike, empirical: ArrayLike, n_majority: int, n_tokens: int, ax: Axes | None = None
) -> Figure:
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


def energy(signal: ArrayLike, noise: ArrayLike, ax: Axes | None = None) -> Figure:
    """Histograms of per-token signal energy ||Mz||^2 and noise energy ||xi||^2."""
    fig, ax = _axes(ax, (6, 3.2))
    bins = np.linspace(0, max(np.max(signal), np.max(noise)), 40)
    ax.hist(signal, bins=bins, alpha=0.6, label=r"signal $\|Mz\|^2$")
    ax.hist(noise, bins=bins, alpha=0.6, label=r"noise $\|\xi\|^2$", color=NOISE)
    ax.set_xlabel("energy per token")
    ax.set_ylabel("tokens")
    ax.legend()
    return fig


def sequence_views(
    X: ArrayLike, view1: ArrayLike, view2: ArrayLike, M: ArrayLike, d: int
) -> Figure:
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


def brelu(b: float = 1.0, ax: Axes | None = None) -> Figure:
    """The bilateral ReLU and its derivative for one bias b."""
    import torch

    f = model.brelu
    fig, ax = _axes(ax, (5, 3))
    s = torch.linspace(-3 * b, 3 * b, 601)
    ax.plot(s, f(s, torch.tensor(b)), label=r"BReLU$_b(s)$")
    ax.plot(s, (s.abs() > b).float(), ls="--", label=r"derivative $1[|s|>b]$")
    ax.axvspan(-b, b, color=NOISE, alpha=0.2, label="dead zone $[-b, b]$")
    ax.set_xlabel("$s$")
    ax.legend()
    return fig


def attention_map(weights: ArrayLike, ax: Axes | None = None) -> Figure:
    """The attention weights softmax(<x_r, x_s>/sqrt(d1)) of one sequence."""
    fig, ax = _axes(ax, (3.6, 3))
    im = ax.imshow(np.asarray(weights), cmap="Greys", vmin=0, vmax=1)
    for (r, s), w in np.ndenumerate(np.asarray(weights)):
        ax.text(s, r, f"{w:.2f}", ha="center", va="center", color="tab:red", fontsize=8)
    ax.set_xlabel("key token $s$")
    ax.set_ylabel("query token $r$")
    fig.colorbar(im, ax=ax, fraction=0.05)
    return fig


def response_histograms(
    noise_resp: ArrayLike, feature_resp: ArrayLike, b: float, ax: Axes | None = None
) -> Figure:
    """A neuron's pre-activations on noise-only and on feature-carrying tokens, and +-b."""
    fig, ax = _axes(ax, (6, 3.2))
    lim = np.abs(np.concatenate([noise_resp, feature_resp])).max()
    bins = np.linspace(-lim, lim, 60)
    ax.hist(
        noise_resp, bins=bins, alpha=0.6, color=NOISE, density=True, label="tokens without $M_j$"
    )
    ax.hist(feature_resp, bins=bins, alpha=0.6, color=MAJ, density=True, label="tokens with $M_j$")
    for x in (-b, b):
        ax.axvline(x, color="k", ls="--")
    ax.set_xlabel(r"$\langle w_i, \mathrm{Attention}(x_r)\rangle$ (dashed: $\pm b_i$)")
    ax.set_ylabel("density")
    ax.legend()
    return fig


# -- the explorers (imbacl.widgets) -------------------------------------------------------------
def lam_eps_plane(
    d: int,
    lam: ArrayLike,
    eps: ArrayLike,
    values: ArrayLike | None = None,
    eps_max: float | None = None,
    C_z: float = 1.0,
    ax: Axes | None = None,
    label: str = "pure neurons per minority feature",
) -> Figure:
    """The (lam, eps) plane on log axes: the Stage-1 threshold eps = lam d / (C_z log log d) of
    :func:`imbacl.theory.eps_threshold` (below it a feature does not grow in Stage 1; shaded),
    and the points (lam[k], eps[k]), coloured by ``values[k]`` when given."""
    fig, ax = _axes(ax, (5.4, 3.6))
    lam = np.atleast_1d(np.asarray(lam, dtype=float))
    eps = np.atleast_1d(np.asarray(eps, dtype=float))
    grid = np.geomspace(min(1e-4, lam.min() / 3), max(0.3, lam.max() * 3), 200)
    thr = theory.eps_threshold(grid, d, C_z)
    lo = min(2e-3, eps.min() / 2)
    ax.plot(
        grid,
        thr,
        "k--",
        lw=1.5,
        label=rf"$\epsilon = \lambda d / (C_z \log\log d)$, $C_z$ = {C_z:.3g}",
    )
    ax.fill_between(grid, lo, thr, color=NOISE, alpha=0.25, label="no Stage-1 growth (theory)")
    if eps_max is not None:
        ax.axhline(eps_max, color=MAJ, ls=":", lw=1.5, label=r"$\epsilon_{max}$")
    if values is None:
        ax.scatter(lam, eps, color=MIN, edgecolors="k", s=60, zorder=3)
    else:
        v = np.atleast_1d(np.asarray(values, dtype=float))
        sc = ax.scatter(
            lam,
            eps,
            c=v,
            cmap="viridis",
            vmin=0,
            vmax=max(1.0, np.nanmax(v)),
            edgecolors="k",
            s=60,
            zorder=3,
        )
        fig.colorbar(sc, ax=ax, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(grid[0], grid[-1])
    ax.set_ylim(lo, 1)
    ax.set_xlabel(r"$\lambda$")
    ax.set_ylabel(r"$\epsilon_{min}$")
    ax.legend(fontsize=7, loc="upper left")
    return fig


# -- training dynamics: Stages 1-3 (chapters 3-5) ----------------------------------------------
def growth_curves(
    steps: Sequence[float] | np.ndarray,
    P: ArrayLike,
    d: int,
    n_majority: int,
    T1: ArrayLike | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Theorem 3.1 at a glance: ``log |<w_i^(t), M_j>| / |<w_i^(0), M_j>|`` against step t, the
    median (line) and 25-75% band over runs, neurons and directions of each group: majority
    features (blue), minority features (orange) and non-feature directions (grey).
    P: (R, S, m, d1) or (S, m, d1). T1: estimated end(s) of Stage 1, drawn as dotted lines."""
    P = np.asarray(P, dtype=np.float64)
    P = P[None] if P.ndim == 3 else P
    G = np.log(metrics.growth(P[:, :1], P))  # (R, S, m, d1)
    fig, ax = _axes(ax, (6, 3.6))
    groups = (
        (slice(0, n_majority), MAJ, "majority features"),
        (slice(n_majority, d), MIN, "minority features"),
        (slice(d, None), NOISE, r"non-feature directions $M_j^\perp$"),
    )
    for sl, color, label in groups:
        g = np.moveaxis(G[..., sl], 1, 0).reshape(len(steps), -1)
        if g.shape[1] == 0:
            continue
        lo, med, hi = np.percentile(g, [25, 50, 75], axis=1)
        ax.plot(steps, med, color=color, lw=2, label=label)
        ax.fill_between(steps, lo, hi, color=color, alpha=0.2)
    ax.axhline(0, color="k", lw=0.8)
    if T1 is not None:
        for k, t in enumerate(np.atleast_1d(T1)):
            ax.axvline(t, color="k", ls=":", lw=1, label=r"estimated $T_1$" if k == 0 else None)
    ax.set_xlabel("step $t$")
    ax.set_ylabel(r"$\log |\langle w_i^{(t)}, M_j\rangle| / |\langle w_i^{(0)}, M_j\rangle|$")
    ax.legend(fontsize=8)
    return fig


def rate_vs_eps(
    eps: ArrayLike,
    rates: ArrayLike,
    labels: Iterable[str],
    fits: Sequence[tuple[float, float]] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Per-step log-growth rate against the frequency eps_j, one colour per group (e.g. per
    lam): mean +- sd over the second axis of ``rates`` (G, n, d), and, when given, the fitted
    lines ``fits[g] = (intercept, slope)``. A horizontal line marks zero growth."""
    fig, ax = _axes(ax, (5.6, 3.6))
    eps = np.asarray(eps, dtype=float)
    rates = np.asarray(rates, dtype=float)
    xs = np.linspace(0, eps.max() * 1.05, 50)
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(rates)))
    for g, (r, label) in enumerate(zip(rates, labels)):
        ax.errorbar(
            eps, np.nanmean(r, 0), yerr=np.nanstd(r, 0), fmt="o", ms=4, color=colors[g], label=label
        )
        if fits is not None:
            a, b = fits[g]
            ax.plot(xs, a + b * xs, color=colors[g], lw=1)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel(r"feature frequency $\epsilon_j$")
    ax.set_ylabel("log-growth per step")
    ax.legend(fontsize=8)
    return fig


def lucky_alignment(
    steps: ArrayLike,
    P: ArrayLike,
    pairs: Iterable[tuple[int, int]],
    d: int,
    n_majority: int,
    marks: dict | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Theorem 3.2 for one run: ``cos^2(w_i^(t), M_j)`` for every (neuron, feature) pair in
    ``pairs`` (blue: majority feature, orange: minority) and, dashed grey, the same neurons'
    largest non-feature ``cos^2(w_i^(t), M_j^perp)``. P: (S, m, d1). ``marks``: dict of
    label -> step drawn as vertical lines (e.g. estimated T1 and T2)."""
    P = np.asarray(P, dtype=np.float64)
    n2 = np.maximum((P**2).sum(-1), 1e-300)  # (S, m)
    t = np.maximum(np.asarray(steps), 1)
    fig, ax = _axes(ax, (6, 3.6))
    for k, (i, j) in enumerate(pairs):
        ax.plot(
            t, P[:, i, j] ** 2 / n2[:, i], color=MAJ if j < n_majority else MIN, lw=1.2, alpha=0.8
        )
        ax.plot(
            t,
            (P[:, i, d:] ** 2).max(-1) / n2[:, i],
            color=NOISE,
            lw=1,
            ls="--",
            label=r"largest $\cos^2(w_i, M_j^\perp)$" if k == 0 else None,
        )
    for k, (label, s) in enumerate((marks or {}).items()):
        ax.axvline(max(s, 1), color="k", ls=":" if k == 0 else "-.", lw=1, label=label)
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel("step $t$ (step 0 drawn at 1)")
    ax.set_ylabel(r"$\cos^2(w_i^{(t)}, M_j)$ of lucky pairs")
    ax.legend(fontsize=8)
    return fig


# -- imbalance: ratio, width, regularisation (chapters 6-8) ------------------------------------
def panel_curves(values: Sequence | np.ndarray, labels: Iterable[str]) -> dict:
    """The ``curves`` of a :func:`sweep_panels` panel: ``{labels[k]: values[k]}``, one curve per
    entry of the first axis of ``values`` (e.g. one per lam of a (lam, rho, seed) array)."""
    labels = list(labels)
    if len(labels) != len(values):
        raise ValueError(f"{len(labels)} labels for {len(values)} curves")
    return dict(zip(labels, values))


def sweep_panels(
    x: ArrayLike,
    panels: Sequence[dict],
    xlabel: str = "",
    logx: bool = False,
    ncols: int = 3,
    size: tuple[float, float] = (3.5, 2.7),
    xticks: Iterable[float] | None = None,
) -> Figure:
    """Several sweep panels side by side, sharing the x axis values.

    panels: list of dicts with ``ylabel``, ``curves`` {label: values (len(x), n_seeds)} drawn as
    mean +- sd bands (as :func:`sweep_curve`), and optionally ``title``, ``lines``
    {label: (xs, ys)} drawn dashed (theory, fits), ``hline`` (a y value drawn dotted),
    ``logy``, ``ylim``. ``xticks``: the x values to label (plainly, e.g. the sizes d on a log
    axis), instead of matplotlib's ticks. Returns the Figure."""
    n = len(panels)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(size[0] * ncols, size[1] * nrows),
        layout="constrained",
        squeeze=False,
    )
    colors = [MAJ, MIN, "tab:green", "tab:purple", "tab:red", "tab:brown"]
    for ax, p in zip(axes.flat, panels):
        for k, (label, values) in enumerate(p["curves"].items()):
            sweep_curve(x, values, ax=ax, label=None, color=colors[k % len(colors)])
            ax.lines[-1].set_label(label)
        for k, (label, (xs, ys)) in enumerate(p.get("lines", {}).items()):
            ax.plot(xs, ys, ls="--", lw=1.5, color=["k", "0.45", "tab:red"][k % 3], label=label)
        if p.get("hline") is not None:
            ax.axhline(p["hline"], color="k", ls=":", lw=1)
        if logx:
            ax.set_xscale("log")
        if xticks is not None:
            ax.set_xticks(list(xticks), [f"{v:g}" for v in xticks])
            ax.xaxis.set_minor_formatter(mticker.NullFormatter())
        if p.get("logy"):
            ax.set_yscale("log")
        if p.get("ylim") is not None:
            ax.set_ylim(*p["ylim"])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(p["ylabel"])
        if p.get("title"):
            ax.set_title(p["title"], fontsize=10)
        if len(p["curves"]) + len(p.get("lines", {})) > 1:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    return fig


def fit_plot(
    x: ArrayLike | dict,
    y: ArrayLike | dict,
    curves: dict | None = None,
    yerr: ArrayLike | dict | None = None,
    labels: str | None = None,
    xlabel: str = "",
    ylabel: str = "",
    logx: bool = False,
    logy: bool = False,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Measured points with error bars and fitted or predicted curves.

    x, y, yerr: one array, or a dict {label: array} for several point sets (each its colour);
    curves: {label: (xs, ys)} drawn as lines. Returns the Figure."""
    fig, ax = _axes(ax, (5, 3.4))
    if not isinstance(x, dict):
        x, y, yerr = (
            {labels or "measured": x},
            {labels or "measured": y},
            {labels or "measured": yerr},
        )
    colors = [MAJ, MIN, "tab:green", "tab:purple", "tab:red"]
    for k, label in enumerate(x):
        e = None if yerr is None else yerr.get(label)
        ax.errorbar(
            x[label],
            y[label],
            yerr=e,
            fmt="o",
            ms=5,
            capsize=3,
            color=colors[k % len(colors)],
            label=label,
        )
    for k, (label, (xs, ys)) in enumerate((curves or {}).items()):
        ax.plot(
            xs,
            ys,
            ls=["--", "-.", ":", "-"][k % 4],
            color="k" if k == 0 else "0.4",
            lw=1.5,
            label=label,
        )
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return fig


def _grid_position(values, grid):
    """Fractional index of each value on an ascending grid (NaN outside it)."""
    grid = np.asarray(grid, dtype=float)
    v = np.asarray(values, dtype=float)
    pos = np.interp(v, grid, np.arange(len(grid)))
    return np.where((v >= grid[0]) & (v <= grid[-1]), pos, np.nan)


def grid_map(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    Z: ArrayLike,
    xlabel: str = "",
    ylabel: str = "",
    zlabel: str = "",
    curves: dict | None = None,
    vmin: float = 0.0,
    vmax: float = 1.0,
    cmap: str = "viridis",
    digits: int = 2,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Z (len(y), len(x)) on the categorical grid of x (columns) and y (rows), each cell
    labelled with its value. curves {label: (xs, ys)} are given in data units and placed by
    interpolating between grid values (parts outside the grid are not drawn). Returns the Figure."""
    Z = np.asarray(Z, dtype=float)
    fig, ax = _axes(ax, (0.7 * len(x) + 2.4, 0.45 * len(y) + 1.6))
    im = ax.imshow(Z, cmap=cmap, vmin=vmin, vmax=vmax, origin="lower", aspect="auto")
    for (r, c), v in np.ndenumerate(Z):
        if np.isfinite(v):
            ax.text(
                c,
                r,
                f"{v:.{digits}f}",
                ha="center",
                va="center",
                fontsize=7,
                color="w" if v < vmin + 0.5 * (vmax - vmin) else "k",
            )
    for k, (label, (xs, ys)) in enumerate((curves or {}).items()):
        ax.plot(
            _grid_position(xs, x),
            _grid_position(ys, y),
            ls=["-", "--", ":"][k % 3],
            color=["tab:red", "w", "tab:orange"][k % 3],
            lw=2,
            marker="o" if k == 0 else None,
            ms=4,
            label=label,
        )
    ax.set_xticks(range(len(x)), [f"{v:g}" for v in x])
    ax.set_yticks(range(len(y)), [f"{v:g}" for v in y])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    if curves:
        ax.legend(fontsize=7, loc="upper left", framealpha=0.8)
    fig.colorbar(im, ax=ax, fraction=0.05, label=zlabel)
    return fig


def heatmap_row(
    Ps: Sequence[np.ndarray],
    d: int | Sequence[int],
    n_majority: int | Sequence[int],
    titles: Iterable[str],
    n_neurons: int = 13,
) -> Figure:
    """:func:`figure1` heatmaps side by side, one per projection matrix in ``Ps`` (e.g. runs on
    either side of a threshold), with their titles. ``d`` and ``n_majority``: one value for
    every panel, or one per panel (runs of different sizes; panels are as wide as their d).
    Returns the Figure."""
    n = len(Ps)
    ds = [d] * n if np.ndim(d) == 0 else list(d)
    majs = [n_majority] * n if np.ndim(n_majority) == 0 else list(n_majority)
    # a column per feature: wide at the book's d = 9, narrower for mixed or large sizes
    col = 0.45 if len(set(ds)) == 1 and ds[0] <= 16 else 0.11
    widths = [col * k + 1.9 for k in ds]
    fig, axes = plt.subplots(
        1,
        n,
        figsize=(sum(widths), 0.3 * n_neurons + 1.4),
        layout="constrained",
        squeeze=False,
        width_ratios=widths,
    )
    for ax, P, k, nm, t in zip(axes[0], Ps, ds, majs, titles):
        figure1(P, k, nm, n_neurons=n_neurons, ax=ax, title=t)
    return fig


# -- remedies (chapter 9) ------------------------------------------------------------------------
def remedy_panels(
    arms: Sequence[str],
    groups: Sequence,
    panels: Sequence[dict],
    group_label: str = r"$\rho$",
    ncols: int = 3,
    size: tuple[float, float] = (4.2, 2.9),
) -> Figure:
    """Grouped bars: for each panel, one group of bars per arm (remedy), one bar per group value
    (e.g. rho), height = mean over seeds, error bar = sd.

    panels: list of dicts with ``ylabel`` and ``values`` of shape (len(groups), len(arms), seeds),
    and optionally ``hline`` (a reference drawn dotted) and ``ylim``."""
    n = len(panels)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(size[0] * ncols, size[1] * nrows),
        layout="constrained",
        squeeze=False,
    )
    x = np.arange(len(arms))
    width = 0.8 / len(groups)
    for ax, p in zip(axes.flat, panels):
        v = np.asarray(p["values"], dtype=float)
        for g, label in enumerate(groups):
            ax.bar(
                x + (g - (len(groups) - 1) / 2) * width,
                np.nanmean(v[g], -1),
                width,
                yerr=np.nanstd(v[g], -1),
                capsize=2,
                label=f"{group_label} = {label}",
            )
        if p.get("hline") is not None:
            ax.axhline(p["hline"], color="k", ls=":", lw=1)
        if p.get("ylim") is not None:
            ax.set_ylim(*p["ylim"])
        ax.set_xticks(x, arms, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel(p["ylabel"])
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    return fig


def regime_map(lam: ArrayLike, thresholds: dict, points: dict, ax: Axes | None = None) -> Figure:
    """The theory's regime in the (lam, eps) plane: for each label in ``thresholds`` (e.g. a
    ratio d1/d) the measured Stage-1 zero-growth frequency eps0(lam) as a line (below it a
    feature shrinks from step 0), and ``points`` {name: (lam, eps_min)} marked (presets).
    lam: the grid the lines are drawn on (a lam of 0 is drawn at the left edge)."""
    fig, ax = _axes(ax, (5.6, 3.8))
    lam = np.asarray(lam, dtype=float)
    x = np.where(lam > 0, lam, lam[lam > 0].min() / 3)
    styles = ["-", "--", "-.", ":"]
    for k, (label, eps0) in enumerate(thresholds.items()):
        ax.plot(x, eps0, color="k", ls=styles[k % 4], lw=1.5, label=label)
    first = next(iter(thresholds.values()))
    ax.fill_between(x, 1e-3, first, color=NOISE, alpha=0.2, label="shrinks in Stage 1 (first line)")
    for k, (name, (lx, ey)) in enumerate(points.items()):
        ax.scatter(
            [lx],
            [ey],
            s=70,
            zorder=3,
            edgecolors="k",
            color=[MIN, MAJ, "tab:green"][k % 3],
            label=name,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(3e-3, 0.3)
    ax.set_xlabel(r"$\lambda$ (the leftmost points: $\lambda$ = 0)")
    ax.set_ylabel(r"$\epsilon_j$")
    ax.legend(fontsize=7, loc="upper left")
    return fig
