"""Remedy arms (chapter 9): a remedy's runs measured beside the untreated runs with the same
seeds, and the regimes they are compared in.

An *arm* is a set of overrides of a base config (``{"prune_frac": 0.3, "prune_grad":
"blocked"}``); its runs are paired by seed with the base's own runs (the *baseline*), which
see the same initialisation and the same data stream, so a paired difference isolates what the
remedy does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np
import torch
from numpy.typing import ArrayLike

from . import metrics
from .config import Config, preset
from .io import _save, load_final
from .probe import probe_final
from .model import prune_mask
from .sweep import FinalSweep, RunTable, final_projections, grid, run, run_table
from .train import initial_projections

if TYPE_CHECKING:
    import os

# The three regimes of chapter 9, at rho = eps_min / eps_max in RHOS.
# [choice] "theory": every feature grows in Stage 1 (the regime chapter); "figure1": weight
# decay deletes the minority features from step 0 (the contrast); "boundary": the theory sizes
# (d1 = 8d) with lam just above the final-state boundary lam_T(eps_min) measured on the theory
# row of the regularisation chapter (results/lam_theory_row.npz), where a small push decides
# whether a minority feature is learned. BOUNDARY_LAM holds that lam per eps_min: the grid lam
# just above the measured lam_T (the chapter prints lam / lam_T for each).
RHOS = (0.2, 0.3, 0.5)
BOUNDARY_LAM = {0.02: 0.006, 0.03: 0.010, 0.05: 0.022}
REGIMES = ("theory", "boundary", "figure1")

# The cached arms. [choice] 16 seeds per arm, paired with 16 untreated runs; pruning at
# alpha = 0.1, 0.3, 0.6 with both gradient rules from step 0, and from PRUNE_START (the end of
# Stage 1: T1_hat of the theory runs is 98 +- 15 steps, chapter 5) at alpha = 0.3, rho = 0.3 in
# the two regimes at theory sizes; the other remedies at the chapter's earlier settings.
SEEDS = 16
PRUNE_FRACS = (0.1, 0.3, 0.6)
PRUNE_START = 100
# The config fields a remedy sets: the one list (an arm is a set of overrides of these; the
# focal exponent reweight_gamma is a setting of reweight="focal", not an arm of its own).
REMEDY_FIELDS = ("prune_frac", "prune_grad", "prune_start", "reweight", "resample", "tau")
OTHER_ARMS = {
    "reweight": ({}, {"reweight": ["known", "focal"]}),
    "resample": ({"resample": 4.0}, {}),
    "tau": ({"tau": 2.0}, {}),
}


def regime_config(regime: str, rho: float) -> Config:
    """The base config of ``regime`` at ratio ``rho`` (eps_max of the preset, eps_min = rho
    eps_max)."""
    if regime not in REGIMES:
        raise ValueError(f"regime={regime!r} is invalid: must be one of {', '.join(REGIMES)}")
    base = preset("figure1" if regime == "figure1" else "theory")
    eps_min = round(rho * base.eps_max, 6)
    if regime != "boundary":
        return base.replace(eps_min=eps_min)
    if eps_min not in BOUNDARY_LAM:
        raise ValueError(
            f"rho={rho!r} is invalid for the boundary regime: eps_min = "
            f"{eps_min} has no boundary lam (known: {sorted(BOUNDARY_LAM)})"
        )
    return base.replace(eps_min=eps_min, lam=BOUNDARY_LAM[eps_min])


def arm_name(config: Config) -> str:
    """The arm a run belongs to, from its remedy fields: "baseline" for the paper's plain
    training, else e.g. "prune 0.3 blocked", "prune 0.3 ST from 100" (ST: straight-through),
    "reweight known", "resample x4", "tau 2"."""
    plain, parts = Config(), []
    if config.prune_frac > 0:
        rule = "ST" if config.prune_grad == "straight_through" else "blocked"
        start = f" from {config.prune_start}" if config.prune_start else ""
        parts.append(f"prune {config.prune_frac:g} {rule}{start}")
    if config.reweight != "none":
        parts.append(f"reweight {config.reweight}")
    if config.resample != plain.resample:
        parts.append(f"resample x{config.resample:g}")
    if config.tau != plain.tau:
        parts.append(f"tau {config.tau:g}")
    return ", ".join(parts) or "baseline"


def gains(table: RunTable, key: str, arms: Iterable[str], **conds: Any) -> np.ndarray:
    """Paired gains of column ``key``, shape (len(arms), seeds): each arm's run minus the
    baseline run with the same seed, within the rows matching ``conds`` (e.g. regime, rho)."""
    return np.stack([table.paired(key, {"arm": "baseline"}, arm=a, **conds) for a in arms])


def kept_neurons(P: ArrayLike, prune_frac: float) -> np.ndarray:
    """Boolean (..., m): the neurons the final forward pass keeps (:func:`imbacl.model.prune_mask`
    of the final weights; ||w_i|| = ||P_i|| since M is a rotation). All True without pruning."""
    P = torch.as_tensor(np.asarray(P, dtype=np.float64))
    return (
        prune_mask(P.reshape(-1, *P.shape[-2:]), torch.tensor([prune_frac]))
        .reshape(P.shape[:-1])
        .bool()
        .numpy()
    )


def pruning_measures(config: Config, P: ArrayLike) -> dict:
    """Per-run measures of what pruning should change, from the final projections P (m, d1)
    and the run's own initialisation:

    - ``aligned_min``: neurons aligned with each minority feature at the end (cos^2 >= 1/2,
      :func:`imbacl.metrics.aligned_neurons`) among the neurons the final forward pass keeps
      [choice: a pruned neuron represents nothing], averaged over the minority features;
      ``aligned_min_all``: the same over every neuron, pruned ones included;
    - ``lucky0_min``: neurons lucky at initialisation (:func:`imbacl.metrics.lucky_at_init`)
      per minority feature, and ``lucky_aligned_min``: how many of them end aligned with that
      same feature and kept (the ICLR claim is about the aligned count; this one says whether
      pruning works through the head start at initialisation)."""
    P = np.asarray(P, dtype=np.float64)
    d, mino = config.d, slice(config.n_majority, config.d)
    keep = kept_neurons(P, config.prune_frac)[:, None]  # (m, 1)
    aligned_all = metrics.aligned_neurons(P, d)  # (m, d)
    aligned = aligned_all & keep
    lucky = metrics.lucky_at_init(initial_projections(config), d, config.freqs, config.init_std)
    return {
        "aligned_min": aligned[:, mino].sum(0).mean(),
        "aligned_min_all": aligned_all[:, mino].sum(0).mean(),
        "lucky0_min": lucky[:, mino].sum(0).mean(),
        "lucky_aligned_min": (lucky & aligned)[:, mino].sum(0).mean(),
    }


def arm_table(
    final: FinalSweep, labels: dict | None = None, probes: dict | None = None
) -> RunTable:
    """One row per run of ``final`` (e.g. a cached sweep over remedy fields, or
    :func:`paired_arm`'s runs): its grid overrides, ``labels`` added to every row (e.g.
    ``{"regime": "theory"}``), the remedy fields, ``rho``, its ``arm`` (:func:`arm_name`), the
    imbalance summary of :func:`imbacl.sweep.run_table` over the neurons the final forward pass
    keeps, :func:`pruning_measures` and, from
    ``probes`` (:func:`load_probes`), ``probe_maj`` / ``probe_min``: the mean balanced accuracy
    over the majority / minority features (NaN where the run was not probed)."""
    extra = labels or {}
    # [choice] the summary reads the neurons the final forward pass keeps (all without pruning)
    kept = [p[kept_neurons(p, c.prune_frac)] for c, p in zip(final.configs, final.P)]
    t = run_table(
        final.configs, [{**extra, **o} for o in final.overrides], kept, fields=REMEDY_FIELDS
    )
    t.add("rho", [round(c.rho, 6) for c in final.configs], label=True)
    t.add("arm", [arm_name(c) for c in final.configs], label=True)
    per_run = [pruning_measures(c, p) for c, p in zip(final.configs, final.P)]
    for key in per_run[0] if per_run else ():
        t.add(key, np.array([r[key] for r in per_run]))
    for key, values in probe_columns(final.configs, probes).items():
        t.add(key, values)
    return t


def probe_columns(configs: Sequence[Config], probes: dict | None) -> dict:
    """``probe_maj`` / ``probe_min`` per run of ``configs``: the mean balanced probe accuracy
    over its majority / minority features, from ``probes`` (:func:`load_probes`); NaN where a
    run was not probed."""
    acc = [(probes or {}).get(c) for c in configs]
    return {
        "probe_maj": [
            np.nan if a is None else float(np.mean(a[: c.n_majority])) for a, c in zip(acc, configs)
        ],
        "probe_min": [
            np.nan if a is None else float(np.mean(a[c.n_majority :])) for a, c in zip(acc, configs)
        ],
    }


def paired_arm(base: Config, arm: dict, seeds: int, **train_kwargs: Any) -> RunTable:
    """Train ``arm`` (overrides of ``base``) and the untreated ``base`` for seeds 0..seeds-1
    and return their :func:`arm_table`: ``gains(table, key, [arm_name(base.replace(**arm))])``
    is the per-seed gain."""
    points = grid(base, seeds) + grid(base.replace(**arm), seeds)
    res = run(points, n_snapshots=2, **train_kwargs)
    final = FinalSweep(
        res.configs, [o for o, _ in points], [c.steps for _, c in points], final_projections(res)
    )
    return arm_table(final)


def cached_run(paths: Sequence[str | os.PathLike], config: Config) -> np.ndarray:
    """The cached final projections (m, d1) of ``config``'s run, from the first file of
    ``paths`` that holds it."""
    for path in paths:
        final = load_final(path)
        if config in final.configs:
            return final.P[final.configs.index(config)]
    raise KeyError(f"no cached run of {arm_name(config)}, seed {config.seed}, in {list(paths)}")


def load_arms(paths: dict, probes: dict | None = None) -> RunTable:
    """The cached sweeps ``paths`` (regime -> list of .npz files written by ``imbacl sweep
    --save``) as one :func:`arm_table` (with ``probes``), each row labelled with its
    ``regime``."""
    tables = [
        arm_table(load_final(path), {"regime": regime}, probes)
        for regime, files in paths.items()
        for path in files
    ]
    labels = list(dict.fromkeys(k for t in tables for k in t.labels))
    return RunTable([r for t in tables for r in t.rows], labels=labels)


def cache_plan() -> list:
    """Every cached sweep of chapter 9 as (path, base config, grid axes, preset name), in the
    order ``scripts/remedy_sweeps.py`` trains them; ``imbacl.cli.sweep_command`` turns each into
    the command that writes it."""
    both = ["straight_through", "blocked"]
    arms = {
        "base": ({}, {}),
        "prune": ({}, {"prune_frac": list(PRUNE_FRACS), "prune_grad": both}),
        **OTHER_ARMS,
    }
    late = ({"prune_start": PRUNE_START}, {"prune_frac": [0.3], "prune_grad": both})
    plan = []
    for regime in REGIMES:
        name = "figure1" if regime == "figure1" else "theory"
        eps = [round(r * preset(name).eps_max, 6) for r in RHOS]
        # the boundary's lam depends on eps_min: one file per eps_min there
        groups = (
            [
                (f"{regime}_eps{e}", regime_config(regime, e / preset(name).eps_max), [e])
                for e in eps
            ]
            if regime == "boundary"
            else [(regime, preset(name), eps)]
        )
        for tag, base, group_eps in groups:
            here = dict(arms)
            if regime != "figure1" and 0.03 in group_eps:
                here["prune_late"] = late
            for arm, (over, arm_axes) in here.items():
                e = [0.03] if arm == "prune_late" else group_eps
                axes = {**arm_axes, **({"eps_min": e} if regime != "boundary" else {})}
                plan.append((f"results/remedies/{tag}_{arm}.npz", base.replace(**over), axes, name))
    return plan


# -- the downstream probe of the cached arms (costly: cached too) ------------------------------
# [choice] probed: the arms below at rho = PROBE_RHO (the presets' own ratio), every regime and
# seed; 1000 training and 1000 test sequences per probe, as in the old chapter.
PROBE_RHO = 0.3
PROBE_ARMS = (
    {"prune_frac": 0.0},
    {"prune_frac": 0.3, "prune_grad": "straight_through"},
    {"prune_frac": 0.3, "prune_grad": "blocked", "prune_start": 0},
    {"reweight": "known"},
    {"resample": 4.0},
    {"tau": 2.0},
)
PROBE_N = 1000
PROBE_FILE = "results/remedies/probes.npz"
# The width-limited regime (chapter 9: theory with few neurons; the sweep is the command the
# chapter prints) and the probes of all its runs.
WIDTH_LIMITED = "results/width_limited.npz"
WIDTH_PROBES = "results/width_limited_probes.npz"


def to_probe(final: FinalSweep) -> list:
    """Indices of the runs of ``final`` that the probe cache covers: rho = PROBE_RHO and the
    remedy fields of one of PROBE_ARMS (the others at their defaults)."""
    plain = Config()
    wanted = [{f: getattr(plain, f) for f in REMEDY_FIELDS} | arm for arm in PROBE_ARMS]
    return [
        i
        for i, c in enumerate(final.configs)
        if round(c.rho, 6) == PROBE_RHO
        and any(all(getattr(c, f) == v for f, v in w.items()) for w in wanted)
    ]


def probe_runs(configs: Iterable[Config], P: Iterable[np.ndarray], workers: int = 1) -> np.ndarray:
    """Balanced probe accuracy per feature (runs, d) of cached runs (their final projections),
    :func:`imbacl.probe.probe_final` with PROBE_N sequences, over ``workers`` processes."""
    jobs = list(zip(configs, P))
    if workers <= 1:
        return np.array([_probe_one(job) for job in jobs])
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers) as pool:
        return np.array(list(pool.map(_probe_one, jobs)))


def _probe_one(job):
    return probe_final(job[0], job[1], PROBE_N, PROBE_N)


def save_probes(path: str | os.PathLike, configs: Iterable[Config], acc: ArrayLike) -> None:
    """Probe accuracies (runs, d) with the configs they belong to (JSON per run)."""
    import json

    _save(
        path,
        "record",
        acc=np.asarray(acc, dtype=np.float64),
        configs=np.array([json.dumps(c.to_dict()) for c in configs]),
    )


def load_probes(path: str | os.PathLike) -> dict:
    """Config -> probe accuracies (d,), from :func:`save_probes`."""
    import json

    with np.load(path) as z:
        return {Config(**json.loads(s)): a for s, a in zip(z["configs"], z["acc"])}
