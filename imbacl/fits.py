"""Every fit of a measurement: straight lines, the Stage-1 constant C_z, the exponents and
constants of the paper's bounds, power laws and thresholds. The predictions being fitted are
in ``imbacl/theory.py``; logs are natural.
"""
from __future__ import annotations

import numpy as np

from .theory import _loglog


def linear_fit(x, y) -> dict:
    """Least-squares line ``y = intercept + slope x`` over the finite pairs of x and y
    (broadcast together, then flattened). Returns dict(slope, intercept, r2, rms, n), rms the
    root-mean-square residual."""
    x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 2 or np.ptp(x) == 0:
        raise ValueError(f"a fit needs at least two finite points with two distinct x values "
                         f"(got {x.size})")
    slope, intercept = np.polyfit(x, y, 1)
    res = y - intercept - slope * x
    ss_tot = ((y - y.mean()) ** 2).sum()
    r2 = 1 - (res ** 2).sum() / ss_tot if ss_tot > 0 else 1.0
    return {"slope": float(slope), "intercept": float(intercept), "r2": float(r2),
            "rms": float(np.sqrt(np.mean(res ** 2))), "n": int(x.size)}


def _line(x, y):
    f = linear_fit(x, y)
    return f["intercept"], f["slope"], f["rms"], f["n"]


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
    a, b, rms, n = _line(rho ** 2 * np.log(d), np.log(sizes) - np.log(d))
    return {"C": float(np.exp(a)), "gamma_c0": 1 + b, "slope": b, "rms": rms, "n": n}


def fit_omega1(rho, d, m, counts) -> dict:
    """Fit pure-neuron counts per feature to ``C d^omega_1``, ``omega_1 = C_m - rho^-2 (1 + gamma c0)``.

    With m = d^C_m known, ``log(count / m) = log C - (1 + gamma c0) rho^-2 log d``: a line in
    ``rho^-2 log d``. The fit absorbs the Omega(.) constant C and gamma c0 (C_m is not free: it
    is log m / log d of the runs). Zero counts are dropped (log 0), so the fit describes the
    runs that have pure neurons. Returns dict(C, gamma_c0, slope = -(1 + gamma c0), rms, n)."""
    rho, d, m, counts = _positive(rho, d, m, counts)
    a, b, rms, n = _line(rho ** -2.0 * np.log(d), np.log(counts / m))
    return {"C": float(np.exp(a)), "gamma_c0": -b - 1, "slope": b, "rms": rms, "n": n}


def fit_width(rho, d, m_star) -> dict:
    """Fit the width a feature needs, ``m* = C d^(a rho^-2)``: the m at which the lucky-neuron
    count ``m d^(-a rho^-2)`` (:func:`imbacl.theory.lucky_bound` has a = 1) reaches a fixed level.

    ``log m* = log C + a rho^-2 log d``; non-finite m* (never reached) are dropped. The fit
    absorbs the level C and the exponent factor a (a = 1 + gamma c0 in omega_1's form).
    Returns dict(C, a, rms, n)."""
    rho, d, m_star = _positive(rho, d, m_star)
    a, b, rms, n = _line(rho ** -2.0 * np.log(d), np.log(m_star))
    return {"C": float(np.exp(a)), "a": b, "rms": rms, "n": n}


def fit_power_law(x, y) -> dict:
    """Fit ``y = A x^b`` by least squares in log-log (positive finite points). dict(A, b, rms, n)."""
    x, y = _positive(x, y)
    a, b, rms, n = _line(np.log(x), np.log(y))
    return {"A": float(np.exp(a)), "b": b, "rms": rms, "n": n}


def fit_lam_threshold(eps, lam_star, d) -> dict:
    """Fit a measured boundary lam*(eps) three ways, all scored by the rms of log lam*:

    - the prediction, a line through the origin ``lam* = eps C_z loglog d / d``
      (:func:`imbacl.theory.lam_threshold`): the fit absorbs C_z (geometric-mean estimate);
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
    a, s, _, _ = _line(eps, lam_star)
    eps0 = -a / s if s != 0 else float("nan")
    pred = s * (eps - eps0)
    rms_aff = float(np.sqrt(np.mean((np.log(lam_star) - np.log(np.maximum(pred, 1e-300))) ** 2)))
    return {"C_z": float(np.exp(logC)), "rms_line": rms_line, "A": pw["A"], "b": pw["b"],
            "rms_power": pw["rms"], "s": s, "eps0": eps0, "rms_affine": rms_aff, "n": len(eps)}


def stage1_C_z(rate, eps, lr, lam, d, offset=None) -> dict:
    """C_z from measured Stage-1 log-growth rates (per step) of directions with frequencies eps
    (0 for a non-feature direction) in runs with weight decay lam. With
    ``y = (exp(rate) - 1 + eta lam) / (eta loglog d / d)`` (the inverse of
    :func:`imbacl.theory.stage1_factor`), fitted three ways; all arrays broadcast:

    - the paper's factor, ``y = C_z eps`` (a line through the origin): ``C_z``, ``rms``;
    - a free intercept, ``y = intercept + C_z_free eps`` (the intercept is the growth a
      frequency-0 direction would have): ``C_z_free``, ``intercept``, ``rms_free``;
    - with ``offset`` (:func:`imbacl.theory.mask_offset` per run, ours), ``y = C_z' (eps - k
      offset)``, k free (the mask argument predicts k = 1): ``C_z_offset``, ``k``, ``rms_offset``.

    rms are those of y (units of C_z eps); ``n`` the points used (finite rates)."""
    arrays = [np.asarray(v, dtype=float) for v in (rate, eps, lam)]
    if offset is not None:
        arrays.append(np.asarray(offset, dtype=float))
    arrays = [a.ravel() for a in np.broadcast_arrays(*arrays)]
    ok = np.isfinite(arrays[0]) & np.isfinite(arrays[1])
    rate, eps, lam, *off = (a[ok] for a in arrays)
    y = (np.exp(rate) - 1 + lr * lam) / (lr * _loglog(d) / d)
    C0 = float((eps * y).sum() / (eps * eps).sum())
    rms = lambda r: float(np.sqrt(np.mean(r ** 2)))
    free = linear_fit(eps, y)
    out = {"C_z": C0, "rms": rms(y - C0 * eps), "C_z_free": free["slope"],
           "intercept": free["intercept"], "rms_free": free["rms"], "n": int(len(y))}
    if off:
        X = np.stack([eps, off[0]], axis=1)
        (c, b), *_ = np.linalg.lstsq(X, y, rcond=None)
        out.update(C_z_offset=float(c), k=float(-b / c), rms_offset=rms(y - X @ np.array([c, b])))
    return out


def C_z_from_slope(slope, lr, d):
    """C_z from a slope already fitted (the per-step log-growth against eps_j), by the
    linearised factor: log(1 - eta lam + eta eps_j C_z loglog d / d) is about
    ``eta eps_j C_z loglog d / d - eta lam``, so ``C_z = slope d / (eta loglog d)``. A
    conversion, not a second estimator: :func:`stage1_C_z` fits the exact factor."""
    return np.asarray(slope) * d / (lr * _loglog(d))
