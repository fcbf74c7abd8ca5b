"""Remedies (chapter 9): pruning, re-weighting, re-sampling; and the linear probe."""

import math
import os

import numpy as np
import pytest
import torch

from imbacl import data, loss, model, preset, probe, stream, train


def _inputs(seed=0, R=2, K=6, L=3, d1=8, m=5):
    g = torch.Generator().manual_seed(seed)
    A1, A2 = (torch.randn(R, K, L, d1, generator=g) for _ in range(2))
    W = torch.randn(R, m, d1, generator=g)
    return A1, A2, W, model.bias(W, 0.1, 4, 2.0), torch.full((R,), 1.5), torch.full((R,), 0.01)


def test_remedy_fields_are_validated():
    for field, value, needle in [
        ("prune_frac", 1.0, "[0, 1)"),
        ("prune_frac", -0.1, "[0, 1)"),
        ("reweight", "inverse", "none, known, focal"),
        ("resample", 0.5, "[1"),
        ("reweight_gamma", -1.0, "[0"),
    ]:
        with pytest.raises(ValueError, match=field) as err:
            preset("smoke", **{field: value})
        assert needle in str(err.value)


def test_prune_mask_silences_the_smallest_neurons_exactly():
    W = torch.tensor([[[3.0, 0], [0.1, 0], [2.0, 0], [0.5, 0]]])
    keep = model.prune_mask(W, torch.tensor([0.5]))
    assert keep.tolist() == [[1.0, 0.0, 1.0, 0.0]]
    A = torch.randn(1, 5, 2, 2, generator=torch.Generator().manual_seed(0)) * 10
    f = model.encode(A, W, torch.zeros(1, 4), keep)
    assert torch.all(f[..., 1] == 0) and torch.all(f[..., 3] == 0) and f[..., 0].abs().sum() > 0


def test_pruned_neurons_still_get_gradient_and_weight_decay():
    A1, A2, W, b, tau, lam = _inputs()
    keep = model.prune_mask(W, torch.tensor([0.4, 0.4]))
    assert (keep == 0).sum() == 4
    _, g = loss.loss_and_grad(W, A1, A2, b, tau, lam, keep=keep)
    pruned = keep == 0
    grad_loss = g - lam.reshape(-1, 1, 1) * W  # what the InfoNCE part contributes
    assert grad_loss[pruned].abs().sum() > 0  # still updated by the loss ...
    # ... and the loss value ignores them: same loss if their weights are changed
    W2 = W.clone()
    W2[pruned] *= 0.5
    l1, _ = loss.loss_and_grad(W, A1, A2, b, tau, torch.zeros(2), keep=keep)
    l2, _ = loss.loss_and_grad(W2, A1, A2, b, tau, torch.zeros(2), keep=keep)
    assert torch.allclose(l1, l2)


def test_equal_weights_and_gamma_zero_equal_plain_infonce():
    A1, A2, W, b, tau, lam = _inputs(seed=2)
    l0, g0 = loss.loss_and_grad(W, A1, A2, b, tau, lam)
    l1, g1 = loss.loss_and_grad(W, A1, A2, b, tau, lam, weights=torch.full((2, 6), 3.0))
    l2, g2 = loss.loss_and_grad(W, A1, A2, b, tau, lam, gamma=torch.zeros(2))
    for l, g in ((l1, g1), (l2, g2)):
        assert torch.allclose(l, l0, rtol=1e-6) and torch.allclose(g, g0, rtol=1e-5, atol=1e-7)


def test_weighted_gradient_matches_autograd():
    A1, A2, W, b, tau, lam = (x.double() for x in _inputs(seed=3))
    w = torch.rand(2, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64) + 0.5
    _, g = loss.loss_and_grad(W, A1, A2, b, tau, lam, weights=w)
    Wg = W.clone().requires_grad_(True)
    f1, f2 = model.encode(A1, Wg, b), model.encode(A2, Wg, b).detach()
    logits = f1 @ f2.transpose(1, 2) / tau.reshape(-1, 1, 1)
    ell = torch.logsumexp(logits, -1) - torch.diagonal(logits, dim1=1, dim2=2)
    ((w * ell).sum(-1) / w.sum(-1) + 0.5 * lam * Wg.pow(2).sum((1, 2))).sum().backward()
    assert torch.allclose(g, Wg.grad, rtol=1e-9, atol=1e-12)


def test_known_weights_up_weight_minority_pairs():
    c = preset("smoke", reweight="known", steps=5)
    M = data.dictionary(c.d1, stream.generator(c.seed, "dictionary"))[None]
    _, _, w = stream.DataStream([c], M).next()
    vals = np.unique(w.numpy())
    assert np.all(np.isclose(vals, 1.0) | np.isclose(vals, c.eps_max / c.eps_min))
    assert (w > 1).any()


def _minority_share(config) -> tuple:
    """Share of sequences holding at least one minority feature: (nominal q, after re-sampling
    q / (q + (1 - q) / resample))."""
    eps = np.asarray(config.freqs)[config.minority]
    q = 1 - float(np.prod((1 - eps) ** config.seq_len))
    return q, q / (q + (1 - q) / config.resample)


def test_resampling_hits_its_target_share():
    c = preset("smoke", resample=4.0, batch=64)
    M = data.dictionary(c.d1, stream.generator(c.seed, "dictionary"))[None]
    s = stream.DataStream([c], M)
    s._pos = stream.CHUNK_STEPS
    has = []
    for _ in range(8):  # 8 chunks of 16 steps x 64 sequences
        s._draw_chunk  # noqa: B018 (drawn inside next)
        gen = s.gens[0]
        u, _, _ = s._resampled(0, gen, (stream.CHUNK_STEPS, c.batch, c.seq_len), 1)
        mino = c.minority
        has.append((u[..., mino] < torch.tensor(c.freqs)[mino]).flatten(2).any(-1).flatten())
    has = torch.cat(has).float()
    q, target = _minority_share(c)
    n = has.numel()
    assert target > q + 0.2
    assert abs(has.mean().item() - target) < 4 * math.sqrt(target * (1 - target) / n)


def test_remedy_runs_are_batch_independent():
    base = preset("smoke", steps=60)
    cfgs = [base.replace(prune_frac=0.25, seed=s) for s in range(2)]
    h = train(cfgs)
    assert np.array_equal(train(cfgs[1]).P[0], h.P[1])
    cfgs = [base.replace(reweight="focal", resample=2.0, seed=s) for s in range(2)]
    h = train(cfgs)
    assert np.array_equal(train(cfgs[0]).P[0], h.P[0])
    with pytest.raises(ValueError, match="remedies"):
        train([base, base.replace(prune_frac=0.1)])


def test_probe_finds_a_planted_separable_feature():
    c = preset("smoke")
    M = data.dictionary(c.d1, stream.generator(c.seed, "dictionary")).numpy()
    W = np.zeros((c.m, c.d1), dtype=np.float32)
    W[0] = 3 * M[:, 0]  # neuron 1 reads feature 1 exactly, neuron 2 feature 4
    W[1] = 3 * M[:, 3]
    # the other neurons stay 0 (a random neuron would carry a random mix of every feature)
    acc = probe.probe_config(c, W, n_train=2000, n_test=2000)
    assert acc[0] > 0.9 and acc[3] > 0.9
    assert np.nanmean(acc[[1, 2, 4, 5]]) < 0.6  # features no neuron reads: near chance 1/3


def test_probe_does_not_depend_on_the_cpus_blas_kernels():
    """The probe's accuracies are the same whichever OpenBLAS kernels run the fit (forced here
    with OPENBLAS_CORETYPE, as different CPUs would select them): at float32 and scikit-learn's
    default tolerance they were not, and a committed chapter output moved by 0.01."""
    import subprocess
    import sys

    code = (
        "import imbacl, numpy as np; c = imbacl.preset('figure1', tau=10.0, eps_min=0.03, seed=1);"
        "h = imbacl.train(c, n_snapshots=2);"
        "print(imbacl.probe.probe_config(c, h.W[0], n_train=2000, n_test=2000).tobytes().hex())"
    )
    out = [
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "OPENBLAS_CORETYPE": core},
        ).stdout.strip()
        for core in ("Haswell", "Sandybridge")
    ]
    assert out[0] == out[1]


# -- the two gradient rules of pruning and its schedule (issue #18) ---------------------------
def _ste_autograd(A1, A2, W, b, tau, lam, keep):
    """Autograd of the masked loss with the mask's backward set to the identity: each
    neuron's term f1_i f2_i of the similarity is multiplied by keep_i in the forward pass only."""
    Wg = W.clone().requires_grad_(True)
    f1, f2 = model.encode(A1, Wg, b), model.encode(A2, Wg, b).detach()
    term = f1[:, :, None, :] * f2[:, None, :, :]  # (R, K, K, m)
    k = keep[:, None, None, :]
    logits = (term * k + (term - term.detach()) * (1 - k)).sum(-1) / tau.reshape(-1, 1, 1)
    ell = torch.logsumexp(logits, -1) - torch.diagonal(logits, dim1=1, dim2=2)
    (ell.mean(-1) + 0.5 * lam * Wg.pow(2).sum((1, 2))).sum().backward()
    return Wg.grad


def test_straight_through_gradient_is_autograd_with_an_identity_mask_backward():
    A1, A2, W, b, tau, lam = (x.double() for x in _inputs(seed=5))
    keep = model.prune_mask(W, torch.tensor([0.4, 0.6]))
    _, g = loss.loss_and_grad(W, A1, A2, b, tau, lam, keep=keep, prune_grad="straight_through")
    assert torch.allclose(g, _ste_autograd(A1, A2, W, b, tau, lam, keep), rtol=1e-9, atol=1e-12)
    # and the pruned neurons' loss gradient is not zero: they would grow back
    assert (g - lam.reshape(-1, 1, 1) * W)[keep == 0].abs().sum() > 0


def test_blocked_gradient_leaves_a_pruned_neuron_only_weight_decay():
    A1, A2, W, b, tau, lam = (x.double() for x in _inputs(seed=6))
    keep = model.prune_mask(W, torch.tensor([0.4, 0.6]))
    _, g = loss.loss_and_grad(W, A1, A2, b, tau, lam, keep=keep, prune_grad="blocked")
    _, g_st = loss.loss_and_grad(W, A1, A2, b, tau, lam, keep=keep)
    pruned, kept = keep == 0, keep == 1
    wd = lam.reshape(-1, 1, 1) * W
    assert torch.equal(g[pruned], wd[pruned])  # exactly the decay term
    assert torch.allclose(g[kept], g_st[kept], rtol=1e-12, atol=0)  # the others: unchanged


def test_blocked_training_step_is_exactly_the_weight_decay_step_for_pruned_neurons():
    c = preset("smoke", steps=1, prune_frac=0.5, prune_grad="blocked", lam=0.05)
    h = train(c, record_at=[0, 1])
    W0, W1 = (h.P[0, s] @ h.M[0].T for s in (0, 1))  # back from P = W M
    pruned = np.argsort(np.linalg.norm(W0, axis=-1))[: int(c.prune_frac * c.m)]
    kept = np.setdiff1d(np.arange(c.m), pruned)
    assert np.allclose(W1[pruned], (1 - c.lr * c.lam) * W0[pruned], rtol=1e-5, atol=1e-9)
    assert not np.allclose(W1[kept], (1 - c.lr * c.lam) * W0[kept], rtol=1e-3, atol=1e-6)


def test_prune_frac_zero_is_plain_training_bit_for_bit():
    base = preset("smoke", steps=50)
    plain = train(base)
    for over in (
        dict(prune_grad="blocked"),
        dict(prune_grad="blocked", prune_start=20),
        dict(prune_start=30),
    ):
        assert np.array_equal(train(base.replace(**over)).P, plain.P), over


def test_prune_start_delays_the_mask():
    base = preset("smoke", steps=40, prune_frac=0.5, prune_grad="blocked")
    plain, late = train(base.replace(prune_frac=0.0)), train(base.replace(prune_start=20))
    early = train(base)
    s = list(plain.steps).index(20)
    assert np.array_equal(late.P[:, : s + 1], plain.P[:, : s + 1])  # unpruned up to step 20
    assert not np.array_equal(late.P[:, -1], plain.P[:, -1])  # pruned from then on
    assert not np.array_equal(late.P[:, -1], early.P[:, -1])
    # runs with different starts batch together and each is as if alone
    both = train([base.replace(prune_start=20), base.replace(prune_start=0, seed=1)])
    assert np.array_equal(both.P[0], late.P[0])


def test_prune_grad_and_start_are_validated():
    for field, value, needle in [
        ("prune_grad", "none", "straight_through, blocked"),
        ("prune_start", -1, ">= 0"),
        ("prune_start", 301, "<= 300"),
    ]:
        with pytest.raises(ValueError, match=field) as err:
            preset("smoke", **{field: value})
        assert needle in str(err.value)
