"""Scaling in d: the parameters as functions of d, the compact per-run record, the caches in
results/scaling/, and the trend rule of the scaling chapter."""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from imbacl.sweep import RunTable
from imbacl import io, metrics, plots, preset, report, scaling, theory, train

ROOT = Path(__file__).resolve().parents[1]


def test_d9_with_eps_fixed_is_the_theory_preset():
    c = scaling.config(9, 0.3, "eps", seed=3)
    assert c.replace(steps=3000, seed=0) == preset("theory")
    assert scaling.config(9, 0.3, "eps_d") == scaling.config(9, 0.3, "eps")
    assert scaling.predicted_ends(c) == pytest.approx((88.0, 134.0))


@pytest.mark.parametrize("d", [8, 12, 16, 24, 32, 64])
def test_parameters_follow_the_stated_scalings(d):
    c = scaling.config(d, 0.2, "eps")
    assert c.m == round(d ** (math.log(30) / math.log(9))) and c.d1 == 8 * d
    assert c.n_majority == round(5 * d / 9)
    assert c.tau == pytest.approx(5 * math.log(d) / math.log(9), rel=1e-3)
    assert (c.eps_max, c.eps_min) == (0.1, 0.02)
    # lam a fixed share of the majority feature's Stage-1 threshold
    share = c.lam / theory.lam_threshold(c.eps_max, d)
    assert share == pytest.approx(0.001 / theory.lam_threshold(0.1, 9), rel=5e-3)
    e = scaling.config(d, 0.5, "eps_d")
    assert e.eps_max * d == pytest.approx(0.9, rel=1e-3)
    assert e.eps_min == pytest.approx(0.5 * e.eps_max, rel=1e-3)
    assert scaling.config(d, 0.3, "eps", c=4).d1 == 4 * d
    # a run lasts STAGE_MULT predicted Stage-2 ends (to 100 steps), and at least to T4 up to
    # d = REACH_T4_UPTO (rounded up to 100)
    T1, T2 = scaling.predicted_ends(c)
    T4 = theory.T4(d, c.lr)
    stage = abs(c.steps - scaling.STAGE_MULT * T2) <= 50 or c.steps == scaling.MIN_STEPS
    assert stage or (c.steps == math.ceil(T4 / 100) * 100 and T4 > scaling.STAGE_MULT * T2)
    assert c.steps >= T4 and T2 > T1 > 0


@pytest.mark.parametrize("d", [8, 16, 32])
def test_the_density_matched_arm_differs_from_eps_d_in_the_frequencies_alone(d):
    for rho in (0.2, 0.5):
        fixed, dm = scaling.config(d, rho, "eps_d"), scaling.config(d, rho, scaling.MATCHED)
        assert sum(dm.freqs) == pytest.approx(d * fixed.eps_max) and dm.eps_max > fixed.eps_max
        assert dm.rho == pytest.approx(fixed.rho)
        same = dm.replace(eps_sum=None, eps_max=fixed.eps_max, eps_min=fixed.eps_min)
        assert same == fixed  # lam, steps, sizes, seed: all as in the eps d fixed run
        assert scaling.window_step(dm) == scaling.window_step(fixed)  # Stage 3 read alike
    names = [n for n, _ in scaling.cells()]
    assert f"{scaling.MATCHED}_c8_d{d}" in names


def test_bad_scaling_arguments_are_named():
    with pytest.raises(ValueError, match="scaling='eps_d2'"):
        scaling.config(16, 0.3, "eps_d2")
    with pytest.raises(ValueError, match="d=2"):
        scaling.config(2, 0.3)


@pytest.mark.parametrize("d, kind", [(8, "eps"), (64, "eps"), (32, "eps_d"), (16, "eps")])
def test_snapshots_cover_stage1_and_the_stage_ends(d, kind):
    c = scaling.config(d, 0.3, kind)
    s = scaling.record_steps(c)
    assert len(s) <= scaling.MAX_SNAPSHOTS and s[0] == 0 and s[-1] == c.steps
    assert np.all(np.diff(s) > 0)
    T1, T2 = scaling.predicted_ends(c)
    assert ((s >= 0.5 * T1) & (s <= 3 * T2)).sum() >= 8  # the stage ends are resolved


def _small(seed=0, d=8):
    return scaling.config(d, 0.3, "eps", seed=seed).replace(steps=120)


def test_stage3_states_are_read_at_the_end_of_the_final_window():
    assert scaling.window_step(scaling.config(16, 0.3)) == math.floor(16**1.99 / 0.5) == 497
    c64, c128 = scaling.config(64, 0.3), scaling.config(128, 0.3)
    assert scaling.window_step(c64) == math.floor(64**1.99 / 0.5) < c64.steps  # runs past T4
    assert scaling.window_step(c128) == c128.steps < 128**1.99 / 0.5  # the run ends first
    for c in (scaling.config(16, 0.3), c64, c128):
        assert scaling.window_step(c) in scaling.record_steps(c)


def test_record_keeps_every_feature_side_measure_exactly():
    cfgs = [_small(0).replace(steps=200), _small(1).replace(steps=200)]
    h = train(cfgs, record_at=scaling.record_steps(cfgs[0]), threads=1)
    rec = scaling.record(h, 1)
    full = h.P[1, -1].astype(np.float64)
    P = rec["P"].astype(np.float64)
    assert P.shape == (cfgs[0].m, cfgs[0].d + 1)
    np.testing.assert_allclose(metrics.cos2(P, 8), metrics.cos2(full, 8), rtol=1e-5, atol=1e-9)
    np.testing.assert_array_equal(metrics.pure_counts(P, 8), metrics.pure_counts(full, 8))
    np.testing.assert_array_equal(metrics.set_sizes(P, 8), metrics.set_sizes(full, 8))
    np.testing.assert_array_equal(rec["sep"], metrics.noise_separation(full, 8))
    np.testing.assert_array_equal(rec["colnorm"], metrics.feature_norms(h.P[1])[:, :8])
    assert rec["loss"] == pytest.approx(h.loss[1, -20:].mean())
    np.testing.assert_array_equal(rec["best"], metrics.cos2(h.P[1], 8).max(-2))
    w = list(h.steps).index(scaling.window_step(cfgs[0]))
    assert h.steps[w] == 125 < h.steps[-1]
    np.testing.assert_array_equal(rec["P_window"], scaling.compact(h.P[1, w].astype(np.float64), 8))
    np.testing.assert_array_equal(
        rec["sep_window"], metrics.noise_separation(h.P[1, w].astype(np.float64), 8)
    )
    # eq. (8)'s window: the running mean of L over steps ceil(d^1.01 / eta) .. T4 (= 125 here)
    t3 = math.ceil(8**1.01 / cfgs[0].lr)
    assert rec["loss_window"] == pytest.approx(h.loss[1, t3:126].mean())
    # the aligned count at every snapshot, and the non-feature measures between snapshots
    allP = h.P[1].astype(np.float64)
    np.testing.assert_array_equal(rec["aligned"], metrics.aligned_neurons(allP, 8).sum(-2))
    a, b = 2, len(allP) - 1
    assert rec["excess"][a, b] == pytest.approx(metrics.perp_excess(allP[a], allP[b], 8).max())
    assert np.all(np.diag(rec["excess"]) == 0)  # nothing rises from a snapshot to itself
    beta = (
        np.abs(allP[b, :, 8:]) * math.sqrt(cfgs[0].d1) / np.linalg.norm(allP[b], axis=-1)[:, None]
    )
    assert rec["beta"][b] == pytest.approx(np.percentile(beta, 95))


def test_random_weights_have_beta_near_the_normal_quantile():
    # eq. (9)'s scale: for isotropic weights |beta| sqrt(d1) / ||w|| is about |N(0, 1)|, 95th
    # percentile 1.96, so the theorem's o(1) is a fall below that
    cfgs = [_small(0).replace(steps=200)]
    rec = scaling.record(train(cfgs, record_at=scaling.record_steps(cfgs[0]), threads=1), 0)
    assert rec["beta"][0] == pytest.approx(1.96, abs=0.15)


def test_final_window_columns_drop_sizes_whose_runs_end_before_T4():
    short = scaling.config(128, 0.3)  # eps fixed: 14,800 steps, T4 about 31,216
    assert not scaling.reaches_window(short)
    assert scaling.reaches_window(scaling.config(64, 0.3)) and scaling.reaches_window(
        scaling.config(64, 0.3, "eps_d")
    )
    assert scaling.reaches_window(short.replace(steps=31300))
    rows = [
        {"scaling": "eps", "c": 8, "d": d, "rho": 0.3, "seed": s, "set_size": 1.0, "T1": 2.0}
        for d in scaling.sizes("eps", 8, 0.3)
        for s in range(2)
    ]
    t = RunTable(rows, labels=["scaling", "c", "d", "rho", "seed"])
    window_ds, _ = scaling.series(t, "set_size")
    assert 128 not in window_ds and 64 in window_ds and 32 in window_ds
    assert scaling.series(t, "T1")[0] == scaling.sizes("eps", 8, 0.3)  # a "before T4" column


def test_size_reaching_follows_the_power_law_and_refuses_the_wrong_way():
    # 4 at d = 10 falling as d^-1: 1 at d = 40; rising or flat: never
    assert scaling.size_reaching(1.0, 10, 4.0, -1.0) == pytest.approx(40.0)
    assert scaling.size_reaching(1.0, 10, 4.0, 0.5) == float("inf")
    assert scaling.size_reaching(1.0, 10, 4.0, 0.0) == float("inf")
    assert scaling.size_reaching(8.0, 10, 4.0, 1.0) == pytest.approx(20.0)


def test_records_do_not_depend_on_the_batch():
    cfgs = [_small(0), _small(1), _small(2)]
    together = scaling.train_records(cfgs)
    alone = scaling.train_records([cfgs[1]])
    for k in alone[0]:
        np.testing.assert_array_equal(together[1][k], alone[0][k])


def test_a_saved_cell_reads_back_identically(tmp_path):
    cfgs = [_small(0), _small(1)]
    cell = {
        "configs": cfgs,
        "records": scaling.train_records(cfgs),
        "seconds": 1.5,
        "command": scaling.command("eps_c8_d8"),
    }
    scaling.save_cell(tmp_path / "x.npz", cell)
    assert "P_window" not in io.load_record(tmp_path / "x.npz")  # = P: the window outlasts the run
    back = scaling.load_cell(tmp_path / "x.npz")
    assert back["configs"] == cfgs and str(back["command"]) == cell["command"]
    keep = back["dense_steps"].shape[1]  # the dense points up to the fit window only
    assert 0 < keep < len(cell["records"][1]["dense_steps"])
    for k, v in cell["records"][1].items():
        np.testing.assert_array_equal(back[k][1], v[:keep] if k in scaling._DENSE else v)
    for r, rec in enumerate(cell["records"]):  # every rate as from the untrimmed record
        T1 = scaling.measured_T1(rec["steps"], rec["phi"])
        kept = {k: back[k][r] for k in ("colnorm", "dense_steps", "dense_colnorm")}
        for a, b in zip(scaling.growth_rates(kept, T1), scaling.growth_rates(rec, T1)):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(io.ResultsFileError, match="not 'imbacl/final'"):
        io.load_final(tmp_path / "x.npz")
    t = scaling.table({"eps_c8_d8": back})
    assert len(t) == 2 and t[0]["d"] == 8 and t[0]["rho"] == 0.3 and t[1]["seed"] == 1
    assert np.isfinite(t.column("cz_maj")).all() and (t.column("eps0") > 0).all()


def test_log_slope_is_exact_on_a_line_and_growth_rate_uses_it():
    steps = np.array([0, 10, 20, 40, 80])
    y = np.stack([0.5 - 0.01 * steps, 2 + 0.03 * steps], -1)
    np.testing.assert_allclose(metrics.log_slope(steps, y, 40), [-0.01, 0.03])
    P = np.random.default_rng(0).normal(size=(1, 3, 4)) * np.exp(0.02 * steps)[:, None, None]
    np.testing.assert_allclose(metrics.growth_rate(steps, P, 80), 0.02 * np.ones(4))
    with pytest.raises(ValueError, match="t_max=5"):
        metrics.log_slope(steps, y, 5)


# -- the trend rule --------------------------------------------------------------------------
def test_trend_recovers_an_exact_slope_and_its_interval_shrinks_to_it():
    d = [8, 12, 16, 24, 32, 64]
    groups = [np.full(4 if k < 5 else 3, 2 * math.log(x) + 1) for k, x in enumerate(d)]
    c = report.trend(d, groups)
    assert (c.overall.value, c.overall.lo, c.overall.hi, c.n) == pytest.approx((2.0, 2.0, 2.0, 6))
    assert c.straight and all(e.value == pytest.approx(2.0) for e in c.local)
    assert c.tail.value == pytest.approx(2.0) and c.tail.n == report.TAIL
    c = report.trend(d, [np.full(3, x**-0.5) for x in d], transform=np.log)
    assert c.overall.value == pytest.approx(-0.5)


def test_trend_interval_covers_a_noisy_slope_and_needs_five_sizes():
    rng = np.random.default_rng(1)
    d = [8, 12, 16, 24, 32, 64]
    hits, widths = 0, []
    for _ in range(40):  # a 95% interval: covers the true slope most times
        e = report.trend(d, [0.3 * math.log(x) + rng.normal(0, 0.05, size=8) for x in d]).overall
        hits += e.lo <= 0.3 <= e.hi
        widths.append(e.hi - e.lo)
    assert hits >= 32 and np.median(widths) < 0.15
    with pytest.raises(ValueError, match="at least 5 sizes"):
        report.trend(d[:4], [np.ones(3)] * 4)
    flat = report.trend(d, [rng.normal(0, 1, size=8) for _ in d])
    assert report.Trend(flat, "up").label() == report.UNTESTABLE


def test_trend_labels_follow_the_theorems_side():
    d = [8, 12, 16, 24, 32, 64]
    rng = np.random.default_rng(2)
    up = report.trend(d, [0.4 * math.log(x) + rng.normal(0, 0.01, size=8) for x in d])
    assert report.Trend(up, "up").label() == report.HOLDS
    assert report.Trend(up, "down").label() == report.FAILS
    assert report.Trend(up, (-0.25, 0.25)).label() == report.FAILS
    assert report.Trend(up, (0.3, 0.5)).label() == report.HOLDS
    with pytest.raises(ValueError, match="side='flat'"):
        report.Trend(up, "flat")
    with pytest.raises(TypeError, match="Curve"):
        report.Trend(report.Estimate(0.4, 0.2, 0.6, 6), "up")


def test_verdict_tables_get_a_trend_column_only_when_a_row_has_a_trend():
    d = [8, 12, 16, 24, 32, 64]
    c = report.trend(d, [np.full(3, 0.4 * math.log(x)) for x in d])
    e = report.Estimate(0.4, 0.2, 0.6, 6)
    rows = [
        report.Verdict("grows", "Thm", report.Trend(c, "up"), "eps"),
        report.Verdict("other", "Thm", report.Above(e, 0.1), "eps"),
    ]
    md = report.verdict_table(rows)._repr_markdown_()
    assert "trend in log d" in md and f"| {c} |" in md and "| - |" in md
    assert rows[0].as_dict()["trend"] == str(c) and "trend" not in rows[1].as_dict()
    assert "trend" not in report.verdict_table(rows[1:])._repr_markdown_()
    both = report.Regimes((("a", report.Trend(c, "up")), ("b", report.Trend(c, "down"))))
    assert report.trend_text(both) == f"a: {c}; b: {c}"


def test_heatmaps_of_different_sizes_side_by_side():
    rng = np.random.default_rng(0)
    Ps = [rng.normal(size=(20, d + 1)) for d in (9, 32)]
    fig = plots.heatmap_row(Ps, [9, 32], [5, 18], ["d = 9", "d = 32"])
    assert len([a for a in fig.axes if a.get_title()]) == 2
    plots.plt.close(fig)


# -- the caches ----------------------------------------------------------------------------------
def test_every_cache_file_holds_the_configs_the_plan_asks_for():
    for name, configs in scaling.cells():
        f = ROOT / scaling.path(name)
        assert f.exists(), f"{f} missing: run {scaling.command(name)}"
        data = io.load_record(f)
        assert data["configs"] == configs, f"{f} is stale: rerun {scaling.command(name)}"
        assert str(data["command"]) == scaling.command(name)
        S = len(scaling.record_steps(configs[0]))
        assert data["colnorm"].shape == (len(configs), S, configs[0].d)
        assert np.isfinite(data["loss"]).all() and float(data["seconds"]) > 0
    floors = io.load_record(ROOT / "results/scaling/floors.npz")
    assert len(floors["configs"]) == len(floors["floor"]) and np.isfinite(floors["floor"]).all()


def test_the_sweep_script_finds_everything_cached():
    out = subprocess.run(
        [sys.executable, "scripts/scaling_sweeps.py", "--dry-run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "to train" not in out.stdout.replace("run-steps to train", "")
    assert out.stdout.strip().endswith("0 run-steps to train")
    bad = subprocess.run(
        [sys.executable, "scripts/scaling_sweeps.py", "--only", "eps_c8_d7", "--dry-run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0 and "eps_c8_d7" in bad.stderr


def test_a_size_beyond_the_grid_is_planned_with_its_own_command():
    """--size adds one file past the chapter's grid (the next size, for a GPU); a size of the
    grid or an unknown device is refused with the option named."""
    out = subprocess.run(
        [sys.executable, "scripts/scaling_sweeps.py", "--size", "256", "--dry-run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    steps = scaling.config(256, 0.3).steps
    assert f"eps_c8_d256     20 runs x {steps:6} steps  to train" in out.stdout
    assert out.stdout.strip().endswith(f"{20 * steps} run-steps to train")
    name, cfgs = scaling.cells((256,))[-1]
    assert name == "eps_c8_d256" and {c.d for c in cfgs} == {256} and len(cfgs) == 20
    assert scaling.command(name, "cuda") == (
        "python scripts/scaling_sweeps.py --size 256 --device cuda --only eps_c8_d256"
    )
    assert scaling.command("eps_c8_d128") == "python scripts/scaling_sweeps.py --only eps_c8_d128"
    for args, word in ((["--size", "128"], "--size 128"), (["--device", "tpu"], "--device 'tpu'")):
        bad = subprocess.run(
            [sys.executable, "scripts/scaling_sweeps.py", *args, "--dry-run"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert bad.returncode == 2 and word in bad.stderr and "Traceback" not in bad.stderr


def test_d128_holds_rho_03_only_and_series_skip_the_sizes_without_a_rho():
    name, cfgs = [x for x in scaling.cells() if x[0] == "eps_c8_d128"][0]
    assert {scaling.ratio(c) for c in cfgs} == {0.3} and len(cfgs) == scaling.SEEDS_LARGE
    assert scaling.sizes("eps", rho=0.3)[-1] == 128 and 128 not in scaling.sizes("eps", rho=0.2)
    assert scaling.sizes("eps", scaling.C_CONTRAST, 0.3)[-1] == 32


@pytest.mark.parametrize("workers", [1, 2])
def test_a_cell_trains_to_the_same_records_in_one_process_or_two(workers):
    """One worker: one batch here; two: sweep.run_each over two spawned processes (the path
    that wrote the caches), batches of two runs and one."""
    cfgs = [_small(0), _small(1), _small(2)]
    cell = scaling.run_cell("eps_c8_d8", cfgs, workers=workers)
    assert cell["command"] == scaling.command("eps_c8_d8") and cell["configs"] == cfgs
    for got, want in zip(cell["records"], scaling.train_records(cfgs)):
        for k in want:
            np.testing.assert_array_equal(got[k], want[k])


def test_sizes_without_two_finite_seeds_are_left_out_of_a_trend():
    d = [8, 12, 16, 24, 32, 64]
    groups = [np.full(3, 2 * math.log(x)) for x in d]
    groups[-1] = np.array([np.nan, 5.0, np.nan])  # e.g. a time reached once
    c = report.trend(d, groups)
    assert (c.overall.value, c.n) == pytest.approx((2.0, 5))
    groups[-2] = np.full(3, np.nan)
    c = report.trend(d, groups)
    assert np.isnan(c.overall.value) and c.n == 4 and str(c) == "not resolved (n=4 sizes)"
    assert report.Trend(c, "up").label() == report.UNTESTABLE


def test_growth_rates_fit_the_same_share_of_the_measured_T1():
    steps = np.arange(0, 201, 2)
    colnorm = np.exp(np.outer(steps, [0.01, 0.002]))  # two features, known rates
    rec = {"colnorm": np.ones((3, 2)), "dense_steps": steps, "dense_colnorm": colnorm}
    rate, share = scaling.growth_rates(rec, T1_hat=100.0)
    np.testing.assert_allclose(rate, [0.01, 0.002], rtol=1e-9)
    assert share == pytest.approx(0.3)  # the last point <= 0.3 T1_hat is step 30
    # too few points in the window, or no dense points: no rate
    assert np.isnan(scaling.growth_rates(rec, T1_hat=10.0)[0]).all()
    assert np.isnan(scaling.growth_rates({"colnorm": np.ones((3, 2))}, 100.0)[0]).all()
    assert np.isnan(scaling.growth_rates(rec, np.nan)[0]).all()
    # the dense points stop at step 200, well before 0.3 T1_hat = 300: no rate, the share shown
    rate, share = scaling.growth_rates(rec, T1_hat=1000.0)
    assert np.isnan(rate).all() and share == pytest.approx(0.2)


def test_each_run_tracks_enough_dense_points_for_its_rate_fit():
    for s in scaling.SCALINGS:
        for d in scaling.sizes(s):
            c = scaling.config(d, 0.3, s)
            every, until = scaling.track_plan(c)
            t1 = scaling.predicted_ends(c)[0]
            # even a T1_hat at a fifth of its prediction leaves MIN_FIT_POINTS in the window
            assert scaling.GROWTH_SHARE * t1 / 5 / every >= scaling.MIN_FIT_POINTS - 1
            assert until >= 2 * t1 - 1 or until == c.steps


def test_both_scalings_shows_the_eps_fixed_contrast_once_where_it_has_no_larger_size():
    rng = np.random.default_rng(0)
    ds = (8, 12, 16, 24, 32, 64)
    curve = {n: report.trend(ds[:n], [1 / d + 0.01 * rng.normal(size=4) for d in ds[:n]], np.log)
             for n in (5, 6)}  # fmt: skip
    longer = scaling.both_scalings({("x", "eps_d"): curve[5], ("x", "eps"): curve[6]}, "x", "down")
    assert [n for n, _ in longer.rules] == [
        "eps d fixed",
        "eps fixed, d <= 32",
        "eps fixed, d <= 64",
    ]
    same = scaling.both_scalings({("x", "eps_d"): curve[5], ("x", "eps"): curve[5]}, "x", "down")
    assert [n for n, _ in same.rules] == ["eps d fixed", "eps fixed, d <= 32"]
    assert same.label() == longer.label() == report.HOLDS
    # eps fixed measured at fewer sizes than eps d fixed: its one contrast named by its own end
    short = scaling.both_scalings({("x", "eps_d"): curve[6], ("x", "eps"): curve[5]}, "x", "down")
    assert [n for n, _ in short.rules] == ["eps d fixed", "eps fixed, d <= 32"]
