"""Verdict tables: claim -> measurement (mean +- spread over seeds, n) -> verdict.

Every theorem chapter ends with one. The table renders as Markdown in the book and as plain
text in a terminal (and in nbval's comparison, so the numbers are checked on re-execution).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VERDICTS = ("holds", "holds only in a regime", "does not hold")


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


@dataclass
class Row:
    claim: str
    measured: str
    verdict: str
    note: str = ""

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict={self.verdict!r} is invalid: must be one of {VERDICTS}")


class VerdictTable:
    def __init__(self, rows):
        self.rows = [r if isinstance(r, Row) else Row(*r) for r in rows]

    def _repr_markdown_(self):
        esc = lambda s: s.replace("|", "\\|")
        lines = ["| claim | measured | verdict | regime / note |", "|---|---|---|---|"]
        lines += [f"| {esc(r.claim)} | {esc(r.measured)} | **{r.verdict}** | {esc(r.note)} |"
                  for r in self.rows]
        return "\n".join(lines)

    def __repr__(self):
        return "\n".join(f"- {r.claim}: {r.measured} -> {r.verdict.upper()}"
                         + (f" ({r.note})" if r.note else "") for r in self.rows)


def verdict_table(rows) -> VerdictTable:
    """rows: Row objects or (claim, measured, verdict[, note]) tuples."""
    return VerdictTable(rows)


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
