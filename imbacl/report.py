"""Verdicts and tables: a claim of the paper, its measurement with a 95% interval, the rule
that decides it, and the label the rule gives.

Every theorem chapter ends with a verdict table. A label is never typed: a :class:`Verdict`
row takes a *rule* (:class:`Above`, :class:`Below`, :class:`Within`, :class:`Bound`,
:class:`Floor`, :class:`Differs`, :class:`Trend`, :class:`Enough`, :class:`Across`,
:class:`Regimes`, :class:`CannotFail`) and the table prints what the rule
returns, one of the five ``LABELS``. Intervals are percentile bootstraps over seeds
(:func:`bootstrap`, :func:`paired`, :func:`bootstrap_fit`). Tables render as Markdown in the
book and as plain text in a terminal (and in nbval's comparison, so a re-execution checks them).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Union

import numpy as np
from numpy.typing import ArrayLike

from .estimate import N_BOOT, Estimate, resamples
from .metrics import smallest_passing


def fmt(values: ArrayLike, digits: int = 2, spread: str = "sd") -> str:
    """'mean ± sd (n=..)' of finite values; spread 'sd' or 'iqr' (median [q25, q75])."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "n/a (n=0)"
    if spread == "iqr":
        q = np.percentile(v, [25, 50, 75])
        return f"{q[1]:.{digits}f} [{q[0]:.{digits}f}, {q[2]:.{digits}f}] (n={v.size})"
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1) if v.size > 1 else 0:.{digits}f} (n={v.size})"


def fmt_censored(value: float, top: float, digits: int = 3) -> str:
    """A threshold read off a grid (e.g. the width m* of chapter 7), or ``"> top"`` where no
    value of the grid sufficed (``value`` NaN or infinite: censored at the grid's top)."""
    return f"{value:.{digits}g}" if np.isfinite(value) else f"> {top:g}"


#: [choice] a bound of the theory that every data point misses by more than this factor (on
#: the side it allows) cannot fail at these sizes: the rules that take ``far`` label it so
FAR = 10.0

LABELS = (
    "holds",
    "holds only in a regime",
    "does not hold",
    "cannot fail here",
    "not testable at this size",
)
HOLDS, REGIME, FAILS, CANNOT_FAIL, UNTESTABLE = LABELS


# -- estimates with intervals ---------------------------------------------------------------
def _interval(boots, value, n, digits):
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return Estimate(float(value), float(min(lo, value)), float(max(hi, value)), int(n), digits)


def bootstrap(
    per_seed: ArrayLike, stat: Callable = np.mean, digits: int = 3, seed: int = 0
) -> Estimate:
    """``stat`` of the values over seeds with a 95% percentile-bootstrap interval, resampling
    the seeds (axis 0; NaN seeds dropped). ``stat`` maps an array (n, ...) to a number; the
    default is the mean of a 1-D array. Deterministic: the resampling is seeded.

    Not ``scipy.stats.bootstrap``: its default interval is BCa and it draws its own resamples,
    so every interval in the book would move; the percentile interval over
    :func:`imbacl.estimate.resamples` is the book's one resampling source."""
    v = np.asarray(per_seed, dtype=float)
    v = v[np.isfinite(v.reshape(len(v), -1)).all(1)] if v.ndim else v
    if v.ndim == 0 or len(v) < 2:
        raise ValueError(f"a bootstrap needs values from at least 2 seeds (got {np.size(v)})")
    boots = np.array([stat(v[i]) for i in resamples(len(v), seed)])
    return _interval(boots, stat(v), len(v), digits)


def paired(treated: ArrayLike, control: ArrayLike, digits: int = 3, seed: int = 0) -> Estimate:
    """The mean paired difference treated - control (same seed in both arms, axis 0) with its
    95% bootstrap interval over seeds."""
    t, c = np.asarray(treated, dtype=float), np.asarray(control, dtype=float)
    if t.shape != c.shape:
        raise ValueError(f"paired arms differ in shape: {t.shape} vs {c.shape}")
    return bootstrap(t - c, digits=digits, seed=seed)


def ratio(numerator: ArrayLike, denominator: ArrayLike, digits: int = 3, seed: int = 0) -> Estimate:
    """The ratio of means mean(numerator) / mean(denominator), paired by seed (axis 0 of both),
    with its 95% bootstrap interval: the same resampled seeds in both. E.g. a count at the
    smallest rho over the count at the reference rho, where a ratio of one means no fall."""
    a, b = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"ratio needs two 1-D arrays of one shape: {a.shape} vs {b.shape}")
    return bootstrap(np.stack([a, b], 1), stat=_ratio_of_means, digits=digits, seed=seed)


def _ratio_of_means(v):
    den = v[:, 1].mean()
    return v[:, 0].mean() / den if den else float("inf")


def bootstrap_fit(
    x: ArrayLike,
    y_per_seed: ArrayLike,
    fit: Callable,
    key: str = "slope",
    digits: int = 3,
    seed: int = 0,
) -> Estimate:
    """A fitted parameter with its 95% interval: ``fit(x, mean over seeds of y)[key]``,
    resampling the seeds (the rows of ``y_per_seed``, shape (seeds, len(x))). ``fit`` is one
    of :mod:`imbacl.fits`' functions of (x, y), e.g. ``fits.linear_fit``."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y_per_seed, dtype=float)
    if y.ndim != 2 or y.shape[1] != x.size:
        raise ValueError(f"y_per_seed has shape {y.shape}; expected (seeds, {x.size})")
    if x.size < 5:
        raise ValueError(f"a fit the book reports needs at least 5 points (got {x.size})")
    return bootstrap(y, stat=lambda v: fit(x, np.nanmean(v, 0))[key], digits=digits, seed=seed)


def point(value: float, n: int = 1, digits: int = 3) -> Estimate:
    """A number without sampling error (a count of a grid, an exact quantity): lo = hi."""
    return Estimate(float(value), float(value), float(value), int(n), digits)


# -- rules: a measurement in, one of the five labels out -------------------------------------
def _g(v):
    return f"{v:.3g}"


@dataclass(frozen=True)
class Above:
    """The claim: the quantity exceeds ``threshold``. Its interval above -> holds, below ->
    does not hold, containing the threshold -> not testable at this size (the interval is the
    floor on what these seeds resolve). ``far`` (a bound of the theory, [choice] where given):
    a positive threshold that every value of the interval exceeds more than ``far``-fold is
    a bound no data point approaches: cannot fail here."""

    estimate: Estimate
    threshold: float
    far: float | None = None

    def label(self) -> str:
        e, t = self.estimate, self.threshold
        if self.far and t > 0 and e.lo > self.far * t:
            return CANNOT_FAIL
        return HOLDS if e.lo > t else FAILS if e.hi < t else UNTESTABLE

    def text(self) -> str:
        far = f" (a bound more than {_g(self.far)}x away cannot fail)" if self.far else ""
        return f"{self.estimate} vs > {_g(self.threshold)}{far}"

    def flipped(self) -> str:
        return replace(self, estimate=_mirror(self.estimate, self.threshold)).label()


@dataclass(frozen=True)
class Below:
    """The claim: the quantity is below ``threshold`` (the mirror of :class:`Above`, ``far``
    included: a positive threshold more than ``far`` times every value of the interval cannot
    fail here)."""

    estimate: Estimate
    threshold: float
    far: float | None = None

    def label(self) -> str:
        e, t = self.estimate, self.threshold
        if self.far and t > 0 and e.hi * self.far < t:
            return CANNOT_FAIL
        return HOLDS if e.hi < t else FAILS if e.lo > t else UNTESTABLE

    def text(self) -> str:
        far = f" (a bound more than {_g(self.far)}x away cannot fail)" if self.far else ""
        return f"{self.estimate} vs < {_g(self.threshold)}{far}"

    def flipped(self) -> str:
        return replace(self, estimate=_mirror(self.estimate, self.threshold)).label()


def _mirror(e: Estimate, t: float) -> Estimate:
    """``e`` moved to the other side of ``t`` (reflected about it): what a rule that reads its
    data must label differently."""
    if not np.isfinite(e.value):
        return e
    v, below, above = 2 * t - e.value, e.hi - e.value, e.value - e.lo
    if v - below <= t <= v + above:  # still straddling t: move it wholly to v's side
        tiny = 1e-9 * (1 + abs(t))
        v = t + below + tiny if v >= t else t - above - tiny
    return Estimate(v, v - below, v + above, e.n, e.digits)


def _shift_across(e: Estimate, low: float, high: float) -> Estimate:
    """``e`` moved across the nearer end of [low, high]: out of it if inside, into it (or as
    far as its width allows) if outside."""
    if not np.isfinite(e.value):
        return e
    if low <= e.value <= high:
        t = low if e.value - low < high - e.value else high
        return _mirror(e, t)
    # outside: moved just inside the nearer end (the interval as far in as it goes)
    below, above = e.value - e.lo, e.hi - e.value
    tiny = 1e-9 * (1 + abs(low) + abs(high))
    v = low + below + tiny if e.value < low else high - above - tiny
    return Estimate(v, v - below, v + above, e.n, e.digits)


@dataclass(frozen=True)
class Within:
    """The claim: the quantity lies in [low, high] (an interval of the theory; a bound tested
    as membership). Interval inside -> holds; disjoint -> does not hold; overlapping an end
    -> not testable at this size. With ``target`` (the value the band is drawn around), a row
    that holds while its interval excludes the target says so: near, not equal."""

    estimate: Estimate
    low: float
    high: float
    target: float | None = None

    def label(self) -> str:
        e = self.estimate
        if self.low <= e.lo and e.hi <= self.high:
            return HOLDS
        return FAILS if e.hi < self.low or e.lo > self.high else UNTESTABLE

    def text(self) -> str:
        out = f"{self.estimate} in [{_g(self.low)}, {_g(self.high)}]"
        e, t = self.estimate, self.target
        if t is not None and self.label() == HOLDS and not e.lo <= t <= e.hi:
            out += f"; near {_g(t)}, not equal: the interval excludes it"
        return out

    def flipped(self) -> str:
        return replace(self, estimate=_shift_across(self.estimate, self.low, self.high)).label()


@dataclass(frozen=True)
class Bound:
    """A bound ``value <= C shape`` (side 'upper') or ``value >= C shape`` ('lower') with a
    free constant C. C is fitted on the settings ``fit_on`` (declared, [choice]): the largest
    (upper) or smallest (lower) ratio value/shape there; every other setting is checked against
    C shape by its interval. All checked settings on the bound's side -> holds; one wholly on
    the other side -> does not hold; otherwise not testable at this size. When ``fit_on``
    covers every setting, nothing is left to check, and when every checked value lies more
    than ``far``-fold inside its bound (e.g. ``FAR``), no data point approaches it: cannot fail
    here."""

    settings: tuple  # names of the settings, e.g. rho values
    estimates: tuple  # one Estimate per setting
    shapes: tuple  # the bound's shape (without C) per setting
    fit_on: tuple  # the settings C is fitted on
    side: str = "upper"
    far: float | None = None  # every checked value more than far-fold inside: cannot fail

    def __post_init__(self):
        if self.side not in ("upper", "lower"):
            raise ValueError(f"side={self.side!r} is invalid: must be 'upper' or 'lower'")
        if not (len(self.settings) == len(self.estimates) == len(self.shapes)):
            raise ValueError("Bound needs one estimate and one shape per setting")
        missing = set(self.fit_on) - set(self.settings)
        if missing or not self.fit_on:
            raise ValueError(
                f"fit_on={self.fit_on!r} is invalid: must be a non-empty subset "
                f"of the settings {self.settings!r}"
            )

    @property
    def constant(self) -> float:
        ratios = [
            e.value / s
            for k, e, s in zip(self.settings, self.estimates, self.shapes)
            if k in self.fit_on
        ]
        return float(max(ratios) if self.side == "upper" else min(ratios))

    def checked(self, move: Callable | None = None) -> list:
        """(setting, estimate, C shape, label) for every setting outside ``fit_on``; with
        ``move``, each estimate is first replaced by ``move(estimate, C shape)`` (for
        ``flipped``)."""
        C, out = self.constant, []
        for k, e, s in zip(self.settings, self.estimates, self.shapes):
            if k in self.fit_on:
                continue
            b = C * s
            e = move(e, b) if move else e
            rule = Below(e, b) if self.side == "upper" else Above(e, b)
            ok = (e.hi <= b) if self.side == "upper" else (e.lo >= b)
            out.append((k, e, b, HOLDS if ok else rule.label()))
        return out

    def _combine(self, labels: list) -> str:
        # nothing left to check, or a lower bound whose fitted constant is 0 (true of anything)
        if not labels or (self.side == "lower" and self.constant <= 0):
            return CANNOT_FAIL
        return (
            HOLDS if all(x == HOLDS for x in labels) else FAILS if FAILS in labels else UNTESTABLE
        )

    def is_far(self) -> bool:
        """Whether every checked value lies more than ``far``-fold inside its bound (a bound
        no data point approaches)."""
        if not self.far:
            return False
        checked = self.checked()
        if self.side == "upper":
            return bool(checked) and all(e.hi * self.far < b for _, e, b, _ in checked)
        return bool(checked) and all(e.lo > self.far * b > 0 for _, e, b, _ in checked)

    def label(self) -> str:
        return CANNOT_FAIL if self.is_far() else self._combine([c[-1] for c in self.checked()])

    def flipped(self) -> str:
        return self._combine([c[-1] for c in self.checked(_mirror)])

    def text(self) -> str:
        op = "<=" if self.side == "upper" else ">="
        checks = "; ".join(f"{k}: {e} {op} {_g(b)}" for k, e, b, _ in self.checked())
        fit = ", ".join(str(k) for k in self.fit_on)
        far = (
            f"; every value more than {_g(self.far)}x inside the bound: it cannot fail"
            if self.is_far()
            else ""
        )
        return f"C = {_g(self.constant)} fitted on {fit}" + (f"; {checks}" if checks else "") + far


@dataclass(frozen=True)
class Floor:
    """A claim that the quantity falls below ``target`` (e.g. eq. (8): the loss is o(1)) at a
    size where it cannot go below ``floor`` (e.g. the loss of ideal encoders,
    :func:`imbacl.theory.loss_floor`). The data decide whenever they can: interval below the
    target -> holds; above it -> does not hold, unless the floor is a proven lower bound
    (``proven``, say how where it is declared) at or above the target, when the size itself
    forbids the claim: not testable at this size. A floor the measurement lies wholly below is
    not a lower bound at all: then ``proven`` is an error."""

    estimate: Estimate
    target: float
    floor: float
    proven: bool = False

    def __post_init__(self):
        if self.proven and self.estimate.hi < self.floor:
            raise ValueError(
                f"floor={self.floor:.4g} is not a lower bound: the measurement "
                f"{self.estimate} lies below it; declare proven=False"
            )

    def label(self) -> str:
        e = self.estimate
        if e.hi < self.target:
            return HOLDS
        if e.lo > self.target:
            return UNTESTABLE if self.proven and self.floor >= self.target else FAILS
        return UNTESTABLE

    def flipped(self) -> str:
        m = _mirror(self.estimate, self.target)
        return Floor(m, self.target, self.floor, self.proven and m.hi >= self.floor).label()

    def text(self) -> str:
        kind = "a proven lower bound" if self.proven else "an estimate, not a bound"
        return (
            f"{self.estimate} vs < {_g(self.target)}; floor at this size {_g(self.floor)} ({kind})"
        )


@dataclass(frozen=True)
class Differs:
    """The claim: the quantity (typically a paired difference of two arms) is not zero, in
    either direction. Its interval excluding 0 -> holds; lying inside [-band, band] (a
    difference too small to matter, [choice]) -> does not hold; otherwise not testable at this
    size."""

    estimate: Estimate
    band: float

    def label(self) -> str:
        e = self.estimate
        if e.lo > 0 or e.hi < 0:
            return HOLDS
        return FAILS if -self.band <= e.lo and e.hi <= self.band else UNTESTABLE

    def text(self) -> str:
        return f"{self.estimate} vs != 0 (negligible within +-{_g(self.band)})"

    def flipped(self) -> str:
        e, w = self.estimate, (self.estimate.hi - self.estimate.lo) / 2
        if not np.isfinite(e.value):
            return self.label()
        if self.label() == HOLDS:  # moved onto 0
            m = Estimate(0.0, -w, w, e.n, e.digits)
        else:  # moved clear of 0
            m = Estimate(self.band + 2 * w, self.band + w, self.band + 3 * w, e.n, e.digits)
        return replace(self, estimate=m).label()


@dataclass(frozen=True)
class Enough:
    """A test that needs enough of something to exist at this size (e.g. neurons lucky at
    initialisation): with fewer than ``need`` (``have`` counted, ``what`` named) it is not
    testable at this size, the count printed; otherwise ``rule`` decides. Flipped: with
    enough, the rule's measurement moved across its threshold (``rule.flipped()``); with too
    few, what the rule would say of the data, had there been enough."""

    rule: object
    have: float
    need: float
    what: str

    def label(self) -> str:
        return UNTESTABLE if self.have < self.need else self.rule.label()

    def text(self) -> str:
        return f"{self.rule.text()}; {_g(self.have)} {self.what} (the test needs {_g(self.need)})"

    def flipped(self) -> str:
        return self.rule.label() if self.have < self.need else self.rule.flipped()


#: [choice] the number of largest sizes a trend claim is read at, by the slope fitted over
#: them (with the last step between two sizes, it states "at the largest sizes measured")
TAIL = 3


@dataclass(frozen=True)
class Curve:
    """A quantity along d as a referee reads it (:func:`trend`): the local slopes in log d
    between consecutive sizes, the slope over the largest ``TAIL`` sizes, one slope over all
    sizes and the curvature (the quadratic term in log d; an interval containing 0 means one
    slope may summarise the curve). Every interval resamples the seeds of each size and, for
    the fitted slopes, the fit's residuals (a wild bootstrap), so a line that misses its points
    gets a wide interval. ``n``: the sizes used; fewer than 5 leaves everything unresolved."""

    d: tuple
    local: tuple  # Estimate per consecutive pair of sizes
    tail: Estimate
    overall: Estimate
    curvature: Estimate
    inputs: tuple = field(default=(), compare=False, repr=False)  # trend()'s arguments

    def upto(self, d_max: float) -> Curve:
        """The same quantity on the sizes up to ``d_max`` (to compare two arms on the sizes
        both have)."""
        d, groups, transform, digits, seed = self.inputs
        keep = [k for k, x in enumerate(d) if x <= d_max]
        return trend([d[k] for k in keep], [groups[k] for k in keep], transform, digits, seed)

    @property
    def n(self) -> int:
        return len(self.d)

    @property
    def straight(self) -> bool:
        """Whether one slope summarises the curve (the curvature's interval contains 0)."""
        c = self.curvature
        return bool(np.isfinite(c.value) and c.lo <= 0 <= c.hi)

    def summary(self) -> str:
        """The curve in a phrase for the prose: the slope at the largest sizes, then one slope
        if the curve is straight, else that it is curved."""
        if self.n < 5 or not np.isfinite(self.tail.value):
            return f"not resolved (n={self.n} sizes)"
        top = f"{self.tail} over the largest {TAIL} sizes"
        return f"{top}, one slope {self.overall}" if self.straight else f"{top}, curved"

    def __str__(self):
        if self.n < 5 or not np.isfinite(self.tail.value):
            return f"not resolved (n={self.n} sizes)"
        steps = "; ".join(
            f"{_g(a)}->{_g(b)}: {e.value:.{e.digits}g} [{e.lo:.{e.digits}g}, {e.hi:.{e.digits}g}]"
            for a, b, e in zip(self.d, self.d[1:], self.local)
        )
        one = (
            f"one slope {self.overall}"
            if self.straight
            else f"curved (curvature {self.curvature}): no one slope"
        )
        return f"local {steps}; largest {TAIL} sizes {self.tail}; {one}"


@dataclass(frozen=True)
class Trend:
    """A claim about how a quantity moves as d grows, tested on its :class:`Curve`
    (:func:`trend`). ``side``: "up" (the theorem says it grows), "down" (it shrinks), or
    (low, high), a band the slope must lie in (a power law's exponent, or 0 for a quantity the
    theory holds constant; its width is a [choice]). The claim is about large d, so the label
    is read at the largest sizes and checked along the curve:

    - the last local slope, or the slope over the largest ``TAIL`` sizes, wholly on the other
      side -> does not hold;
    - the largest sizes on the claim's side and no local slope wholly on the other side ->
      holds; some smaller sizes against it -> holds only in a regime (the sizes from which it
      holds are named);
    - otherwise (the largest sizes do not resolve it) -> not testable at this size."""

    estimate: Curve
    side: object
    what: str = "slope in log d"

    def __post_init__(self):
        if self.side not in ("up", "down") and not (
            isinstance(self.side, tuple) and len(self.side) == 2
        ):
            raise ValueError(f"side={self.side!r} is invalid: 'up', 'down' or (low, high)")
        if not isinstance(self.estimate, Curve):
            raise TypeError("Trend takes the Curve that report.trend returns")

    def _rule(self, e):
        return (
            Above(e, 0.0)
            if self.side == "up"
            else Below(e, 0.0)
            if self.side == "down"
            else Within(e, *self.side)
        )

    def since(self) -> float | None:
        """The smallest size from which no local slope contradicts the claim (None if the
        last one does)."""
        c = self.estimate
        bad = [k for k, e in enumerate(c.local) if self._rule(e).label() == FAILS]
        if not bad:
            return c.d[0]
        return None if bad[-1] == len(c.local) - 1 else c.d[bad[-1] + 1]

    def label(self) -> str:
        c = self.estimate
        if c.n < 5 or not np.isfinite(c.tail.value):
            return UNTESTABLE
        last, tail = self._rule(c.local[-1]).label(), self._rule(c.tail).label()
        if FAILS in (last, tail):
            return FAILS
        if tail != HOLDS:
            return UNTESTABLE
        return HOLDS if self.since() == c.d[0] else REGIME

    def flipped(self) -> str:
        c = self.estimate
        band = (0.0, 0.0) if self.side in ("up", "down") else self.side
        flip = replace(
            c,
            local=tuple(_shift_across(e, *band) for e in c.local),
            tail=_shift_across(c.tail, *band),
        )
        return replace(self, estimate=flip).label()

    def text(self) -> str:
        side = {"up": "> 0", "down": "< 0"}.get(
            self.side
        ) or f"in [{_g(self.side[0])}, {_g(self.side[1])}]"
        out = f"{self.what} {side}"
        since = self.since() if self.estimate.n >= 5 else None
        if self.label() == REGIME:
            out += f"; holds for d >= {_g(since)}"
        return out


def trend_text(rule: Rule) -> str:
    """The trend column of a verdict row: the :class:`Curve` of a :class:`Trend` (per regime
    for :class:`Regimes`, per setting for :class:`Across`, of trends); empty for other rules."""
    if isinstance(rule, Trend):
        return str(rule.estimate)
    if isinstance(rule, (Regimes, Across)):
        parts = [f"{name}: {trend_text(r)}" for name, r in rule.rules if trend_text(r)]
        return "; ".join(parts)
    return ""


def trend(
    d: Sequence[float],
    groups: Sequence[ArrayLike],
    transform: Callable | None = None,
    digits: int = 3,
    seed: int = 0,
) -> Curve:
    """The :class:`Curve` of a per-seed quantity along d: ``transform(mean over seeds)``
    (default: the mean itself) against log d, one point per d. ``groups``: one array of
    per-seed values per d (NaN seeds dropped); at least 5 sizes. A size with fewer than 2 finite
    seeds (e.g. a time never reached within the runs) is left out; with fewer than 5 sizes left
    the curve is not resolved (every rule labels it 'not testable at this size').

    Intervals: 95% percentile bootstrap; each resample draws the seeds of every size
    independently (sizes may have different numbers of seeds) and, for the fitted slopes and
    the curvature, flips the signs of the full fit's residuals at random (a wild bootstrap:
    the misfit of a line counts as uncertainty)."""
    inputs = (tuple(d), tuple(groups), transform, digits, seed)
    x = np.log(np.asarray(d, dtype=float))
    groups = [np.asarray(g, dtype=float) for g in groups]
    groups = [g[np.isfinite(g)] for g in groups]
    if len(groups) != x.size or x.size < 5:
        raise ValueError(f"a trend needs one group per d and at least 5 sizes (got {x.size})")
    keep = [k for k, g in enumerate(groups) if len(g) >= 2]
    x, groups = x[keep], [groups[k] for k in keep]
    sizes = tuple(float(np.asarray(d, dtype=float)[k]) for k in keep)
    nan = Estimate(float("nan"), -np.inf, np.inf, len(groups), digits)
    unresolved = tuple(nan for _ in range(max(len(groups) - 1, 0)))
    if len(groups) < 5:
        return Curve(sizes, unresolved, nan, nan, nan, inputs)
    f = transform or (lambda v: v)
    y = f(np.array([g.mean() for g in groups]))
    idx = [resamples(len(g), seed + k) for k, g in enumerate(groups)]
    yb = f(np.array([[g[i[b]].mean() for g, i in zip(groups, idx)] for b in range(N_BOOT)]))
    if not np.all(np.isfinite(y)):
        return Curve(sizes, unresolved, nan, nan, nan, inputs)
    ok = np.isfinite(yb).all(1)
    yb = yb[ok]
    if len(yb) < N_BOOT // 2:
        return Curve(sizes, unresolved, nan, nan, nan, inputs)
    signs = np.random.default_rng(seed + 10_000).choice([-1.0, 1.0], size=yb.shape)
    dx = np.diff(x)
    local = tuple(
        _interval(np.diff(yb, axis=1)[:, k] / dx[k], (y[k + 1] - y[k]) / dx[k], 2, digits)
        for k in range(len(dx))
    )

    def fitted(sl, deg):
        xs, ys = x[sl], y[sl]
        coef = np.polyfit(xs, ys, deg)
        res = ys - np.polyval(coef, xs)
        boots = np.array(
            [np.polyfit(xs, yb[b, sl] + signs[b, sl] * res, deg)[0] for b in range(len(yb))]
        )
        return _interval(boots, coef[0], len(xs), digits)

    tail = slice(len(x) - TAIL, len(x))
    return Curve(
        sizes, local, fitted(tail, 1), fitted(slice(None), 1), fitted(slice(None), 2), inputs
    )


@dataclass(frozen=True)
class CannotFail:
    """A row that cannot be contradicted by a measurement: true by construction (e.g. the
    update rule itself), or an interval or bound with a free constant. ``why`` says which."""

    why: str

    def label(self) -> str:
        return CANNOT_FAIL

    def flipped(self) -> str:
        return CANNOT_FAIL

    def text(self) -> str:
        return self.why


@dataclass(frozen=True)
class Regimes:
    """The same claim measured in several regimes: ``rules`` maps a regime's name to its rule.
    The theorem's own regime (``decides``, default the first: ``theory``, or the frequency
    scaling the theorems assume) carries the label; the others are contrasts, printed beside it
    with their own labels, and never promote or demote it."""

    rules: tuple  # ((regime name, rule), ...)
    decides: str = ""

    def __post_init__(self):
        if len(self.rules) < 2:
            raise ValueError("Regimes needs at least two (regime, rule) pairs")
        names = [name for name, _ in self.rules]
        if self.decides and self.decides not in names:
            raise ValueError(f"decides={self.decides!r} is invalid: must be one of {names}")

    @property
    def decider(self) -> str:
        """The regime whose rule gives the label."""
        return self.decides or self.rules[0][0]

    @property
    def rule(self) -> Rule:
        return dict(self.rules)[self.decider]

    def labels(self) -> dict:
        return {name: rule.label() for name, rule in self.rules}

    def label(self) -> str:
        return self.rule.label()

    def flipped(self) -> str:
        return self.rule.flipped()

    def text(self) -> str:
        return "; ".join(
            f"{name}{' (decides)' if name == self.decider else ''}: {rule.text()} ({rule.label()})"
            for name, rule in self.rules
        )


@dataclass(frozen=True)
class Across:
    """One claim at several settings inside the theorem's own regime (sizes d, ratios rho,
    weight decays; ``rules`` maps a setting's name to its rule). Holds at every setting ->
    holds; at the largest (the last) it does not hold -> does not hold; holds at some and
    fails at others -> holds only in a regime (the settings where it holds are named);
    otherwise not testable at this size (or cannot fail here, if no setting can)."""

    rules: tuple  # ((setting name, rule), ...), the last the largest

    def __post_init__(self):
        if len(self.rules) < 2:
            raise ValueError("Across needs at least two (setting, rule) pairs")

    def labels(self) -> dict:
        return {name: rule.label() for name, rule in self.rules}

    def label(self) -> str:
        labels = list(self.labels().values())
        if all(x == HOLDS for x in labels):
            return HOLDS
        if labels[-1] == FAILS:
            return FAILS
        if HOLDS in labels and FAILS in labels:
            return REGIME
        if FAILS in labels and HOLDS not in labels:
            return FAILS
        return UNTESTABLE if UNTESTABLE in labels else CANNOT_FAIL

    def flipped(self) -> str:
        return Across(tuple((n, _Fixed(r.flipped())) for n, r in self.rules)).label()

    def text(self) -> str:
        out = "; ".join(f"{name}: {rule.text()} ({rule.label()})" for name, rule in self.rules)
        if self.label() == REGIME:
            where = [name for name, rule in self.rules if rule.label() == HOLDS]
            out += f"; holds at {', '.join(where)}"
        return out


@dataclass(frozen=True)
class _Fixed:
    """A rule whose label is given (for :meth:`Across.flipped`)."""

    given: str

    def label(self) -> str:
        return self.given


RULES = (Above, Below, Within, Bound, Floor, Differs, Trend, Enough, CannotFail, Regimes, Across)
Rule = Union[
    Above, Below, Within, Bound, Floor, Differs, Trend, Enough, CannotFail, Regimes, Across
]


# -- verdict rows and tables -----------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """One row of a verdict table. ``ref``: the paper's theorem, equation or insight (or
    "ours"); ``rule``: one of ``RULES``, holding the measurement; ``regime``: the preset or
    setting it was measured in; ``anchor``: the label of the chapter section it comes from.
    The label is the property ``label``, what the rule returns: it cannot be given as text."""

    claim: str
    ref: str
    rule: object
    regime: str
    anchor: str = ""
    note: str = ""

    def __post_init__(self):
        if not isinstance(self.rule, RULES):
            raise TypeError(
                f"rule={self.rule!r} is invalid: must be one of "
                f"{[r.__name__ for r in RULES]} (a label is computed, not typed)"
            )
        if not self.regime:
            raise ValueError(f"verdict {self.claim!r} has no regime: name the preset or setting")

    @property
    def label(self) -> str:
        label = self.rule.label()
        assert label in LABELS, label
        return label

    def as_dict(self) -> dict:
        out = {
            "claim": self.claim,
            "ref": self.ref,
            "measured": self.rule.text(),
            "rule": type(self.rule).__name__,
            "label": self.label,
            "regime": self.regime,
            "anchor": self.anchor,
            "note": self.note,
        }
        if trend_text(self.rule):
            out["trend"] = trend_text(self.rule)
        if isinstance(self.rule, Regimes):
            out["decided_by"] = self.rule.decider
            out["regime_labels"] = self.rule.labels()
        # the label the rule gives to the measurement moved to the other side of its threshold:
        # a rule that reads its data gives another (tests/test_verdicts.py)
        out["label_if_flipped"] = self.rule.flipped()
        return out


class VerdictTable:
    def __init__(self, rows: Iterable[Verdict]) -> None:
        rows = list(rows)
        for r in rows:
            if not isinstance(r, Verdict):
                raise TypeError(f"a verdict table takes Verdict rows, got {r!r}")
        self.rows = rows

    def counts(self) -> dict:
        """How many rows carry each label."""
        return {k: sum(r.label == k for r in self.rows) for k in LABELS}

    def _repr_markdown_(self):
        def esc(s):
            return str(s).replace("|", "\\|")

        trends = any(trend_text(r.rule) for r in self.rows)  # a trend column where any row has one
        head = (
            ["claim", "paper"]
            + (["trend in log d (95% interval)"] if trends else [])
            + ["measured (95% interval)", "verdict", "regime", "note"]
        )
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.rows:
            cells = (
                [esc(r.claim), esc(r.ref)]
                + ([esc(trend_text(r.rule)) or "-"] if trends else [])
                + [esc(r.rule.text()), f"**{r.label}**", esc(r.regime), esc(r.note)]
            )
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def __repr__(self):
        return verdict_text([r.as_dict() for r in self.rows])

    def save(self, path: str | os.PathLike) -> None:
        """Write the rows (``Verdict.as_dict``) to ``path`` as JSON. The file is named
        after its chapter (``results/verdicts/09_remedies.json`` for
        ``chapters/09_remedies.ipynb``): the findings page is built from these files
        (``_ext/findings.py``) and links each row to its chapter's section."""
        from pathlib import Path

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"chapter": path.stem, "rows": [r.as_dict() for r in self.rows]}
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def verdict_text(rows: Iterable[dict]) -> str:
    """The plain-text form of verdict rows given as dicts (``Verdict.as_dict``): what a
    table prints, and what tests compare a saved verdict file with."""
    return "\n".join(
        f"- {r['claim']} [{r['ref']}]: {r['measured']} -> {r['label'].upper()} "
        f"(regime: {r['regime']}" + (f"; {r['note']})" if r["note"] else ")")
        for r in rows
    )


def verdict_table(rows: Iterable[Verdict], save: str | os.PathLike | None = None) -> VerdictTable:
    """A table of :class:`Verdict` rows; each prints the label its rule computes. ``save``: a
    JSON path, named after the chapter, the rows are also written to
    (``VerdictTable.save``)."""
    table = VerdictTable(rows)
    if save is not None:
        table.save(save)
    return table


def glue(name: str, value: float | str, digits: int | None = None) -> None:
    """Glue a number or text into the page for ``{glue:text}`name``` in the prose (myst-nb),
    without displaying it. Numbers are glued as plain Python floats or ints (rounded to
    ``digits`` decimals when given): numpy scalars' text breaks the role's formatting."""
    from myst_nb import glue as _glue

    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        value = int(value)
    elif isinstance(value, (np.floating, float)):
        value = float(round(float(value), digits) if digits is not None else value)
    elif not isinstance(value, str):
        raise TypeError(f"glue {name!r}: value {value!r} must be a number or a string")
    _glue(name, value, display=False)


def glue_all(prefix: str, values: dict, digits: int | None = None) -> None:
    """:func:`glue` every ``name: value`` of ``values`` as ``prefix + name`` (one call per
    paragraph of glued numbers instead of one line each)."""
    for name, value in values.items():
        glue(prefix + name, value, digits)


class SweepTable:
    """Mean ± sd over seeds of several quantities along one sweep axis; Markdown in the book,
    aligned plain text in a terminal (and in nbval's comparison)."""

    def __init__(self, x_name: str, x_values: Iterable, columns: dict, digits: int = 2) -> None:
        self.x_name, self.x = x_name, list(x_values)
        self.columns = {k: np.asarray(v, dtype=float) for k, v in columns.items()}
        for k, v in self.columns.items():
            if v.ndim != 2 or len(v) != len(self.x):
                raise ValueError(
                    f"column {k!r} has shape {v.shape}; expected ({len(self.x)}, seeds)"
                )
        self.digits = digits

    def _cell(self, v):
        v = v[np.isfinite(v)]
        if v.size == 0:
            return "n/a"
        sd = v.std(ddof=1) if v.size > 1 else 0.0
        return f"{v.mean():.{self.digits}f} ± {sd:.{self.digits}f}"

    def _rows(self):
        return [
            [f"{x:g}" if isinstance(x, (int, float)) else str(x)]
            + [self._cell(c[i]) for c in self.columns.values()]
            for i, x in enumerate(self.x)
        ]

    def _repr_markdown_(self):
        head = [self.x_name] + list(self.columns)
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in self._rows()]
        return "\n".join(lines)

    def __repr__(self):
        head = [self.x_name] + list(self.columns)
        rows = self._rows()
        w = [max(len(str(r[k])) for r in [head] + rows) for k in range(len(head))]
        return "\n".join(
            "  ".join(str(c).rjust(w[k]) for k, c in enumerate(r)) for r in [head] + rows
        )


def sweep_table(x_name: str, x_values: Iterable, columns: dict, digits: int = 2) -> SweepTable:
    """A table of mean ± sd over seeds: one row per value of the swept quantity, one column per
    measured quantity. columns: {name: array (len(x_values), n_seeds)}; NaNs are ignored."""
    return SweepTable(x_name, x_values, columns, digits)


def unresolved(value: float, n: int, digits: int = 3) -> Estimate:
    """A value fitted from fewer points than the book's fits need (at least 5), e.g. an exponent
    of d from three sizes: no interval is claimed, [-inf, inf], so :class:`Above`,
    :class:`Below` and :class:`Within` label it 'not testable at this size'. ``n``: the points
    behind it."""
    return Estimate(float(value), -np.inf, np.inf, int(n), digits)


def bootstrap_threshold(
    covered: ArrayLike, x: ArrayLike, level: float = 0.8, digits: int = 3, seed: int = 0
) -> Estimate:
    """The smallest x from which the share of seeds with ``covered`` stays at least ``level``
    (:func:`imbacl.metrics.smallest_passing`; e.g. chapter 7's width m*), with a 95% bootstrap
    interval resampling the seeds. covered: (seeds, len(x)) of 0/1, x ascending. Where no x of
    the grid passes, the threshold is inf (censored at the grid's top); the interval's ends are
    resampled values (inverted CDF, no interpolation), so censored resamples make it infinite,
    and a lower end that is censored too is the grid's top (all it says is m* > top)."""

    v = np.asarray(covered, dtype=float)
    if v.ndim != 2 or v.shape[1] != len(x) or len(v) < 2:
        raise ValueError(f"covered has shape {v.shape}; expected (seeds >= 2, {len(x)})")
    stat = [smallest_passing(x, v.mean(0), level)]
    boots = np.array([smallest_passing(x, v[i].mean(0), level) for i in resamples(len(v), seed)])
    value, boots = (np.where(np.isnan(a), np.inf, a) for a in (np.array(stat), boots))
    lo, hi = np.percentile(boots, [2.5, 97.5], method="inverted_cdf")
    lo = min(lo, float(x[-1]))
    value = float(value[0])
    return Estimate(value, float(min(lo, value)), float(max(hi, value)), len(v), digits)
