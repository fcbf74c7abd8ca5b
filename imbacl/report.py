"""Verdicts and tables: a claim of the paper, its measurement with a 95% interval, the rule
that decides it, and the label the rule gives.

Every theorem chapter ends with a verdict table. A label is never typed: a :class:`Verdict`
row takes a *rule* (:class:`Above`, :class:`Below`, :class:`Within`, :class:`Bound`,
:class:`Floor`, :class:`Differs`, :class:`Trend`, :class:`Regimes`, :class:`CannotFail`) and the table prints what the rule
returns, one of the five ``LABELS``. Intervals are percentile bootstraps over seeds
(:func:`bootstrap`, :func:`paired`, :func:`bootstrap_fit`). Tables render as Markdown in the
book and as plain text in a terminal (and in nbval's comparison, so a re-execution checks them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from .estimate import N_BOOT, Estimate, resamples
from .fits import linear_fit
from .metrics import smallest_passing

def fmt(values, digits: int = 2, spread: str = "sd") -> str:
    """'mean ± sd (n=..)' of finite values; spread 'sd' or 'iqr' (median [q25, q75])."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "n/a (n=0)"
    if spread == "iqr":
        q = np.percentile(v, [25, 50, 75])
        return f"{q[1]:.{digits}f} [{q[0]:.{digits}f}, {q[2]:.{digits}f}] (n={v.size})"
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1) if v.size > 1 else 0:.{digits}f} (n={v.size})"


def fmt_censored(value, top, digits: int = 3) -> str:
    """A threshold read off a grid (e.g. the width m* of chapter 7), or ``"> top"`` where no
    value of the grid sufficed (``value`` NaN or infinite: censored at the grid's top)."""
    return f"{value:.{digits}g}" if np.isfinite(value) else f"> {top:g}"


LABELS = ("holds", "holds only in a regime", "does not hold", "cannot fail here",
          "not testable at this size")
HOLDS, REGIME, FAILS, CANNOT_FAIL, UNTESTABLE = LABELS


# -- estimates with intervals ---------------------------------------------------------------
def _interval(boots, value, n, digits):
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return Estimate(float(value), float(min(lo, value)), float(max(hi, value)), int(n), digits)


def bootstrap(per_seed, stat=np.mean, digits: int = 3, seed: int = 0) -> Estimate:
    """``stat`` of the values over seeds with a 95% percentile-bootstrap interval, resampling
    the seeds (axis 0; NaN seeds dropped). ``stat`` maps an array (n, ...) to a number; the
    default is the mean of a 1-D array. Deterministic: the resampling is seeded."""
    v = np.asarray(per_seed, dtype=float)
    v = v[np.isfinite(v.reshape(len(v), -1)).all(1)] if v.ndim else v
    if v.ndim == 0 or len(v) < 2:
        raise ValueError(f"a bootstrap needs values from at least 2 seeds (got {np.size(v)})")
    boots = np.array([stat(v[i]) for i in resamples(len(v), seed)])
    return _interval(boots, stat(v), len(v), digits)


def paired(treated, control, digits: int = 3, seed: int = 0) -> Estimate:
    """The mean paired difference treated - control (same seed in both arms, axis 0) with its
    95% bootstrap interval over seeds."""
    t, c = np.asarray(treated, dtype=float), np.asarray(control, dtype=float)
    if t.shape != c.shape:
        raise ValueError(f"paired arms differ in shape: {t.shape} vs {c.shape}")
    return bootstrap(t - c, digits=digits, seed=seed)


def bootstrap_fit(x, y_per_seed, fit, key: str = "slope", digits: int = 3,
                  seed: int = 0) -> Estimate:
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


def point(value, n: int = 1, digits: int = 3) -> Estimate:
    """A number without sampling error (a count of a grid, an exact quantity): lo = hi."""
    return Estimate(float(value), float(value), float(value), int(n), digits)


# -- rules: a measurement in, one of the five labels out -------------------------------------
def _g(v):
    return f"{v:.3g}"


@dataclass(frozen=True)
class Above:
    """The claim: the quantity exceeds ``threshold``. Its interval above -> holds, below ->
    does not hold, containing the threshold -> not testable at this size (the interval is the
    floor on what these seeds resolve)."""
    estimate: Estimate
    threshold: float

    def label(self):
        e, t = self.estimate, self.threshold
        return HOLDS if e.lo > t else FAILS if e.hi < t else UNTESTABLE

    def text(self):
        return f"{self.estimate} vs > {_g(self.threshold)}"


@dataclass(frozen=True)
class Below:
    """The claim: the quantity is below ``threshold`` (the mirror of :class:`Above`)."""
    estimate: Estimate
    threshold: float

    def label(self):
        e, t = self.estimate, self.threshold
        return HOLDS if e.hi < t else FAILS if e.lo > t else UNTESTABLE

    def text(self):
        return f"{self.estimate} vs < {_g(self.threshold)}"


@dataclass(frozen=True)
class Within:
    """The claim: the quantity lies in [low, high] (an interval of the theory; a bound tested
    as membership). Interval inside -> holds; disjoint -> does not hold; overlapping an end
    -> not testable at this size."""
    estimate: Estimate
    low: float
    high: float

    def label(self):
        e = self.estimate
        if self.low <= e.lo and e.hi <= self.high:
            return HOLDS
        return FAILS if e.hi < self.low or e.lo > self.high else UNTESTABLE

    def text(self):
        return f"{self.estimate} in [{_g(self.low)}, {_g(self.high)}]"


@dataclass(frozen=True)
class Bound:
    """A bound ``value <= C shape`` (side 'upper') or ``value >= C shape`` ('lower') with a
    free constant C. C is fitted on the settings ``fit_on`` (declared, [choice]): the largest
    (upper) or smallest (lower) ratio value/shape there; every other setting is checked against
    C shape by its interval. All checked settings on the bound's side -> holds; one wholly on
    the other side -> does not hold; otherwise not testable at this size. When ``fit_on``
    covers every setting, nothing is left to check: cannot fail here."""
    settings: tuple            # names of the settings, e.g. rho values
    estimates: tuple           # one Estimate per setting
    shapes: tuple              # the bound's shape (without C) per setting
    fit_on: tuple              # the settings C is fitted on
    side: str = "upper"

    def __post_init__(self):
        if self.side not in ("upper", "lower"):
            raise ValueError(f"side={self.side!r} is invalid: must be 'upper' or 'lower'")
        if not (len(self.settings) == len(self.estimates) == len(self.shapes)):
            raise ValueError("Bound needs one estimate and one shape per setting")
        missing = set(self.fit_on) - set(self.settings)
        if missing or not self.fit_on:
            raise ValueError(f"fit_on={self.fit_on!r} is invalid: must be a non-empty subset "
                             f"of the settings {self.settings!r}")

    @property
    def constant(self) -> float:
        ratios = [e.value / s for k, e, s in zip(self.settings, self.estimates, self.shapes)
                  if k in self.fit_on]
        return float(max(ratios) if self.side == "upper" else min(ratios))

    def checked(self):
        """(setting, estimate, C shape, label) for every setting outside ``fit_on``."""
        C, out = self.constant, []
        for k, e, s in zip(self.settings, self.estimates, self.shapes):
            if k in self.fit_on:
                continue
            b = C * s
            rule = Below(e, b) if self.side == "upper" else Above(e, b)
            ok = (e.hi <= b) if self.side == "upper" else (e.lo >= b)
            out.append((k, e, b, HOLDS if ok else rule.label()))
        return out

    def label(self):
        labels = [c[-1] for c in self.checked()]
        # nothing left to check, or a lower bound whose fitted constant is 0 (true of anything)
        if not labels or (self.side == "lower" and self.constant <= 0):
            return CANNOT_FAIL
        return HOLDS if all(x == HOLDS for x in labels) else \
            FAILS if FAILS in labels else UNTESTABLE

    def text(self):
        op = "<=" if self.side == "upper" else ">="
        checks = "; ".join(f"{k}: {e} {op} {_g(b)}" for k, e, b, _ in self.checked())
        fit = ", ".join(str(k) for k in self.fit_on)
        return f"C = {_g(self.constant)} fitted on {fit}" + (f"; {checks}" if checks else "")


@dataclass(frozen=True)
class Floor:
    """A claim that the quantity approaches ``target`` (e.g. eq. (8): the loss is o(1)) where a
    floor of this size is above the target (``floor``, e.g. :func:`imbacl.theory.loss_floor`):
    not testable at this size, the floor printed. If the floor is below the target, the claim is
    checked as :class:`Below` ``target``."""
    estimate: Estimate
    target: float
    floor: float

    def label(self):
        if self.floor >= self.target:
            return UNTESTABLE
        return Below(self.estimate, self.target).label()

    def text(self):
        return (f"{self.estimate}; the claim needs < {_g(self.target)}, the floor at this size "
                f"is {_g(self.floor)}")


@dataclass(frozen=True)
class Differs:
    """The claim: the quantity (typically a paired difference of two arms) is not zero, in
    either direction. Its interval excluding 0 -> holds; lying inside [-band, band] (a
    difference too small to matter, [choice]) -> does not hold; otherwise not testable at this
    size."""
    estimate: Estimate
    band: float

    def label(self):
        e = self.estimate
        if e.lo > 0 or e.hi < 0:
            return HOLDS
        return FAILS if -self.band <= e.lo and e.hi <= self.band else UNTESTABLE

    def text(self):
        return f"{self.estimate} vs != 0 (negligible within +-{_g(self.band)})"


@dataclass(frozen=True)
class Enough:
    """A test that needs enough of something to exist at this size (e.g. neurons lucky at
    initialisation): with fewer than ``need`` (``have`` counted, ``what`` named) it is not
    testable at this size, the count printed; otherwise ``rule`` decides."""
    rule: object
    have: float
    need: float
    what: str

    def label(self):
        return UNTESTABLE if self.have < self.need else self.rule.label()

    def text(self):
        return f"{self.rule.text()}; {_g(self.have)} {self.what} (the test needs {_g(self.need)})"


@dataclass(frozen=True)
class Trend:
    """A claim about how a quantity moves as d grows, tested on its fitted trend in log d
    (:func:`trend`: the slope of the quantity, or of its log, against log d). ``side``: "up"
    (the theorem says it grows), "down" (it shrinks), or (low, high), a band the slope must lie
    in (a power law's exponent, or 0 for a quantity the theory holds constant; its width is a
    [choice]). The interval on the theorem's side -> holds; on the other side -> does not hold;
    containing no trend, or overlapping a band's end -> not testable at this size."""
    estimate: Estimate
    side: object
    what: str = "slope in log d"

    def __post_init__(self):
        if self.side not in ("up", "down") and not (isinstance(self.side, tuple)
                                                     and len(self.side) == 2):
            raise ValueError(f"side={self.side!r} is invalid: 'up', 'down' or (low, high)")

    def _rule(self):
        e = self.estimate
        return Above(e, 0.0) if self.side == "up" else Below(e, 0.0) if self.side == "down" \
            else Within(e, *self.side)

    def label(self):
        return self._rule().label()

    def text(self):
        return f"{self.what}: {self._rule().text()}"


def trend_text(rule) -> str:
    """The trend column of a verdict row: the fitted trend of a :class:`Trend` (per regime for
    :class:`Regimes` of trends); empty for other rules."""
    if isinstance(rule, Trend):
        return str(rule.estimate)
    if isinstance(rule, Regimes):
        parts = [f"{name}: {trend_text(r)}" for name, r in rule.rules if trend_text(r)]
        return "; ".join(parts)
    return ""


def trend(d, groups, transform=None, digits: int = 3, seed: int = 0) -> Estimate:
    """The trend in log d of a per-seed quantity: the least-squares slope of
    ``transform(mean over seeds)`` (default: the mean itself) against log d, one point per d,
    with a 95% bootstrap interval that resamples the seeds of each d independently (the sizes
    may have different numbers of seeds). ``groups``: one array of per-seed values per d (NaN
    seeds dropped). At least 5 sizes. A size with fewer than 2 finite seeds (e.g. a time never
    reached within the runs) is left out; with fewer than 5 sizes left the trend is not
    resolved (value NaN, interval [-inf, inf], n = the sizes left), which every rule labels
    'not testable at this size'."""
    x = np.log(np.asarray(d, dtype=float))
    groups = [np.asarray(g, dtype=float) for g in groups]
    groups = [g[np.isfinite(g)] for g in groups]
    if len(groups) != x.size or x.size < 5:
        raise ValueError(f"a trend needs one group per d and at least 5 sizes (got {x.size})")
    keep = [k for k, g in enumerate(groups) if len(g) >= 2]
    x, groups = x[keep], [groups[k] for k in keep]
    if len(groups) < 5:
        return Estimate(float("nan"), -np.inf, np.inf, len(groups), digits)
    f = transform or (lambda v: v)

    def slope(means):
        y = f(np.asarray(means))
        return linear_fit(x, y)["slope"] if np.all(np.isfinite(y)) else np.nan

    idx = [resamples(len(g), seed + k) for k, g in enumerate(groups)]
    boots = np.array([slope([g[i[b]].mean() for g, i in zip(groups, idx)]) for b in range(N_BOOT)])
    value = slope([g.mean() for g in groups])
    boots = boots[np.isfinite(boots)] if np.isfinite(value) else boots
    if not np.isfinite(value) or boots.size < N_BOOT // 2:
        return Estimate(float("nan"), -np.inf, np.inf, int(x.size), digits)
    return _interval(boots, value, x.size, digits)


@dataclass(frozen=True)
class CannotFail:
    """A row that cannot be contradicted by a measurement: true by construction (e.g. the
    update rule itself), or an interval or bound with a free constant. ``why`` says which."""
    why: str

    def label(self):
        return CANNOT_FAIL

    def text(self):
        return self.why


@dataclass(frozen=True)
class Regimes:
    """The same claim measured in several regimes: ``rules`` maps a regime's name to its rule.
    Holds in every regime -> holds; holds in some and does not hold in others -> holds only in
    a regime; holds in none and fails in some -> does not hold; otherwise not testable."""
    rules: tuple               # ((regime name, rule), ...)

    def __post_init__(self):
        if len(self.rules) < 2:
            raise ValueError("Regimes needs at least two (regime, rule) pairs")

    def labels(self):
        return {name: rule.label() for name, rule in self.rules}

    def label(self):
        labels = list(self.labels().values())
        if all(x == HOLDS for x in labels):
            return HOLDS
        if HOLDS in labels and FAILS in labels:
            return REGIME
        if FAILS in labels and HOLDS not in labels:
            return FAILS
        return UNTESTABLE if UNTESTABLE in labels else CANNOT_FAIL

    def text(self):
        return "; ".join(f"{name}: {rule.text()} ({rule.label()})" for name, rule in self.rules)


RULES = (Above, Below, Within, Bound, Floor, Differs, Trend, Enough, CannotFail, Regimes)


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
            raise TypeError(f"rule={self.rule!r} is invalid: must be one of "
                            f"{[r.__name__ for r in RULES]} (a label is computed, not typed)")
        if not self.regime:
            raise ValueError(f"verdict {self.claim!r} has no regime: name the preset or setting")

    @property
    def label(self) -> str:
        label = self.rule.label()
        assert label in LABELS, label
        return label

    def as_dict(self) -> dict:
        out = {"claim": self.claim, "ref": self.ref, "measured": self.rule.text(),
               "rule": type(self.rule).__name__, "label": self.label, "regime": self.regime,
               "anchor": self.anchor, "note": self.note}
        if trend_text(self.rule):
            out["trend"] = trend_text(self.rule)
        return out


class VerdictTable:
    def __init__(self, rows):
        rows = list(rows)
        for r in rows:
            if not isinstance(r, Verdict):
                raise TypeError(f"a verdict table takes Verdict rows, got {r!r}")
        self.rows = rows

    def counts(self) -> dict:
        """How many rows carry each label."""
        return {k: sum(r.label == k for r in self.rows) for k in LABELS}

    def _repr_markdown_(self):
        esc = lambda s: str(s).replace("|", "\\|")
        trends = any(trend_text(r.rule) for r in self.rows)   # a trend column where any row has one
        head = ["claim", "paper"] + (["trend in log d (95% interval)"] if trends else []) + \
            ["measured (95% interval)", "verdict", "regime", "note"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.rows:
            cells = [esc(r.claim), esc(r.ref)] + ([esc(trend_text(r.rule)) or "-"] if trends else []) \
                + [esc(r.rule.text()), f"**{r.label}**", esc(r.regime), esc(r.note)]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def __repr__(self):
        return verdict_text([r.as_dict() for r in self.rows])

    def save(self, path) -> None:
        """Write the rows (``Verdict.as_dict``) to ``path`` as JSON. The file is named
        after its chapter (``results/verdicts/09_remedies.json`` for
        ``chapters/09_remedies.ipynb``): the findings page is built from these files
        (``_ext/findings.py``) and links each row to its chapter's section."""
        from pathlib import Path
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"chapter": path.stem, "rows": [r.as_dict() for r in self.rows]}
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def verdict_text(rows) -> str:
    """The plain-text form of verdict rows given as dicts (``Verdict.as_dict``): what a
    table prints, and what tests compare a saved verdict file with."""
    return "\n".join(f"- {r['claim']} [{r['ref']}]: {r['measured']} -> {r['label'].upper()} "
                     f"(regime: {r['regime']}" + (f"; {r['note']})" if r["note"] else ")")
                     for r in rows)


def verdict_table(rows, save=None) -> VerdictTable:
    """A table of :class:`Verdict` rows; each prints the label its rule computes. ``save``: a
    JSON path, named after the chapter, the rows are also written to
    (``VerdictTable.save``)."""
    table = VerdictTable(rows)
    if save is not None:
        table.save(save)
    return table


def glue(name: str, value, digits: int | None = None) -> None:
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

    def __init__(self, x_name, x_values, columns, digits=2):
        self.x_name, self.x = x_name, list(x_values)
        self.columns = {k: np.asarray(v, dtype=float) for k, v in columns.items()}
        for k, v in self.columns.items():
            if v.ndim != 2 or len(v) != len(self.x):
                raise ValueError(f"column {k!r} has shape {v.shape}; expected ({len(self.x)}, seeds)")
        self.digits = digits

    def _cell(self, v):
        v = v[np.isfinite(v)]
        if v.size == 0:
            return "n/a"
        sd = v.std(ddof=1) if v.size > 1 else 0.0
        return f"{v.mean():.{self.digits}f} ± {sd:.{self.digits}f}"

    def _rows(self):
        return [[f"{x:g}" if isinstance(x, (int, float)) else str(x)]
                + [self._cell(c[i]) for c in self.columns.values()] for i, x in enumerate(self.x)]

    def _repr_markdown_(self):
        head = [self.x_name] + list(self.columns)
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in self._rows()]
        return "\n".join(lines)

    def __repr__(self):
        head = [self.x_name] + list(self.columns)
        rows = self._rows()
        w = [max(len(str(r[k])) for r in [head] + rows) for k in range(len(head))]
        return "\n".join("  ".join(str(c).rjust(w[k]) for k, c in enumerate(r)) for r in [head] + rows)


def sweep_table(x_name, x_values, columns, digits=2) -> SweepTable:
    """A table of mean ± sd over seeds: one row per value of the swept quantity, one column per
    measured quantity. columns: {name: array (len(x_values), n_seeds)}; NaNs are ignored."""
    return SweepTable(x_name, x_values, columns, digits)


def unresolved(value, n: int, digits: int = 3) -> Estimate:
    """A value fitted from fewer points than the book's fits need (at least 5), e.g. an exponent
    of d from three sizes: no interval is claimed, [-inf, inf], so :class:`Above`,
    :class:`Below` and :class:`Within` label it 'not testable at this size'. ``n``: the points
    behind it."""
    return Estimate(float(value), -np.inf, np.inf, int(n), digits)


def bootstrap_threshold(covered, x, level: float = 0.8, digits: int = 3,
                        seed: int = 0) -> Estimate:
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
