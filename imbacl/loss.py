"""InfoNCE with stop-gradient (eqs. 1-2) and its hand-derived gradient.

sim(X_k+, X_k'++) = <f(X_k+), StopGrad(f(X_k'++))>; the negatives of pair k are the second
views of the other K-1 pairs. Loss per run: mean over k of -log softmax_k'(sim_kk' / tau)[k],
plus (lam/2) ||W||_F^2.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .model import bias, brelu_, encode, preactivations, prune_mask


def infonce(f1: torch.Tensor, f2: torch.Tensor, tau: torch.Tensor | float) -> torch.Tensor:
    """InfoNCE per run for embeddings f1, f2 of shape (R, K, m); f2 is behind StopGrad.

    Written with autograd-friendly ops; the trainer uses ``loss_and_grad`` instead.
    """
    tau = torch.as_tensor(tau, dtype=f1.dtype, device=f1.device).reshape(-1, 1, 1)
    logits = f1 @ f2.detach().transpose(1, 2) / tau
    return (torch.logsumexp(logits, dim=-1) - torch.diagonal(logits, dim1=1, dim2=2)).mean(-1)


def loss_and_grad(
    W: torch.Tensor,
    A1: torch.Tensor,
    A2: torch.Tensor,
    b: torch.Tensor,
    tau: torch.Tensor,
    lam: torch.Tensor,
    keep: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
    gamma: torch.Tensor | None = None,
    prune_grad: str = "straight_through",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Regularised loss (R,) and its gradient with respect to W (R, m, d1), by hand.

    A1, A2: attention outputs of the two views (R, K, L, d1); b: biases (R, m), not trained;
    tau, lam: (R,) tensors. Only the first view carries gradient (StopGrad on the second).
    Remedies, all None for the paper's plain training:

    - keep (R, m): pruning mask; pruned neurons are absent from the similarities. What their
      weights receive is ``prune_grad`` [choice]: "straight_through", the loss gradient they
      would get if present (the mask's backward is the identity: every parameter keeps being
      updated and a pruned neuron can come back), or "blocked", no loss gradient (only the
      weight-decay step);
    - weights (R, K): fixed per-pair weights; the loss is sum_k w_k l_k / sum_k w_k;
    - gamma (R,): focal re-weighting, pair k also weighted by (1 - p_kk)^gamma (held constant).
    """
    R, K = A1.shape[:2]
    bb = b[:, None, None, :]
    # In place on the pre-activations: the same numbers as brelu(S, b), without two more
    # (R, K, L, m) tensors, which at large shapes cost as much as the products (benchmarks/README).
    H1 = brelu_(preactivations(A1, W), bb)  # (R, K, L, m)
    f1 = H1.sum(dim=2)  # (R, K, m)
    f2 = brelu_(preactivations(A2, W), bb).sum(dim=2)
    tau3 = tau.reshape(-1, 1, 1)
    if keep is None:
        logits = f1 @ f2.transpose(1, 2) / tau3  # (R, K, K)
    else:
        k3 = keep[:, None, :]
        logits = (f1 * k3) @ (f2 * k3).transpose(1, 2) / tau3
    lse = torch.logsumexp(logits, dim=-1)
    ell = lse - torch.diagonal(logits, dim1=1, dim2=2)  # (R, K)
    p = torch.exp(logits - lse.unsqueeze(-1))
    w = _pair_weights(p, weights, gamma)
    loss = ell.mean(-1) if w is None else (w * ell).sum(-1)
    loss = loss + 0.5 * lam * W.pow(2).sum(dim=(1, 2))
    # d loss / d logits = w (softmax - I) (w = 1/K unweighted),
    # so d loss / d f1 = w (softmax - I) f2 / tau.
    p.diagonal(dim1=1, dim2=2).sub_(1.0)
    # Straight-through: the unmasked f2, so a pruned neuron gets the gradient of its own term
    # f1_i f2_i of the similarity; blocked: the masked f2, so that gradient is 0.
    if keep is not None and prune_grad == "blocked":
        f2 = f2 * keep[:, None, :]
    g1 = p @ f2 / (K * tau3) if w is None else (w.unsqueeze(-1) * p) @ f2 / tau3
    # BReLU'(s) = 1 where |s| > b, else 0, which is exactly where BReLU(s) != 0 (s - b > 0 for
    # s > b in floating point); h sums over tokens, so g1 reaches every token. Written into H1.
    gS = torch.mul(g1.unsqueeze(2), H1 != 0, out=H1)  # (R, K, L, m)
    d1 = A1.shape[-1]
    grad = torch.bmm(gS.reshape(R, -1, gS.shape[-1]).transpose(1, 2), A1.reshape(R, -1, d1))
    return loss, grad + lam.reshape(-1, 1, 1) * W


def _pair_weights(p, weights, gamma):
    """Normalised per-pair weights (R, K) of the loss, or None for the plain mean.
    p: the softmax (R, K, K), whose diagonal p_kk is the focal rule's confidence."""
    if weights is None and gamma is None:
        return None
    w = torch.ones(p.shape[:2], dtype=p.dtype, device=p.device) if weights is None else weights
    if gamma is not None:
        w = w * (1 - torch.diagonal(p, dim1=1, dim2=2)).clamp_min(0) ** gamma.reshape(-1, 1)
    return w / w.sum(-1, keepdim=True)


def gradient_check(
    seed: int = 0, R: int = 2, K: int = 6, L: int = 3, d1: int = 8, m: int = 5
) -> dict[str, float]:
    """Compare ``loss_and_grad`` (float64) with autograd of ``infonce`` and with central finite
    differences on random inputs. Returns the largest relative errors found."""
    g = torch.Generator().manual_seed(seed)
    A1, A2 = (torch.randn(R, K, L, d1, generator=g, dtype=torch.float64) for _ in range(2))
    W = torch.randn(R, m, d1, generator=g, dtype=torch.float64)
    b = bias(W, 0.1, 4, 2.0)
    tau = torch.linspace(0.5, 2.0, R, dtype=torch.float64)
    lam = torch.linspace(0.01, 0.1, R, dtype=torch.float64)
    loss, grad = loss_and_grad(W, A1, A2, b, tau, lam)

    def full(Wx, f2):
        return infonce(encode(A1, Wx, b), f2, tau) + 0.5 * lam * Wx.pow(2).sum((1, 2))

    Wg = W.clone().requires_grad_(True)
    ref = full(Wg, encode(A2, Wg, b))  # infonce detaches the second view itself
    ref.sum().backward()
    f2 = encode(A2, W, b)  # StopGrad: finite differences hold it fixed
    h, fd = 1e-6, torch.empty_like(W)
    for idx in torch.cartesian_prod(*(torch.arange(n) for n in W.shape)).tolist():
        E = torch.zeros_like(W)
        E[tuple(idx)] = h
        fd[tuple(idx)] = ((full(W + E, f2) - full(W - E, f2)) / (2 * h))[idx[0]]

    def rel(a, b):
        return float((a - b).abs().max() / b.abs().max())

    return {
        "loss_vs_autograd": rel(loss, ref.detach()),
        "grad_vs_autograd": rel(grad, Wg.grad),
        "grad_vs_finite_diff": rel(grad, fd),
    }


class RunParams(NamedTuple):
    """What a training step needs besides W and the views, for a batch of R runs: per-run
    tensors (run axis first) and settings the batch shares. Immutable, and the compiled step's
    argument, so that a new batch of the same shape reuses the compiled code (captured tensors
    would not). Made by :func:`imbacl.train.run_params`."""

    lr: torch.Tensor  # (R,) learning rate eta
    lam: torch.Tensor  # (R,) weight decay
    tau: torch.Tensor  # (R,) InfoNCE temperature
    sigma: torch.Tensor  # (R,) token noise (the bias rule and the compiled data)
    c_b: torch.Tensor  # (R,) the bias rule's constant
    eps: torch.Tensor  # (R, d) feature frequencies (the compiled data)
    M: torch.Tensor  # (R, d1, d) dictionaries (the compiled data)
    d: int
    attention: str
    prune_frac: torch.Tensor | None  # (R,) share of neurons masked; None: no run prunes
    prune_start: torch.Tensor  # (R,) first step of the mask
    prune_grad: str
    gamma: torch.Tensor | None  # (R,) focal exponent; None: no run uses focal


def pruned_share(p: RunParams, t: int | torch.Tensor) -> torch.Tensor:
    """The share of neurons each run masks at step ``t``: prune_frac from prune_start on."""
    return p.prune_frac * (p.prune_start <= t)


def objective(
    W: torch.Tensor,
    A1: torch.Tensor,
    A2: torch.Tensor,
    weights: torch.Tensor | None,
    p: RunParams,
    t: int | torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss (R,) and gradient at W of the views A1, A2 at step t: the bias rule, pruning,
    InfoNCE."""
    keep = None if p.prune_frac is None else prune_mask(W, pruned_share(p, t))
    return loss_and_grad(
        W, A1, A2, run_bias(W, p), p.tau, p.lam, keep, weights, p.gamma, p.prune_grad
    )


def run_bias(W: torch.Tensor, p: RunParams) -> torch.Tensor:
    """The bias rule (``imbacl.model.bias``) with each run's settings from the step's params."""
    return bias(W, p.sigma, p.d, p.c_b)


def update(W: torch.Tensor, grad: torch.Tensor, p: RunParams) -> torch.Tensor:
    # grad includes lam W: W <- (1 - eta lam) W - eta grad L_hat
    return W - p.lr.reshape(-1, 1, 1) * grad
