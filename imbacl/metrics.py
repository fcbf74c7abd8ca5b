"""Measurements: pure functions of projections P (..., m, d1) with P_ij = <w_i, M_j>.

Leading axes (runs, snapshots) broadcast through every function. The first ``d`` columns of P
are the features M_1..M_d; the rest are the non-feature directions M_j^perp. Thresholds are
parameters, with the defaults the book states where it defines them (chapters 2-5).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def cos2(P: np.ndarray, d: int) -> np.ndarray:
    """Squared cosines cos^2_ij = P_ij^2 / ||w_i||^2 on the d features (Figure 1's quantity)."""
    P = np.asarray(P, dtype=np.float64)
    return P[..., :d] ** 2 / np.maximum((P**2).sum(-1, keepdims=True), 1e-300)


def feature_energy(P: np.ndarray, d: int) -> np.ndarray:
    """phi_i = sum_{j <= d} cos^2_ij: the share of ||w_i||^2 on features (1 - phi_i is noise)."""
    return cos2(P, d).sum(-1)


def feature_sets(P: np.ndarray, d: int, kappa: float = 0.5, min_energy: float = 0.5) -> np.ndarray:
    """N_i as a boolean (..., m, d): j with P_ij^2 >= kappa * max_j' P_ij'^2, for neurons whose
    feature energy is at least ``min_energy`` (other neurons get the empty set)."""
    c = cos2(P, d)
    member = c >= kappa * c.max(-1, keepdims=True)
    return member & (feature_energy(P, d) >= min_energy)[..., None]


def set_sizes(P: np.ndarray, d: int, kappa: float = 0.5, min_energy: float = 0.5) -> np.ndarray:
    """``|N_i|`` per neuron, shape (..., m)."""
    return feature_sets(P, d, kappa, min_energy).sum(-1)


def purity(P: np.ndarray, d: int) -> np.ndarray:
    """max_j cos^2_ij / phi_i: the share of a neuron's feature energy held by its top feature."""
    c = cos2(P, d)
    return c.max(-1) / np.maximum(c.sum(-1), 1e-300)


def dominant_feature(P: np.ndarray, d: int) -> np.ndarray:
    """``argmax_j |P_ij|`` over the features, shape (..., m)."""
    return np.abs(np.asarray(P)[..., :d]).argmax(-1)


def pure_neurons(P: np.ndarray, d: int, kappa: float = 0.5, min_cos2: float = 0.5) -> np.ndarray:
    """Boolean (..., m, d): neuron i is pure for j when N_i = {j} and cos^2_ij >= min_cos2."""
    N = feature_sets(P, d, kappa)
    return N & (N.sum(-1, keepdims=True) == 1) & (cos2(P, d) >= min_cos2)


def pure_counts(P: np.ndarray, d: int, kappa: float = 0.5, min_cos2: float = 0.5) -> np.ndarray:
    """Number of pure neurons per feature (..., d)."""
    return pure_neurons(P, d, kappa, min_cos2).sum(-2)


def coverage(P: np.ndarray, d: int, kappa: float = 0.5, min_cos2: float = 0.5) -> np.ndarray:
    """Boolean (..., d): feature j has at least one pure neuron."""
    return pure_counts(P, d, kappa, min_cos2) > 0


def minority_covered(
    P: np.ndarray, d: int, n_majority: int, kappa: float = 0.5, min_cos2: float = 0.5
) -> np.ndarray:
    """Boolean (...): every minority feature (j >= n_majority) has a pure neuron (chapter 7's
    criterion for enough width)."""
    return coverage(P, d, kappa, min_cos2)[..., n_majority:].all(-1)


def aligned_neurons(P: np.ndarray, d: int, min_cos2: float = 0.5) -> np.ndarray:
    """Boolean (..., m, d): ``|<w_i, M_j>| >= sqrt(min_cos2) ||w_i||`` (Theorem 3.2's Omega(1))."""
    return cos2(P, d) >= min_cos2


def aligned_per_minority(
    P: np.ndarray, d: int, n_majority: int, min_cos2: float = 0.5
) -> np.ndarray:
    """Aligned neurons (:func:`aligned_neurons`, cos^2 >= ``min_cos2``) per minority feature: their
    number on each minority feature (j >= n_majority), averaged over those features, shape
    (...) for P (..., m, d1); NaN without minority features."""
    aligned = aligned_neurons(P, d, min_cos2)[..., n_majority:]
    if aligned.shape[-1] == 0:
        return np.full(aligned.shape[:-2], np.nan)
    return aligned.sum(-2).mean(-1)


def growth(P_from: np.ndarray, P_to: np.ndarray) -> np.ndarray:
    """``|P_ij(to)| / |P_ij(from)|`` elementwise (Theorem 3.1's growth factor)."""
    return np.abs(P_to) / np.maximum(np.abs(P_from), 1e-300)


def decomposition(
    P: ArrayLike, d: int, kappa: float = 0.5, min_energy: float = 0.5
) -> dict[str, np.ndarray]:
    """Eq. (9): split every neuron's coefficients into alpha (features in N_i), alpha' (features
    outside N_i) and beta (non-feature directions). Returns magnitudes, NaN where absent:
    alpha (..., m, d), alpha_prime (..., m, d), beta (..., m, d1 - d), plus norms (..., m)."""
    P = np.asarray(P, dtype=np.float64)
    N = feature_sets(P, d, kappa, min_energy)
    A = np.abs(P[..., :d])
    return {
        "alpha": np.where(N, A, np.nan),
        "alpha_prime": np.where(N, np.nan, A),
        "beta": np.abs(P[..., d:]),
        "norm": np.sqrt((P**2).sum(-1)),
    }


def first_crossing(steps: np.ndarray, values: np.ndarray, level: float) -> np.ndarray:
    """First step at which ``values`` (..., S) reaches ``level``; inf where it never does."""
    hit = np.asarray(values) >= level
    idx = hit.argmax(-1)
    return np.where(hit.any(-1), np.asarray(steps)[idx], np.inf)


def alignment_times(steps: np.ndarray, P: np.ndarray, d: int, level: float = 0.5) -> np.ndarray:
    """Per feature, the first step at which its best neuron reaches cos^2 >= level.

    P: (..., S, m, d1). Returns (..., d), inf for a feature no neuron reaches."""
    best = cos2(P, d).max(-2)  # (..., S, d)
    return first_crossing(steps, np.moveaxis(best, -1, -2), level)


def stage1_end(steps: np.ndarray, P: np.ndarray, d: int, level: float = 0.5) -> np.ndarray:
    """Estimated T1: first step at which the median neuron's feature energy phi_i reaches
    ``level`` (at initialisation phi_i is about d / d1). P: (..., S, m, d1)."""
    return first_crossing(steps, np.median(feature_energy(P, d), axis=-1), level)


def stage2_end(steps: np.ndarray, P: np.ndarray, d: int, level: float = 0.5) -> np.ndarray:
    """Estimated T2: first step at which the median neuron's top cos^2 reaches ``level``, i.e.
    the typical neuron satisfies eq. (6) with Omega(1) = sqrt(level). P: (..., S, m, d1)."""
    return first_crossing(steps, np.median(cos2(P, d).max(-1), axis=-1), level)


def init_race(P0: np.ndarray, d: int, log_advantage: ArrayLike | None = None) -> np.ndarray:
    """Predict each neuron's final dominant feature from its initial projections P0 (..., m, d1):
    argmax_j log|P_ij(0)| + g_j, where g_j (d,) is feature j's expected Stage-1 log-growth
    advantage (e.g. t * eta * c * eps_j); None means the largest initial projection wins."""
    score = np.log(np.maximum(np.abs(np.asarray(P0)[..., :d]), 1e-300))
    if log_advantage is not None:
        score = score + np.asarray(log_advantage)
    return score.argmax(-1)


def race_accuracy(
    predicted: ArrayLike, P_final: np.ndarray, d: int, min_energy: float = 0.5
) -> float:
    """Share of feature-dominated neurons whose final dominant feature was predicted."""
    ok = feature_energy(P_final, d) >= min_energy
    hit = (np.asarray(predicted) == dominant_feature(P_final, d)) & ok
    return hit.sum() / max(ok.sum(), 1)


# -- imbalance: ratio, width, noise separation, regularisation (chapters 6-8) ------------------
def mean_set_size(P: np.ndarray, d: int, kappa: float = 0.5, min_energy: float = 0.5) -> np.ndarray:
    """Mean ``|N_i|`` over the feature-dominated neurons (feature energy >= ``min_energy``),
    shape (...); NaN where no neuron qualifies."""
    ok = feature_energy(P, d) >= min_energy
    sizes = set_sizes(P, d, kappa, min_energy)
    n = ok.sum(-1)
    return np.where(n > 0, (sizes * ok).sum(-1) / np.maximum(n, 1), np.nan)


def scaled_feature_sets(
    P: np.ndarray, d: int, freqs: ArrayLike, kappa: float = 0.5, min_energy: float = 0.5
) -> np.ndarray:
    """N_i with the paper's frequency-scaled membership, boolean (..., m, d): j is in N_i when
    ``cos^2_ij >= kappa (eps_j / eps_max)^2 max_j' cos^2_ij'``.

    Theorem 3.3 lets the coefficient of a feature in N_i be as small as
    (eps_j/eps_max) tau / Xi_2, so a minority feature belongs to N_i at a coefficient weaker by
    the factor eps_j/eps_max; ``kappa`` plays the role of 1/Xi_2^2. ``freqs`` (..., d) are the
    run's eps_j. Neurons below ``min_energy`` get the empty set."""
    c = cos2(P, d)
    f = np.asarray(freqs, dtype=np.float64)
    w = (f / f.max(-1, keepdims=True)) ** 2
    if w.ndim > 1:
        w = np.expand_dims(w, -2)  # one frequency vector per run, over neurons
    member = c >= kappa * w * c.max(-1, keepdims=True)
    return member & (feature_energy(P, d) >= min_energy)[..., None]


def loadings(P: np.ndarray) -> np.ndarray:
    """Per direction k of all d1 directions, the largest squared cosine any neuron has on it:
    ``l_k = max_i cos^2(w_i, M_k)``, shape (..., d1)."""
    P = np.asarray(P, dtype=np.float64)
    c = P**2 / np.maximum((P**2).sum(-1, keepdims=True), 1e-300)
    return c.max(-2)


def weight_penalty(P: ArrayLike, lam: float) -> np.ndarray:
    """The weight decay's term of the objective (eq. (2), :mod:`imbacl.loss`),
    ``(lam / 2) ||W||_F^2``, from projections P (..., m, k) that keep every neuron's norm (the
    full P, or :func:`imbacl.scaling.compact`'s). Returns (...)."""
    return 0.5 * lam * (np.asarray(P, dtype=np.float64) ** 2).sum(axis=(-2, -1))


def noise_separation(P: np.ndarray, d: int) -> np.ndarray:
    """Feature-noise separation per feature, ``s_j = log10(l_j / max_{k>d} l_k)`` (..., d), with
    l the :func:`loadings`.

    s_j > 0: some neuron loads on M_j more than any neuron loads on any non-feature direction,
    so reading the learned weights singles M_j out from the noise; s_j <= 0: M_j is loaded no
    more than some noise direction and cannot be told from noise by the weights alone."""
    P = np.asarray(P)
    if P.shape[-1] <= d:
        raise ValueError(
            f"d={d} is invalid: noise_separation needs non-feature directions (d < d1)"
        )
    l = loadings(P)
    noise = l[..., d:].max(-1, keepdims=True)
    return np.log10(np.maximum(l[..., :d], 1e-300) / np.maximum(noise, 1e-300))


def learned(P: np.ndarray, d: int, min_cos2: float = 0.5) -> np.ndarray:
    """Boolean (..., d): feature j has an aligned neuron, some ``cos^2_ij >= min_cos2``."""
    return aligned_neurons(P, d, min_cos2).any(-2)


def feature_norms(P: np.ndarray) -> np.ndarray:
    """``||W M_k|| = sqrt(sum_i P_ik^2)`` for every direction k, shape (..., d1): the weight a
    direction carries over all neurons."""
    P = np.asarray(P, dtype=np.float64)
    return np.sqrt((P**2).sum(-2))


def growth_rate(steps: ArrayLike, P: np.ndarray, t_max: float) -> np.ndarray:
    """Measured Stage-1 log-growth per step of every direction: the least-squares slope of
    ``log ||W M_k||`` against the step over the snapshots with step <= ``t_max``.

    P: (..., S, m, d1) at ``steps`` (S,). Returns (..., d1). Theorem 3.1 predicts
    ``log(1 - eta lam + eta eps_j C_z loglog d / d)`` for feature j
    (:func:`imbacl.theory.stage1_factor`)."""
    return log_slope(steps, np.log(np.maximum(feature_norms(P), 1e-300)), t_max)


def log_slope(steps: ArrayLike, y: ArrayLike, t_max: float) -> np.ndarray:
    """The least-squares slope of ``y`` (..., S, k) against ``steps`` (S,) over the snapshots
    with step <= ``t_max``, per column: shape (..., k)."""
    steps = np.asarray(steps, dtype=np.float64)
    sel = steps <= t_max
    if sel.sum() < 2:
        raise ValueError(f"t_max={t_max} is invalid: needs at least two snapshots at or before it")
    y = np.asarray(y, dtype=np.float64)[..., sel, :]
    x = steps[sel] - steps[sel].mean()
    return (x[:, None] * (y - y.mean(-2, keepdims=True))).sum(-2) / (x**2).sum()


def crossing(x: ArrayLike, y: ArrayLike, level: float, log: bool = False) -> float:
    """The x at which the curve y(x) first crosses ``level`` (either direction), by linear
    interpolation between neighbouring points (in log x with ``log=True``; x must then be > 0).
    x[0] if y starts at the level; NaN if it never reaches it."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    u = np.log(x) if log else x
    g = y - level
    for k in range(len(g)):
        if not np.isfinite(g[k]):
            continue
        if g[k] == 0:
            return float(x[k])
        if k + 1 < len(g) and np.isfinite(g[k + 1]) and g[k] * g[k + 1] < 0:
            t = g[k] / (g[k] - g[k + 1])
            v = u[k] + t * (u[k + 1] - u[k])
            return float(np.exp(v) if log else v)
    return float("nan")


def smallest_passing(x: ArrayLike, y: ArrayLike, level: float) -> float:
    """The smallest x (x ascending) from which y stays >= ``level`` at every larger x; NaN if
    y is below the level at the last x. For thresholds such as the width m* of chapter 7."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = y >= level
    if not ok[-1]:
        return float("nan")
    k = len(ok) - 1
    while k > 0 and ok[k - 1]:
        k -= 1
    return float(x[k])


def imbalance_summary(
    P: ArrayLike,
    d: int,
    n_majority: int,
    freqs: ArrayLike | None = None,
    kappa: float = 0.5,
    min_cos2: float = 0.5,
) -> dict:
    """The per-run quantities of the imbalance chapters for final projections P (..., m, d1).

    Returns a dict of arrays over the leading axes: ``set_size`` (mean ``|N_i|``),
    ``set_size_scaled`` (the paper's frequency-scaled N_i of :func:`scaled_feature_sets`;
    needs ``freqs``),
    ``purity`` (mean over neurons), ``pure_maj`` / ``pure_min`` (pure neurons per majority /
    minority feature), ``cov_maj`` / ``cov_min`` (share of those features with a pure neuron),
    ``learned_min`` (share of minority features with a lucky neuron), ``noise_energy`` (mean
    1 - phi_i over neurons), ``sep_maj`` / ``sep_min`` (mean :func:`noise_separation`) and
    ``sep_min_worst`` (its minimum over minority features). NaN where a class is empty."""
    P = np.asarray(P, dtype=np.float64)
    maj, mino = slice(0, n_majority), slice(n_majority, d)

    def cls(a, s, f=np.mean):
        a = a[..., s]
        return f(a, axis=-1) if a.shape[-1] else np.full(a.shape[:-1], np.nan)

    pc = pure_counts(P, d, kappa, min_cos2)
    cov = pc > 0
    sep = noise_separation(P, d)
    out = {
        "set_size": mean_set_size(P, d, kappa),
        "purity": purity(P, d).mean(-1),
        "pure_maj": cls(pc, maj),
        "pure_min": cls(pc, mino),
        "cov_maj": cls(cov, maj),
        "cov_min": cls(cov, mino),
        "learned_min": cls(learned(P, d, min_cos2), mino),
        "noise_energy": 1 - feature_energy(P, d).mean(-1),
        "sep_maj": cls(sep, maj),
        "sep_min": cls(sep, mino),
        "sep_min_worst": cls(sep, mino, np.min),
    }
    if freqs is not None:
        N = scaled_feature_sets(P, d, freqs, kappa)
        ok = feature_energy(P, d) >= 0.5
        n = ok.sum(-1)
        out["set_size_scaled"] = np.where(
            n > 0, (N.sum(-1) * ok).sum(-1) / np.maximum(n, 1), np.nan
        )
    return out


# -- training dynamics: Stages 1-3 (chapters 3-5) ----------------------------------------------
def log_growth_rate(P_from: np.ndarray, P_to: np.ndarray, dt: float) -> np.ndarray:
    """Per-step log-growth ``(log|P_ij(to)| - log|P_ij(from)|) / dt``, elementwise.

    The measured counterpart of the log of Theorem 3.1's per-step factor
    ``1 - eta lam + eta eps_j C`` (see :func:`imbacl.theory.stage1_factor`)."""
    return np.log(growth(P_from, P_to)) / float(dt)


def median_growth_rates(P: ArrayLike, d: int, k: int, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Median Stage-1 growth rates between snapshot 0 and snapshot ``k`` of P (..., S, m, d1),
    ``dt`` steps apart (:func:`log_growth_rate`): per feature the median over neurons, shape
    (..., d), and for the non-feature directions the median over neurons and directions,
    shape (...). Returns (features, non_features)."""
    P = np.asarray(P)
    r = log_growth_rate(P[..., 0, :, :], P[..., k, :, :], dt)  # (..., m, d1)
    return np.median(r[..., :d], axis=-2), np.median(r[..., d:], axis=(-2, -1))


def perp_excess(P_from: ArrayLike, P_to: ArrayLike, d: int) -> np.ndarray:
    """Eqs. (5) and (7): per neuron, the largest *increase* of a non-feature component between
    two times, relative to the neuron's norm at the later time,
    ``max_{j > d} (|P_ij(to)| - |P_ij(from)|)_+ / ||w_i(to)||``. Shape (..., m); 0 when every
    non-feature component shrank."""
    A0 = np.abs(np.asarray(P_from, dtype=np.float64)[..., d:])
    P_to = np.asarray(P_to, dtype=np.float64)
    up = np.maximum(np.abs(P_to[..., d:]) - A0, 0).max(-1)
    return up / np.maximum(np.sqrt((P_to**2).sum(-1)), 1e-300)


def lucky_at_init(
    P0: ArrayLike, d: int, freqs: ArrayLike, init_std: float, gamma: float = 0.0
) -> np.ndarray:
    """Lucky neurons defined at initialisation, boolean (..., m, d): i is in M_j^* when
    ``|P_ij(0)| >= (eps_max / eps_j) sqrt(2 (1 + gamma) log d) sigma_0``.

    The Gaussian-tail event behind the ICLR version's count ``m d^(-(eps_max/eps_j)^2)``: a
    neuron starts ahead on M_j by enough to win the Stage-1 race even against the majority
    features' faster growth. ``freqs`` is (eps_1, ..., eps_d); ``init_std`` is sigma_0."""
    f = np.asarray(freqs, dtype=float)
    thr = (f.max() / f) * np.sqrt(2 * (1 + gamma) * np.log(d)) * init_std
    return np.abs(np.asarray(P0)[..., :d]) >= thr


def figure1_claims(
    P: np.ndarray, d: int, n_majority: int, min_cos2: float = 0.5, kappa: float = 0.5
) -> dict[str, np.ndarray]:
    """The three written claims of the paper's Figure 1, per run, from final projections
    P (..., m, d1). Returns a dict of arrays of shape (...):

    - ``maj_over_min``: mean cos^2 on majority columns / mean cos^2 on minority columns
      (claim 1, "significantly larger projections onto majority features");
    - ``tied_to_majority``: share of neurons whose dominant feature is a majority feature with
      cos^2 >= ``min_cos2`` (claim 2, "nearly every neuron ... at least one majority feature");
    - ``majority_covered_share``: share of majority features with at least one pure neuron
      (:func:`pure_neurons`, i.e. the feature dominates that neuron; claim 3);
    - ``minority_covered_share``: the same share for the minority features (a share; the
      boolean "every minority feature covered" is :func:`minority_covered`);
    - ``majority_margin``: over the majority features, the smallest best cos^2 that any neuron
      has on the feature (claim 3 read continuously: above 1/2 every majority feature holds at
      least half of some neuron's squared norm, more than any other direction can, so it
      dominates that neuron; how far above says how close the claim came to failing).
    """
    c = cos2(P, d)
    maj, mino = c[..., :n_majority], c[..., n_majority:]
    out = {
        "maj_over_min": maj.mean((-1, -2)) / np.maximum(mino.mean((-1, -2)), 1e-300)
        if mino.shape[-1]
        else np.full(c.shape[:-2], np.inf)
    }
    top = dominant_feature(P, d)
    out["tied_to_majority"] = ((top < n_majority) & (c.max(-1) >= min_cos2)).mean(-1)
    cov = coverage(P, d, kappa, min_cos2)
    out["majority_covered_share"] = cov[..., :n_majority].mean(-1)
    out["majority_margin"] = maj.max(-2).min(-1)
    out["minority_covered_share"] = (
        cov[..., n_majority:].mean(-1) if d > n_majority else np.full(c.shape[:-2], np.nan)
    )
    return out


def race_chance(
    predicted: ArrayLike, P_final: np.ndarray, d: int, min_energy: float = 0.5
) -> float:
    """Chance level for :func:`race_accuracy`: the accuracy of a prediction with the same
    distribution over features as ``predicted`` but independent of the neuron,
    ``sum_j p_pred(j) p_final(j)`` over the feature-dominated neurons."""
    ok = feature_energy(P_final, d) >= min_energy
    if not ok.any():
        return 0.0
    pred = np.asarray(predicted)[ok]
    fin = dominant_feature(P_final, d)[ok]
    return float(
        (np.bincount(pred, minlength=d)[:d] * np.bincount(fin, minlength=d)[:d]).sum()
        / pred.size**2
    )


def alpha_ratio(
    P: ArrayLike, d: int, n_majority: int, kappa: float = 0.5, min_energy: float = 0.5
) -> np.ndarray:
    """Mean alpha_ij over (neuron, minority feature in N_i) pairs divided by the mean over
    (neuron, majority feature in N_i) pairs, per run: shape (...) for P (..., m, d1). Theorem
    3.3 puts it near eps_min / eps_max. NaN where a run has no pair of either kind."""
    a = decomposition(P, d, kappa, min_energy)["alpha"]
    out = []
    for part in (a[..., n_majority:], a[..., :n_majority]):
        n = np.isfinite(part).sum((-1, -2))
        s = np.nansum(part, axis=(-1, -2))
        out.append(np.where(n > 0, s / np.maximum(n, 1), np.nan))
    return out[0] / out[1]


def race_advantage(P0: np.ndarray, Pt: np.ndarray, d: int) -> np.ndarray:
    """Each feature's measured head start in the init race: the median over neurons of the
    log-growth ``log |P_ij(t)| / |P_ij(0)|`` of feature j, shape (..., d). One number per feature,
    shared by every neuron of the run, so no neuron-specific information enters a prediction."""
    return np.median(np.log(growth(P0, Pt))[..., :d], axis=-2)


def init_race_predict(
    steps: ArrayLike,
    P: ArrayLike,
    d: int,
    horizon: float | str | None = 1.0,
    n_majority: int | None = None,
    level: float = 0.5,
) -> np.ndarray:
    """Predict every neuron's final dominant feature from its initial projections alone.

    P: (R, S, m, d1) recorded at ``steps``. ``horizon``: None gives ``argmax_j |P_ij(0)|``; a
    number h gives :func:`init_race` with the head start :func:`race_advantage` measured over
    [0, h * T1] of the same run (T1 = :func:`stage1_end` at ``level``); ``"majority"`` gives the
    largest initial projection among the first ``n_majority`` features. Returns (R, m)."""
    P = np.asarray(P)
    steps = np.asarray(steps)
    P0 = P[:, 0]
    if horizon is None:
        return init_race(P0, d)
    if horizon == "majority":
        if n_majority is None:
            raise ValueError("horizon='majority' needs n_majority")
        return np.abs(P0[..., :n_majority]).argmax(-1)
    T1 = stage1_end(steps, P, d, level)
    out = []
    for r in range(len(P)):
        t = horizon * (T1[r] if np.isfinite(T1[r]) else steps[-1])
        k = int(np.abs(steps - t).argmin())
        out.append(init_race(P0[r], d, log_advantage=race_advantage(P0[r], P[r, k], d)))
    return np.asarray(out)


def init_race_scores(
    steps: ArrayLike,
    P: ArrayLike,
    d: int,
    horizon: float | str | None = 1.0,
    n_majority: int | None = None,
    level: float = 0.5,
) -> tuple[np.ndarray, float]:
    """The init race of a set of runs (chapter 5): predict every neuron's final dominant feature
    from its initial projections (:func:`init_race_predict` with ``horizon``), then score the
    prediction against the last snapshot. P: (R, S, m, d1) at ``steps``. Returns (accuracy per
    run (R,) by :func:`race_accuracy`, chance level of the whole set by :func:`race_chance`)."""
    preds = init_race_predict(steps, P, d, horizon, n_majority=n_majority, level=level)
    Pf = np.asarray(P)[:, -1]
    acc = np.asarray([race_accuracy(preds[r], Pf[r], d) for r in range(len(Pf))])
    return acc, race_chance(preds, Pf, d)


def median_feature_growth(P_from: np.ndarray, P_to: np.ndarray, d: int) -> np.ndarray:
    """Per feature, the median over neurons of ``|P_ij(to)| / |P_ij(from)|`` (:func:`growth`),
    shape (..., d) for P (..., m, d1): the Stage-1 premise of Theorem 3.1 is that it exceeds 1
    for every feature."""
    return np.median(growth(P_from, P_to)[..., :d], axis=-2)


# -- Stage 3 per-run measures (chapter 5; signature (P, d, n_majority) for run_table) ----------
def features_covered(
    P: np.ndarray,
    d: int,
    n_majority: int | None = None,
    kappa: float = 0.5,
    min_cos2: float = 0.5,
) -> np.ndarray:
    """Number of features (of all d) with at least one pure neuron (:func:`coverage`), shape
    (...) for P (..., m, d1). Divided by m it is chapter 5's representational capacity:
    features represented per neuron spent. ``n_majority`` is unused (run_table's signature)."""
    return coverage(P, d, kappa, min_cos2).sum(-1)


def min_pure_count(
    P: np.ndarray,
    d: int,
    n_majority: int | None = None,
    kappa: float = 0.5,
    min_cos2: float = 0.5,
) -> np.ndarray:
    """The smallest number of pure neurons any feature has (:func:`pure_counts`, minimum over
    the d features), shape (...): Theorem 3.3's "for every atom M_j at least Omega(d^omega_1)
    neurons with N_i = {j}". ``n_majority`` is unused (run_table's signature)."""
    return pure_counts(P, d, kappa, min_cos2).min(-1)


def pure_share(
    P: np.ndarray,
    d: int,
    n_majority: int | None = None,
    kappa: float = 0.5,
    min_cos2: float = 0.5,
) -> np.ndarray:
    """Share of the m neurons that are pure for some feature (:func:`pure_neurons`), shape (...)
    for P (..., m, d1): chapter 5's representational capacity, the neurons spent on one clean
    feature each. ``n_majority`` is unused (run_table's signature)."""
    return pure_neurons(P, d, kappa, min_cos2).any(-1).mean(-1)


# -- Stage 2 per-seed measures (chapter 4) ---------------------------------------------------
def lucky_gain(
    P: np.ndarray,
    norms: np.ndarray,
    iT1: list,
    iT2: list,
    d: int,
    freqs: tuple,
    init_std: float,
    eps_max: float,
    features: slice = slice(None),
) -> np.ndarray:
    """Per seed, the ICLR version's eq. (6) as a ratio, median over the lucky pairs (i, j) of
    :func:`lucky_at_init` with j among ``features`` (default all):
    ``P_ij(T2)^2 / ||w_i(T1)||^2 / (2 eps_j / eps_max)``, at least 1 if eq. (6) holds; NaN for a
    seed without such a pair. P (seeds, S, m, d1), norms (seeds, S, m); ``iT1``, ``iT2``: per
    seed the snapshot index of the end of Stage 1 and of Stage 2."""
    rows = np.arange(len(P))
    lucky = lucky_at_init(P[:, 0], d, freqs, init_std)[..., features]  # (seeds, m, d')
    need = 2 * np.asarray(freqs, dtype=float)[features] / eps_max
    ratio = P[rows, iT2][..., :d][..., features] ** 2 / norms[rows, iT1][..., None] ** 2 / need
    return np.array([np.median(ratio[s][lucky[s]]) if lucky[s].any() else np.nan for s in rows])


def stage2_measures(
    P: np.ndarray,
    norms: np.ndarray,
    iT1: list,
    iT2: list,
    d: int,
    n_majority: int,
    freqs: tuple,
    init_std: float,
    eps_max: float,
) -> dict:
    """Chapter 4's per-seed measures of Theorem 3.2 for one regime, each an array (seeds,).

    P (seeds, S, m, d1) and norms (seeds, S, m) are a run set's snapshots; ``iT1`` and ``iT2``
    give, per seed, the snapshot index of the end of Stage 1 and of Stage 2 (``History.at``).
    Lucky pairs (i, j) are those of :func:`lucky_at_init` at the first snapshot (``freqs``,
    ``init_std``); "aligned" means cos^2 >= 1/2; the last snapshot is "the end". Keys:

    - ``lucky_maj``, ``lucky_min``: lucky neurons per majority / minority feature;
    - ``cos2_lucky``: median cos^2 of the lucky pairs at T2; ``aligned_lucky``: their share
      aligned at T2; ``aligned_others``: share of the neurons lucky for no feature whose best
      cos^2 at T2 is aligned;
    - ``gain``: median over lucky pairs of the ICLR ratio
      ``P_ij(T2)^2 / ||w_i(T1)||^2 / (2 eps_j / eps_max)`` (at least 1 by Theorem 3.2);
    - ``dominant_end``: share of lucky pairs whose j is neuron i's dominant feature at the end;
    - ``excess``: largest non-feature rise from T1 to T2 over neurons (:func:`perp_excess`);
    - ``noise_T1``, ``noise_T2``: mean noise energy 1 - phi over neurons at T1, at T2;
    - ``norm_gain``: median over neurons of ||w_i(T2)|| / ||w_i(T1)||;
    - ``min_best_T2``, ``min_best_end``: best cos^2 over neurons, averaged over the minority
      features, at T2 and at the end; ``min_aligned_end``: :func:`aligned_per_minority` at the
      end."""
    rows, n_maj = np.arange(len(P)), n_majority
    PT1, PT2 = P[rows, iT1], P[rows, iT2]
    lucky = lucky_at_init(P[:, 0], d, freqs, init_std)  # (seeds, m, d)
    c2, c2_end, others = cos2(PT2, d), cos2(P[:, -1], d), ~lucky.any(-1)
    pairs = [np.nonzero(lucky[s]) for s in rows]  # (neurons, features) of each seed's pairs
    still = [dominant_feature(P[s, -1], d)[i] == j for s, (i, j) in zip(rows, pairs)]
    gain = lucky_gain(P, norms, iT1, iT2, d, freqs, init_std, eps_max)
    return dict(
        lucky_maj=lucky[..., :n_maj].sum(1).mean(1),
        lucky_min=lucky[..., n_maj:].sum(1).mean(1),
        cos2_lucky=np.array([np.median(c2[s][lucky[s]]) for s in rows]),
        aligned_lucky=np.array([np.mean(c2[s][lucky[s]] >= 0.5) for s in rows]),
        aligned_others=np.array([np.mean(c2[s].max(-1)[others[s]] >= 0.5) for s in rows]),
        gain=gain,
        dominant_end=np.array([np.mean(h) for h in still]),
        excess=perp_excess(PT1, PT2, d).max(-1),
        noise_T1=1 - feature_energy(PT1, d).mean(-1),
        noise_T2=1 - feature_energy(PT2, d).mean(-1),
        norm_gain=np.median(norms[rows, iT2] / norms[rows, iT1], -1),
        min_best_T2=c2[..., n_maj:].max(-2).mean(-1),
        min_best_end=c2_end[..., n_maj:].max(-2).mean(-1),
        min_aligned_end=aligned_per_minority(P[:, -1], d, n_maj),
    )
