"""A measured value with its 95% interval, and the one source of bootstrap resampling. Both
:mod:`imbacl.report` (the verdicts) and :mod:`imbacl.fits` (intervals over seeds) build on it;
it imports nothing of the package."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_BOOT = 2000  # [choice] bootstrap resamples: the interval ends move by < 1% beyond this


@dataclass(frozen=True)
class Estimate:
    """A measured value with its 95% interval [lo, hi] and the number n of seeds (or points)
    behind it."""

    value: float
    lo: float
    hi: float
    n: int
    digits: int = 3

    def __post_init__(self):
        if not (self.lo <= self.value <= self.hi) and np.isfinite(self.value):
            raise ValueError(
                f"Estimate value={self.value} is outside its interval [{self.lo}, {self.hi}]"
            )

    def __str__(self):
        if np.isnan(self.value):  # nothing measured (e.g. a fit with no points, no crossing)
            return f"not resolved (n={self.n})"

        def g(v):
            return f"{v:.{self.digits}g}"

        return f"{g(self.value)} [{g(self.lo)}, {g(self.hi)}] (n={self.n})"

    def __format__(self, spec):
        return format(str(self), spec)


def resamples(n: int, seed: int = 0) -> np.ndarray:
    """The seeded bootstrap resamples of ``n`` seeds, (N_BOOT, n) row indices: the one source of
    resampling for every interval of the book (here and :func:`imbacl.fits.bootstrap_seeds`)."""
    return np.random.default_rng(seed).integers(0, n, size=(N_BOOT, n))
