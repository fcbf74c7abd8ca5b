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
