"""The verdict rules on made-up data: the trend rule follows the curve (a U, a rise then a fall,
a step, a clean power law, a line only the last sizes contradict), the theorem's regime
decides, a floor lets the data decide, far bounds cannot fail, and every rule reads its data
(moved across its threshold, the measurement gets another label)."""

import numpy as np
import pytest

from imbacl import report
from imbacl.estimate import Estimate
from imbacl.report import CANNOT_FAIL, FAILS, HOLDS, REGIME, UNTESTABLE

D = (8, 12, 16, 24, 32, 64, 128)


def curve(f, noise=0.01, seeds=8, seed=0):
    """Per-seed values of f(log d) at every d of D, with Gaussian noise."""
    rng = np.random.default_rng(seed)
    return report.trend(D, [f(np.log(d)) + noise * rng.standard_normal(seeds) for d in D])


def test_a_u_shaped_curve_is_not_one_constant():
    c = curve(lambda x: 0.5 * (x - np.log(24)) ** 2)
    assert not c.straight
    assert report.Trend(c, (-0.1, 0.1)).label() == FAILS  # it rises at the largest sizes
    assert report.Trend(c, "down").label() == FAILS


def test_a_rise_then_fall_holds_only_from_where_it_falls():
    c = curve(lambda x: -np.abs(x - np.log(32)))
    rule = report.Trend(c, "down")
    assert rule.label() == REGIME and rule.since() == 32
    assert "d >= 32" in rule.text()
    assert report.Trend(c, "up").label() == FAILS


def test_a_step_is_not_a_growth():
    c = curve(lambda x: 0.7 if x < np.log(10) else 1.0)
    assert report.Trend(c, "up").label() == UNTESTABLE  # flat where it is read
    assert report.Trend(c, (-0.05, 0.05)).label() == REGIME  # constant from d = 12 on


def test_a_clean_power_law_holds_and_is_straight():
    c = curve(lambda x: 0.5 * x)
    assert c.straight and abs(c.overall.value - 0.5) < 0.02
    assert report.Trend(c, (0.4, 0.6)).label() == HOLDS
    assert report.Trend(c, "up").label() == HOLDS
    assert report.Trend(c, (0.7, 0.9)).label() == FAILS


def test_a_line_the_last_sizes_contradict_does_not_hold():
    c = curve(lambda x: 0.5 * x if x <= np.log(32) else 0.5 * np.log(32) - 0.8 * (x - np.log(32)))
    assert report.Trend(c, "up").label() == FAILS


def test_a_misfit_line_gets_a_wide_interval():
    """Residuals are resampled: a line through a zigzag has an interval as wide as the zigzag,
    not the seeds' tiny spread."""
    c = curve(lambda x: 0.3 * np.sin(3 * x), noise=1e-4)
    assert c.overall.hi - c.overall.lo > 0.05


def test_too_few_sizes_are_not_resolved():
    c = report.trend(D, [np.full(4, 1.0)] * 3 + [np.full(4, np.nan)] * 4)
    assert c.n == 3 and report.Trend(c, "up").label() == UNTESTABLE
    assert report.Trend(c, "up").flipped() == UNTESTABLE  # a placeholder: constant in its data


def test_the_theorem_regime_decides():
    yes, no = Estimate(2.0, 1.5, 2.5, 8), Estimate(-2.0, -2.5, -1.5, 8)
    r = report.Regimes((("theory", report.Above(yes, 0)), ("figure1", report.Above(no, 0))))
    assert r.label() == HOLDS and r.decider == "theory"
    r = report.Regimes((("theory", report.Above(no, 0)), ("figure1", report.Above(yes, 0))))
    assert r.label() == FAILS
    r = report.Regimes(
        (("eps fixed", report.Above(no, 0)), ("eps d fixed", report.Above(yes, 0))),
        decides="eps d fixed",
    )
    assert r.label() == HOLDS and r.labels() == {"eps fixed": FAILS, "eps d fixed": HOLDS}
    with pytest.raises(ValueError, match="decides"):
        report.Regimes((("a", report.Above(yes, 0)), ("b", report.Above(no, 0))), decides="c")


def test_a_floor_lets_the_data_decide():
    low, high = Estimate(0.1, 0.05, 0.15, 8), Estimate(3.0, 2.9, 3.1, 8)
    assert report.Floor(low, 0.5, 2.0).label() == HOLDS  # the data beat the floor
    assert report.Floor(high, 0.5, 2.0).label() == FAILS  # an estimated floor decides nothing
    assert report.Floor(high, 0.5, 2.0, proven=True).label() == UNTESTABLE
    with pytest.raises(ValueError, match="not a lower bound"):
        report.Floor(low, 0.5, 2.0, proven=True)


def test_a_far_bound_cannot_fail():
    tiny = Estimate(1e-3, 5e-4, 2e-3, 8)
    assert report.Below(tiny, 1.0, far=10).label() == CANNOT_FAIL
    assert report.Below(tiny, 1e-2, far=10).label() == HOLDS
    assert report.Below(Estimate(0.0, 0.0, 0.0, 8), 3.0, far=10).label() == CANNOT_FAIL
    assert report.Above(Estimate(50.0, 40.0, 60.0, 8), 1.0, far=10).label() == CANNOT_FAIL


@pytest.mark.parametrize(
    "rule",
    [
        report.Above(Estimate(2.0, 1.0, 3.0, 8), 0.0),
        report.Above(Estimate(0.2, -1.0, 1.0, 8), 0.0),  # unresolved: moved, it resolves
        report.Below(Estimate(2.0, 1.0, 3.0, 8), 0.0),
        report.Within(Estimate(0.5, 0.45, 0.55, 8), 0.4, 0.6),
        report.Within(Estimate(0.9, 0.8, 1.0, 8), 0.4, 0.6),
        report.Floor(Estimate(3.0, 2.9, 3.1, 8), 0.5, 2.0),
        report.Floor(Estimate(3.0, 2.9, 3.1, 8), 0.5, 2.0, proven=True),
        report.Differs(Estimate(0.5, 0.2, 0.8, 8), 0.1),
        report.Differs(Estimate(0.0, -0.05, 0.05, 8), 0.1),
        report.Enough(
            report.Above(Estimate(2.0, 1.0, 3.0, 8), 0.0), have=0.001, need=1, what="lucky"
        ),
        # enough of them: the rule's own measurement is what moves (an unresolved one resolves)
        report.Enough(report.Above(Estimate(0.2, -1.0, 1.0, 8), 0.0), have=5, need=1, what="x"),
    ],
)
def test_every_rule_reads_its_data(rule):
    assert rule.flipped() != rule.label()


def test_a_trend_reads_its_data():
    c = curve(lambda x: 0.5 * x)
    assert report.Trend(c, "up").flipped() == FAILS
    assert report.Trend(c, (0.4, 0.6)).flipped() != HOLDS


def test_saved_rows_record_decider_and_flipped_label(tmp_path):
    yes, no = Estimate(2.0, 1.5, 2.5, 8), Estimate(-2.0, -2.5, -1.5, 8)
    row = report.Verdict(
        "c",
        "Thm",
        report.Regimes((("theory", report.Above(yes, 0)), ("figure1", report.Above(no, 0)))),
        "theory",
    )
    d = row.as_dict()
    assert d["decided_by"] == "theory" and d["label"] == HOLDS and d["label_if_flipped"] == FAILS
    assert d["regime_labels"] == {"theory": HOLDS, "figure1": FAILS}


def test_across_sizes_names_where_it_holds_and_the_largest_size_decides_a_failure():
    yes, no = Estimate(2.0, 1.5, 2.5, 8), Estimate(-2.0, -2.5, -1.5, 8)
    r = report.Across((("d = 8", report.Above(no, 0)), ("d = 32", report.Above(yes, 0))))
    assert r.label() == REGIME and "holds at d = 32" in r.text()
    r = report.Across((("d = 8", report.Above(yes, 0)), ("d = 32", report.Above(no, 0))))
    assert r.label() == FAILS and r.flipped() != FAILS


def test_a_curve_compares_two_arms_on_the_sizes_both_have():
    c = curve(lambda x: 0.5 * x)
    short = c.upto(32)
    assert short.d == (8.0, 12.0, 16.0, 24.0, 32.0) and report.Trend(short, "up").label() == HOLDS


def test_a_band_that_holds_around_an_excluded_target_says_near_not_equal():
    rule = report.Within(Estimate(0.838, 0.78, 0.90, 8), 0.75, 1.25, target=1.0)
    assert rule.label() == HOLDS and "near 1, not equal" in rule.text()
    assert "not equal" not in report.Within(Estimate(0.95, 0.9, 1.05, 8), 0.75, 1.25, 1.0).text()


def test_a_parabola_measures_how_much_a_line_bends():
    from imbacl import fits

    x = np.linspace(0.0, 1.0, 9)
    assert abs(fits.quadratic_fit(x, 2 * x + 1)["bend"]) < 1e-9
    f = fits.quadratic_fit(x, x + 0.5 * x**2)  # slope 1 at 0, 2 at 1, 1.5 at the middle
    assert f["bend"] == pytest.approx(1.0 / 1.5)
    with pytest.raises(ValueError, match="three distinct"):
        fits.quadratic_fit([1.0, 1.0, 2.0], [1.0, 2.0, 3.0])


def test_ratio_of_means_paired_by_seed():
    a, b = np.array([1.0, 2.0, 3.0, 2.0]), np.array([2.0, 4.0, 6.0, 4.0])
    e = report.ratio(a, b)
    assert (
        e.value == pytest.approx(0.5) and e.lo == pytest.approx(0.5) and e.hi == pytest.approx(0.5)
    )
    e = report.ratio(np.array([1.0, 3.0, 1.0, 3.0]), np.array([2.0, 2.0, 2.0, 2.0]))
    assert e.value == pytest.approx(1.0) and e.lo < 1.0 < e.hi
    with pytest.raises(ValueError, match="one shape"):
        report.ratio(a, b[:3])
