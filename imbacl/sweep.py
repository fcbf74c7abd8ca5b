"""Sweeps: many configs, grouped by tensor shape and trained as few batches as possible.

Runs of one shape group share a batch; a group can be split into chunks of ``max_batch`` runs
and the chunks spread over any ``concurrent.futures.Executor`` (threads, processes, or a Dask
``distributed`` client's executor). Splitting never changes a number: a run's result does not
depend on the batch it is trained in.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

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


def _train_quiet(configs, kwargs):
    return train(configs, **kwargs)


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
    """
    configs = [c for _, c in configs] if configs and isinstance(configs[0], tuple) else list(configs)
    chunks = list(_chunks(configs, max_batch))
    batches = [[configs[i] for i in idx] for idx in chunks]
    if executor is None:
        histories = [train(b, **train_kwargs) for b in batches]
    else:
        futures = [executor.submit(_train_quiet, b, train_kwargs) for b in batches]
        histories = [f.result() for f in futures]
    index = [None] * len(configs)
    for g, idx in enumerate(chunks):
        for r, i in enumerate(idx):
            index[i] = (g, r)
    return SweepResult(configs, histories, index)
