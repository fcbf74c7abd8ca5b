import math

import numpy as np
import pytest
import torch

from imbacl import fast, loss, metrics, model


def test_brelu_values_and_symmetry():
    s = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    out = model.brelu(s, torch.tensor(1.0))
    assert torch.equal(out, torch.tensor([-2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0]))
    x = torch.randn(100, generator=torch.Generator().manual_seed(0))
    b = torch.tensor(0.3)
    assert torch.equal(model.brelu(-x, b), -model.brelu(x, b))


def test_identity_attention_on_a_hand_case():
    X = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # one sequence, L=2, d1=2
    A = model.attention(X)
    s = 1 / math.sqrt(2)
    w0 = torch.softmax(torch.tensor([1.0 * s, 0.0]), 0)  # scores of token 1
    w1 = torch.softmax(torch.tensor([0.0, 4.0 * s]), 0)  # scores of token 2
    expected = torch.stack([w0[0] * X[0, 0] + w0[1] * X[0, 1], w1[0] * X[0, 0] + w1[1] * X[0, 1]])
    assert torch.allclose(A[0], expected, atol=1e-6)
    assert torch.equal(model.attention(X, "none"), X)


@pytest.mark.parametrize("L, scale", [(4, 1.0), (3, 1.0), (1, 1.0), (4, 10.0)])
def test_fused_attention_is_attention(L, scale):
    # the compiled trainer's form of the same layer (unrolled over the L tokens), on shapes with
    # a run and a batch axis; scale 10 makes scores large enough to overflow an unshifted exp
    X = scale * torch.randn(3, 5, L, 36, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(fast.attention_fused(X), model.attention(X), rtol=1e-5, atol=1e-6 * scale)
    assert torch.equal(fast.attention_fused(X, "none"), X)


def test_bias_rule():
    W = torch.tensor([[[3.0, 4.0], [0.0, 1.0]]])
    b = model.bias(W, 0.1, 9, 0.5)
    assert torch.allclose(b, 0.05 * math.sqrt(math.log(9)) * torch.tensor([[5.0, 1.0]]))


def _setup(R=2, K=5, L=3, d1=6, m=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    A1, A2 = torch.randn(R, K, L, d1, generator=g), torch.randn(R, K, L, d1, generator=g)
    W = torch.randn(R, m, d1, generator=g)
    b = model.bias(W, 0.1, 4, 2.0)
    return A1, A2, W, b


def test_infonce_equals_direct_computation():
    A1, A2, W, b = _setup()
    tau = torch.tensor([2.0, 3.0])
    f1, f2 = model.encode(A1, W, b), model.encode(A2, W, b)
    got = loss.infonce(f1, f2, tau)
    for r in range(2):
        direct = 0.0
        for k in range(5):
            sims = [float(f1[r, k] @ f2[r, j]) / float(tau[r]) for j in range(5)]
            direct += -(sims[k] - math.log(sum(math.exp(s) for s in sims)))
        assert math.isclose(float(got[r]), direct / 5, rel_tol=1e-5)


def test_hand_gradient_matches_autograd_with_stop_gradient():
    A1, A2, W, b = _setup()
    A1, A2, W, b = A1.double(), A2.double(), W.double(), b.double()
    tau, lam = torch.tensor([2.0, 0.5]).double(), torch.tensor([0.01, 0.1]).double()
    L, G = loss.loss_and_grad(W, A1, A2, b, tau, lam)
    Wg = W.clone().requires_grad_(True)
    ref = loss.infonce(model.encode(A1, Wg, b), model.encode(A2, Wg, b), tau)
    ref = ref + 0.5 * lam * Wg.pow(2).sum((1, 2))
    ref.sum().backward()
    assert torch.allclose(L, ref.detach(), rtol=1e-10)
    assert torch.allclose(G, Wg.grad, rtol=1e-8, atol=1e-10)
    # The gradient without StopGrad differs: the second view's branch really is cut.
    Wf = W.clone().requires_grad_(True)
    f1, f2 = model.encode(A1, Wf, b), model.encode(A2, Wf, b)
    logits = f1 @ f2.transpose(1, 2) / tau.reshape(-1, 1, 1)
    full = (torch.logsumexp(logits, -1) - torch.diagonal(logits, dim1=1, dim2=2)).mean(-1)
    (full + 0.5 * lam * Wf.pow(2).sum((1, 2))).sum().backward()
    assert (Wf.grad - G).abs().max() > 1e-3


def test_hand_gradient_matches_finite_differences():
    for seed in range(3):
        err = loss.gradient_check(seed)
        assert err["loss_vs_autograd"] < 1e-12 and err["grad_vs_autograd"] < 1e-12
        assert err["grad_vs_finite_diff"] < 1e-7, err


def test_brelu_is_bitwise_its_definition():
    g = torch.Generator().manual_seed(1)
    s = torch.randn(4, 50, 7, generator=g)
    b = torch.rand(4, 1, 7, generator=g)
    s[0, 0] = b[0, 0]  # exactly at the edges of the dead zone
    s[0, 1] = -b[0, 0]
    assert torch.equal(model.brelu(s, b), torch.relu(s - b) - torch.relu(-s - b))  # the definition


def test_the_trainers_loss_is_the_objective_and_weight_penalty_is_its_decay_term():
    A1, A2, W, b = _setup()
    A1, A2, W, b = A1.double(), A2.double(), W.double(), b.double()
    tau, lam = torch.tensor([2.0, 0.5]).double(), torch.tensor([0.01, 0.1]).double()
    L_aug, _ = loss.loss_and_grad(W, A1, A2, b, tau, lam)
    L, _ = loss.loss_and_grad(W, A1, A2, b, tau, torch.zeros(2).double())
    # from the projections on any orthonormal basis, as the scaling records keep them
    Q = torch.linalg.qr(torch.randn(W.shape[-1], W.shape[-1]).double())[0]
    P = (W @ Q).numpy()
    for r in range(2):
        reg = metrics.weight_penalty(P[r], float(lam[r]))
        assert math.isclose(float(L_aug[r] - L[r]), reg, rel_tol=1e-9)
        assert reg > 0
    assert np.allclose(metrics.weight_penalty(P, 0.1), 0.05 * (P**2).sum((1, 2)))
