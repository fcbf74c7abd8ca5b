"""Measurements: pure functions of projections P (..., m, d1) with P_ij = <w_i, M_j>.

Leading axes (runs, snapshots) broadcast through every function. The first ``d`` columns of P
are the features M_1..M_d; the rest are the non-feature directions M_j^perp. Thresholds are
parameters, with the defaults the book states (see shared/notes/model.md, "Measuring").
"""
from __future__ import annotations

import numpy as np


def cos2(P: np.ndarray, d: int) -> np.ndarray:
    """Squared cosines cos^2_ij = P_ij^2 / ||w_i||^2 on the d features (Figure 1's quantity)."""
    P = np.asarray(P, dtype=np.float64)
    return P[..., :d] ** 2 / np.maximum((P ** 2).sum(-1, keepdims=True), 1e-300)


def feature_energy(P: np.ndarray, d: int) -> np.ndarray:
    """phi_i = sum_{j <= d} cos^2_ij: the share of ||w_i||^2 on features (1 - phi_i is noise)."""
    return cos2(P, d).sum(-1)


def feature_sets(P: np.ndarray, d: int, kappa: float = 0.5, min_energy: float = 0.5):
    """N_i as a boolean (..., m, d): j with P_ij^2 >= kappa * max_j' P_ij'^2, for neurons whose
    feature energy is at least ``min_energy`` (other neurons get the empty set)."""
    c = cos2(P, d)
    member = c >= kappa * c.max(-1, keepdims=True)
    return member & (feature_energy(P, d) >= min_energy)[..., None]


def set_sizes(P, d, kappa=0.5, min_energy=0.5):
    """``|N_i|`` per neuron, shape (..., m)."""
    return feature_sets(P, d, kappa, min_energy).sum(-1)


def purity(P: np.ndarray, d: int) -> np.ndarray:
    """max_j cos^2_ij / phi_i: the share of a neuron's feature energy held by its top feature."""
    c = cos2(P, d)
    return c.max(-1) / np.maximum(c.sum(-1), 1e-300)


def dominant_feature(P: np.ndarray, d: int) -> np.ndarray:
    """``argmax_j |P_ij|`` over the features, shape (..., m)."""
    return np.abs(np.asarray(P)[..., :d]).argmax(-1)


def pure_neurons(P, d, kappa=0.5, min_cos2=0.5):
    """Boolean (..., m, d): neuron i is pure for j when N_i = {j} and cos^2_ij >= min_cos2."""
    N = feature_sets(P, d, kappa)
    return N & (N.sum(-1, keepdims=True) == 1) & (cos2(P, d) >= min_cos2)


def pure_counts(P, d, kappa=0.5, min_cos2=0.5):
    """Number of pure neurons per feature (..., d)."""
    return pure_neurons(P, d, kappa, min_cos2).sum(-2)


def coverage(P, d, kappa=0.5, min_cos2=0.5):
    """Boolean (..., d): feature j has at least one pure neuron."""
    return pure_counts(P, d, kappa, min_cos2) > 0


def lucky_neurons(P, d, min_cos2=0.5):
    """Boolean (..., m, d): ``|<w_i, M_j>| >= sqrt(min_cos2) ||w_i||`` (Theorem 3.2's Omega(1))."""
    return cos2(P, d) >= min_cos2


def growth(P_from: np.ndarray, P_to: np.ndarray) -> np.ndarray:
    """``|P_ij(to)| / |P_ij(from)|`` elementwise (Theorem 3.1's growth factor)."""
    return np.abs(P_to) / np.maximum(np.abs(P_from), 1e-300)


def decomposition(P, d, kappa=0.5, min_energy=0.5):
    """Eq. (9): split every neuron's coefficients into alpha (features in N_i), alpha' (features
    outside N_i) and beta (non-feature directions). Returns magnitudes, NaN where absent:
    alpha (..., m, d), alpha_prime (..., m, d), beta (..., m, d1 - d), plus norms (..., m)."""
    P = np.asarray(P, dtype=np.float64)
    N = feature_sets(P, d, kappa, min_energy)
    A = np.abs(P[..., :d])
    return {"alpha": np.where(N, A, np.nan), "alpha_prime": np.where(N, np.nan, A),
            "beta": np.abs(P[..., d:]), "norm": np.sqrt((P ** 2).sum(-1))}


def first_crossing(steps: np.ndarray, values: np.ndarray, level: float) -> np.ndarray:
    """First step at which ``values`` (..., S) reaches ``level``; inf where it never does."""
    hit = np.asarray(values) >= level
    idx = hit.argmax(-1)
    return np.where(hit.any(-1), np.asarray(steps)[idx], np.inf)


def alignment_times(steps, P, d, level=0.5):
    """Per feature, the first step at which its best neuron reaches cos^2 >= level.

    P: (..., S, m, d1). Returns (..., d), inf for a feature no neuron reaches."""
    best = cos2(P, d).max(-2)                              # (..., S, d)
    return first_crossing(steps, np.moveaxis(best, -1, -2), level)


def stage1_end(steps, P, d, level=0.5):
    """Estimated T1: first step at which the median neuron's feature energy phi_i reaches
    ``level`` (at initialisation phi_i is about d / d1). P: (..., S, m, d1)."""
    return first_crossing(steps, np.median(feature_energy(P, d), axis=-1), level)


def stage2_end(steps, P, d, level=0.5):
    """Estimated T2: first step at which the median neuron's top cos^2 reaches ``level``, i.e.
    the typical neuron satisfies eq. (6) with Omega(1) = sqrt(level). P: (..., S, m, d1)."""
    return first_crossing(steps, np.median(cos2(P, d).max(-1), axis=-1), level)


def init_race(P0: np.ndarray, d: int, log_advantage=None) -> np.ndarray:
    """Predict each neuron's final dominant feature from its initial projections P0 (..., m, d1):
    argmax_j log|P_ij(0)| + g_j, where g_j (d,) is feature j's expected Stage-1 log-growth
    advantage (e.g. t * eta * c * eps_j); None means the largest initial projection wins."""
    score = np.log(np.maximum(np.abs(np.asarray(P0)[..., :d]), 1e-300))
    if log_advantage is not None:
        score = score + np.asarray(log_advantage)
    return score.argmax(-1)


def race_accuracy(predicted, P_final, d, min_energy=0.5):
    """Share of feature-dominated neurons whose final dominant feature was predicted."""
    ok = feature_energy(P_final, d) >= min_energy
    hit = (np.asarray(predicted) == dominant_feature(P_final, d)) & ok
    return hit.sum() / max(ok.sum(), 1)
