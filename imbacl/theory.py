"""The paper's predicted quantities as functions (Theorems 3.1-3.3, the ICLR version's bounds).

The constants C_z, Xi_2, gamma c0 and C_m are not given numerically in the paper; each function
takes them as arguments (default 1 or 0) so that a fit (``imbacl/fits.py``) can absorb them.
Logs are natural.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from .data import sample_config
from .loss import infonce
from .model import attention, bias, encode

if TYPE_CHECKING:
    from .config import Config


def _loglog(d):
    return np.log(np.log(d))


def stage1_factor(
    eps: ArrayLike,
    lr: float | np.ndarray,
    lam: float | np.ndarray,
    d: float | np.ndarray,
    C_z: float = 1.0,
) -> np.ndarray | float:
    """Per-step growth factor of ``|<w_i, M_j>|`` in Stage 1:
    ``1 - eta lam + eta eps_j C_z loglog d / d``."""
    return 1 - lr * lam + lr * np.asarray(eps) * C_z * _loglog(d) / d


def stage1_inverse(
    rate: ArrayLike, lr: float | np.ndarray, lam: float | np.ndarray, d: float | np.ndarray
) -> np.ndarray | float:
    """C_z eps_j from a per-step log-growth ``rate = log(stage1_factor)``: the exact inverse of
    :func:`stage1_factor`, ``(exp(rate) - 1 + eta lam) / (eta loglog d / d)``."""
    return (np.exp(rate) - 1 + lr * lam) / (lr * _loglog(d) / d)


def stage1_inverse_linear(
    rate: float | np.ndarray,
    lr: float | np.ndarray,
    lam: float | np.ndarray,
    d: float | np.ndarray,
    eps: float | np.ndarray = 1.0,
) -> np.ndarray | float:
    """C_z from a per-step log-growth ``rate`` of a feature of frequency ``eps``, by the
    linearised factor: log(1 - eta lam + eta eps C_z loglog d / d) is about
    ``eta eps C_z loglog d / d - eta lam``, so ``C_z = (rate / eta + lam) d / (eps loglog d)``.
    With ``lam = 0`` and ``eps = 1`` it turns a slope of the rate against eps into C_z."""
    return (rate / lr + lam) * d / (eps * _loglog(d))


def lam_threshold(eps: ArrayLike, d: float | np.ndarray, C_z: float = 1.0) -> np.ndarray | float:
    """The lam at which feature eps stops growing in Stage 1 (factor = 1): eps C_z loglog d / d."""
    return np.asarray(eps) * C_z * _loglog(d) / d


def eps_threshold(lam: ArrayLike, d: float | np.ndarray, C_z: float = 1.0) -> np.ndarray | float:
    """The smallest frequency that still grows under regularisation lam: lam d / (C_z loglog d)."""
    return np.asarray(lam) * d / (C_z * _loglog(d))


def T1(
    d: float | np.ndarray, d1: float | np.ndarray, lr: float | np.ndarray, C: float = 1.0
) -> np.ndarray | float:
    """End of Stage 1, Theta(d1 log d / (eta loglog d)), up to the constant C."""
    return C * d1 * np.log(d) / (lr * _loglog(d))


def T2(
    d: float | np.ndarray,
    d1: float | np.ndarray,
    lr: float | np.ndarray,
    tau: float | np.ndarray,
    eps_max: float | np.ndarray,
    C: float = 1.0,
    C2: float = 1.0,
) -> np.ndarray | float:
    """End of Stage 2, T1 + Theta(d tau log d / (eps_max eta loglog d))."""
    return T1(d, d1, lr, C) + C2 * d * tau * np.log(d) / (eps_max * lr * _loglog(d))


def T3(d: float | np.ndarray, lr: float | np.ndarray) -> np.ndarray | float:
    """Start of the final window, d^1.01 / eta."""
    return d**1.01 / lr


def T4(d: float | np.ndarray, lr: float | np.ndarray) -> np.ndarray | float:
    """End of the final window, d^1.99 / eta."""
    return d**1.99 / lr


def ni_exponent(rho: ArrayLike, gamma_c0: float = 0.0) -> np.ndarray | float:
    """Exponent of ``|N_i| = O(d^(1 - rho^2 (1 - gamma c0)))``."""
    return 1 - np.asarray(rho) ** 2 * (1 - gamma_c0)


def ni_bound(
    d: float | np.ndarray, rho: ArrayLike, gamma_c0: float = 0.0, C: float = 1.0
) -> np.ndarray | float:
    """``|N_i| <= C d^(1 - rho^2 (1 - gamma c0))``."""
    return C * d ** ni_exponent(rho, gamma_c0)


def omega1(C_m: float | np.ndarray, rho: ArrayLike, gamma_c0: float = 0.0) -> np.ndarray | float:
    """omega_1 = C_m - rho^(-2) (1 + gamma c0): at least Omega(d^omega_1) pure neurons per
    feature."""
    return C_m - np.asarray(rho, dtype=float) ** -2 * (1 + gamma_c0)


def pure_bound(
    d: float | np.ndarray,
    C_m: float | np.ndarray,
    rho: ArrayLike,
    gamma_c0: float = 0.0,
    C: float = 1.0,
) -> np.ndarray | float:
    """C d^omega_1, the Theorem 3.3 lower bound on pure neurons per feature."""
    return C * d ** omega1(C_m, rho, gamma_c0)


def lucky_bound(m: float | np.ndarray, d: float | np.ndarray, rho: ArrayLike) -> np.ndarray | float:
    """The ICLR version's lucky-neuron count m d^(-(eps_max/eps_min)^2) = m d^(-rho^-2)."""
    return m * d ** (-(np.asarray(rho, dtype=float) ** -2))


def alpha_range(
    eps_j: ArrayLike, eps_max: float | np.ndarray, tau: float | np.ndarray, Xi2: float = 1.0
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Theorem 3.3's interval for alpha_ij: [(eps_j/eps_max) tau / Xi_2, (eps_j/eps_max) tau]."""
    r = np.asarray(eps_j) / eps_max
    return r * tau / Xi2, r * tau


def C_m(m: ArrayLike, d: ArrayLike) -> np.ndarray | float:
    """The width exponent C_m with m = d^C_m."""
    return np.log(m) / np.log(d)


def mask_offset(freqs: ArrayLike, d1: float | np.ndarray) -> np.ndarray | float:
    """``sum_k eps_k / d1``: the frequency every direction loses to the masking augmentation
    (ours, not the paper's). The two views 2DX and 2(I-D)X never share a coordinate, so their
    cross-covariance is C - diag(C) with C = M diag(eps) M^T + sigma^2 I: the noise cancels, and
    removing the diagonal takes about sum_k eps_k / d1 from every direction (M is a random
    rotation). Stage-1 growth then goes with eps_j - mask_offset, and a direction off the
    features (eps = 0) decays."""
    return np.sum(np.asarray(freqs, dtype=float), axis=-1) / d1


def lam_threshold_offset(
    eps: ArrayLike, d: float | np.ndarray, offset: float | np.ndarray, C_z: float = 1.0
) -> np.ndarray | float:
    """The Stage-1 threshold with the mask offset: ``(eps - offset) C_z loglog d / d`` (ours);
    negative where eps < offset (such a feature decays even at lam = 0)."""
    return (np.asarray(eps) - offset) * C_z * _loglog(d) / d


def lucky_init_expected(
    m: float | np.ndarray, d: float | np.ndarray, ratio: ArrayLike, gamma: float = 0.0
) -> np.ndarray | float:
    """Expected number of neurons lucky at initialisation for one feature
    (:func:`imbacl.metrics.lucky_at_init`): ``m P(|g| >= ratio sqrt(2 (1 + gamma) log d))``
    with g ~ N(0, 1) and ratio = eps_max / eps_j. For large d this is
    ``m d^(-(1 + gamma) ratio^2)`` up to a log factor: the form of :func:`lucky_bound`."""
    from math import erfc, sqrt

    x = np.asarray(ratio, dtype=float) * np.sqrt(2 * (1 + gamma) * np.log(d))
    return m * np.vectorize(lambda v: erfc(v / sqrt(2)))(x)


# -- carrying a config along the theory's scalings -------------------------------------------
def scale_to_d(
    base: Config,
    d: int,
    d_ref: int = 9,
    eps_max: float | None = None,
    rho: float | None = None,
    scale_tau: bool = False,
) -> Config:
    """``base`` (set at d_ref features) carried to d features along the paper's scalings: the
    one rule every chapter that changes d uses (the ratio chapter directly, the scaling
    chapter through :func:`imbacl.scaling.config`).

    - m = round(d^C_m) with C_m = log(base.m) / log(d_ref) fixed; d1 = (base.d1 / d_ref) d;
      n_majority = round(base.n_majority d / d_ref);
    - eps_max as given (default: base's), eps_min = rho eps_max to 4 digits when ``eps_max``
      or ``rho`` is given (default rho: base's), else base's frequencies;
    - lam a fixed share of the Stage-1 threshold of the majority frequency,
      lam_T(eps_max, d) = eps_max loglog d / d (3 significant digits), so every d sits at the
      same place relative to it;
    - tau times log d / log d_ref (4 digits) with ``scale_tau`` (a polylog(d) of degree one);
    - steps proportional to the d-dependence of the theory's T2, d log d / loglog d (rounded to
      100). Sigma, lr and the rest are kept."""

    def t_shape(x):
        return x * np.log(x) / np.log(np.log(x))

    if d < 3:
        raise ValueError(f"d={d} is invalid: scale_to_d needs d >= 3 (loglog d > 0)")
    freqs = {}
    if eps_max is not None or rho is not None:
        eps_max = base.eps_max if eps_max is None else eps_max
        rho = base.rho if rho is None else rho
        freqs = {"eps_max": eps_max, "eps_min": float(f"{rho * eps_max:.4g}")}
    lam = (
        base.lam
        * lam_threshold(freqs.get("eps_max", base.eps_max), d)
        / lam_threshold(base.eps_max, d_ref)
    )
    tau = float(f"{base.tau * np.log(d) / np.log(d_ref):.4g}") if scale_tau else base.tau
    return base.replace(
        d=d,
        d1=int(round(base.d1 / d_ref * d)),
        m=int(round(d ** C_m(base.m, d_ref))),
        n_majority=int(round(base.n_majority * d / d_ref)),
        steps=int(round(base.steps * t_shape(d) / t_shape(d_ref) / 100) * 100),
        lam=float(f"{lam:.3g}"),
        tau=tau,
        **freqs,
    )


# -- the loss an ideal encoder reaches ------------------------------------------------------
def loss_floor(
    config: Config, n_samples: int = 65536, seed: int = 0, alphas: ArrayLike | None = None
) -> dict:
    """The lowest InfoNCE that *ideal pure-feature encoders* reach at ``config``: each neuron
    exactly along one feature, w_i = alpha M_j(i) with j(i) = i mod d (the m neurons spread
    round-robin over the d features), biases by the bias rule (:func:`imbacl.model.bias`),
    and the scale alpha optimised. The loss is the unregularised contrastive part (the mean over
    the K pairs of -log softmax, :func:`imbacl.loss.infonce`), its expectation over the data
    model taken by Monte Carlo with the package's own pipeline: ``n_samples`` fresh sequences
    (:func:`imbacl.data.sample_config`, data stream ``config.seed + seed``, the dictionary of
    ``config.seed``) cut into ``n_samples // config.batch`` batches of K = config.batch pairs,
    attention by :func:`imbacl.model.attention`, embeddings by :func:`imbacl.model.encode`.
    Every alpha is scored on the same sample (common random numbers).

    alphas: the scales to try. None (default): 41 log-spaced values from 0.01 to 100, then 41
    values spaced evenly in log alpha between the two neighbours of the best one; given: those
    values only (no refinement), so ``loss_floor(c, alphas=[a])["floor"]`` is the loss at a.
    The remedies (pruning, re-weighting, re-sampling) play no part: this is the plain loss.

    Returns dict(floor (nats), alpha (the optimum), stderr (standard error of the mean over
    batches at the optimum), n_batches, logK = log K). Sample size: with the defaults, 65536
    sequences = 1024 batches of K = 64; at ``figure1`` the floor is 3.468 nats with stderr
    0.004 (log 64 = 4.159), alpha* = 1.23, in about 5 s on one core; at ``theory`` 3.049
    (stderr 0.005, alpha* = 1.57). alpha* is resolved to ~1% (the loss is flat there; choosing
    it on the same sample lowers the floor by far less than the stderr). Deterministic: the
    sample is seeded and torch runs on one thread meanwhile.

    A floor of this family (one scale, round-robin neurons), not of every encoder: at
    ``theory`` trained runs (3000 steps) reach about 2.96, with more neurons and larger norms on
    the minority features.
    """
    import torch

    K = config.batch
    n_batches = int(n_samples) // K
    if n_batches < 1:
        raise ValueError(
            f"n_samples={n_samples} is invalid: needs at least one batch of K={K} sequences"
        )
    if alphas is not None:
        grid = np.asarray(alphas, dtype=np.float64).ravel()
        if grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid <= 0):
            raise ValueError(f"alphas={alphas!r} is invalid: needs positive finite scales")
    old_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            s = sample_config(config, n_batches * K, seed_offset=seed)
            M = s["M"]
            L, d1 = config.seq_len, config.d1
            A1, A2 = (
                attention(s[v], config.attention).reshape(n_batches, K, L, d1)
                for v in ("view1", "view2")
            )
            W1 = M[:, np.arange(config.m) % config.d].T.contiguous()  # (m, d1), unit rows
            tau = torch.full((n_batches,), float(config.tau))

            def embed(alpha):
                W = (float(alpha) * W1).expand(n_batches, -1, -1)
                b = bias(W, config.sigma, config.d, config.bias_scale)
                return encode(A1, W, b), encode(A2, W, b)

            def per_batch(alpha):
                return infonce(*embed(alpha), tau).double().numpy()

            # The bias rule is proportional to ||w_i|| and BReLU is positively homogeneous, so
            # f = alpha f|_(alpha=1): the search scales one pair of embeddings (fast); the
            # returned floor is re-encoded at the optimum.
            f1, f2 = embed(1.0)

            def score(values):
                return np.array(
                    [infonce(a * f1, a * f2, tau).double().mean().item() for a in values]
                )

            if alphas is None:
                grid = np.geomspace(0.01, 100, 41)
                k = int(score(grid).argmin())
                grid = np.geomspace(grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)], 41)
            best = float(grid[int(score(grid).argmin())])
            ell = per_batch(best)
    finally:
        torch.set_num_threads(old_threads)
    stderr = float(ell.std(ddof=1) / np.sqrt(n_batches)) if n_batches > 1 else float("nan")
    return {
        "floor": float(ell.mean()),
        "alpha": best,
        "stderr": stderr,
        "n_batches": n_batches,
        "logK": float(np.log(K)),
    }
