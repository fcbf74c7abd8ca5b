"""The Transformer-MLP encoder: identity attention, then m neurons with a bilateral ReLU.

f(X) = (h_1(X), ..., h_m(X)),  h_i(X) = sum_r BReLU_{b_i}(<w_i, Attention(x_r, X, X)>).
Every function takes a leading run axis R so that many independent runs are one program.
"""

from __future__ import annotations

import math

import torch


def brelu(s: torch.Tensor, b: torch.Tensor | float) -> torch.Tensor:
    """Bilateral ReLU: ReLU(s - b) - ReLU(-s - b). Zero on [-b, b], odd, slope 1 outside.

    Written as s - clamp(s, -b, b): the same numbers (s - b, 0 or s + b) in two ops, not five."""
    return s - torch.clamp(s, -b, b)


def brelu_(s: torch.Tensor, b: torch.Tensor | float) -> torch.Tensor:
    """:func:`brelu` in place on ``s`` (the same numbers); returns ``s``."""
    return s.sub_(torch.clamp(s, -b, b))


def attention(X: torch.Tensor, mode: str = "identity") -> torch.Tensor:
    """Single-head self-attention with W_Q = W_K = W_V = I over the token axis (-2).

    Attention(x_r, X, X) = sum_s softmax_s(<x_r, x_s> / sqrt(d1)) x_s; it has no trainable
    parameter, so it is applied to the data once, outside the gradient.
    ``mode="none"`` skips it (the plain-MLP ablation).
    """
    if mode == "none":
        return X
    return attention_weights(X) @ X


def attention_weights(X: torch.Tensor) -> torch.Tensor:
    """softmax_s(<x_r, x_s> / sqrt(d1)) for every query r (rows) and key s (columns).

    [choice] the 1/sqrt(d1) scaling of standard attention; the paper does not state one."""
    return torch.softmax(X @ X.transpose(-1, -2) / math.sqrt(X.shape[-1]), dim=-1)


def bias(
    W: torch.Tensor, sigma: torch.Tensor | float, d: int, bias_scale: torch.Tensor | float
) -> torch.Tensor:
    """The bias rule b_i = c_b * sigma * sqrt(log d) * ||w_i||: a threshold a few noise standard
    deviations wide, so a neuron ignores noise and fires on a feature. Not trained.

    W: (R, m, d1); sigma, bias_scale: scalars or (R,) tensors. Returns (R, m).
    """
    scale = torch.as_tensor(bias_scale * sigma, dtype=W.dtype, device=W.device)
    return scale.reshape(-1, 1) * math.sqrt(math.log(d)) * W.norm(dim=-1)


def preactivations(A: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """<w_i, a_r> for attention outputs A (R, K, L, d1) and weights W (R, m, d1): (R, K, L, m)."""
    R, K, L, d1 = A.shape
    return torch.bmm(A.reshape(R, K * L, d1), W.transpose(1, 2)).reshape(R, K, L, -1)


def encode(
    A: torch.Tensor, W: torch.Tensor, b: torch.Tensor, keep: torch.Tensor | None = None
) -> torch.Tensor:
    """The embedding f(X) of attention outputs A (R, K, L, d1): (R, K, m).
    ``keep`` (R, m), from ``prune_mask``, silences pruned neurons (they output exactly 0)."""
    f = brelu(preactivations(A, W), b[:, None, None, :]).sum(dim=2)
    return f if keep is None else f * keep[:, None, :]


def prune_mask(W: torch.Tensor, prune_frac: torch.Tensor | float) -> torch.Tensor:
    """Pruning (the ICLR version's Algorithm 1): 0 for the floor(prune_frac * m) neurons with the
    smallest ||w_i|| of each run, 1 for the others. W: (R, m, d1); prune_frac: (R,).
    Returns (R, m)."""
    m = W.shape[1]
    n_pruned = torch.floor(torch.as_tensor(prune_frac, device=W.device) * m).reshape(-1, 1)
    rank = W.norm(dim=-1).argsort(dim=1).argsort(dim=1)  # 0 = smallest norm
    return (rank >= n_pruned).to(W.dtype)


def init_weights(
    m: int, d1: int, init_std: float, gen: torch.Generator, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """Small Gaussian initialisation w_i ~ N(0, init_std^2 I), so Stage 1 is visible."""
    return init_std * torch.randn(m, d1, generator=gen, device=device)
