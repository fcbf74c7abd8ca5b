"""imbacl.remedies: regimes, kept neurons, the pruning measures and paired arms (chapter 9)."""

import numpy as np
import pytest
import torch

from imbacl import metrics, model, preset, remedies, train
from imbacl.train import initial_projections


def test_initial_projections_are_the_recorded_step_zero():
    c = preset("smoke", steps=3, seed=4)
    assert np.array_equal(initial_projections(c), train(c, record_at=[0, 3]).P[0, 0])


def test_kept_neurons_match_the_training_mask():
    W = torch.randn(1, 10, 6, generator=torch.Generator().manual_seed(0))
    for frac in (0.0, 0.3, 0.6):
        keep = model.prune_mask(W, torch.tensor([frac]))[0].numpy().astype(bool)
        assert np.array_equal(remedies.kept_neurons(W[0].numpy(), frac), keep)


def test_pruning_measures_count_kept_aligned_and_lucky_neurons():
    c = preset("smoke", m=4, d=3, d1=6, n_majority=1)  # minority features 1, 2
    P0 = initial_projections(c)
    P = np.zeros((4, 6))
    P[0, 1] = 5.0  # aligned with feature 1, largest norm
    P[1, 2] = 0.1  # aligned with feature 2, smallest norm: pruned at 0.25
    P[2, 0] = P[3, 0] = 1.0
    full = remedies.pruning_measures(c, P)
    pruned = remedies.pruning_measures(c.replace(prune_frac=0.25), P)
    assert full["aligned_min"] == 1.0 and pruned["aligned_min"] == 0.5
    lucky = metrics.lucky_at_init(P0, c.d, c.freqs, c.init_std)
    assert full["lucky0_min"] == lucky[:, 1:].sum(0).mean()
    assert full["lucky_aligned_min"] == (lucky[0, 1] + lucky[1, 2]) / 2


def test_regime_config_and_its_errors():
    assert remedies.regime_config("theory", 0.3) == preset("theory", eps_min=0.03)
    assert remedies.regime_config("figure1", 0.5).eps_min == 0.05
    b = remedies.regime_config("boundary", 0.2)
    assert (b.d1, b.lam) == (preset("theory").d1, remedies.BOUNDARY_LAM[0.02])
    with pytest.raises(ValueError, match="regime"):
        remedies.regime_config("deletion", 0.3)
    with pytest.raises(ValueError, match="rho"):
        remedies.regime_config("boundary", 0.7)


def test_paired_arm_pairs_each_treated_run_with_its_baseline_seed():
    base = preset("smoke", steps=40)
    t = remedies.paired_arm(base, {"prune_frac": 0.5, "prune_grad": "blocked"}, seeds=2)
    assert [r["arm"] for r in t] == ["baseline"] * 2 + ["prune 0.5 blocked"] * 2
    assert t.get("prune_frac", arm="prune 0.5 blocked").tolist() == [0.5, 0.5]
    g = remedies.gains(t, "aligned_min", ["prune 0.5 blocked"])
    assert g.shape == (1, 2) and np.isfinite(g).all()
    same = remedies.gains(t, "pure_min", ["baseline"])  # the baseline against itself
    assert np.array_equal(same, [[0, 0]])


def test_arm_names():
    c = preset("theory")
    assert remedies.arm_name(c) == "baseline"
    assert remedies.arm_name(c.replace(prune_frac=0.3, prune_start=100)) == "prune 0.3 ST from 100"
    assert (
        remedies.arm_name(c.replace(reweight="known", resample=4.0))
        == "reweight known, resample x4"
    )
    assert remedies.arm_name(c.replace(tau=2.0)) == "tau 2"


def test_probe_cache_round_trip_and_selection(tmp_path):
    from imbacl.sweep import FinalSweep

    c = preset("smoke", eps_max=0.1, eps_min=0.03)
    cfgs = [c, c.replace(prune_frac=0.3), c.replace(prune_frac=0.6), c.replace(eps_min=0.05)]
    final = FinalSweep(cfgs, [{}] * 4, [c.steps] * 4, [np.zeros((c.m, c.d1))] * 4)
    assert remedies.to_probe(final) == [0, 1]  # rho 0.3: baseline, prune 0.3 ST
    acc = np.arange(2 * c.d, dtype=float).reshape(2, c.d) / 20
    remedies.save_probes(tmp_path / "p.npz", cfgs[:2], acc)
    probes = remedies.load_probes(tmp_path / "p.npz")
    assert np.array_equal(probes[cfgs[1]], acc[1])
    t = remedies.arm_table(final, probes=probes)
    assert t.column("probe_maj")[0] == acc[0, : c.n_majority].mean()
    assert np.isnan(t.column("probe_min")[2])
