import numpy as np
import pytest

from imbacl import metrics, theory


def _P():
    # 3 neurons, d = 3 features, d1 = 5: pure on 0; mixed on 1 and 2; mostly noise.
    return np.array(
        [[3.0, 0.1, 0.0, 0.1, 0.0], [0.0, 2.0, 1.9, 0.0, 0.1], [0.1, 0.1, 0.0, 2.0, 2.0]]
    )


def test_cos2_energy_sets_purity():
    P = _P()
    c = metrics.cos2(P, 3)
    assert np.allclose(c.sum(-1) + (P[:, 3:] ** 2).sum(-1) / (P**2).sum(-1), 1)
    phi = metrics.feature_energy(P, 3)
    assert phi[0] > 0.99 and phi[2] < 0.01
    N = metrics.feature_sets(P, 3, kappa=0.5)
    assert N.tolist() == [[True, False, False], [False, True, True], [False, False, False]]
    assert metrics.set_sizes(P, 3).tolist() == [1, 2, 0]
    assert metrics.feature_sets(P, 3, kappa=0.95)[1].tolist() == [False, True, False]
    assert metrics.purity(P, 3)[0] > 0.99 and 0.5 < metrics.purity(P, 3)[1] < 0.6
    assert metrics.pure_counts(P, 3).tolist() == [1, 0, 0]
    assert metrics.coverage(P, 3).tolist() == [True, False, False]
    assert metrics.aligned_neurons(P, 3)[:, 0].tolist() == [True, False, False]


def test_decomposition_partitions_coefficients():
    dec = metrics.decomposition(_P(), 3)
    assert np.isnan(dec["alpha"][0, 1]) and dec["alpha"][0, 0] == 3.0
    assert dec["alpha_prime"][0, 1] == 0.1 and dec["beta"].shape == (3, 2)


def test_first_crossing_and_init_race():
    steps = np.array([0, 10, 100])
    assert metrics.first_crossing(steps, np.array([[0.1, 0.6, 0.9], [0, 0, 0]]), 0.5).tolist() == [
        10,
        np.inf,
    ]
    P0 = np.array([[0.5, 1.0, 0.0], [0.9, 0.1, 0.0]])
    assert metrics.init_race(P0, 2).tolist() == [1, 0]
    assert metrics.init_race(P0, 2, log_advantage=[1.0, 0.0]).tolist() == [0, 0]
    Pf = np.array([[0.0, 5.0, 0.0], [0.0, 5.0, 0.0]])
    assert metrics.race_accuracy([1, 0], Pf, 2) == 0.5


def test_theory_formulas():
    f = theory.stage1_factor([0.1, 0.01], lr=0.5, lam=0.0, d=9)
    assert f[0] > f[1] > 1
    lam = theory.lam_threshold(0.03, 9)
    assert np.isclose(theory.stage1_factor(0.03, 0.5, lam, 9), 1.0)
    assert np.isclose(theory.eps_threshold(lam, 9), 0.03)
    assert theory.T2(9, 36, 0.5, 5, 0.1) > theory.T1(9, 36, 0.5) > 0
    assert theory.T4(9, 0.5) > theory.T3(9, 0.5)
    assert theory.ni_exponent(1.0) == 0.0 and theory.ni_exponent(0.1) > 0.98
    assert theory.omega1(2.0, 1.0) == 1.0 and theory.omega1(2.0, 0.5) == -2.0
    assert np.isclose(theory.lucky_bound(30, 9, 1.0), 30 / 9)
    lo, hi = theory.alpha_range(0.03, 0.1, 5.0, Xi2=2.0)
    assert np.isclose(hi, 1.5) and np.isclose(lo, 0.75)
    assert np.isclose(theory.C_m(81, 9), 2.0)


def test_report_formatting():
    from imbacl import report

    assert report.fmt([1.0, 2.0, 3.0]) == "2.00 ± 1.00 (n=3)"
    assert report.fmt([1.0, np.nan, 3.0], digits=1) == "2.0 ± 1.4 (n=2)"
    assert report.fmt([1, 2, 3, 4, 5], spread="iqr", digits=0) == "3 [2, 4] (n=5)"


def test_minority_covered_needs_a_pure_neuron_on_every_minority_feature():
    from imbacl import metrics

    d, d1 = 3, 5
    P = np.zeros((3, d1))
    P[0, 0] = P[1, 1] = 1.0  # pure neurons on features 0 and 1
    P[2, 2], P[2, 3] = 0.3, 1.0  # feature 2 only weakly, under noise
    assert metrics.minority_covered(P, d, n_majority=2) == False  # noqa: E712
    assert metrics.minority_covered(P, d, n_majority=1) == False  # noqa: E712
    P[2, 3] = 0.0
    assert metrics.minority_covered(P, d, n_majority=1) and metrics.minority_covered(
        np.stack([P, P]), d, n_majority=1
    ).tolist() == [True, True]


def test_lucky_gain_is_eq6_as_a_ratio_over_the_lucky_pairs_of_the_chosen_features():
    d, freqs, s0, eps_max = 2, (0.1, 0.04), 0.01, 0.1
    P = np.zeros((2, 3, 2, 3))  # (seeds, snapshots, m, d1)
    # seed 0: neuron 0 starts far out on feature 1 (lucky: threshold 2 sqrt(2 log 2) s0)
    P[0, 0, 0, 1] = 0.1
    P[0, 2, 0, 1] = 3.0  # at T2 (snapshot 2)
    norms = np.ones((2, 3, 2))
    norms[0, 1, 0] = 2.0  # ||w_0(T1)|| (snapshot 1)
    g = metrics.lucky_gain(P, norms, [1, 1], [2, 2], d, freqs, s0, eps_max)
    assert g[0] == pytest.approx(3.0**2 / 2.0**2 / 0.8) and np.isnan(g[1])  # 2 eps_j / eps_max
    # restricted to feature 0, no seed has a lucky pair
    assert np.isnan(metrics.lucky_gain(P, norms, [1, 1], [2, 2], d, freqs, s0, eps_max,
                                       slice(0, 1))).all()  # fmt: skip


def test_lucky_minority_needs_no_training_and_matches_a_trained_run_at_step_0():
    import imbacl
    from imbacl import scaling

    c = scaling.config(8, 0.9, "eps_d", seed=3).replace(steps=2)
    got = scaling.lucky_minority(c)
    h = imbacl.train([c], record_at=[0], threads=1)
    lucky = metrics.lucky_at_init(h.P[0, 0], c.d, c.freqs, c.init_std)
    assert got.shape == (c.m, c.d - c.n_majority) and got.any()
    assert np.array_equal(got, lucky[:, c.n_majority :]) and not np.array_equal(got, lucky[:, :4])
