"""The theory's own regime: the ``theory`` preset, where every feature grows in Stage 1, and the
loss floor of ideal pure-feature encoders (``imbacl.theory.loss_floor``)."""

import numpy as np
import pytest
import torch

from imbacl import Config, metrics, preset, train
from imbacl.data import sample_config
from imbacl.loss import loss_and_grad
from imbacl.model import attention, bias
from imbacl.theory import loss_floor

SEEDS = range(8)
RECORD = [0, 50, 100]
GROWTH_50, GROWTH_100 = 1.03, 1.1  # the premise: every feature grows by these factors


def stage1_medians(name):
    """Seeds 0-7 of preset ``name`` trained to step 100: per seed and feature the median over
    neurons of |P_ij(t)| / |P_ij(0)| at steps 50 and 100, each (8, d); and the config."""
    c = preset(name, steps=100)
    h = train([c.replace(seed=s) for s in SEEDS], record_at=RECORD, threads=1)
    assert h.steps.tolist() == RECORD
    g50, g100 = (
        np.median(metrics.growth(h.P[:, 0], h.P[:, k])[..., : c.d], axis=-2) for k in (1, 2)
    )
    return c, g50, g100


def premise_holds(c, g50, g100):
    """Per seed (8,): every feature grows (> 1.03 by step 50, > 1.1 by step 100) and the
    slowest majority feature beats the fastest minority one at step 100 (K2)."""
    nm = c.n_majority
    grows = (g50.min(-1) > GROWTH_50) & (g100.min(-1) > GROWTH_100)
    k2 = g100[:, :nm].min(-1) > g100[:, nm:].max(-1)
    return grows & k2


@pytest.fixture(scope="module")
def theory_run():
    return stage1_medians("theory")


@pytest.fixture(scope="module")
def figure1_run():
    return stage1_medians("figure1")


def test_theory_preset_is_figure1_but_lam_and_d1():
    fig, th = preset("figure1"), preset("theory")
    assert fig == Config()
    assert th.replace(lam=fig.lam, d1=fig.d1) == fig
    assert (th.d, th.m, th.n_majority, th.rho) == (9, 30, 5, pytest.approx(0.3))
    assert th.lam < fig.lam and th.d1 > fig.d1


def test_every_feature_grows_in_stage1_at_theory(theory_run):
    c, g50, g100 = theory_run
    assert np.all(g50 > GROWTH_50), g50.min(-1)
    assert np.all(g100 > GROWTH_100), g100.min(-1)
    nm = c.n_majority
    assert np.all(g100[:, :nm].min(-1) > g100[:, nm:].max(-1)), (
        g100[:, :nm].min(-1),
        g100[:, nm:].max(-1),
    )
    assert premise_holds(c, g50, g100).all()


def test_premise_fails_at_figure1(figure1_run):
    c, g50, g100 = figure1_run
    nm = c.n_majority
    # The minority features shrink from step 0 (measured: median ratio 0.89 at step 100).
    assert np.median(g100[:, nm:]) < 0.95, np.median(g100[:, nm:])
    assert np.all(g50[:, nm:].max(-1) < 1.0), g50[:, nm:].max(-1)
    assert not premise_holds(c, g50, g100).any()


# -- the loss floor -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def floor_figure1():
    return loss_floor(preset("figure1"))


def test_loss_floor_figure1(floor_figure1):
    r = floor_figure1
    assert set(r) == {"floor", "alpha", "stderr", "n_batches", "logK"}
    assert r["logK"] == pytest.approx(np.log(64)) and r["n_batches"] == 65536 // 64
    assert np.isfinite(r["floor"]) and r["floor"] < r["logK"]
    assert 3.3 <= r["floor"] <= 3.8, r
    assert 0 < r["stderr"] < 0.01 and 0.01 < r["alpha"] < 100
    small = loss_floor(preset("figure1"), n_samples=8192)
    assert loss_floor(preset("figure1"), n_samples=8192) == small  # deterministic


def test_loss_floor_matches_trainer_loss(floor_figure1):
    """The floor against the trainer's own loss code: W = alpha* M_j(i) on fresh data."""
    r, c = floor_figure1, preset("figure1")
    n_b, K = r["n_batches"], c.batch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        s = sample_config(c, n_b * K, seed_offset=1)  # another data stream
        A1, A2 = (
            attention(s[v], c.attention).reshape(n_b, K, c.seq_len, c.d1)
            for v in ("view1", "view2")
        )
        W = r["alpha"] * s["M"][:, np.arange(c.m) % c.d].T[None]  # (1, m, d1)
        assert W.shape == (1, c.m, c.d1)
        Wb = W.expand(n_b, -1, -1).contiguous()
        b = bias(Wb, c.sigma, c.d, c.bias_scale)
        loss, _ = loss_and_grad(Wb, A1, A2, b, torch.full((n_b,), c.tau), torch.zeros(n_b))
    finally:
        torch.set_num_threads(threads)
    loss = loss.double().numpy()
    se = np.hypot(r["stderr"], loss.std(ddof=1) / np.sqrt(n_b))  # both sides sampled
    assert abs(loss.mean() - r["floor"]) < 3 * se, (loss.mean(), r["floor"], se)


def test_loss_floor_is_a_minimum(floor_figure1):
    r, c = floor_figure1, preset("figure1")
    for a in (r["alpha"] / 3, 3 * r["alpha"]):
        at = loss_floor(c, alphas=[a])
        assert at["alpha"] == a and at["floor"] >= r["floor"], (a, at["floor"], r["floor"])


def test_loss_floor_rejects_bad_arguments():
    c = preset("smoke")
    with pytest.raises(ValueError, match="n_samples"):
        loss_floor(c, n_samples=c.batch - 1)
    with pytest.raises(ValueError, match="alphas"):
        loss_floor(c, alphas=[1.0, -1.0])
