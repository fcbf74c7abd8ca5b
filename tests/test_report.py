"""imbacl.report: estimates with bootstrap intervals, the rules that turn a measurement into one
of the five labels, and verdict tables whose labels cannot be typed."""

import dataclasses

import numpy as np
import pytest

from imbacl import fits, report
from imbacl.report import (
    CANNOT_FAIL,
    FAILS,
    HOLDS,
    LABELS,
    REGIME,
    UNTESTABLE,
    Above,
    Below,
    Bound,
    CannotFail,
    Differs,
    Estimate,
    Floor,
    Regimes,
    Verdict,
    Within,
)


def est(value, lo, hi, n=8):
    return Estimate(value, lo, hi, n)


def test_exactly_five_labels():
    assert LABELS == (
        "holds",
        "holds only in a regime",
        "does not hold",
        "cannot fail here",
        "not testable at this size",
    )


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_seeds():
    rng = np.random.default_rng(1)
    small = report.bootstrap(rng.normal(1.0, 1.0, 8))
    large = report.bootstrap(rng.normal(1.0, 1.0, 512))
    assert small.lo < small.value < small.hi and small.n == 8
    assert large.lo < 1.0 < large.hi
    assert (large.hi - large.lo) < (small.hi - small.lo) / 4
    # deterministic, NaN seeds dropped, at least two seeds
    v = [1.0, 2.0, np.nan, 4.0]
    assert report.bootstrap(v) == report.bootstrap(v) and report.bootstrap(v).n == 3
    with pytest.raises(ValueError, match="at least 2 seeds"):
        report.bootstrap([1.0])


def test_paired_difference_uses_the_pairing():
    rng = np.random.default_rng(2)
    base = rng.normal(0, 10, 16)  # large between-seed spread, shared by both arms
    diff = report.paired(base + 1.0 + rng.normal(0, 0.1, 16), base)
    assert 0.9 < diff.lo < diff.value < diff.hi < 1.1
    unpaired = report.bootstrap(base + 1.0)
    assert unpaired.hi - unpaired.lo > 10 * (diff.hi - diff.lo)
    with pytest.raises(ValueError, match="differ in shape"):
        report.paired(np.ones(3), np.ones(4))


def test_bootstrap_fit_recovers_a_slope_and_needs_five_points():
    rng = np.random.default_rng(3)
    x = np.arange(6.0)
    y = 2.0 * x + rng.normal(0, 0.5, (8, 6))
    s = report.bootstrap_fit(x, y, fits.linear_fit)
    assert s.lo < s.value < s.hi and abs(s.value - 2.0) < 0.2 and s.hi - s.lo < 0.5
    with pytest.raises(ValueError, match="at least 5 points"):
        report.bootstrap_fit(x[:4], y[:, :4], fits.linear_fit)


def test_estimate_refuses_a_value_outside_its_interval():
    with pytest.raises(ValueError, match="outside its interval"):
        Estimate(2.0, 0.0, 1.0, 8)
    assert "1.5 [1, 2] (n=8)" == str(est(1.5, 1.0, 2.0))


@pytest.mark.parametrize(
    "rule, label",
    [
        (Above(est(1.2, 1.1, 1.3), 1.0), HOLDS),
        (Above(est(0.8, 0.7, 0.9), 1.0), FAILS),
        (Above(est(1.0, 0.9, 1.1), 1.0), UNTESTABLE),
        (Below(est(0.8, 0.7, 0.9), 1.0), HOLDS),
        (Below(est(1.2, 1.1, 1.3), 1.0), FAILS),
        (Below(est(1.0, 0.9, 1.1), 1.0), UNTESTABLE),
        (Within(est(1.0, 0.9, 1.1), 0.5, 2.0), HOLDS),
        (Within(est(3.0, 2.5, 3.5), 0.5, 2.0), FAILS),
        (Within(est(2.0, 1.5, 2.5), 0.5, 2.0), UNTESTABLE),
        (Floor(est(3.6, 3.5, 3.7), 0.1, floor=3.47), FAILS),  # an estimated floor excuses nothing
        (Floor(est(3.6, 3.5, 3.7), 0.1, floor=3.47, proven=True), UNTESTABLE),
        (Floor(est(0.05, 0.04, 0.06), 0.1, floor=0.01), HOLDS),
        (Floor(est(0.5, 0.4, 0.6), 0.1, floor=0.01), FAILS),
        (CannotFail("the update rule itself"), CANNOT_FAIL),
        (Differs(est(-3.0, -4.0, -2.0), 1.0), HOLDS),
        (Differs(est(2.0, 1.0, 3.0), 1.0), HOLDS),
        (Differs(est(0.1, -0.5, 0.5), 1.0), FAILS),
        (Differs(est(0.5, -0.5, 1.5), 1.0), UNTESTABLE),
    ],
)
def test_rules(rule, label):
    assert rule.label() == label
    assert isinstance(rule.text(), str) and rule.text()


def test_bound_fits_its_constant_on_the_declared_subset_only():
    settings = (0.2, 0.3, 0.5, 1.0)
    shapes = (1.0, 2.0, 4.0, 8.0)
    ok = tuple(est(v, v - 0.1, v + 0.1) for v in (1.0, 1.5, 3.0, 7.0))
    b = Bound(settings, ok, shapes, fit_on=(0.2,), side="upper")
    assert b.constant == pytest.approx(1.0) and b.label() == HOLDS
    assert [c[0] for c in b.checked()] == [0.3, 0.5, 1.0]
    # one setting far above C * shape: the upper bound fails
    bad = ok[:3] + (est(12.0, 11.0, 13.0),)
    assert Bound(settings, bad, shapes, fit_on=(0.2,)).label() == FAILS
    # a lower bound: counts at least C * shape
    counts = tuple(est(v, v - 0.1, v + 0.1) for v in (1.0, 2.5, 4.5, 7.0))
    low = Bound(settings, counts, shapes, fit_on=(1.0,), side="lower")
    assert low.constant == pytest.approx(7.0 / 8.0) and low.label() == HOLDS
    assert Bound(settings, ok, shapes, fit_on=(1.0,), side="lower").label() == FAILS
    # fitted on every setting it is checked on: nothing left to test
    assert Bound(settings, bad, shapes, fit_on=settings).label() == CANNOT_FAIL
    with pytest.raises(ValueError, match="fit_on"):
        Bound(settings, ok, shapes, fit_on=(0.7,))
    with pytest.raises(ValueError, match="side"):
        Bound(settings, ok, shapes, fit_on=(0.2,), side="both")


def test_regimes_combine():
    yes, no, unsure = (
        Above(est(2, 1.5, 2.5), 1),
        Above(est(0, -0.5, 0.5), 1),
        Above(est(1, 0.5, 1.5), 1),
    )
    # the theorem's regime (the first, or the one named) decides; a contrast never does
    assert Regimes((("theory", yes), ("figure1", yes))).label() == HOLDS
    assert Regimes((("theory", yes), ("figure1", no))).label() == HOLDS
    assert Regimes((("theory", no), ("figure1", yes))).label() == FAILS
    assert Regimes((("theory", unsure), ("figure1", no))).label() == UNTESTABLE
    assert Regimes((("figure1", yes), ("theory", no)), decides="theory").label() == FAILS
    # holds only in a regime comes from settings inside the theorem's own regime
    assert report.Across((("rho = 0.2", no), ("rho = 1", yes))).label() == REGIME
    with pytest.raises(ValueError, match="at least two"):
        Regimes((("theory", yes),))


def test_a_label_cannot_be_typed():
    with pytest.raises(TypeError):
        Verdict("claim", "Thm 3.1", rule="holds", regime="theory")
    with pytest.raises(TypeError):
        Verdict("claim", "Thm 3.1", Above(est(2, 1.5, 2.5), 1), "theory", label="does not hold")
    v = Verdict("claim", "Thm 3.1", Above(est(2, 1.5, 2.5), 1), "theory")
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.label = FAILS
    assert "label" not in {f.name for f in dataclasses.fields(Verdict)}
    with pytest.raises(ValueError, match="no regime"):
        Verdict("claim", "Thm 3.1", Above(est(2, 1.5, 2.5), 1), "")
    with pytest.raises(TypeError, match="Verdict rows"):
        report.verdict_table([("a", "1", "holds")])


def test_verdict_table_prints_the_computed_labels_and_a_regime_column():
    t = report.verdict_table(
        [
            Verdict("a|b", "eq. (4)", Above(est(2, 1.5, 2.5), 1), "theory", "sec-a", "note"),
            Verdict(
                "c",
                "Thm 3.3",
                report.Across(
                    (
                        ("d = 8", Above(est(0, -0.5, 0.5), 1)),
                        ("d = 16", Above(est(2, 1.5, 2.5), 1)),
                    )
                ),
                "both",
            ),
        ]
    )
    md = t._repr_markdown_()
    head = md.splitlines()[0]
    assert "| regime |" in head and "verdict" in head
    assert "a\\|b" in md and "**holds**" in md and "**holds only in a regime**" in md
    text = repr(t)
    assert "-> HOLDS (regime: theory; note)" in text and "-> HOLDS ONLY IN A REGIME" in text
    assert t.counts()[HOLDS] == 1 and t.counts()[REGIME] == 1 and sum(t.counts().values()) == 2
    assert t.rows[0].as_dict()["label"] == HOLDS and t.rows[0].as_dict()["anchor"] == "sec-a"


def test_glue_stores_plain_python_values(monkeypatch):
    seen = {}
    import myst_nb

    monkeypatch.setattr(myst_nb, "glue", lambda name, v, display: seen.update({name: (v, display)}))
    assert report.glue("x", np.float64(0.123456), 3) is None  # nothing shown in the cell
    assert seen["x"] == (0.123, False) and type(seen["x"][0]) is float
    report.glue("n", np.int64(7))
    report.glue("s", "0.05")
    assert seen["n"] == (7, False) and type(seen["n"][0]) is int and seen["s"][0] == "0.05"
    with pytest.raises(TypeError, match="number or a string"):
        report.glue("a", np.arange(3))


def test_a_saved_verdict_table_reads_back_as_the_printed_text(tmp_path):
    import json

    rows = [
        report.Verdict(
            "x grows", "Thm 1", report.Above(report.point(2.0, 5), 1.0), "theory", "sec-a", "a note"
        ),
        report.Verdict("y | z", "ours", report.CannotFail("by construction"), "figure1"),
    ]
    t = report.verdict_table(rows, save=tmp_path / "verdicts" / "07_width.json")
    data = json.loads((tmp_path / "verdicts" / "07_width.json").read_text())
    assert data["chapter"] == "07_width" and len(data["rows"]) == 2
    assert report.verdict_text(data["rows"]) == repr(t)
    assert data["rows"][0]["label"] == "holds" and data["rows"][1]["label"] == "cannot fail here"


def test_enough_says_untestable_when_too_few_exist():
    e = report.point(0.8, 16)
    assert (
        report.Enough(report.Above(e, 0.5), have=0, need=10, what="lucky neurons").label()
        == UNTESTABLE
    )
    assert (
        report.Enough(report.Above(e, 0.5), have=12, need=10, what="lucky neurons").label() == HOLDS
    )
    assert (
        "0 lucky neurons (the test needs 10)"
        in report.Enough(report.Above(e, 0.5), 0, 10, "lucky neurons").text()
    )


def test_a_lower_bound_fitted_to_zero_cannot_fail():
    z, e = report.point(0.0, 16), report.point(0.5, 16)
    b = report.Bound(("a", "b"), (z, e), (1.0, 1.0), fit_on=("a",), side="lower")
    assert b.constant == 0 and b.label() == CANNOT_FAIL


def test_an_estimate_without_a_value_says_so():
    assert str(report.unresolved(float("nan"), 1)) == "not resolved (n=1)"
    assert str(report.unresolved(0.5, 3)) == "0.5 [-inf, inf] (n=3)"
    e = report.unresolved(float("nan"), 1)
    assert report.Above(e, 0.0).label() == UNTESTABLE
