"""Sweeps: many configs, grouped by tensor shape and trained as few batches as possible.

Runs of one shape group share a batch; a group can be split into chunks of ``max_batch`` runs
and the chunks spread over any ``concurrent.futures.Executor`` (threads, processes, or a Dask
``distributed`` client's executor). Splitting never changes a number: a run's result does not
depend on the batch it is trained in.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from . import metrics
from .config import Config, parse_value
from .errors import ConfigError
from .history import History
from .resources import check
from .train import train

if TYPE_CHECKING:
    from concurrent.futures import Executor


def grid(base: Config, seeds: int = 1, **axes: Sequence) -> list:
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
            raise ConfigError(
                f"grid {spec!r} is invalid: write name=value1,value2,...",
                "grid",
                spec,
                "name=value1,value2,...",
            )
        axes[name.strip()] = [parse_value(name.strip(), v.strip()) for v in values.split(",")]
    return axes


def _chunks(configs, max_batch):
    groups = {}
    for i, c in enumerate(configs):
        groups.setdefault(c.shape_key, []).append(i)
    for idx in groups.values():
        step = max_batch or len(idx)
        for k in range(0, len(idx), step):
            yield idx[k : k + step]


@dataclass
class SweepResult:
    configs: list
    histories: list  # one History per trained batch
    index: list  # config i -> (batch, run within the batch)

    def __len__(self):
        return len(self.configs)

    def __getitem__(self, i) -> History:
        g, r = self.index[i]
        return self.histories[g].run(r)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def table(
        self,
        points: Sequence[tuple[dict, Config]] | None = None,
        labels: Sequence[dict] | None = None,
        fields: Sequence[str] = (),
        measures: dict[str, Callable[[np.ndarray, int, int], Any]] | None = None,
    ) -> "RunTable":
        """One row per run of the final snapshot: see :func:`run_table`. ``points``: the
        (overrides, Config) list the sweep was run from (its overrides label the rows);
        ``labels``: one dict per run instead (e.g. arm names); neither: only the seed."""
        if labels is None:
            labels = [o for o, _ in points] if points is not None else [{} for _ in self.configs]
        return run_table(self.configs, labels, final_projections(self), fields, measures)


def run(
    configs: Sequence[Config] | Sequence[tuple[dict, Config]],
    executor: Executor | None = None,
    max_batch: int | None = None,
    **train_kwargs: Any,
) -> SweepResult:
    """Train every config, one batch per shape group (or per ``max_batch`` chunk of one).

    With ``executor`` (any concurrent.futures.Executor) the batches are submitted to it;
    otherwise they run here, one after another. Results come back in the order of ``configs``.
    Dask workers: raise ``distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_`` (the
    README says why and how much slower the default makes training).
    """
    configs = (
        [c for _, c in configs] if configs and isinstance(configs[0], tuple) else list(configs)
    )
    if str(train_kwargs.get("device", "cpu")).startswith("cpu"):  # refuse before training any
        check(configs, max_batch=max_batch, **train_kwargs)
    chunks, histories = _batches(train, configs, executor, max_batch, train_kwargs)
    index = [None] * len(configs)
    for g, idx in enumerate(chunks):
        for r, i in enumerate(idx):
            index[i] = (g, r)
    return SweepResult(configs, histories, index)


def run_each(
    fn: Callable[..., Sequence],
    configs: Iterable[Config],
    executor: Executor | None = None,
    max_batch: int | None = None,
    **kwargs: Any,
) -> list:
    """:func:`run`'s batching and executor for another per-batch function: ``fn(batch,
    **kwargs)`` returns one result per run of the batch, e.g. :func:`imbacl.scaling.train_records`
    (a compact record per run, so that a worker does not send whole histories back). Returns the
    results in the order of ``configs``; ``fn`` must be importable by the workers."""
    configs = list(configs)
    chunks, outs = _batches(fn, configs, executor, max_batch, kwargs)
    results = [None] * len(configs)
    for idx, out in zip(chunks, outs):
        for i, value in zip(idx, out):
            results[i] = value
    return results


def _batches(fn, configs, executor, max_batch, kwargs):
    """``fn`` on every batch of :func:`_chunks`, here or on ``executor``: (chunks, outputs)."""
    chunks = list(_chunks(configs, max_batch))
    batches = [[configs[i] for i in idx] for idx in chunks]
    if executor is None:
        return chunks, [fn(b, **kwargs) for b in batches]
    futures = [executor.submit(fn, b, **kwargs) for b in batches]
    return chunks, [f.result() for f in futures]


# -- arranging and caching sweep results (chapters 6-8) ----------------------------------------
def arrange(
    points: Sequence[tuple[dict, Config | None]], values: Iterable[ArrayLike]
) -> tuple[dict, np.ndarray]:
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
                raise ValueError(
                    f"point {k * seeds + s} has {o}, expected {dict(zip(names, combo))}"
                    " (points must be in the order of imbacl.sweep.grid)"
                )
    arr = np.stack([np.asarray(v) for v in values])
    if len(arr) != len(points):
        raise ValueError(f"values has {len(arr)} entries for {len(points)} points")
    return axes, arr.reshape(*(len(v) for v in axes.values()), seeds, *arr.shape[1:])


def find(points: Sequence[tuple[dict, Config]], seed: int = 0, **overrides: Any) -> int:
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
    """A sweep cached by :func:`imbacl.io.save_final`: per run its Config, its grid overrides,
    the step of
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

    def select(self, **fields: Any) -> "FinalSweep":
        """The runs whose configs have the given field values (a list matches any of its
        values), in the file's order."""
        keep = [
            i
            for i, c in enumerate(self.configs)
            if all(
                getattr(c, k) in v if isinstance(v, list) else getattr(c, k) == v
                for k, v in fields.items()
            )
        ]
        return FinalSweep(
            *([getattr(self, a)[i] for i in keep] for a in ("configs", "overrides", "steps", "P"))
        )

    def table(
        self,
        fields: Sequence[str] = (),
        measures: dict[str, Callable[[np.ndarray, int, int], Any]] | None = None,
    ) -> "RunTable":
        """One row per cached run, labelled by its grid overrides: see :func:`run_table`."""
        return run_table(self.configs, self.overrides, self.P, fields, measures)


# -- per-run tables (chapters 6-9) ---------------------------------------------------------------
def run_table(
    configs: Sequence[Config],
    labels: Sequence[dict],
    P: Sequence[np.ndarray],
    fields: Sequence[str] = (),
    measures: dict[str, Callable[[np.ndarray, int, int], Any]] | None = None,
) -> "RunTable":
    """A :class:`RunTable` with one row per run: its ``labels`` (a dict per run, e.g. the grid
    overrides), the config ``fields`` named (e.g. ``("lam",)``), its ``seed``, every value of
    :func:`imbacl.metrics.imbalance_summary` of its final projections ``P`` (m, d1) (with the
    run's frequencies, so ``set_size_scaled`` is there) and, per entry of ``measures``
    (name -> function(P, d, n_majority)), that function's value."""
    if not len(configs) == len(labels) == len(P):
        raise ValueError(
            f"{len(configs)} configs, {len(labels)} labels and {len(P)} projections: "
            "one of each per run"
        )
    rows, names = [], dict.fromkeys(fields)
    for c, label, p in zip(configs, labels, P):
        names.update(dict.fromkeys(label))
        row = {f: getattr(c, f) for f in fields}
        row.update(label)
        row["seed"] = c.seed
        row.update(metrics.imbalance_summary(p, c.d, c.n_majority, freqs=c.freqs))
        row.update({k: f(p, c.d, c.n_majority) for k, f in (measures or {}).items()})
        rows.append({k: _scalar(v) for k, v in row.items()})
    return RunTable(rows, labels=[*names, "seed"])


def _scalar(v):
    return v.item() if isinstance(v, np.ndarray) and v.ndim == 0 or isinstance(v, np.generic) else v


def _matches(row, conds):
    for k, v in conds.items():
        if k not in row:
            raise KeyError(f"no column {k!r}; the table has {', '.join(row)}")
        if not (row[k] in v if isinstance(v, list) else row[k] == v):
            return False
    return True


class RunTable:
    """Per-run results: a list of rows (dicts with the same keys), in run order.

    A chapter filters it (:meth:`select`), reads a column of the rows left (:meth:`column`,
    :meth:`get`, :meth:`mean`), lays a column out over grid axes (:meth:`arrange`) or compares
    paired runs (:meth:`paired`); :meth:`add` adds a column measured elsewhere (e.g. a probe).
    ``labels`` names the columns that say which run a row is (grid values, seed) rather than
    what was measured."""

    def __init__(self, rows: Iterable[dict], labels: Iterable[str] = ()):
        self.rows = [dict(r) for r in rows]
        self.labels = list(labels)

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, i) -> dict:
        return self.rows[i]

    def __repr__(self):
        return f"RunTable({len(self)} rows: {', '.join(self.keys())})"

    def keys(self) -> list:
        """The column names, in the order of the first row."""
        return list(self.rows[0]) if self.rows else []

    def select(self, **conds: Any) -> "RunTable":
        """The rows whose columns equal the given values (a list matches any of its values)."""
        return RunTable([r for r in self.rows if _matches(r, conds)], self.labels)

    def column(self, key: str) -> np.ndarray:
        """The values of one column, in row order."""
        if self.rows and key not in self.rows[0]:
            raise KeyError(f"no column {key!r}; the table has {', '.join(self.keys())}")
        return np.asarray([r[key] for r in self.rows])

    def get(self, key: str, **conds: Any) -> np.ndarray:
        """``select(**conds).column(key)``: e.g. one grid point's values over its seeds."""
        return self.select(**conds).column(key)

    def mean(self, key: str, **conds: Any) -> float:
        """Mean of a column over the (selected) rows, NaNs ignored (``np.nanmean``)."""
        return float(np.nanmean(self.get(key, **conds)))

    def add(self, key: str, values: Iterable, label: bool = False) -> "RunTable":
        """Add (or replace) the column ``key``: one value per row, in row order; ``label=True``
        for a column that says which run a row is (e.g. rho from eps_min). Returns self."""
        values = list(values)
        if len(values) != len(self.rows):
            raise ValueError(f"{len(values)} values for {len(self.rows)} rows")
        for r, v in zip(self.rows, values):
            r[key] = _scalar(v)
        if label and key not in self.labels:
            self.labels.append(key)
        return self

    def arrange(self, key: str, *axes: str) -> np.ndarray:
        """The column ``key`` as an array with one axis per named column in ``axes`` (their
        values in order of appearance) and a last axis over the seeds, as
        :func:`~imbacl.sweep.arrange` does for a grid: the rows must be a full grid over
        ``axes`` in the order of :func:`~imbacl.sweep.grid`."""
        points = [({a: r[a] for a in axes}, None) for r in self.rows]
        return arrange(points, self.column(key))[1]

    def arrays(self, *axes: str) -> dict:
        """:meth:`arrange` of every numeric measured column (every column but the labels)."""
        return {
            k: self.arrange(k, *axes)
            for k in self.keys()
            if k not in self.labels and k not in axes and self.column(k).dtype.kind in "biuf"
        }

    def paired(self, key: str, control: dict, **conds: Any) -> np.ndarray:
        """Paired differences of column ``key``: each row matching ``conds`` minus the row with
        the same seed matching ``conds`` updated by ``control`` (e.g. ``{"arm": "baseline"}``),
        in the order of the treated rows."""
        treated = self.select(**conds)
        ref = {r["seed"]: r[key] for r in self.select(**{**conds, **control})}
        missing = [r["seed"] for r in treated if r["seed"] not in ref]
        if missing or not len(treated):
            raise ValueError(
                f"no control run for seeds {missing} of {conds}"
                if missing
                else f"no row matches {conds}"
            )
        return np.asarray([r[key] - ref[r["seed"]] for r in treated])
