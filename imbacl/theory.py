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
