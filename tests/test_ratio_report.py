"""report.unresolved (a fit from too few points: not testable) and report.bootstrap_threshold
(chapter 7's width m* with a bootstrap interval over seeds, censored at the grid's top)."""

import numpy as np

from imbacl import report
from imbacl.report import FAILS, HOLDS, UNTESTABLE, Above, Below, Bound, Within

WIDTHS = [4, 8, 16, 32, 64]


def test_unresolved_is_never_decided():
    e = report.unresolved(0.39, 3)
    assert (e.value, e.lo, e.hi, e.n) == (0.39, -np.inf, np.inf, 3)
    for rule in (Above(e, 0.0), Below(e, 1.0), Within(e, 0.0, 1.0)):
        assert rule.label() == UNTESTABLE
    assert "-inf" in str(e)


def test_bootstrap_threshold_reads_the_share_of_seeds():
    covered = np.zeros((8, 5))
    covered[:, 2:] = 1  # every seed covered from m = 16 on
    e = report.bootstrap_threshold(covered, WIDTHS)
    assert (e.value, e.lo, e.hi, e.n) == (16.0, 16.0, 16.0, 8)
    covered[:3, 2] = 0  # 5 of 8 seeds at m = 16: below 80%
    e = report.bootstrap_threshold(covered, WIDTHS)
    assert e.value == 32.0 and e.lo <= 16.0 and e.hi == 32.0
    assert report.bootstrap_threshold(covered, WIDTHS) == e  # seeded


def test_a_censored_threshold_is_infinite_and_only_fails_a_bound_below_the_grid():
    covered = np.zeros((8, 5))
    covered[:5, -1] = 1  # 5 of 8 seeds even at the top width
    e = report.bootstrap_threshold(covered, WIDTHS)
    assert e.value == np.inf and e.hi == np.inf and e.lo == 64.0
    assert Below(e, 1000.0).label() == UNTESTABLE
    assert Below(e, 10.0).label() == FAILS
    never = report.bootstrap_threshold(np.zeros((8, 5)), WIDTHS)
    assert (never.value, never.lo, never.hi) == (np.inf, 64.0, np.inf)
    assert Below(never, 1000.0).label() == UNTESTABLE
    ok = report.bootstrap_threshold(np.ones((8, 5)), WIDTHS)
    b = Bound((1.0, 0.5), (ok, e), (9.0, 6561.0), fit_on=(1.0,), side="upper")
    assert b.label() == UNTESTABLE
    assert Bound((1.0, 0.5), (ok, ok), (9.0, 6561.0), fit_on=(1.0,)).label() == HOLDS
