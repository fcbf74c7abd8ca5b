"""Sweeps: many configs, grouped by tensor shape and trained as few batches as possible.

Runs of one shape group share a batch; a group can be split into chunks of ``max_batch`` runs
and the chunks spread over any ``concurrent.futures.Executor`` (threads, processes, or a Dask
``distributed`` client's executor). Splitting never changes a number: a run's result does not
depend on the batch it is trained in.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .config import Config, parse_value
from .train import History, train


def grid(base: Config, seeds: int = 1, **axes) -> list:
    """The product of ``axes`` (field -> list of values) and ``seeds`` seeds over ``base``.

    Returns a list of (overrides, Config); seeds run base.seed, base.seed + 1, ...
    """
    names = list(axes)
    out = []
    for values in itertools.product(*(axes[n] for n in names)):
        overrides = dict(zip(names, values))
        for s in range(seeds):
            out.append((overrides, base.replace(**overrides, seed=base.seed + s)))
    return out


def parse_grid(specs: list) -> dict:
    """``["eps_min=0.01,0.03", "lam=0.001"]`` -> {"eps_min": [0.01, 0.03], "lam": [0.001]}."""
    axes = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        if not sep or not values:
            raise ValueError(f"grid {spec!r} is invalid: write name=value1,value2,...")
        axes[name.strip()] = [parse_value(name.strip(), v.strip()) for v in values.split(",")]
    return axes


def _chunks(configs, max_batch):
    groups = {}
    for i, c in enumerate(configs):
        groups.setdefault(c.shape_key, []).append(i)
    for idx in groups.values():
        step = max_batch or len(idx)
        for k in range(0, len(idx), step):
            yield idx[k:k + step]


@dataclass
class SweepResult:
    configs: list
    histories: list      # one History per trained batch
    index: list          # config i -> (batch, run within the batch)

    def __len__(self):
        return len(self.configs)

    def __getitem__(self, i) -> History:
        g, r = self.index[i]
        return self.histories[g].run(r)

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def run(configs, executor=None, max_batch: int | None = None, **train_kwargs) -> SweepResult:
    """Train every config, one batch per shape group (or per ``max_batch`` chunk of one).

    With ``executor`` (any concurrent.futures.Executor) the batches are submitted to it;
    otherwise they run here, one after another. Results come back in the order of ``configs``.
    Dask workers: raise ``distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_`` (the
    README says why; the default makes training about 3x slower).
    """
    configs = [c for _, c in configs] if configs and isinstance(configs[0], tuple) else list(configs)
    chunks = list(_chunks(configs, max_batch))
    batches = [[configs[i] for i in idx] for idx in chunks]
    if executor is None:
        histories = [train(b, **train_kwargs) for b in batches]
    else:
        futures = [executor.submit(train, b, **train_kwargs) for b in batches]
        histories = [f.result() for f in futures]
    index = [None] * len(configs)
    for g, idx in enumerate(chunks):
        for r, i in enumerate(idx):
            index[i] = (g, r)
    return SweepResult(configs, histories, index)


# -- arranging and caching sweep results (chapters 6-8) ----------------------------------------
def arrange(points, values):
    """Arrange per-run values of a :func:`grid` into an array with one axis per grid axis.

    points: the (overrides, Config) list of :func:`grid` (a full product, every point with the
    same number of seeds, in grid's order); values: one scalar or array per point, in that
    order. Returns (axes, array): axes maps each axis name to its values, array has shape
    (len(axis 1), ..., len(axis k), seeds) followed by the shape of one value."""
    names = list(points[0][0]) if points else []
    axes = {n: list(dict.fromkeys(o[n] for o, _ in points)) for n in names}
    cells = int(np.prod([len(v) for v in axes.values()])) if names else 1
    if not points or len(points) % cells:
        raise ValueError(f"points do not form a full grid: {len(points)} points, {cells} cells")
    seeds = len(points) // cells
    for k, combo in enumerate(itertools.product(*axes.values())):
        for s in range(seeds):
            o = points[k * seeds + s][0]
            if tuple(o[n] for n in names) != combo:
                raise ValueError(f"point {k * seeds + s} has {o}, expected {dict(zip(names, combo))}"
                                 " (points must be in the order of imbacl.sweep.grid)")
    arr = np.stack([np.asarray(v) for v in values])
    if len(arr) != len(points):
        raise ValueError(f"values has {len(arr)} entries for {len(points)} points")
    return axes, arr.reshape(*(len(v) for v in axes.values()), seeds, *arr.shape[1:])


def find(points, seed: int = 0, **overrides) -> int:
    """Index in ``points`` (from :func:`grid`) of the run with these grid values and seed."""
    for k, (o, c) in enumerate(points):
        if o == overrides and c.seed == seed:
            return k
    raise ValueError(f"no point with {overrides} and seed {seed} in the grid")


def final_projections(result: SweepResult, step: int = -1) -> list:
    """Every run's projections P (m, d1) at one snapshot (default: the last), in config order."""
    return [result.histories[g].P[r, step] for g, r in result.index]


@dataclass
class FinalSweep:
    """A sweep cached by :func:`imbacl.io.save_final`: per run its Config, its grid overrides, the step of
    its snapshot and its projections P (m, d1)."""
    configs: list
    overrides: list
    steps: list
    P: list

    def __len__(self):
        return len(self.configs)

    @property
    def points(self) -> list:
        """(overrides, Config) pairs, as :func:`grid` returns them (for :func:`arrange`)."""
        return list(zip(self.overrides, self.configs))

    def select(self, **fields) -> "FinalSweep":
        """The runs whose configs have the given field values."""
        keep = [i for i, c in enumerate(self.configs)
                if all(getattr(c, k) == v for k, v in fields.items())]
        return FinalSweep(*([getattr(self, a)[i] for i in keep]
                            for a in ("configs", "overrides", "steps", "P")))
