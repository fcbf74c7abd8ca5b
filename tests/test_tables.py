"""The per-run table (imbacl.sweep.RunTable) and the small helpers the chapters call instead of
defining their own: median Stage-1 growth rates, lucky neurons per minority feature, the init
race of a run set, censored thresholds, curve dicts, and the renamed Figure-1 coverage shares."""

from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from imbacl import metrics, plots, preset, report, sweep  # noqa: E402

# d = 3 features (2 majority, 1 minority), d1 = 5, m = 3 neurons
BASE = preset("smoke").replace(d=3, d1=5, n_majority=2, m=3)


def _P(k=0.0):
    # neuron 1 pure on feature 0, neuron 2 pure on feature 1, neuron 3 on the minority feature
    # 2 when k < 1 and on noise beyond (k moves it)
    return np.array(
        [[3.0, 0.1, 0.0, 0.1, 0.0], [0.0, 2.0, 0.1, 0.0, 0.1], [0.1, 0.0, 2.0 - 2 * k, 2 * k, 0.0]]
    )


def _final(ks=(0.0, 1.0), lams=(0.0, 0.01), seeds=2):
    """A FinalSweep over lam x seed with known projections: seed s of lam index a gets _P(k)."""
    points = sweep.grid(BASE, seeds=seeds, lam=list(lams))
    P = [_P(ks[c.seed % len(ks)]) * (1 + lams.index(o["lam"])) for o, c in points]
    return sweep.FinalSweep(
        [c for _, c in points], [o for o, _ in points], [1] * len(points), P
    ), points


# -- RunTable --------------------------------------------------------------------------------------
def test_final_sweep_table_has_labels_seed_summary_and_measures():
    F, points = _final()
    t = F.table(fields=("m",), measures={"covered_all": metrics.minority_covered})
    assert len(t) == 4 and t.labels == ["m", "lam", "seed"]
    assert t.keys()[:3] == ["m", "lam", "seed"] and "covered_all" in t.keys()
    for row, (o, c), P in zip(t, points, F.P):
        assert row["lam"] == o["lam"] and row["seed"] == c.seed and row["m"] == 3
        want = metrics.imbalance_summary(P, 3, 2, freqs=c.freqs)
        assert set(want) <= set(row)
        assert all(row[k] == pytest.approx(float(v), nan_ok=True) for k, v in want.items())
    # seed 0: the minority feature has a pure neuron; seed 1: it does not
    assert t.column("covered_all").tolist() == [True, False, True, False]
    assert t.column("cov_min").tolist() == [1.0, 0.0, 1.0, 0.0]
    assert isinstance(t[0]["purity"], float)  # plain numbers, not 0-d arrays


def test_select_column_get_and_mean():
    t = sweep.RunTable(
        [
            {"arm": "a", "seed": 0, "x": 1.0},
            {"arm": "b", "seed": 0, "x": 2.0},
            {"arm": "a", "seed": 1, "x": np.nan},
            {"arm": "c", "seed": 1, "x": 4.0},
        ],
        labels=["arm", "seed"],
    )
    assert len(t.select(arm="a")) == 2 and t.select(arm="a").labels == ["arm", "seed"]
    assert t.select(arm=["b", "c"]).column("x").tolist() == [2.0, 4.0]  # a list: any of
    assert t.get("x", arm="b", seed=0).tolist() == [2.0]
    assert t.mean("x", arm="a") == 1.0  # NaN ignored
    assert len(t.select(arm="z")) == 0 and t.get("x", arm="z").size == 0
    with pytest.raises(KeyError, match="no column 'y'"):
        t.column("y")
    with pytest.raises(KeyError, match="no column 'y'"):
        t.select(y=1)


def test_arrange_and_arrays_follow_the_grid():
    F, points = _final(lams=(0.0, 0.01, 0.02))
    t = F.table()
    got = t.arrange("purity", "lam")
    _, want = sweep.arrange(points, [metrics.imbalance_summary(P, 3, 2)["purity"] for P in F.P])
    assert got.shape == (3, 2) and np.array_equal(got, want)
    Q = t.arrays("lam")
    assert "lam" not in Q and "seed" not in Q and list(Q)[:2] == ["set_size", "purity"]
    assert all(v.shape == (3, 2) for v in Q.values())
    # values go in order of appearance: reversed rows give the reversed grid ...
    back = sweep.RunTable(list(t)[::-1], t.labels)
    assert np.array_equal(back.arrange("purity", "lam"), want[::-1, ::-1])
    # ... but rows that are not in a grid's order are refused
    mixed = sweep.RunTable([t[k] for k in (0, 2, 1, 3, 4, 5)], t.labels)
    with pytest.raises(ValueError, match="order"):
        mixed.arrange("purity", "lam")


def test_add_and_label_columns():
    F, _ = _final()
    t = F.table()
    t.add("probe", [0.1, 0.2, 0.3, 0.4])
    assert t.column("probe").tolist() == [0.1, 0.2, 0.3, 0.4] and "probe" in t.arrays("lam")
    t.add("rho", [round(r["lam"] * 10, 4) for r in t], label=True)
    assert "rho" in t.labels and "rho" not in t.arrays("lam")
    assert t.get("probe", rho=0.1).tolist() == [0.3, 0.4]
    with pytest.raises(ValueError, match="3 values for 4 rows"):
        t.add("bad", [1, 2, 3])


def test_paired_differences_match_seeds():
    rows = [
        {"arm": arm, "seed": s, "x": 10.0 * (arm == "t") + s} for arm in ("b", "t") for s in (0, 1)
    ]
    rows.append({"arm": "t", "seed": 2, "x": 5.0})
    t = sweep.RunTable(rows[::-1], ["arm", "seed"])  # control rows come after treated ones
    assert t.paired("x", {"arm": "b"}, arm="t", seed=[0, 1]).tolist() == [10.0, 10.0]
    with pytest.raises(ValueError, match=r"no control run for seeds \[2\]"):
        t.paired("x", {"arm": "b"}, arm="t")
    with pytest.raises(ValueError, match="no row matches"):
        t.paired("x", {"arm": "b"}, arm="z")


def test_sweep_result_table_reads_the_last_snapshot():
    # a SweepResult of two "batches" whose histories hold two snapshots each
    H = [
        SimpleNamespace(P=np.stack([np.stack([_P(0.0) * 0.01, _P(k)]) for k in ks]))
        for ks in ((0.0, 1.0), (1.0,))
    ]
    configs = [BASE.replace(seed=s) for s in range(3)]
    res = sweep.SweepResult(configs, H, [(0, 0), (0, 1), (1, 0)])
    t = res.table(labels=[{"arm": "x"}, {"arm": "y"}, {"arm": "x"}])
    assert t.labels == ["arm", "seed"] and t.column("seed").tolist() == [0, 1, 2]
    assert t.get("cov_min", arm="x").tolist() == [1.0, 0.0]  # _P(0), _P(1)
    assert res.table().keys()[0] == "seed"  # no labels: the seed
    points = [({"lam": 0.0}, c) for c in configs]
    assert res.table(points).column("lam").tolist() == [0.0] * 3
    with pytest.raises(ValueError, match="one of each per run"):
        sweep.run_table(configs, [{}], [_P()] * 3)


# -- measurements ----------------------------------------------------------------------------------
def test_median_growth_rates():
    # (S=3, m=3, d1=4), d = 2; every direction k of neuron i grows by the factor g[i, k] per 2 steps
    g = np.array([[2.0, 1.0, 0.5, 0.5], [4.0, 1.0, 0.25, 1.0], [8.0, 1.0, 0.5, 2.0]])
    P = np.stack([np.ones((3, 4)), g, g**2])
    feat, noise = metrics.median_growth_rates(P, 2, 1, 2.0)
    assert np.allclose(feat, [np.log(4.0) / 2, 0.0])
    assert np.isclose(noise, np.median(np.log([0.5, 0.5, 0.25, 1.0, 0.5, 2.0])) / 2)
    feat2, _ = metrics.median_growth_rates(np.stack([P, P]), 2, 2, 4.0)  # leading axes
    assert feat2.shape == (2, 2) and np.allclose(feat2[1], feat)


def test_aligned_per_minority():
    P = _P()
    assert metrics.aligned_per_minority(P, 3, 2) == 1.0
    assert metrics.aligned_per_minority(P, 3, 1) == 1.0  # features 1, 2: one each
    assert metrics.aligned_per_minority(_P(1.0), 3, 2) == 0.0
    both = metrics.aligned_per_minority(np.stack([P, _P(1.0)]), 3, 2)
    assert both.tolist() == [1.0, 0.0]
    assert np.isnan(metrics.aligned_per_minority(P, 3, 3))  # no minority feature


def test_init_race_scores():
    # each neuron's largest initial projection is the feature it ends on: a perfect race
    P0 = np.array([[1.0, 0.1, 0.1, 0.0, 0.0], [0.1, 1.0, 0.1, 0.0, 0.0], [0.1, 0.1, 1.0, 0.0, 0.0]])
    Pf = np.array([[3.0, 0.0, 0.0, 0.1, 0.0], [0.0, 3.0, 0.0, 0.1, 0.0], [0.0, 0.0, 3.0, 0.1, 0.0]])
    P = np.stack([P0, Pf])[None]  # (R=1, S=2, m, d1)
    acc, chance = metrics.init_race_scores([0, 10], P, 3, horizon=None)
    assert acc.tolist() == [1.0] and np.isclose(chance, 1 / 3)
    # the final features rotated by one: every prediction wrong
    wrong = np.stack([P0, Pf[[1, 2, 0]]])[None]
    acc, _ = metrics.init_race_scores([0, 10], np.concatenate([P, wrong]), 3, horizon=None)
    assert acc.tolist() == [1.0, 0.0]
    acc, _ = metrics.init_race_scores([0, 10], P, 3, horizon="majority", n_majority=2)
    assert np.isclose(acc[0], 2 / 3)  # the minority neuron is missed


def test_figure1_claims_name_the_coverage_shares():
    cl = metrics.figure1_claims(_P(), 3, 2)
    assert "minority_covered" not in cl and "majority_covered" not in cl
    assert cl["majority_covered_share"] == 1.0 and cl["minority_covered_share"] == 1.0
    assert metrics.figure1_claims(_P(1.0), 3, 2)["minority_covered_share"] == 0.0
    # the boolean of the same name in metrics is a different quantity: all minority covered
    assert metrics.minority_covered(_P(), 3, 2) == True  # noqa: E712


# -- report and plots ------------------------------------------------------------------------------
def test_fmt_censored():
    assert report.fmt_censored(16.0, 128) == "16"
    assert report.fmt_censored(23.456, 128) == "23.5"
    assert report.fmt_censored(np.nan, 128) == "> 128"
    assert report.fmt_censored(np.inf, 64.0) == "> 64"
    assert report.fmt_censored(0.123456, 1, digits=2) == "0.12"


def test_panel_curves_split_the_first_axis():
    v = np.arange(12.0).reshape(2, 3, 2)
    c = plots.panel_curves(v, ["lam = 0.01", "lam = 0"])
    assert list(c) == ["lam = 0.01", "lam = 0"] and np.array_equal(c["lam = 0"], v[1])
    with pytest.raises(ValueError, match="3 labels for 2 curves"):
        plots.panel_curves(v, ["a", "b", "c"])
    fig = plots.sweep_panels([1, 2, 3], [{"ylabel": "y", "curves": c}])
    assert len(fig.axes[0].lines) == 2


def test_final_sweep_select_takes_a_value_or_a_list_in_file_order():
    F, _ = _final(lams=(0.0, 0.01, 0.02))
    assert [c.lam for c in F.select(lam=0.01).configs] == [0.01, 0.01]
    both = F.select(lam=[0.02, 0.0])
    assert [(c.lam, c.seed) for c in both.configs] == [(0.0, 0), (0.0, 1), (0.02, 0), (0.02, 1)]
    assert len(F.select(lam=[0.5])) == 0
