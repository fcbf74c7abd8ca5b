"""Helpers of chapters 8 and 9 (issue 17): intervals over seeds for the lambda boundary and the
Stage-1 fits, weights from cached projections, remedy arms from cached sweeps."""

import numpy as np
import pytest

import imbacl
from imbacl import fits, probe, theory


def test_bootstrap_seeds_interval_contains_value_and_flags_unresolved():
    rng = np.random.default_rng(0)
    y = rng.normal(1.0, 0.1, size=(8, 3))
    e = fits.bootstrap_seeds(np.mean, [y])
    assert e.lo <= e.value <= e.hi and e.n == 8
    assert abs(e.value - y.mean()) < 1e-12 and e.hi - e.lo < 0.2
    # a statistic that is NaN in many resamples: the interval is unbounded, not made up
    flaky = fits.bootstrap_seeds(np.max, [np.array([[0.0], [0.0], [np.inf]])])
    assert not np.isfinite(flaky.value) or flaky.lo == -np.inf


def test_crossing_estimate_recovers_a_known_boundary():
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    y = np.stack([np.clip(2.5 - x + 0.05 * s, 0, 1) for s in range(-2, 3)])  # crosses 0.5 at 2
    e = fits.crossing_estimate(x, y, 0.5)
    assert abs(e.value - 2.0) < 1e-9 and 1.8 < e.lo <= 2.0 <= e.hi < 2.2


def test_lam_threshold_estimate_fits_a_line_through_an_offset():
    eps = np.array([0.02, 0.03, 0.04, 0.05, 0.06, 0.07])
    lam = np.linspace(0, 0.05, 11)
    true = 0.5 * (eps - 0.01)  # affine, eps0 = 0.01
    share = np.clip(0.5 + (true[None, :] - lam[:, None]) / 0.02, 0, 1)  # (lam, eps), 1/2 at true
    y = np.stack([share] * 5)  # identical seeds
    e = fits.lam_threshold_estimate(eps, lam, y, 0.5, 9, "eps0")
    assert abs(e.value - 0.01) < 1e-9 and e.lo == e.hi == pytest.approx(e.value)
    with pytest.raises(ValueError):
        fits.lam_threshold_estimate(eps[:3], lam, y[:, :, :3], 0.5, 9, "eps0")


def test_stage1_C_z_estimate_recovers_C_z():
    d, lr, C = 9, 0.5, 3.0
    eps = np.tile(np.array([0.1, 0.03, 0.0])[None, None], (6, 4, 1))  # (seeds, runs, directions)
    lam = np.tile(np.array([0.0, 0.004, 0.008, 0.012])[None, :, None], (6, 1, 1))
    rate = np.log(theory.stage1_factor(eps, lr, lam, d, C))
    off = np.full_like(lam, 0.0)
    e = fits.stage1_C_z_estimate(rate, eps, lr, lam, d, off + 0.01, "C_z")
    assert abs(e.value - C) < 1e-9


def test_weights_from_projections_and_probe_final_match_the_trained_weights():
    c = imbacl.preset("smoke", steps=30)
    h = imbacl.train(c, record_at=[0, 30])
    W = probe.weights_from_projections(c, h.P[0, -1])
    assert np.allclose(W, h.W[0], atol=1e-5)
    a = probe.probe_final(c, h.P[0, -1], n_train=300, n_test=300)
    b = probe.probe_config(c, h.W[0], n_train=300, n_test=300)
    assert np.allclose(a, b, equal_nan=True, atol=0.02)


def test_share_at_boundary():
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    a = np.stack([np.clip(2.5 - x, 0, 1)] * 4)  # crosses 1/2 at 2
    b = np.stack([np.clip(3.5 - x, 0, 1)] * 4)  # crosses 1/2 at 3
    y = np.stack([a.T, b.T], axis=1)  # (x, eps, seeds)
    above = fits.share_at_boundary(x, y, [2.0 + 1e-9, 3.0 + 1e-9], "above")
    below = fits.share_at_boundary(x, y, [2.0 - 1e-9, 3.0 - 1e-9], "below")
    assert above.shape == (4,) and np.allclose(above, 0.0) and np.allclose(below, 1.0)
    with pytest.raises(ValueError):
        fits.share_at_boundary(x, y, [np.nan, 9.0])


def test_transition_width_reads_the_ramp_not_the_grid():
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    ramp = np.clip(
        (4.0 - x) / 2.0, 0, 1
    )  # 1 at x <= 2, 0 at x >= 4: crosses 0.9 at 2.2, 0.1 at 3.8
    y = np.stack([np.stack([ramp] * 4, 1)], 1)  # (x, one eps, seeds)
    w, n = fits.transition_width(x, y, [3.0], resolve=0.5)
    assert n == 1 and np.isclose(w.value, (3.8 - 2.2) / 3.0)
    # a grid interval wider than half the boundary cannot resolve it: no row, no number
    w, n = fits.transition_width(x, y, [1.5], resolve=0.5)
    assert n == 0 and np.isnan(w.value)
