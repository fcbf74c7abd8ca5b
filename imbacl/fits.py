"""Every fit of a measurement: straight lines, the Stage-1 constant C_z, the exponents and
constants of the paper's bounds, power laws and thresholds. The predictions being fitted are
in ``imbacl/theory.py``; logs are natural.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from .estimate import Estimate, resamples
from .metrics import crossing
from .theory import lam_threshold, stage1_inverse, stage1_inverse_linear


def linear_fit(x: ArrayLike, y: ArrayLike) -> dict:
    """Least-squares line ``y = intercept + slope x`` over the finite pairs of x and y
    (broadcast together, then flattened). Returns dict(slope, intercept, r2, rms, n), rms the
    root-mean-square residual. (``np.polyfit``, not ``scipy.stats.linregress``: the same line
    up to rounding, but not bit for bit, and the book's numbers would move in their last digits.)"""
    x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 2 or np.ptp(x) == 0:
        raise ValueError(
            f"a fit needs at least two finite points with two distinct x values (got {x.size})"
        )
    slope, intercept = np.polyfit(x, y, 1)
    res = y - intercept - slope * x
    ss_tot = ((y - y.mean()) ** 2).sum()
    r2 = 1 - (res**2).sum() / ss_tot if ss_tot > 0 else 1.0
    return {
        "slope": float(slope),
        "intercept": float(intercept),
        "r2": float(r2),
        "rms": float(np.sqrt(np.mean(res**2))),
        "n": int(x.size),
    }


def quadratic_fit(x: ArrayLike, y: ArrayLike) -> dict:
    """Least-squares parabola ``y = a + b x + c x^2`` over the finite pairs, and how much it
    bends over the range of x: ``bend`` = the change of the slope across the range, 2 c (max x -
    min x), over the slope at the mean x, b + 2 c mean(x). ``bend`` = 0 for a straight line; 0.25
    means the slope grows by a quarter of itself across the range. Returns dict(a, b, c, bend, n);
    at least three distinct x."""
    x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if np.unique(x).size < 3:
        raise ValueError(
            f"a parabola needs at least three distinct x values (got {np.unique(x).size})"
        )
    c, b, a = np.polyfit(x, y, 2)
    mid = b + 2 * c * x.mean()
    bend = 2 * c * np.ptp(x) / mid if mid != 0 else float("nan")
    return {"a": float(a), "b": float(b), "c": float(c), "bend": float(bend), "n": int(x.size)}


def _line(x, y):
    f = linear_fit(x, y)
    return f["intercept"], f["slope"], f["rms"], f["n"]


def _positive(*arrays):
    arrays = [
        np.broadcast_to(
            np.asarray(a, dtype=float), np.broadcast_shapes(*(np.shape(b) for b in arrays))
        ).ravel()
        for a in arrays
    ]
    ok = np.all([np.isfinite(a) & (a > 0) for a in arrays], axis=0)
    return [a[ok] for a in arrays]


def fit_power_law(x: ArrayLike, y: ArrayLike) -> dict:
    """Fit ``y = A x^b`` by least squares in log-log (positive finite points).
    Returns dict(A, b, rms, n)."""
    x, y = _positive(x, y)
    a, b, rms, n = _line(np.log(x), np.log(y))
    return {"A": float(np.exp(a)), "b": b, "rms": rms, "n": n}


def fit_lam_threshold(eps: ArrayLike, lam_star: ArrayLike, d: float) -> dict:
    """Fit a measured boundary lam*(eps) three ways, all scored by the rms of log lam*:

    - the prediction, a line through the origin ``lam* = eps C_z loglog d / d``
      (:func:`imbacl.theory.lam_threshold`): the fit absorbs C_z (geometric-mean estimate);
    - a free power law ``lam* = A eps^b`` (b = 1 is the line through the origin);
    - an affine line ``lam* = s (eps - eps0)``, fitted by least squares in lam* itself
      (eps0 > 0: a frequency below which nothing is learned even at lam = 0).

    Returns dict(C_z, rms_line, A, b, rms_power, s, eps0, rms_affine, n)."""
    eps, lam_star = _positive(eps, lam_star)
    if len(eps) < 2:
        raise ValueError(
            f"a fit needs at least two finite points with different x (got {len(eps)})"
        )
    x = lam_threshold(eps, d)
    logC = float(np.mean(np.log(lam_star) - np.log(x)))
    rms_line = float(np.sqrt(np.mean((np.log(lam_star) - logC - np.log(x)) ** 2)))
    pw = fit_power_law(eps, lam_star)
    a, s, _, _ = _line(eps, lam_star)
    eps0 = -a / s if s != 0 else float("nan")
    pred = s * (eps - eps0)
    rms_aff = float(np.sqrt(np.mean((np.log(lam_star) - np.log(np.maximum(pred, 1e-300))) ** 2)))
    return {
        "C_z": float(np.exp(logC)),
        "rms_line": rms_line,
        "A": pw["A"],
        "b": pw["b"],
        "rms_power": pw["rms"],
        "s": s,
        "eps0": eps0,
        "rms_affine": rms_aff,
        "n": len(eps),
    }


def stage1_C_z(
    rate: ArrayLike,
    eps: ArrayLike,
    lr: float,
    lam: ArrayLike,
    d: float,
    offset: ArrayLike | None = None,
) -> dict:
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
    y = stage1_inverse(rate, lr, lam, d)
    C0 = float((eps * y).sum() / (eps * eps).sum())

    def rms(r):
        return float(np.sqrt(np.mean(r**2)))

    free = linear_fit(eps, y)
    out = {
        "C_z": C0,
        "rms": rms(y - C0 * eps),
        "C_z_free": free["slope"],
        "intercept": free["intercept"],
        "rms_free": free["rms"],
        "n": int(len(y)),
    }
    if off:
        X = np.stack([eps, off[0]], axis=1)
        (c, b), *_ = np.linalg.lstsq(X, y, rcond=None)
        out.update(C_z_offset=float(c), k=float(-b / c), rms_offset=rms(y - X @ np.array([c, b])))
    return out


def C_z_from_slope(slope: ArrayLike, lr: float, d: float) -> np.ndarray | float:
    """C_z from a slope already fitted (the per-step log-growth against eps_j), by the
    linearised factor: log(1 - eta lam + eta eps_j C_z loglog d / d) is about
    ``eta eps_j C_z loglog d / d - eta lam``, so ``C_z = slope d / (eta loglog d)``. A
    conversion, not a second estimator: :func:`stage1_C_z` fits the exact factor
    (:func:`imbacl.theory.stage1_inverse_linear` with lam = 0, eps = 1)."""
    return stage1_inverse_linear(np.asarray(slope), lr, 0.0, d)


def zero_crossing(x: ArrayLike, y: ArrayLike) -> dict:
    """Where the least-squares line through (x, y) crosses zero: ``x0 = -intercept / slope``
    (e.g. the frequency at which Stage-1 growth stops, from rates against eps). Returns
    :func:`linear_fit`'s dict with ``x0`` added (NaN for a flat line)."""
    f = linear_fit(x, y)
    f["x0"] = -f["intercept"] / f["slope"] if f["slope"] != 0 else float("nan")
    return f


# -- intervals over seeds for chapter 8's boundary and Stage-1 fits ----------------------------
def bootstrap_seeds(
    fn: Callable[..., float], arrays: Sequence[ArrayLike], digits: int = 3, seed: int = 0
) -> Estimate:
    """``fn(*arrays)`` with a 95% percentile-bootstrap interval over seeds: every array has the
    seeds on axis 0 and the seeds are resampled together (the same rows of each). Resamples
    where ``fn`` is not finite (e.g. a boundary not crossed in that resample) are left out of
    the interval; if more than 5% are, the interval is widened to (-inf, inf) (the data do not
    resolve the quantity). Returns an :class:`imbacl.estimate.Estimate` (n = seeds)."""
    arrays = [np.asarray(a, dtype=float) for a in arrays]
    n = len(arrays[0])
    if n < 2 or any(len(a) != n for a in arrays):
        raise ValueError(
            f"bootstrap_seeds needs >= 2 seeds on axis 0 of every array "
            f"(got {[len(a) for a in arrays]})"
        )
    value = float(fn(*arrays))
    boots = np.array([float(fn(*(a[i] for a in arrays))) for i in resamples(n, seed)])
    ok = np.isfinite(boots)
    if not np.isfinite(value) or ok.mean() < 0.95:
        return (
            Estimate(value, -np.inf, np.inf, n, digits)
            if np.isfinite(value)
            else Estimate(float("nan"), float("nan"), float("nan"), n, digits)
        )
    lo, hi = np.percentile(boots[ok], [2.5, 97.5])
    return Estimate(value, float(min(lo, value)), float(max(hi, value)), n, digits)


def _crossing_of_mean(x, level):
    return lambda y: crossing(x, np.nanmean(y, 0), level)


def crossing_estimate(
    x: ArrayLike, y_per_seed: ArrayLike, level: float, digits: int = 3
) -> Estimate:
    """Where the seed-mean curve ``y(x)`` crosses ``level`` (:func:`imbacl.metrics.crossing`,
    linear interpolation), with a bootstrap interval over seeds. ``y_per_seed``: (seeds, len(x)),
    e.g. the learned minority share of each seed along lambda (the boundary lam_T)."""
    return bootstrap_seeds(_crossing_of_mean(x, level), [y_per_seed], digits)


def _threshold_stat(eps, x, level, d, key, use):

    def stat(y):  # y: (seeds, len(x), len(eps))
        m = np.nanmean(y, 0)
        lam = np.array([crossing(x, m[:, b], level) for b in range(len(eps))])[use]
        if not np.all(np.isfinite(lam) & (lam > 0)):
            return float("nan")
        return fit_lam_threshold(np.asarray(eps)[use], lam, d)[key]

    return stat


def lam_threshold_estimate(
    eps: ArrayLike,
    x: ArrayLike,
    y_per_seed: ArrayLike,
    level: float,
    d: int,
    key: str,
    digits: int = 3,
) -> Estimate:
    """A parameter of :func:`fit_lam_threshold` (``key``: 'b', 'eps0', 'C_z', 'rms_line', ...)
    fitted to the boundary lam*(eps), the crossing of ``level`` along ``x`` (lambda) of the
    seed-mean of ``y_per_seed`` (seeds, len(x), len(eps)) at each eps, with a bootstrap
    interval over seeds. The fit uses the eps whose boundary is crossed at a positive lambda
    in the full data (at least 5 required); a resample in which one of them is not crossed
    counts as unresolved (see :func:`bootstrap_seeds`)."""

    y = np.asarray(y_per_seed, dtype=float)
    m = np.nanmean(y, 0)
    lam = np.array([crossing(x, m[:, b], level) for b in range(len(eps))])
    use = np.isfinite(lam) & (lam > 0)
    if use.sum() < 5:
        raise ValueError(
            f"a boundary fit the book reports needs >= 5 crossed eps (got {use.sum()})"
        )
    return bootstrap_seeds(_threshold_stat(eps, x, level, d, key, use), [y], digits)


def _stage1_stat(eps, lr, lam, d, offset, key):
    def stat(rate, eps_s, lam_s, off_s):
        return stage1_C_z(rate, eps_s, lr, lam_s, d, offset=off_s)[key]

    return stat


def stage1_C_z_estimate(
    rate: ArrayLike,
    eps: ArrayLike,
    lr: float,
    lam: ArrayLike,
    d: float,
    offset: ArrayLike,
    key: str,
    digits: int = 3,
) -> Estimate:
    """A parameter of :func:`stage1_C_z` (``key``: 'C_z', 'C_z_offset', 'k', 'rms', ...) with a
    bootstrap interval over seeds. Every array has the seeds on axis 0: rate and eps
    (seeds, runs, directions), lam and offset (seeds, runs, 1)."""
    return bootstrap_seeds(
        _stage1_stat(eps, lr, lam, d, offset, key), [rate, eps, lam, offset], digits
    )


def transition_width(
    x: ArrayLike,
    y: ArrayLike,
    boundary: ArrayLike,
    high: float = 0.9,
    low: float = 0.1,
    resolve: float = 0.5,
    digits: int = 3,
) -> tuple[Estimate, int]:
    """How sharp a boundary is, independent of where the grid points fall: per eps row of ``y``
    (len(x), n_eps, seeds), the x where the seed-mean curve crosses ``low`` minus the x where it
    crosses ``high`` (linear interpolation, :func:`imbacl.metrics.crossing`), over the row's
    ``boundary``; the mean over the rows the grid resolves, with a bootstrap interval over seeds.
    A row is resolved when the grid interval holding its boundary is narrower than ``resolve``
    times the boundary: a wider interval cannot tell a cliff from a ramp of that width.
    Returns the estimate and the number of resolved rows (NaN estimate if none)."""
    x, y, bnd = np.asarray(x, float), np.asarray(y, float), np.asarray(boundary, float)
    rows = []
    for b, v in enumerate(bnd):
        if np.isfinite(v) and x[0] < v < x[-1]:
            k = int(np.argmax(x > v))
            if x[k] - x[k - 1] < resolve * v:
                rows.append(b)
    if not rows:
        return Estimate(float("nan"), float("nan"), float("nan"), y.shape[-1], digits), 0

    def stat(seeds):  # seeds: (seeds, len(x), n_eps)
        m = np.nanmean(seeds, 0)
        return float(
            np.mean(
                [(crossing(x, m[:, b], low) - crossing(x, m[:, b], high)) / bnd[b] for b in rows]
            )
        )

    return bootstrap_seeds(stat, [np.moveaxis(y, -1, 0)], digits), len(rows)


def share_at_boundary(
    x: ArrayLike, y: ArrayLike, boundary: ArrayLike, side: str = "above"
) -> np.ndarray:
    """Per seed, the mean of ``y`` (len(x), n_eps, seeds) at the first grid value of x above
    (side 'above') or the last below ('below') each eps's ``boundary`` (n_eps,), over the eps
    whose boundary lies inside the grid: how sharp the boundary is (shape (seeds,)). E.g. the
    learned minority share one grid step beyond lam_T."""
    x, y, bnd = np.asarray(x, float), np.asarray(y, float), np.asarray(boundary, float)
    if side not in ("above", "below"):
        raise ValueError(f"side={side!r} is invalid: must be 'above' or 'below'")
    rows = []
    for b, v in enumerate(bnd):
        if not np.isfinite(v) or not (x[0] < v < x[-1]):
            continue
        k = int(np.argmax(x > v)) if side == "above" else int(np.nonzero(x < v)[0].max())
        rows.append(y[k, b])
    if not rows:
        raise ValueError("no boundary lies inside the grid")
    return np.mean(rows, axis=0)
