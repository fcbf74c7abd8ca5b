"""InfoNCE with stop-gradient (eqs. 1-2) and its hand-derived gradient.

sim(X_k+, X_k'++) = <f(X_k+), StopGrad(f(X_k'++))>; the negatives of pair k are the second
views of the other K-1 pairs. Loss per run: mean over k of -log softmax_k'(sim_kk' / tau)[k],
plus (lam/2) ||W||_F^2.
"""
from __future__ import annotations

import torch

from .model import brelu, preactivations


def infonce(f1: torch.Tensor, f2: torch.Tensor, tau) -> torch.Tensor:
    """InfoNCE per run for embeddings f1, f2 of shape (R, K, m); f2 is behind StopGrad.

    Written with autograd-friendly ops; the trainer uses ``loss_and_grad`` instead.
    """
    tau = torch.as_tensor(tau, dtype=f1.dtype, device=f1.device).reshape(-1, 1, 1)
    logits = f1 @ f2.detach().transpose(1, 2) / tau
    return (torch.logsumexp(logits, dim=-1) - torch.diagonal(logits, dim1=1, dim2=2)).mean(-1)


def loss_and_grad(W, A1, A2, b, tau, lam):
    """Regularised loss (R,) and its gradient with respect to W (R, m, d1), by hand.

    A1, A2: attention outputs of the two views (R, K, L, d1); b: biases (R, m), not trained;
    tau, lam: (R,) tensors. Only the first view carries gradient (StopGrad on the second).
    """
    R, K = A1.shape[:2]
    S1 = preactivations(A1, W)                                    # (R, K, L, m)
    bb = b[:, None, None, :]
    f1 = brelu(S1, bb).sum(dim=2)                                 # (R, K, m)
    f2 = brelu(preactivations(A2, W), bb).sum(dim=2)
    tau3 = tau.reshape(-1, 1, 1)
    logits = f1 @ f2.transpose(1, 2) / tau3                       # (R, K, K)
    lse = torch.logsumexp(logits, dim=-1)
    loss = (lse - torch.diagonal(logits, dim1=1, dim2=2)).mean(-1)
    loss = loss + 0.5 * lam * W.pow(2).sum(dim=(1, 2))
    # d loss / d logits = (softmax - I) / K, so d loss / d f1 = (softmax - I) f2 / (K tau).
    p = torch.exp(logits - lse.unsqueeze(-1))
    p.diagonal(dim1=1, dim2=2).sub_(1.0)
    g1 = p @ f2 / (K * tau3)                                      # (R, K, m)
    # BReLU'(s) = 1 where |s| > b, else 0; h sums over tokens, so g1 reaches every token.
    gS = g1.unsqueeze(2) * (S1.abs() > bb)                         # (R, K, L, m)
    d1 = A1.shape[-1]
    grad = torch.bmm(gS.reshape(R, -1, gS.shape[-1]).transpose(1, 2), A1.reshape(R, -1, d1))
    return loss, grad + lam.reshape(-1, 1, 1) * W
