"""The analyses the scaling chapter moved into imbacl.scaling (by_size, theorem_bounds,
cost_forecast), on small hand-built tables whose answers are known."""

import math

import numpy as np
import pytest

from imbacl import scaling, theory
from imbacl.report import FAILS, HOLDS, bootstrap
from imbacl.sweep import RunTable

SEEDS = 3


def _table(value, seeds=SEEDS):
    """A RunTable with a row per (scaling, d, rho, seed) the chapter's grid holds (c = 8);
    ``value(key, scaling, d, rho, seed)`` gives each measured column."""
    rows = []
    for s in scaling.SCALINGS:
        for rho in scaling.RHOS:
            for d in scaling.sizes(s, rho=rho):
                for seed in range(seeds):
                    row = {"scaling": s, "c": scaling.C_WIDTH, "d": d, "rho": rho, "seed": seed}
                    row.update(
                        {
                            k: value(k, s, d, rho, seed)
                            for k in ("T2", "set_size", "pure_maj", "aligned_min")
                        }
                    )
                    rows.append(row)
    return RunTable(rows, labels=["scaling", "c", "d", "rho", "seed"])


# -- by_size ---------------------------------------------------------------------------------
def test_by_size_bootstraps_each_size_and_drops_those_under_two_finite_seeds():
    def value(key, s, d, rho, seed):
        if d == 16 and seed > 0:  # one seed reached the stage end: no interval
            return np.nan
        if d == 24 and seed == 2:  # two of three did: kept, the NaN seed dropped
            return np.nan
        return float(d * 10 + seed)

    t = _table(value)
    got = scaling.by_size(t, "T2", "eps", 0.3)
    ds = scaling.sizes("eps", rho=0.3)
    assert list(got) == [d for d in ds if d != 16]
    for d, e in got.items():
        expect = bootstrap(t.get("T2", scaling="eps", c=8, d=d, rho=0.3))
        assert str(e) == str(expect) and e.value == expect.value
    assert got[24].value == pytest.approx(240.5) and got[24].n == 2
    assert got[9].value == pytest.approx(91.0)
    assert list(scaling.by_size(t, "T2", "eps", 0.3, min_finite=3)) == [
        d for d in ds if d not in (16, 24)
    ]


# -- theorem_bounds --------------------------------------------------------------------------
FIT_ON = (8, 9, 12)


def _bound_values(factor_fit, factor_rest, broken=None):
    """Each column a known multiple of its bound's shape: ``factor_fit`` on FIT_ON,
    ``factor_rest`` elsewhere; at (key, d) == ``broken`` ten times the fitted factor."""

    def value(key, s, d, rho, seed):
        if key == "T2":
            return 1.0
        shape = {
            "set_size": lambda: theory.ni_bound(d, rho),
            "pure_maj": lambda: theory.pure_bound(d, theory.C_m(30, 9), rho),
            "aligned_min": lambda: theory.lucky_bound(scaling.config(d, rho).m, d, rho),
        }
        f = factor_fit[key] if d in FIT_ON else factor_rest[key]
        if broken == (key, d):
            f = factor_fit[key] * (10.0 if key == "set_size" else 0.1)
        return float(f * shape[key]())

    return value


FIT = {"set_size": 2.0, "pure_maj": 3.0, "aligned_min": 0.5}
INSIDE = {"set_size": 1.0, "pure_maj": 6.0, "aligned_min": 1.0}  # below an upper, above a lower


def test_theorem_bounds_lists_the_chapter_rows_in_order_over_the_right_sizes():
    b = scaling.theorem_bounds(_table(_bound_values(FIT, INSIDE)), FIT_ON)
    assert list(b) == [
        ("ni", 0.2, "eps"),
        ("ni", 0.5, "eps"),
        ("pure", 1.0, "eps"),
        ("ni", 0.2, "eps_d"),
        ("ni", 0.5, "eps_d"),
        ("pure", 1.0, "eps_d"),
        ("lucky", 0.5, "eps"),
    ]
    assert b["ni", 0.2, "eps"].settings == scaling.sizes("eps", rho=0.2)
    assert b["pure", 1.0, "eps_d"].settings == scaling.sizes("eps_d", rho=1.0)
    assert [x.side for x in b.values()] == ["upper", "upper", "lower"] * 2 + ["lower"]
    assert all(x.fit_on == FIT_ON for x in b.values())
    # the shapes are the theory's, carried per size (lucky: m of that size's config)
    ds = b["lucky", 0.5, "eps"].settings
    assert b["lucky", 0.5, "eps"].shapes == tuple(
        theory.lucky_bound(scaling.config(d, 0.5).m, d, 0.5) for d in ds
    )
    assert b["ni", 0.5, "eps_d"].shapes == tuple(
        theory.ni_bound(d, 0.5) for d in scaling.sizes("eps_d", rho=0.5)
    )


def test_theorem_bounds_fit_the_constant_and_hold_where_the_data_keep_to_them():
    b = scaling.theorem_bounds(_table(_bound_values(FIT, INSIDE)), FIT_ON)
    for (name, _, _), x in b.items():
        key = {"ni": "set_size", "pure": "pure_maj", "lucky": "aligned_min"}[name]
        assert x.constant == pytest.approx(FIT[key], rel=1e-9)
        assert x.label() == HOLDS, (name, x.text())


def test_theorem_bounds_fail_where_one_size_breaks_them():
    b = scaling.theorem_bounds(_table(_bound_values(FIT, INSIDE, ("set_size", 64))), FIT_ON)
    assert b["ni", 0.2, "eps"].label() == FAILS
    assert b["ni", 0.2, "eps_d"].label() == HOLDS  # eps d fixed stops at d = 32
    b = scaling.theorem_bounds(_table(_bound_values(FIT, INSIDE, ("aligned_min", 32))), FIT_ON)
    assert b["lucky", 0.5, "eps"].label() == FAILS
    assert b["pure", 1.0, "eps"].label() == HOLDS


# -- cost_forecast ---------------------------------------------------------------------------
def _files(n64, n128, k=1e-9):
    """Cached files whose times are exactly k m d1 core-seconds per run-step (two workers)."""
    secs, cache = {}, {}
    for d, n in ((64, n64), (128, n128)):
        c = scaling.config(d, scaling.CONTRAST_RHO)
        cache[f"eps_c8_d{d}"] = {"configs": [c] * n}
        secs[f"eps_c8_d{d}"] = k * c.m * c.d1 * c.steps * math.ceil(n / 2)
    return secs, cache


def test_cost_forecast_reproduces_a_time_proportional_to_m_d1():
    secs, cache = _files(n64=5, n128=scaling.SEEDS_LARGE)
    f = scaling.cost_forecast(secs, cache)
    c64, c128, c256 = (scaling.config(d, scaling.CONTRAST_RHO) for d in (64, 128, 256))
    assert (f.c128, f.c256) == (c128, c256)
    assert f.per_step[64] == pytest.approx(1e-9 * c64.m * c64.d1, rel=1e-12)
    assert f.per_step[128] == pytest.approx(1e-9 * c128.m * c128.d1, rel=1e-12)
    assert f.grow[256] == pytest.approx(c256.m * c256.d1 / (c128.m * c128.d1), rel=1e-12)
    # cost exactly proportional to m d1: the d = 64 prediction is the d = 128 file's time
    assert f.pred128 == pytest.approx(secs["eps_c8_d128"], rel=1e-12)
    # the other rho at d = 128 and every rho at d = 256, two runs at a time
    n_rest = scaling.SEEDS_LARGE * (len(scaling.RHOS) - 1)
    assert f.rest == pytest.approx(f.per_step[128] * c128.steps * n_rest / 2, rel=1e-12)
    n256 = scaling.SEEDS_LARGE * len(scaling.RHOS)
    assert f.full256 == pytest.approx(1e-9 * c256.m * c256.d1 * c256.steps * n256 / 2, rel=1e-12)
    assert f.work == scaling.step_flops(c256) * c256.steps * n256


def test_cost_forecast_charges_a_file_by_its_larger_worker():
    # an odd count of runs: the larger of the two workers ran ceil(n / 2) of them
    secs, cache = _files(n64=7, n128=scaling.SEEDS_LARGE)
    c64 = scaling.config(64, scaling.CONTRAST_RHO)
    f = scaling.cost_forecast(secs, cache)
    assert f.per_step[64] == pytest.approx(1e-9 * c64.m * c64.d1, rel=1e-12)
    secs["eps_c8_d128"] *= 2  # d = 128 ran twice as slow
    g = scaling.cost_forecast(secs, cache)
    assert g.pred128 == pytest.approx(f.pred128, rel=1e-12)
    assert g.rest == pytest.approx(2 * f.rest, rel=1e-12)
    with pytest.raises(Exception):
        g.rest = 0.0  # a frozen record
