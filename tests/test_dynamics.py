"""Unit tests of the measurement, theory and plot functions used by the training-dynamics
chapters (03_stage1, 04_stage2, 05_stage3)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from imbacl import fits, metrics, plots, theory


def test_log_growth_rate_and_linear_fit():
    P0 = np.array([[1.0, -2.0, 0.5]])
    P1 = np.array([[np.e**2, -2.0, 0.5 * np.e**-1]])
    assert np.allclose(metrics.log_growth_rate(P0, P1, 2), [[1.0, 0.0, -0.5]])
    x = np.array([0.0, 1.0, 2.0, 3.0, np.nan])
    fit = fits.linear_fit(x, 1.5 - 2.0 * x)
    assert np.isclose(fit["slope"], -2.0) and np.isclose(fit["intercept"], 1.5)
    assert np.isclose(fit["r2"], 1.0) and fit["n"] == 4
    noisy = fits.linear_fit([0, 1, 2, 3], [0, 1, 0, 1])
    assert 0 < noisy["r2"] < 0.5
    # x broadcasts against y (one row of frequencies, several seeds)
    fit2 = fits.linear_fit(np.array([0.0, 1.0]), np.array([[0.0, 1.0], [0.0, 1.0]]))
    assert fit2["n"] == 4 and np.isclose(fit2["slope"], 1.0)
    with pytest.raises(ValueError, match="two distinct"):
        fits.linear_fit([1.0, 1.0], [0.0, 2.0])


def test_perp_excess_counts_only_increases_of_non_features():
    # d = 1 feature, two non-feature directions; norm at the later time is 5.
    P0 = np.array([[1.0, 0.5, -0.2], [1.0, 0.5, -0.2]])
    P1 = np.array([[4.0, 0.0, -3.0], [4.0, 0.3, 0.1]])
    P1[1] *= 5 / np.linalg.norm(P1[1])
    ex = metrics.perp_excess(P0, P1, 1)
    assert np.isclose(ex[0], (3.0 - 0.2) / 5.0)
    assert ex[1] == 0.0  # every non-feature component shrank
    # a large feature growth does not count
    assert metrics.perp_excess(P0[:1], np.array([[100.0, 0.5, -0.2]]), 1)[0] == 0.0


def test_lucky_at_init_threshold_scales_with_frequency_ratio():
    d, s0 = 4, 0.01
    freqs = [0.1, 0.1, 0.05, 0.05]
    thr = np.sqrt(2 * np.log(d)) * s0
    P0 = np.array([[1.01 * thr, 0.99 * thr, 1.99 * thr, 2.01 * thr, 10.0]])
    assert metrics.lucky_at_init(P0, d, freqs, s0).tolist() == [[True, False, False, True]]
    assert metrics.lucky_at_init(P0, d, freqs, s0, gamma=1.0).sum() == 0
    # expected counts: the exact Gaussian tail, falling with the ratio like d^(-ratio^2)
    e = theory.lucky_init_expected(30, 9, [1.0, 2.0, 3.0])
    assert e[0] > e[1] > e[2] > 0
    from math import erfc, log, sqrt

    assert np.isclose(e[0], 30 * erfc(sqrt(log(9))))
    assert e[1] < theory.lucky_bound(30, 9, 0.5) * 2 and e[1] > theory.lucky_bound(30, 9, 0.5) / 20


def test_C_z_from_slope_inverts_stage1_factor():
    lr, d, C = 0.5, 9, 3.7
    eps = np.array([0.02, 0.1])
    rate = np.log(theory.stage1_factor(eps, lr, 0.0, d, C_z=C))
    slope = (rate[1] - rate[0]) / (eps[1] - eps[0])
    assert np.isclose(fits.C_z_from_slope(slope, lr, d), C, rtol=1e-2)


def _figure1_P():
    # d = 3 (2 majority, 1 minority), d1 = 4; four neurons.
    return np.array(
        [
            [3.0, 0.1, 0.1, 0.1],  # pure majority 0
            [0.1, 2.0, 0.0, 0.1],  # pure majority 1
            [1.0, 0.0, 1.0, 0.0],  # mixed majority/minority (cos2 0.5 each)
            [0.1, 0.0, 0.0, 3.0],
        ]
    )  # noise neuron


def test_figure1_claims():
    P = _figure1_P()
    cl = metrics.figure1_claims(P, 3, 2)
    c = metrics.cos2(P, 3)
    assert np.isclose(cl["maj_over_min"], c[:, :2].mean() / c[:, 2].mean())
    assert np.isclose(cl["tied_to_majority"], 3 / 4)  # neuron 3: majority ties the minority
    assert cl["majority_covered_share"] == 1.0 and cl["minority_covered_share"] == 0.0
    both = metrics.figure1_claims(np.stack([P, P[[3, 3, 3, 3]]]), 3, 2)
    assert both["tied_to_majority"].tolist() == [0.75, 0.0]
    assert both["majority_covered_share"].tolist() == [1.0, 0.0]
    # the margin: the least-served majority feature's best cos^2 (feature 1: neuron 1)
    assert np.isclose(cl["majority_margin"], min(c[:, 0].max(), c[:, 1].max()))
    assert np.isclose(both["majority_margin"][1], 0.0)  # only the noise neuron: no majority


def test_alpha_ratio():
    P = _figure1_P()  # N_2 = {0, 2}: minority alpha 1.0
    # majority alphas in N_i: 3.0 (neuron 0), 2.0 (neuron 1), 1.0 (neuron 2) -> mean 2.0
    assert np.isclose(metrics.alpha_ratio(P, 3, 2), 1.0 / 2.0)
    no_min = P[:2]
    assert np.isnan(metrics.alpha_ratio(no_min, 3, 2))
    both = metrics.alpha_ratio(np.stack([P, np.concatenate([no_min, no_min])]), 3, 2)
    assert np.isclose(both[0], 0.5) and np.isnan(both[1])


def test_race_chance():
    P = _figure1_P()[:3]  # dominant features 0, 1, 0
    assert np.isclose(metrics.race_chance([0, 1, 0], P, 3), (2 * 2 + 1 * 1) / 9)
    assert np.isclose(metrics.race_chance([2, 2, 2], P, 3), 0.0)
    assert metrics.race_accuracy([0, 1, 0], P, 3) == 1.0


def test_race_advantage_and_init_race_predict():
    # One run, d = 2 features, d1 = 3, two neurons; feature 0 grows (x e per step), feature 1 not.
    steps = np.arange(4)
    P0 = np.array([[1.0, 2.0, 3.0], [0.5, 3.0, 4.0]])
    g = np.array([1.0, 0.0, -1.0])
    P = np.stack([P0 * np.exp(g * t) for t in steps])[None]  # (1, S, m, d1)
    assert np.allclose(metrics.race_advantage(P[0, 0], P[0, 2], 2), [2.0, 0.0])
    assert metrics.init_race_predict(steps, P, 2, None).tolist() == [[1, 1]]
    assert metrics.init_race_predict(steps, P, 2, "majority", n_majority=1).tolist() == [[0, 0]]
    # stage1_end: feature energy reaches 1/2 at step 1 for the median neuron, so horizon 1
    # measures the advantage over one step (e vs 1): neuron 0 (e*1 > 2) flips, neuron 1 does not
    assert metrics.stage1_end(steps, P, 2)[0] == 1
    assert metrics.init_race_predict(steps, P, 2, 1.0).tolist() == [[0, 1]]
    assert metrics.init_race_predict(steps, P, 2, 3.0).tolist() == [[0, 0]]
    with pytest.raises(ValueError, match="n_majority"):
        metrics.init_race_predict(steps, P, 2, "majority")


def _history_like(R=2, S=6, m=4, d=3, d1=6, seed=0):
    rng = np.random.default_rng(seed)
    P0 = rng.normal(size=(R, 1, m, d1))
    t = np.arange(S)[None, :, None, None]
    rate = np.concatenate([[0.3] * 2, [0.0], [-0.2] * (d1 - d)])
    return np.arange(S), P0 * np.exp(rate * t)


def test_growth_curves_draws_three_groups_and_T1():
    steps, P = _history_like()
    fig = plots.growth_curves(steps, P, 3, 2, T1=[2, 3])
    ax = fig.axes[0]
    solid = [l for l in ax.lines if l.get_linestyle() == "-" and len(l.get_xdata()) == len(steps)]
    assert len(solid) == 3
    # the median curves are the exact log-growths: 0.3 t, 0, -0.2 t
    assert np.allclose(solid[0].get_ydata(), 0.3 * steps)
    assert np.allclose(solid[2].get_ydata(), -0.2 * steps)
    assert sum(l.get_linestyle() == ":" for l in ax.lines) == 2
    fig2 = plots.growth_curves(steps, P[0], 3, 2)  # a single run works too
    assert len(fig2.axes[0].lines) == 4  # three groups + zero line


def test_rate_vs_eps_lucky_alignment_alpha_plots():
    eps = [0.01, 0.05, 0.1]
    rates = np.zeros((2, 4, 3))
    fig = plots.rate_vs_eps(eps, rates, ["a", "b"], fits=[(0.0, 1.0), (-1.0, 1.0)])
    assert len(fig.axes[0].get_legend().get_texts()) == 2
    steps, P = _history_like()
    fig = plots.lucky_alignment(steps, P[0], [(0, 0), (1, 2)], 3, 2, marks={"T1": 2, "T2": 4})
    ax = fig.axes[0]
    c = P[0, :, 0, 0] ** 2 / (P[0, :, 0] ** 2).sum(-1)
    assert np.allclose(ax.lines[0].get_ydata(), c)
    assert ax.lines[0].get_color() == plots.MAJ and ax.lines[2].get_color() == plots.MIN
    import matplotlib.pyplot as plt

    plt.close("all")
