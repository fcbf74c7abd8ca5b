"""Unit tests of the imbalance helpers (chapters 6-8): metrics, fits, sweep caching, CLI --save,
plots."""

import json

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from imbacl import cli, fits, io, metrics, plots, preset, sweep, theory, train  # noqa: E402


def _P():
    # 3 neurons, d = 3 features, d1 = 5: pure on 0; mixed on 1 (strong) and 2 (weak); mostly noise.
    return np.array(
        [[3.0, 0.1, 0.0, 0.1, 0.0], [0.0, 2.0, 0.5, 0.0, 0.1], [0.1, 0.1, 0.0, 2.0, 1.0]]
    )


# -- metrics ------------------------------------------------------------------------------------
def test_mean_set_size_counts_feature_neurons_only():
    P = _P()
    assert metrics.mean_set_size(P, 3) == 1.0  # neuron 3 has phi < 0.5
    P2 = P.copy()
    P2[1, 2] = 1.9  # now |N_2| = 2
    assert np.isclose(metrics.mean_set_size(P2, 3), 1.5)
    assert np.isnan(metrics.mean_set_size(P[2:], 3))  # no feature neuron
    assert metrics.mean_set_size(np.stack([P, P2]), 3).shape == (2,)


def test_scaled_feature_sets_admit_weak_minority_features():
    P = _P()
    # cos^2 ratio of feature 2 to feature 1 in neuron 2 is (0.5/2)^2 = 0.0625 < kappa = 0.5 ...
    assert not metrics.feature_sets(P, 3)[1, 2]
    # ... but with eps_2 / eps_max = 0.3 the scaled threshold is 0.5 * 0.09 = 0.045 < 0.0625.
    N = metrics.scaled_feature_sets(P, 3, freqs=[0.1, 0.1, 0.03])
    assert N[1].tolist() == [False, True, True] and N[2].tolist() == [False, False, False]
    # equal frequencies give back the unscaled sets; per-run frequency vectors broadcast
    assert np.array_equal(metrics.scaled_feature_sets(P, 3, [0.1] * 3), metrics.feature_sets(P, 3))
    both = metrics.scaled_feature_sets(np.stack([P, P]), 3, [[0.1] * 3, [0.1, 0.1, 0.03]])
    assert both[0, 1, 2] == False and both[1, 1, 2] == True  # noqa: E712


def test_loadings_and_noise_separation():
    P = _P()
    l = metrics.loadings(P)
    assert l.shape == (5,) and np.isclose(l[0], 9 / 9.02)
    sep = metrics.noise_separation(P, 3)
    # feature 1 (index 0) is loaded far above the strongest noise loading (neuron 3 on k = 3)
    assert sep[0] > 0 and sep[2] < 0
    assert np.isclose(sep[0], np.log10(l[0] / l[3:].max()))
    with pytest.raises(ValueError, match="non-feature"):
        metrics.noise_separation(P[:, :3], 3)


def test_learned_feature_norms_growth_rate():
    P = _P()
    assert metrics.learned(P, 3).tolist() == [True, True, False]
    assert np.allclose(metrics.feature_norms(P)[0], np.sqrt(9 + 0.01))
    steps = np.array([0, 10, 20, 40])
    rate = np.array([0.05, 0.0, -0.02, 0.01, 0.0])
    P_t = np.exp(steps[:, None, None] * rate) * np.ones((4, 2, 5))  # (S, m, d1)
    assert np.allclose(metrics.growth_rate(steps, P_t, t_max=20), rate)
    assert np.allclose(metrics.growth_rate(steps, np.stack([P_t, P_t]), 40), [rate, rate])
    with pytest.raises(ValueError, match="t_max"):
        metrics.growth_rate(steps, P_t, t_max=5)


def test_crossing_and_smallest_passing():
    x = np.array([0.0, 1.0, 2.0, 4.0])
    assert metrics.crossing(x, [1.0, 0.8, 0.2, 0.0], 0.5) == 1.5
    assert metrics.crossing(x, [0.0, 0.4, 0.6, 1.0], 0.5) == 1.5
    assert metrics.crossing(x, [0.5, 0.6, 0.7, 0.9], 0.5) == 0.0
    assert np.isnan(metrics.crossing(x, [0.9, 0.8, 0.7, 0.6], 0.5))
    assert np.isclose(metrics.crossing([1, 100], [1, 0], 0.5, log=True), 10.0)
    m = [10, 20, 40, 80]
    assert metrics.smallest_passing(m, [0.2, 0.9, 0.7, 1.0], 0.8) == 80
    assert metrics.smallest_passing(m, [0.2, 0.9, 0.8, 1.0], 0.8) == 20
    assert np.isnan(metrics.smallest_passing(m, [0.9, 0.9, 0.9, 0.1], 0.8))


def test_imbalance_summary_on_a_built_example():
    # d = 4 (2 majority, 2 minority), d1 = 6. Neurons: pure on 0, pure on 0, pure on 2, mixed 1+3.
    P = np.zeros((4, 6))
    P[0, 0], P[1, 0], P[2, 2], P[3, 1], P[3, 3] = 2.0, 1.5, 1.0, 1.0, 0.9
    P[:, 4] = 0.05
    s = metrics.imbalance_summary(P, 4, 2, freqs=[0.1, 0.1, 0.03, 0.03])
    assert s["pure_maj"] == 1.0 and s["pure_min"] == 0.5
    assert s["cov_maj"] == 0.5 and s["cov_min"] == 0.5 and s["learned_min"] == 0.5
    assert np.isclose(s["set_size"], 1.25) and np.isclose(s["set_size_scaled"], 1.25)
    assert s["sep_maj"] > 0 and s["sep_min_worst"] <= s["sep_min"] and 0 < s["noise_energy"] < 0.01
    empty = metrics.imbalance_summary(P, 4, 4)  # no minority class
    assert np.isnan(empty["pure_min"]) and "set_size_scaled" not in empty


# -- theory fits --------------------------------------------------------------------------------
def test_stage1_C_z_inverts_the_stage1_factor():
    eps = np.array([0.01, 0.03, 0.1])
    rate = np.log(theory.stage1_factor(eps, lr=0.5, lam=0.01, d=9, C_z=7.0))
    f = fits.stage1_C_z(rate, eps, lr=0.5, lam=0.01, d=9)
    assert (
        np.isclose(f["C_z"], 7.0) and np.isclose(f["C_z_free"], 7.0) and abs(f["intercept"]) < 1e-9
    )


# -- sweep arrangement and caching ---------------------------------------------------------------
def test_arrange_shapes_and_order_check():
    pts = sweep.grid(preset("smoke"), seeds=2, lam=[0.0, 0.01, 0.02], eps_min=[0.01, 0.03])
    vals = [np.array([i, -i]) for i in range(len(pts))]
    axes, arr = sweep.arrange(pts, vals)
    assert axes == {"lam": [0.0, 0.01, 0.02], "eps_min": [0.01, 0.03]}
    assert arr.shape == (3, 2, 2, 2) and arr[1, 0, 1, 0] == 5 and arr[2, 1, 0, 1] == -10
    with pytest.raises(ValueError, match="order"):
        sweep.arrange(pts[0:2] + pts[4:6] + pts[2:4] + pts[6:], vals)
    with pytest.raises(ValueError, match="full grid"):
        sweep.arrange(pts[:-1], vals[:-1])


def test_save_and_load_final_round_trip(tmp_path):
    pts = sweep.grid(preset("smoke", steps=20), seeds=2, m=[6, 8], eps_min=[0.01, 0.03])
    res = sweep.run(pts, record_at=[0, 20])
    path = tmp_path / "s.npz"
    io.save_final(res, path, pts)
    back = io.load_final(path)
    assert len(back) == 8 and back.configs == res.configs and back.steps == [20] * 8
    assert [o for o, _ in back.points] == [o for o, _ in pts]
    for P, Q in zip(back.P, sweep.final_projections(res)):
        assert P.shape == Q.shape and np.allclose(P, Q, rtol=1e-6)
    sub = back.select(m=8)
    assert len(sub) == 4 and all(c.m == 8 for c in sub.configs)
    axes, arr = sweep.arrange(sub.points, [P.shape[0] for P in sub.P])
    assert axes["m"] == [8] and arr.shape == (1, 2, 2)


def test_results_files_name_their_format_and_refuse_others(tmp_path):
    """io files record the kind, the format version and imbacl's version; a loader refuses a
    file of another kind, a newer format, a truncated or a foreign file, with one error naming
    the file; a file from before versions were recorded is refused by name
    (scripts/migrate_results.py gives it one)."""
    import imbacl

    pts = sweep.grid(preset("smoke", steps=5), seeds=1, lam=[0.0])
    res = sweep.run(pts, record_at=[0, 5])
    path = tmp_path / "s.npz"
    io.save_final(res, path, pts)
    with np.load(path) as z:
        assert str(z["format"]) == "imbacl/final" and int(z["format_version"]) == io.FORMAT_VERSION
        assert str(z["imbacl_version"]) == imbacl.__version__
        arrays = dict(z)
    io.save_history(res.histories[0], tmp_path / "h.npz")
    with pytest.raises(
        imbacl.ResultsFileError, match="h.npz: holds 'imbacl/history', not 'imbacl/final'"
    ):
        io.load_final(tmp_path / "h.npz")
    np.savez(tmp_path / "new.npz", **dict(arrays, format_version=np.array(io.FORMAT_VERSION + 1)))
    with pytest.raises(imbacl.ResultsFileError, match="new.npz: format version .* is newer"):
        io.load_final(tmp_path / "new.npz")
    (tmp_path / "cut.npz").write_bytes(path.read_bytes()[:200])
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    for name, what in (
        ("cut.npz", "not a readable|damaged"),
        ("other.npz", "missing index"),
        ("none.npz", "no such file"),
    ):
        with pytest.raises(imbacl.ResultsFileError, match=f"{name}: .*({what})"):
            io.load_final(tmp_path / name)
    with pytest.raises(imbacl.ResultsFileError, match="cannot write"):
        io.save_final(res, tmp_path / "no" / "dir" / "x.npz", pts)
    legacy = tmp_path / "legacy.npz"  # a file from before versions were recorded
    np.savez(
        legacy,
        **{
            k: v
            for k, v in arrays.items()
            if k not in ("format", "format_version", "imbacl_version", "provenance")
        },
    )
    assert io.file_version(legacy) == 0
    with pytest.raises(
        imbacl.ResultsFileError, match="legacy.npz: written before .*migrate_results"
    ):
        io.load_final(legacy)


def test_cli_sweep_save(tmp_path, capsys):
    path = tmp_path / "cli.npz"
    argv = [
        "sweep",
        "--preset",
        "smoke",
        "--set",
        "steps=15",
        "--grid",
        "lam=0,0.01",
        "--seeds",
        "2",
        "--json",
        "--save",
        str(path),
    ]
    assert cli.main(argv) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    back = io.load_final(path)
    assert len(back) == 4 == len(runs) and back.overrides[2] == {"lam": 0.01}
    alone = train(back.configs[3])
    assert np.allclose(back.P[3], alone.P[0, -1], rtol=1e-6)
    assert runs[3]["cos2"] == np.round(metrics.cos2(alone.P[0, -1], 6), 6).tolist()
    assert (
        cli.main(
            [
                "sweep",
                "--preset",
                "smoke",
                "--set",
                "steps=5",
                "--save",
                str(tmp_path / "no" / "such" / "dir.npz"),
            ]
        )
        == 2
    )
    assert "Traceback" not in capsys.readouterr().err


# -- plots --------------------------------------------------------------------------------------
def test_imbalance_plots_return_figures():
    import matplotlib.pyplot as plt

    x = np.array([0.2, 0.5, 1.0])
    vals = np.array([[1, 2], [2, 3], [3, 4]], dtype=float)
    fig = plots.sweep_panels(
        x,
        [
            {
                "ylabel": "a",
                "curves": {"maj": vals, "min": vals + 1},
                "lines": {"theory": (x, x)},
                "hline": 0,
                "logy": True,
            },
            {"ylabel": "b", "curves": {"x": vals}},
        ],
        ncols=3,
    )
    assert len([a for a in fig.axes if a.get_visible()]) == 2
    assert fig.axes[0].get_yscale() == "log" and len(fig.axes[0].get_legend().texts) == 3
    fig2 = plots.fit_plot(x, x**2, curves={"fit": (x, x**2)}, yerr=0.1 * x, logy=True)
    assert fig2.axes[0].get_yscale() == "log"
    fig3 = plots.fit_plot({"a": x, "b": x}, {"a": x, "b": 2 * x}, yerr=None)
    assert len(fig3.axes[0].get_legend().texts) == 2
    Z = np.arange(6.0).reshape(2, 3) / 6
    fig4 = plots.grid_map(
        [0, 0.01, 0.1], [0.01, 0.03], Z, curves={"b": ([0.005, 0.2], [0.01, 0.03])}
    )
    line = fig4.axes[0].lines[0]
    assert np.allclose(line.get_xdata()[0], 0.5) and np.isnan(line.get_xdata()[1])
    assert len(fig4.axes[0].texts) == 6
    P = np.abs(np.random.default_rng(0).normal(size=(2, 13, 20)))
    fig5 = plots.heatmap_row(list(P), 9, 5, ["a", "b"])
    assert [a.get_title() for a in fig5.axes[:4:2]] == ["a", "b"] or {"a", "b"} <= {
        a.get_title() for a in fig5.axes
    }
    plt.close("all")


def test_mask_offset_and_offset_threshold():
    freqs = [0.1] * 5 + [0.03] * 4
    assert np.isclose(theory.mask_offset(freqs, 36), 0.62 / 36)
    assert np.allclose(theory.mask_offset([[0.1, 0.1], [0.2, 0.0]], 4), [0.05, 0.05])
    off = theory.mask_offset(freqs, 36)
    assert np.isclose(theory.lam_threshold_offset(off, 9, off, C_z=3.0), 0.0)
    assert theory.lam_threshold_offset(0.01, 9, off) < 0 < theory.lam_threshold_offset(0.03, 9, off)
    assert np.isclose(
        theory.lam_threshold_offset(0.05, 9, 0.0, 2.0), theory.lam_threshold(0.05, 9, 2.0)
    )


def test_scale_to_d_and_cli_command():
    base = preset("figure1")
    assert theory.scale_to_d(base, 9) == base  # the reference point is unchanged
    c = theory.scale_to_d(base, 16)
    assert (c.d, c.d1, c.m, c.n_majority) == (16, 64, 73, 9)
    assert c.steps > base.steps and c.lam < base.lam and c.eps_max == base.eps_max
    assert np.isclose(theory.C_m(c.m, 16), theory.C_m(30, 9), atol=0.01)
    with pytest.raises(ValueError, match="d >= 3"):
        theory.scale_to_d(base, 2)
    cmd = cli.sweep_command(c, {"eps_min": [0.01, 0.1]}, 4, "out.npz")
    assert cmd.startswith("python -m imbacl sweep --preset figure1 --set d=16 --set d1=64")
    assert "--grid eps_min=0.01,0.1 --seeds 4 --save out.npz" in cmd and "tau" not in cmd
    # the command parses back into the same grid of configs
    args = cmd.split()[3:]
    sets = [a for k, a in zip(args, args[1:]) if k == "--set"]
    over = {s.split("=")[0]: cli.parse_value(s.split("=")[0], s.split("=")[1]) for s in sets}
    assert preset("figure1", **over) == c
    assert cli.sweep_command(base, {}, 1) == "python -m imbacl sweep --preset figure1 --seeds 1"


def test_sweep_table_renders_mean_and_sd():
    from imbacl import report

    t = report.sweep_table(
        "rho", [0.1, 1.0], {"a": [[1.0, 3.0], [2.0, np.nan]], "b": [[0, 0], [1, 1]]}
    )
    md = t._repr_markdown_()
    assert md.splitlines()[0] == "| rho | a | b |" and "| 0.1 | 2.00 ± 1.41 | 0.00 ± 0.00 |" in md
    assert "2.00 ± 0.00" in repr(t).splitlines()[2]  # the NaN seed is ignored
    with pytest.raises(ValueError, match="shape"):
        report.sweep_table("rho", [0.1], {"a": [1.0, 2.0]})


def test_stage1_C_z_recovers_offset_model():
    rng = np.random.default_rng(0)
    eps = np.concatenate([rng.uniform(0.01, 0.1, 30), np.zeros(30)])
    offset = rng.uniform(0.01, 0.03, 60)
    lam = rng.choice([0.0, 0.01, 0.02], 60)
    # true model: growth with eps - 0.8 offset, C_z = 3
    rate = np.log(1 - 0.5 * lam + 0.5 * 3.0 * (eps - 0.8 * offset) * theory._loglog(9) / 9)
    f = fits.stage1_C_z(rate, eps, lr=0.5, lam=lam, d=9, offset=offset)
    assert np.isclose(f["C_z_offset"], 3.0) and np.isclose(f["k"], 0.8) and f["rms_offset"] < 1e-9
    assert f["rms"] > 0.01 and f["n"] == 60  # the origin line cannot fit it
    g = fits.stage1_C_z(
        np.log(theory.stage1_factor(eps, 0.5, lam, 9, C_z=2.0)),
        eps,
        lr=0.5,
        lam=lam,
        d=9,
        offset=offset,
    )
    assert np.isclose(g["C_z"], 2.0) and g["rms"] < 1e-9 and abs(g["k"]) < 1e-6
