import numpy as np
import pytest

import imbacl
from imbacl import metrics, preset, train
from imbacl.errors import NonFiniteError
from imbacl.train import log_steps


@pytest.fixture(scope="module")
def smoke_batch():
    base = preset("smoke")
    configs = [
        base.replace(
            seed=s,
            lam=0.005 * (s + 1),
            tau=3.0 + s,
            eps_min=0.02 + 0.01 * s,
            bias_scale=0.3 + 0.1 * s,
        )
        for s in range(4)
    ]
    return configs, train(configs)


def test_batched_equals_one_at_a_time(smoke_batch):
    configs, h = smoke_batch
    for r, c in enumerate(configs):
        alone = train(c)
        assert np.array_equal(alone.P[0], h.P[r])
        assert np.array_equal(alone.loss[0], h.loss[r])
        assert np.array_equal(alone.bias[0], h.bias[r])


def test_deterministic(smoke_batch):
    configs, h = smoke_batch
    again = train(configs)
    assert np.array_equal(again.P, h.P) and np.array_equal(again.loss, h.loss)
    other = train([c.replace(seed=c.seed + 10) for c in configs])
    assert not np.array_equal(other.P, h.P)


def test_history_shapes_and_contents(smoke_batch):
    configs, h = smoke_batch
    c = configs[0]
    S = len(h.steps)
    assert h.steps[0] == 0 and h.steps[-1] == c.steps and np.all(np.diff(h.steps) > 0)
    assert h.P.shape == (4, S, c.m, c.d1) and h.norms.shape == (4, S, c.m)
    assert h.bias.shape == (4, S, c.m) and h.loss.shape == (4, c.steps + 1)
    # P holds every direction, so it carries the whole norm of w_i.
    assert np.allclose(np.sqrt((h.P**2).sum(-1)), h.norms, rtol=1e-4)
    # loss starts at log K: at init all similarities are ~0.
    assert np.allclose(h.loss[:, 0], np.log(c.batch), atol=0.05)
    drop = h.loss[:, :10].mean(1) - h.loss[:, -50:].mean(1)
    assert np.all(drop > 0.01) and drop.mean() > 0.1, drop
    one = h.run(2)
    assert one.configs == [configs[2]] and np.array_equal(one.P[0], h.P[2])


def test_record_at_and_log_steps():
    s = log_steps(3000, 50)
    assert s[0] == 0 and s[-1] == 3000 and len(s) <= 50 and np.all(np.diff(s) > 0)
    h = train(preset("smoke", steps=20), record_at=[0, 5, 20])
    assert h.steps.tolist() == [0, 5, 20]
    with pytest.raises(ValueError, match="record_at"):
        train(preset("smoke", steps=20), record_at=[0, 30])


def test_tracked_points_match_the_snapshots_and_change_nothing():
    configs = [preset("smoke", steps=40, seed=s) for s in range(2)]
    plain = train(configs, record_at=list(range(0, 41, 2)))
    h = train(configs, record_at=list(range(0, 41, 2)), track_every=4, track_until=30)
    assert np.array_equal(h.P, plain.P) and np.array_equal(h.loss, plain.loss)
    assert plain.track == {} and h.track["steps"].tolist() == list(range(0, 29, 4))
    d = configs[0].d
    idx = [h.steps.tolist().index(t) for t in h.track["steps"]]
    P = h.P[:, idx].astype(np.float64)
    np.testing.assert_allclose(h.track["colnorm"], metrics.feature_norms(P)[..., :d], rtol=1e-4)
    np.testing.assert_allclose(h.track["energy"], metrics.feature_energy(P, d), rtol=1e-4)
    one = h.run(1)
    assert np.array_equal(one.track["colnorm"][0], h.track["colnorm"][1])


def test_nonfinite_stops_with_step_and_run():
    good, bad = preset("smoke", steps=50), preset("smoke", steps=50, lr=1e6, seed=7)
    with pytest.raises(NonFiniteError, match=r"run 1 \(seed 7\).*step \d+"):
        train([good, bad])


def test_mixed_shapes_are_refused():
    with pytest.raises(ValueError, match="imbacl.sweep"):
        train([preset("smoke"), preset("smoke", m=5)])


def test_save_load_roundtrip(tmp_path, smoke_batch):
    _, h = smoke_batch
    imbacl.io.save_history(h, tmp_path / "h.npz")
    back = imbacl.io.load_history(tmp_path / "h.npz")
    assert back.configs == h.configs and np.array_equal(back.P, h.P)


def test_history_memory_budget():
    # R = 64 runs of figure1 with 200 snapshots: P dominates; well under 1 GB.
    c = preset("figure1")
    R, S = 64, len(log_steps(c.steps, 200))
    nbytes = 4 * R * S * (c.m * c.d1 + 2 * c.m) + 4 * R * (c.steps + 1)
    assert nbytes < 0.25e9


def test_stage1_majority_grows_more_than_minority():
    """K2: after Stage 1, majority projections have grown more than minority ones, per seed."""
    base = preset("figure1", steps=200)
    h = train([base.replace(seed=s) for s in range(6)], record_at=[0, 100])
    logg = np.log(metrics.growth(h.P[:, 0], h.P[:, 1]))  # (R, m, d1)
    maj = np.median(logg[..., base.majority], axis=(1, 2))
    mino = np.median(logg[..., base.minority], axis=(1, 2))
    assert np.all(maj > mino + 0.5), (maj, mino)
    # and the non-feature directions have not grown (eq. 5)
    assert np.all(np.median(logg[..., base.d :], axis=(1, 2)) < 0.1)


def test_thread_count_does_not_change_a_bit():
    # One process with 2 threads, or 2 processes with 1 thread each (benchmarks/engine.py
    # --split), must give the same numbers; 40 figure1 runs make every tensor large enough for
    # torch to split its work between threads.
    cs = [preset("figure1", steps=40, seed=s) for s in range(40)]
    one, two = train(cs, n_snapshots=5, threads=1), train(cs, n_snapshots=5, threads=2)
    assert np.array_equal(one.P, two.P) and np.array_equal(one.loss, two.loss)
