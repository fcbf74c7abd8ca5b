"""The paper's predicted quantities as functions (Theorems 3.1-3.3, the ICLR version's bounds).

The constants C_z, Xi_2, gamma c0 and C_m are not given numerically in the paper; each function
takes them as arguments (default 1 or 0) so that a fit can absorb them. Logs are natural.
"""
from __future__ import annotations

import numpy as np


def _loglog(d):
    return np.log(np.log(d))


def stage1_factor(eps, lr, lam, d, C_z=1.0):
    """Per-step growth factor of ``|<w_i, M_j>|`` in Stage 1: ``1 - eta lam + eta eps_j C_z loglog d / d``."""
    return 1 - lr * lam + lr * np.asarray(eps) * C_z * _loglog(d) / d


def stage1_log_growth(eps, lr, lam, d, steps, C_z=1.0):
    """log of the Stage-1 growth after ``steps`` steps: steps * log(stage1_factor)."""
    return steps * np.log(stage1_factor(eps, lr, lam, d, C_z))


def lam_threshold(eps, d, C_z=1.0):
    """The lam at which feature eps stops growing in Stage 1 (factor = 1): eps C_z loglog d / d."""
    return np.asarray(eps) * C_z * _loglog(d) / d


def eps_threshold(lam, d, C_z=1.0):
    """The smallest frequency that still grows under regularisation lam: lam d / (C_z loglog d)."""
    return np.asarray(lam) * d / (C_z * _loglog(d))


def T1(d, d1, lr, C=1.0):
    """End of Stage 1, Theta(d1 log d / (eta loglog d)), up to the constant C."""
    return C * d1 * np.log(d) / (lr * _loglog(d))


def T2(d, d1, lr, tau, eps_max, C=1.0, C2=1.0):
    """End of Stage 2, T1 + Theta(d tau log d / (eps_max eta loglog d))."""
    return T1(d, d1, lr, C) + C2 * d * tau * np.log(d) / (eps_max * lr * _loglog(d))


def T3(d, lr):
    """Start of the final window, d^1.01 / eta."""
    return d ** 1.01 / lr


def T4(d, lr):
    """End of the final window, d^1.99 / eta."""
    return d ** 1.99 / lr


def ni_exponent(rho, gamma_c0=0.0):
    """Exponent of ``|N_i| = O(d^(1 - rho^2 (1 - gamma c0)))``."""
    return 1 - np.asarray(rho) ** 2 * (1 - gamma_c0)


def ni_bound(d, rho, gamma_c0=0.0, C=1.0):
    """``|N_i| <= C d^(1 - rho^2 (1 - gamma c0))``."""
    return C * d ** ni_exponent(rho, gamma_c0)


def omega1(C_m, rho, gamma_c0=0.0):
    """omega_1 = C_m - rho^(-2) (1 + gamma c0): at least Omega(d^omega_1) pure neurons per feature."""
    return C_m - np.asarray(rho, dtype=float) ** -2 * (1 + gamma_c0)


def pure_bound(d, C_m, rho, gamma_c0=0.0, C=1.0):
    """C d^omega_1, the Theorem 3.3 lower bound on pure neurons per feature."""
    return C * d ** omega1(C_m, rho, gamma_c0)


def lucky_bound(m, d, rho):
    """The ICLR version's lucky-neuron count m d^(-(eps_max/eps_min)^2) = m d^(-rho^-2)."""
    return m * d ** (-np.asarray(rho, dtype=float) ** -2)


def alpha_range(eps_j, eps_max, tau, Xi2=1.0):
    """Theorem 3.3's interval for alpha_ij: [(eps_j/eps_max) tau / Xi_2, (eps_j/eps_max) tau]."""
    r = np.asarray(eps_j) / eps_max
    return r * tau / Xi2, r * tau


def C_m(m, d):
    """The width exponent C_m with m = d^C_m."""
    return np.log(m) / np.log(d)


# -- fitting the free constants to measurements (chapters 6-8) ---------------------------------
def _linfit(x, y):
    """Least squares y = a + b x over finite points; returns (a, b, rms residual, n)."""
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 2 or np.ptp(x) == 0:
        raise ValueError(f"a fit needs at least two finite points with different x (got {len(x)})")
    b, a = np.polyfit(x, y, 1)
    return float(a), float(b), float(np.sqrt(np.mean((y - a - b * x) ** 2))), int(len(x))


def _positive(*arrays):
    arrays = [np.broadcast_to(np.asarray(a, dtype=float), np.broadcast_shapes(
        *(np.shape(b) for b in arrays))).ravel() for a in arrays]
    ok = np.all([np.isfinite(a) & (a > 0) for a in arrays], axis=0)
    return [a[ok] for a in arrays]


def fit_ni_bound(rho, d, sizes) -> dict:
    """Fit ``|N_i| = C d^(1 - rho^2 (1 - gamma c0))`` to measured mean set sizes.

    Taking logs, ``log|N_i| - log d = log C - (1 - gamma c0) rho^2 log d``: a line in
    ``rho^2 log d``. The fit absorbs the O(.) constant C and gamma c0. rho, d, sizes broadcast
    (d may be one number); non-positive or non-finite sizes are dropped. Returns
    dict(C, gamma_c0, slope = -(1 - gamma c0), rms of log ``|N_i|``, n)."""
    rho, d, sizes = _positive(rho, d, sizes)
    a, b, rms, n = _linfit(rho ** 2 * np.log(d), np.log(sizes) - np.log(d))
    return {"C": float(np.exp(a)), "gamma_c0": 1 + b, "slope": b, "rms": rms, "n": n}


def fit_omega1(rho, d, m, counts) -> dict:
    """Fit pure-neuron counts per feature to ``C d^omega_1``, ``omega_1 = C_m - rho^-2 (1 + gamma c0)``.

    With m = d^C_m known, ``log(count / m) = log C - (1 + gamma c0) rho^-2 log d``: a line in
    ``rho^-2 log d``. The fit absorbs the Omega(.) constant C and gamma c0 (C_m is not free: it
    is log m / log d of the runs). Zero counts are dropped (log 0), so the fit describes the
    runs that have pure neurons. Returns dict(C, gamma_c0, slope = -(1 + gamma c0), rms, n)."""
    rho, d, m, counts = _positive(rho, d, m, counts)
    a, b, rms, n = _linfit(rho ** -2.0 * np.log(d), np.log(counts / m))
    return {"C": float(np.exp(a)), "gamma_c0": -b - 1, "slope": b, "rms": rms, "n": n}


def fit_width(rho, d, m_star) -> dict:
    """Fit the width a feature needs, ``m* = C d^(a rho^-2)``: the m at which the lucky-neuron
    count ``m d^(-a rho^-2)`` (:func:`lucky_bound` has a = 1) reaches a fixed level.

    ``log m* = log C + a rho^-2 log d``; non-finite m* (never reached) are dropped. The fit
    absorbs the level C and the exponent factor a (a = 1 + gamma c0 in omega_1's form).
    Returns dict(C, a, rms, n)."""
    rho, d, m_star = _positive(rho, d, m_star)
    a, b, rms, n = _linfit(rho ** -2.0 * np.log(d), np.log(m_star))
    return {"C": float(np.exp(a)), "a": b, "rms": rms, "n": n}


def fit_power_law(x, y) -> dict:
    """Fit ``y = A x^b`` by least squares in log-log (positive finite points). dict(A, b, rms, n)."""
    x, y = _positive(x, y)
    a, b, rms, n = _linfit(np.log(x), np.log(y))
    return {"A": float(np.exp(a)), "b": b, "rms": rms, "n": n}


def fit_lam_threshold(eps, lam_star, d) -> dict:
    """Fit a measured boundary lam*(eps) three ways, all scored by the rms of log lam*:

    - the prediction, a line through the origin ``lam* = eps C_z loglog d / d``
      (:func:`lam_threshold`): the fit absorbs C_z (geometric-mean estimate);
    - a free power law ``lam* = A eps^b`` (b = 1 is the line through the origin);
    - an affine line ``lam* = s (eps - eps0)``, fitted by least squares in lam* itself
      (eps0 > 0: a frequency below which nothing is learned even at lam = 0).

    Returns dict(C_z, rms_line, A, b, rms_power, s, eps0, rms_affine, n)."""
    eps, lam_star = _positive(eps, lam_star)
    if len(eps) < 2:
        raise ValueError(f"a fit needs at least two finite points with different x (got {len(eps)})")
    x = eps * _loglog(d) / d
    logC = float(np.mean(np.log(lam_star) - np.log(x)))
    rms_line = float(np.sqrt(np.mean((np.log(lam_star) - logC - np.log(x)) ** 2)))
    pw = fit_power_law(eps, lam_star)
    a, s, _, _ = _linfit(eps, lam_star)
    eps0 = -a / s if s != 0 else float("nan")
    pred = s * (eps - eps0)
    rms_aff = float(np.sqrt(np.mean((np.log(lam_star) - np.log(np.maximum(pred, 1e-300))) ** 2)))
    return {"C_z": float(np.exp(logC)), "rms_line": rms_line, "A": pw["A"], "b": pw["b"],
            "rms_power": pw["rms"], "s": s, "eps0": eps0, "rms_affine": rms_aff, "n": len(eps)}


def mask_offset(freqs, d1):
    """``sum_k eps_k / d1``: the frequency every direction loses to the masking augmentation
    (ours, not the paper's). The two views 2DX and 2(I-D)X never share a coordinate, so their
    cross-covariance is C - diag(C) with C = M diag(eps) M^T + sigma^2 I: the noise cancels, and
    removing the diagonal takes about sum_k eps_k / d1 from every direction (M is a random
    rotation). Stage-1 growth then goes with eps_j - mask_offset, and a direction off the
    features (eps = 0) decays."""
    return np.sum(np.asarray(freqs, dtype=float), axis=-1) / d1


def lam_threshold_offset(eps, d, offset, C_z=1.0):
    """The Stage-1 threshold with the mask offset: ``(eps - offset) C_z loglog d / d`` (ours);
    negative where eps < offset (such a feature decays even at lam = 0)."""
    return (np.asarray(eps) - offset) * C_z * _loglog(d) / d


def fit_stage1_rates(rate, eps, lam, offset, lr, d) -> dict:
    """Fit measured Stage-1 log-growth rates (per step) of directions with frequencies eps
    (0 for a non-feature direction) in runs with weight decay lam and mask offset
    ``offset`` (:func:`mask_offset`) two ways. With ``y = (exp(rate) - 1 + eta lam) / (eta loglog d / d)``:

    - the paper's factor: ``y = C_z eps`` (a line through the origin): returns ``C_z`` and ``rms``;
    - with the mask offset (ours): ``y = C_z' (eps - k offset)``, k free (the argument of
      :func:`mask_offset` predicts k = 1): returns ``C_z_offset``, ``k`` and ``rms_offset``.

    All arrays broadcast. rms is that of y (units of C_z eps)."""
    rate, eps, lam, offset = (a.ravel() for a in np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (rate, eps, lam, offset))))
    ok = np.isfinite(rate)
    rate, eps, lam, offset = rate[ok], eps[ok], lam[ok], offset[ok]
    y = (np.exp(rate) - 1 + lr * lam) / (lr * _loglog(d) / d)
    C0 = float((eps * y).sum() / (eps * eps).sum())
    X = np.stack([eps, offset], axis=1)
    (c, b), *_ = np.linalg.lstsq(X, y, rcond=None)
    rms = lambda r: float(np.sqrt(np.mean(r ** 2)))
    return {"C_z": C0, "rms": rms(y - C0 * eps), "C_z_offset": float(c), "k": float(-b / c),
            "rms_offset": rms(y - X @ np.array([c, b])), "n": int(len(y))}


def stage1_C_z(rate, eps, lr, lam, d) -> dict:
    """C_z from measured Stage-1 log-growth rates (per step) of features with frequencies eps:
    solve ``rate = log(1 - eta lam + eta eps C_z loglog d / d)`` for C_z, then fit
    ``exp(rate) - 1 + eta lam = eta C_z (loglog d / d) eps`` as a line through the origin in eps
    (and with a free intercept, whose value is the growth a feature of frequency 0 would have).
    Returns dict(C_z (origin), C_z_free, intercept, rms, n)."""
    rate, eps, lam = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (rate, eps, lam)))
    ok = np.isfinite(rate) & np.isfinite(eps)
    y = (np.exp(rate[ok]) - 1 + lr * lam[ok]) / (lr * _loglog(d) / d)
    x = eps[ok]
    C0 = float((x * y).sum() / (x * x).sum())
    a, b, rms, n = _linfit(x, y)
    return {"C_z": C0, "C_z_free": b, "intercept": a, "rms": rms, "n": n}


def lucky_init_expected(m, d, ratio, gamma=0.0):
    """Expected number of neurons lucky at initialisation for one feature
    (:func:`imbacl.metrics.lucky_at_init`): ``m P(|g| >= ratio sqrt(2 (1 + gamma) log d))``
    with g ~ N(0, 1) and ratio = eps_max / eps_j. For large d this is
    ``m d^(-(1 + gamma) ratio^2)`` up to a log factor: the form of :func:`lucky_bound`."""
    from math import erfc, sqrt
    x = np.asarray(ratio, dtype=float) * np.sqrt(2 * (1 + gamma) * np.log(d))
    return m * np.vectorize(lambda v: erfc(v / sqrt(2)))(x)


def C_z_from_slope(slope, lr, d):
    """The constant C_z implied by a measured slope of the per-step log-growth against eps_j:
    the Stage-1 factor's log is about ``eta eps_j C_z loglog d / d - eta lam``, so
    ``C_z = slope d / (eta loglog d)``."""
    return np.asarray(slope) * d / (lr * _loglog(d))
