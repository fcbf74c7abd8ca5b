"""Downstream cost: linear probes on the frozen embedding f(X).

For each feature j, a logistic regression (scikit-learn, multinomial, class-balanced, seeded)
is fitted on the embeddings of training sequences to predict the signed presence of M_j in the
sequence, y_j = sign(sum_r z_rj) in {-1, 0, +1}, and scored by balanced accuracy on held-out
sequences (chance: 1/3). [choice] Signed, because the encoder is odd (BReLU(-s) = -BReLU(s)):
a feature's sign is in the embedding, and plain presence (+1 or -1 against 0) is not a linear
function of it. The sequences are fresh draws of
the run's own data model (its dictionary, frequencies and noise), without augmentation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from .data import dictionary, generator, sample_config
from .model import attention, bias, encode, prune_mask

if TYPE_CHECKING:
    from .config import Config

TRAIN_OFFSET, TEST_OFFSET = 1_000_003, 2_000_003  # data streams disjoint from training's


def embed(config: Config, W: np.ndarray, X: torch.Tensor) -> np.ndarray:
    """f(X) for sequences X (n, L, d1) under final weights W (m, d1), with the bias rule and,
    if the config prunes, its pruning mask: (n, m)."""
    Wt = torch.as_tensor(W, dtype=torch.float32)[None]
    b = bias(Wt, config.sigma, config.d, config.bias_scale)
    keep = prune_mask(Wt, torch.tensor([config.prune_frac])) if config.prune_frac > 0 else None
    A = attention(X, config.attention)[None]
    return encode(A, Wt, b, keep)[0].numpy()


def probe_config(
    config: Config,
    W: np.ndarray,
    n_train: int = 3000,
    n_test: int = 3000,
    data_config: Config | None = None,
) -> np.ndarray:
    """Balanced accuracy of a linear probe for each feature j (d,); NaN where a class is missing.

    ``data_config`` draws the probe's sequences from another data model (e.g. the plain,
    un-resampled frequencies) while ``config`` defines the encoder."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.preprocessing import StandardScaler

    src = data_config or config
    out = np.full(config.d, np.nan)
    sets = [
        sample_config(src, n, off) for n, off in ((n_train, TRAIN_OFFSET), (n_test, TEST_OFFSET))
    ]
    # float64 and a tight tolerance: the fit then lands on the (unique, L2-regularised) optimum
    # whatever BLAS kernels the CPU selects; at float32 and the default tol=1e-4, where L-BFGS
    # stopped depended on the CPU and moved printed accuracies by 0.01.
    (f_tr, y_tr), (f_te, y_te) = [
        (embed(config, W, s["X"]).astype(np.float64), np.sign(s["z"].sum(1).numpy())) for s in sets
    ]
    scaler = StandardScaler().fit(f_tr)
    f_tr, f_te = scaler.transform(f_tr), scaler.transform(f_te)
    for j in range(config.d):
        if len(np.unique(y_tr[:, j])) < 3 or len(np.unique(y_te[:, j])) < 3:
            continue
        clf = LogisticRegression(
            class_weight="balanced", max_iter=10_000, tol=1e-10, random_state=0
        )
        clf.fit(f_tr, y_tr[:, j])
        out[j] = balanced_accuracy_score(y_te[:, j], clf.predict(f_te))
    return out


def weights_from_projections(config: Config, P: np.ndarray) -> np.ndarray:
    """The weights W (m, d1) of a run from its projections P = W M (m, d1), e.g. a run cached by
    :func:`imbacl.io.save_final`: W = P M^T, M the run's orthonormal dictionary (its seed)."""
    M = dictionary(config.d1, generator(config.seed, "dictionary")).numpy().astype(np.float64)
    return np.asarray(P, dtype=np.float64) @ M.T


def probe_final(
    config: Config, P: np.ndarray, n_train: int = 2000, n_test: int = 2000
) -> np.ndarray:
    """:func:`probe_config` of a run known by its final projections P (a cached run)."""
    return probe_config(config, weights_from_projections(config, P), n_train, n_test)
