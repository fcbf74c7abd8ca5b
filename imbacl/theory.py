"""The paper's predicted quantities as functions (Theorems 3.1-3.3, the ICLR version's bounds).

The constants C_z, Xi_2, gamma c0 and C_m are not given numerically in the paper; each function
takes them as arguments (default 1 or 0) so that a fit (``imbacl/fits.py``) can absorb them.
Logs are natural.
"""
from __future__ import annotations

import numpy as np


def _loglog(d):
    return np.log(np.log(d))


def stage1_factor(eps, lr, lam, d, C_z=1.0):
    """Per-step growth factor of ``|<w_i, M_j>|`` in Stage 1: ``1 - eta lam + eta eps_j C_z loglog d / d``."""
    return 1 - lr * lam + lr * np.asarray(eps) * C_z * _loglog(d) / d


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


def lucky_init_expected(m, d, ratio, gamma=0.0):
    """Expected number of neurons lucky at initialisation for one feature
    (:func:`imbacl.metrics.lucky_at_init`): ``m P(|g| >= ratio sqrt(2 (1 + gamma) log d))``
    with g ~ N(0, 1) and ratio = eps_max / eps_j. For large d this is
    ``m d^(-(1 + gamma) ratio^2)`` up to a log factor: the form of :func:`lucky_bound`."""
    from math import erfc, sqrt
    x = np.asarray(ratio, dtype=float) * np.sqrt(2 * (1 + gamma) * np.log(d))
    return m * np.vectorize(lambda v: erfc(v / sqrt(2)))(x)


# -- carrying a config along the theory's scalings -------------------------------------------
def scale_to_d(base, d: int, d_ref: int = 9):
    """``base`` (set at d_ref features) carried to d features along the paper's scalings:
    m = round(d^C_m) with C_m = log(base.m) / log(d_ref) fixed; d1 = (base.d1 / d_ref) d;
    n_majority = round(base.n_majority d / d_ref); steps proportional to the d-dependence of
    the theory's T2, d log d / loglog d (rounded to 100); lam proportional to the theory's
    Stage-1 threshold, loglog d / d (3 significant digits), so every d sits at the same place
    relative to it. Frequencies, tau, sigma, lr and the rest are kept."""
    def t_shape(x):
        return x * np.log(x) / np.log(np.log(x))

    def lam_shape(x):
        return np.log(np.log(x)) / x

    if d < 3:
        raise ValueError(f"d={d} is invalid: scale_to_d needs d >= 3 (loglog d > 0)")
    C_m = np.log(base.m) / np.log(d_ref)
    lam = float(f"{base.lam * lam_shape(d) / lam_shape(d_ref):.3g}")
    return base.replace(d=d, d1=int(round(base.d1 / d_ref * d)), m=int(round(d ** C_m)),
                        n_majority=int(round(base.n_majority * d / d_ref)),
                        steps=int(round(base.steps * t_shape(d) / t_shape(d_ref) / 100) * 100),
                        lam=lam)
