"""Scaling in d (the scaling chapter): the theory's sizes carried from d = 9 to larger d, the
cached sweeps that train them, and the compact record each run leaves.

How every parameter moves with d is decided once, in :func:`config` (on
:func:`imbacl.theory.scale_to_d`, the book's one rule for carrying a size); the chapter prints it.
At these sizes a run's full history is too large to commit (at d = 64, one snapshot of P is
625 x 512 numbers), so each run is cached as a :func:`record`: the time series the stage
measurements need at <= 20 snapshots, and its final projections onto the features.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from . import metrics, theory
from .config import Config, density_matched, preset
from .io import load_record, save_record
from .report import Bound, Curve, Regimes, Trend, bootstrap, paired
from .report import trend as report_trend
from .sweep import RunTable, run_each
from .train import initial_projections, train

if TYPE_CHECKING:
    from .history import History

D_REF = 9  # the book's size: the theory preset is set at d = 9
DS = (8, 9, 12, 16, 24, 32, 64, 128)  # eps fixed
DS_EPSD = (8, 9, 12, 16, 24, 32)  # eps * d fixed, every rho
# [choice] eps d fixed at d = 64 only at rho = 0.3, SEEDS_LARGE seeds: its runs need 26,300 steps
# (T2 grows as 1/eps_max); the other rho would add about half an hour each here.
RHOS_AT_EPSD = {64: (0.3,)}
RHOS = (0.2, 0.3, 0.5, 1.0)
# [choice] d = 128 only at rho = 0.3 (the rows most claims are read at): the chapter prints what
# its 5 runs took on two cores and what the other three rho would add (hours).
RHOS_AT = {128: (0.3,)}
SCALINGS = ("eps", "eps_d")
# The density-matched arm of the ratio (the ratio chapter's second way of lowering rho,
# :data:`imbacl.config.RHO_ARMS`) on the eps d fixed sizes: the frequencies of each rho < 1
# rescaled to the density of rho = 1 (whose runs it shares with "eps_d"); lam and steps as there.
MATCHED = "eps_d_matched"
# Pruning across d (the remedies chapter's ICLR remedy on the eps d fixed sizes): the fraction
# PRUNE_ALPHA of smallest-norm neurons masked from step 0, one file kind per gradient rule, at
# PRUNE_RHOS (0.9: where m d^(-rho^-2) neurons lucky at initialisation exist at every d); the
# untreated runs they pair with by seed are the "eps_d" files, and the untreated rho = 0.9
# runs, which those files do not hold, are the kind "eps_d_more" (labelled "eps_d").
PRUNE_ALPHA = 0.3
PRUNE_RHOS = (0.3, 0.5, 0.9)
PRUNED = {"eps_d_prune_st": "straight_through", "eps_d_prune_blocked": "blocked"}
MORE = "eps_d_more"
# The same pruning at the smaller fraction PRUNE_ALPHA_LOW (eps d fixed), and at PRUNE_ALPHA on
# the eps fixed sizes d <= 32 at rho 0.3 and 0.5 [choice] (the untreated "eps" files hold no
# rho = 0.9): every pruned kind as {name: (scaling of its untreated twin, alpha, gradient)}.
PRUNE_ALPHA_LOW = 0.1
PRUNE_KINDS = {
    **{k: ("eps_d", PRUNE_ALPHA, g) for k, g in PRUNED.items()},
    "eps_d_prune_low_st": ("eps_d", PRUNE_ALPHA_LOW, "straight_through"),
    "eps_d_prune_low_blocked": ("eps_d", PRUNE_ALPHA_LOW, "blocked"),
    "eps_prune_st": ("eps", PRUNE_ALPHA, "straight_through"),
    "eps_prune_blocked": ("eps", PRUNE_ALPHA, "blocked"),
}
# [choice] d1 = 8d, the theory preset's width of the token space (it halves the mask offset of
# figure1's 4d, so every feature grows in Stage 1); d1 = 4d only as the contrast, at rho = 0.3,
# eps fixed, d <= 32.
C_WIDTH = 8
C_CONTRAST = 4
CONTRAST_RHO = 0.3
# [choice] seeds: 8 per cell (paired comparisons need 8), 5 at d >= 64 (two minutes per run at
# d = 64, eight at d = 128).
SEEDS = 8
SEEDS_LARGE = 5
# [choice] a run stops at STAGE_MULT times the Stage-2 end predicted for its size (below), not
# at a fixed large T: the chapter checks that every measured T2_hat is well before it.
STAGE_MULT = 5
MIN_STEPS = 500
# [choice] ... and at least to the end of the final window T4 = d^1.99 / eta up to d = 64 (at
# eps fixed, d = 64, 7,900 steps instead of 6,500): the final-window claims need runs that reach
# it. At d = 128 that would be 31,300 steps (twice the runs' length now, so about twice the
# file's time, which the chapter prints): d = 128 stops at STAGE_MULT T2 and the coverage rule
# (:func:`series`) drops it from the final-window claims.
REACH_T4_UPTO = 64
# The stage ends measured at the theory preset (d = 9, 8 seeds; chapter "Stage 2"): T1_hat = 88
# and T2_hat - T1_hat = 46 steps. They set only how long runs are and where snapshots go;
# every d is then measured, not predicted.
REF_T1, REF_DT2 = 88.0, 46.0
MAX_SNAPSHOTS = 20
CACHE_DIR = "results/scaling"
FLOOR_SAMPLES = 16384  # [choice] sequences per loss floor (stderr about 0.01 nats)


# -- the parameters as functions of d --------------------------------------------------------
def config(d: int, rho: float, scaling: str = "eps", c: int = C_WIDTH, seed: int = 0) -> Config:
    """The theory preset carried from d = 9 to ``d`` (every [choice] of the chapter):

    - m = round(d^C_m), C_m = log 30 / log 9 = 1.548 (Figure 1's m at d = 9);
    - d1 = c d; n_majority = round(5 d / 9); L, K, sigma, sigma_0, c_b, eta as at d = 9;
    - tau = 5 log d / log 9: the polylog(d) the theorems ask for, of degree one, 5 at d = 9;
    - frequencies: ``scaling="eps"`` keeps eps_max = 0.1; ``"eps_d"`` keeps eps_max d = 0.9
      (a fixed expected number of active features per token); eps_min = rho eps_max;
      ``MATCHED`` is "eps_d" with both rescaled to the density of rho = 1 (``eps_sum``);
    - lam a fixed share of the Stage-1 threshold of the majority frequency,
      lam_T(eps_max, d) = eps_max loglog d / d: the preset's 0.001 at d = 9 (3 digits);
    - steps: STAGE_MULT times the predicted Stage-2 end (:func:`predicted_ends`), and at
      least T4 up to d = REACH_T4_UPTO, rounded up to 100.
    """
    if scaling == MATCHED:
        return density_matched(config(d, rho, "eps_d", c, seed))
    if scaling in PRUNE_KINDS:
        twin, alpha, grad = PRUNE_KINDS[scaling]
        return config(d, rho, twin, c, seed).replace(prune_frac=alpha, prune_grad=grad)
    if scaling == MORE:
        return config(d, rho, "eps_d", c, seed)
    if scaling not in SCALINGS:
        raise ValueError(
            f"scaling={scaling!r} is invalid: must be one of "
            f"{', '.join(SCALINGS + (MATCHED, MORE, *PRUNE_KINDS))}"
        )
    if d < 3:
        raise ValueError(f"d={d} is invalid: the scalings need d >= 3 (loglog d > 0)")
    base = preset("theory").replace(d1=c * D_REF)
    eps_max = base.eps_max if scaling == "eps" else float(f"{base.eps_max * D_REF / d:.4g}")
    cfg = theory.scale_to_d(base, d, D_REF, eps_max=eps_max, rho=rho, scale_tau=True)
    cfg = cfg.replace(seed=seed)
    T2 = predicted_ends(cfg)[1]
    steps = max(MIN_STEPS, int(round(STAGE_MULT * T2 / 100)) * 100)
    if d <= REACH_T4_UPTO:
        steps = max(steps, math.ceil(theory.T4(d, cfg.lr) / 100) * 100)
    return cfg.replace(steps=steps)


def predicted_ends(cfg: Config) -> tuple:
    """(T1, T2) for ``cfg``: the ends measured at d = 9 (REF_T1, REF_DT2) carried along the
    theory's forms, T1 ~ d1 log d / (eta loglog d) and T2 - T1 ~ d tau log d /
    (eps_max eta loglog d) (:func:`imbacl.theory.T1`, :func:`imbacl.theory.T2`)."""
    ref = preset("theory")
    t1 = theory.T1(cfg.d, cfg.d1, cfg.lr) / theory.T1(D_REF, ref.d1, ref.lr)
    dt = (
        theory.T2(cfg.d, cfg.d1, cfg.lr, cfg.tau, cfg.eps_max) - theory.T1(cfg.d, cfg.d1, cfg.lr)
    ) / (theory.T2(D_REF, ref.d1, ref.lr, ref.tau, ref.eps_max) - theory.T1(D_REF, ref.d1, ref.lr))
    return float(REF_T1 * t1), float(REF_T1 * t1 + REF_DT2 * dt)


def window_step(cfg: Config) -> int:
    """The step at which Stage-3 states are read: the end of the theorem's final window,
    T4 = d^1.99 / eta (:func:`imbacl.theory.T4`), or the run's last step if that comes first.
    Stage 3's statements hold on [T3, T4]; at small d, T4 falls before a run ends."""
    return int(min(math.floor(theory.T4(cfg.d, cfg.lr)), cfg.steps))


def record_steps(cfg: Config) -> np.ndarray:
    """The <= 20 snapshot steps of a run: 0; six log-spaced in the first half of the predicted
    Stage 1 (the growth rates); nine log-spaced from 0.5 T1 to 3 T2 (the stage ends); three
    log-spaced to the last step; and :func:`window_step`."""
    T1, T2 = predicted_ends(cfg)
    early = T1 * np.array([1 / 32, 1 / 16, 1 / 8, 1 / 4, 3 / 8, 1 / 2])
    middle = np.geomspace(0.5 * T1, 3 * T2, 10)[1:]
    late = np.geomspace(3 * T2, cfg.steps, 4)[1:]
    steps = np.concatenate([[0], early, middle, late, [window_step(cfg)]])
    steps = np.unique(np.round(steps).astype(int))
    steps = steps[steps <= cfg.steps]
    assert len(steps) <= MAX_SNAPSHOTS, len(steps)
    return steps


# [choice] The Stage-1 rate is fitted on the dense points up to GROWTH_SHARE of the run's own
# measured T1_hat, the same share at every d (the growth is exponential there, before the
# neurons' norms feed back), and only where at least MIN_FIT_POINTS points fall in it.
GROWTH_SHARE = 0.3
MIN_FIT_POINTS = 5


def track_plan(cfg: Config) -> tuple[int, int]:
    """(every, until) of a run's dense early points (``train(track_every, track_until)``)
    [choice]: about 200 points per predicted T1, so that GROWTH_SHARE of a measured T1_hat holds
    >= MIN_FIT_POINTS points even where T1_hat comes at a fifth of its prediction (d = 128,
    eps fixed); up to four times the predicted T1, so that the window is covered where T1_hat
    comes nine times later than predicted (d = 64, eps d fixed). The points a fit uses do not
    depend on ``until`` once it covers the window (files written with twice T1 hold the same)."""
    t1 = predicted_ends(cfg)[0]
    return max(1, int(t1 // 200)), int(min(cfg.steps, round(4 * t1)))


# -- the cache plan ------------------------------------------------------------------------------
def cells(extra_sizes: Iterable[int] = ()) -> list[tuple[str, list[Config]]]:
    """Every cached file as (name, list of Configs): one per (scaling, c, d), all rho and seeds
    (the runs of a file share one shape, so they train as one batch per worker).
    ``extra_sizes``: larger d beyond the chapter's grid (eps fixed, d1 = 8d, SEEDS_LARGE seeds),
    e.g. (256,) on a machine with a GPU (``scaling_sweeps.py --size 256 --device cuda``)."""
    out = []
    groups = [("eps", C_WIDTH, d, RHOS_AT.get(d, RHOS)) for d in DS]
    groups += [("eps_d", C_WIDTH, d, RHOS) for d in DS_EPSD]
    groups += [("eps_d", C_WIDTH, d, r) for d, r in RHOS_AT_EPSD.items()]
    groups += [(MATCHED, C_WIDTH, d, tuple(r for r in RHOS if r < 1)) for d in DS_EPSD]
    groups += [(k, C_WIDTH, d, PRUNE_RHOS) for k in PRUNED for d in DS_EPSD if d != D_REF]
    groups += [
        (k, C_WIDTH, d, PRUNE_RHOS if twin == "eps_d" else PRUNE_RHOS[:2])
        for k, (twin, alpha, _) in PRUNE_KINDS.items()
        if k not in PRUNED
        for d in (DS_EPSD if twin == "eps_d" else DS[: DS.index(32) + 1])
        if d != D_REF
    ]
    groups += [(MORE, C_WIDTH, d, (0.9,)) for d in DS_EPSD if d != D_REF]
    groups += [("eps", C_CONTRAST, d, (CONTRAST_RHO,)) for d in DS if d <= 32]
    groups += [("eps", C_WIDTH, d, RHOS) for d in extra_sizes]
    for scaling, c, d, rhos in groups:
        seeds = SEEDS_LARGE if d >= 64 else SEEDS
        configs = [config(d, rho, scaling, c, s) for rho in rhos for s in range(seeds)]
        out.append((f"{scaling}_c{c}_d{d}", configs))
    return out


def path(name: str) -> str:
    return os.path.join(CACHE_DIR, f"{name}.npz")


def command(name: str, device: str = "cpu") -> str:
    """The command that (re)writes the cache file ``name`` (a size beyond the chapter's grid is
    named with ``--size``, a device other than the CPU with ``--device``)."""
    d = int(name.rsplit("_d", 1)[1])
    size = f" --size {d}" if name.startswith("eps_c") and d not in DS else ""
    dev = "" if device == "cpu" else f" --device {device}"
    return f"python scripts/scaling_sweeps.py{size}{dev} --only {name}"


# -- one run's record ---------------------------------------------------------------------------
def record(history: History, r: int) -> dict:
    """What the cache keeps of run r of ``history`` (recorded at :func:`record_steps`):

    ``steps`` (S,); ``colnorm`` (S, d): ``||W M_j||`` per feature; ``noise_colnorm`` (S,): its
    median over the non-feature directions; ``phi`` (S,): median feature energy; ``top`` (S,):
    median top cos^2 (the T1_hat and median-neuron T2_hat curves); ``best`` (S, d): per feature
    the largest cos^2 of any neuron (when its best neuron aligns); ``loss`` (): mean over the
    last 10% of steps; ``loss_window`` (): mean over the theorem's final window [T3, T4]
    (files written before it was added lack it: NaN in :func:`table`); ``P`` and ``P_window``
    (m, d + 1): projections on the features at the last step and at :func:`window_step`, plus
    one column holding the rest of each neuron's norm (every feature-side measure, cos^2 and
    ``|N_i|`` included, is exact on it); ``sep`` and
    ``sep_window`` (d,): :func:`imbacl.metrics.noise_separation` of the full P at those steps;
    ``aligned`` (S, d): per feature the number of neurons with cos^2 >= 1/2 (the aligned count
    at every snapshot, so it can be read at a measured stage end); ``excess`` (S, S): at [a, b]
    the largest rise of a non-feature component from snapshot a to b over ``||w_i||`` at b,
    max over neurons (:func:`imbacl.metrics.perp_excess`; eqs. (5) and (7) between any two
    stage ends); ``beta`` (S,): the 95th percentile over neurons and non-feature directions of
    ``|beta_ij| sqrt(d1) / ||w_i||`` (eq. (9); about 1.96 for random weights); with dense early
    points (:func:`track_plan`), ``dense_steps`` (S',), ``dense_colnorm`` (S', d) and
    ``dense_phi`` (S',), the median feature energy, at those steps (a file keeps them up to its
    fit window, :func:`dense_kept`). Files written before these were added lack them (NaN in
    :func:`table`)."""
    c = history.configs[r]
    P = np.asarray(history.P[r], dtype=np.float64)  # (S, m, d1)
    norms = metrics.feature_norms(P)  # (S, d1)
    cos2 = metrics.cos2(P, c.d)
    w = int(np.flatnonzero(np.asarray(history.steps) == window_step(c))[0])
    tail = max(1, c.steps // 10)
    return {
        "steps": np.asarray(history.steps),
        "colnorm": norms[:, : c.d],
        "noise_colnorm": np.median(norms[:, c.d :], axis=-1),
        "phi": np.median(metrics.feature_energy(P, c.d), axis=-1),
        "top": np.median(cos2.max(-1), axis=-1),
        "best": cos2.max(-2),
        "loss": np.asarray(history.loss[r, -tail:].mean(), dtype=np.float64),
        # eq. (8)'s own window: the running mean of L over [T3, T4] (T4: window_step)
        "loss_window": np.asarray(
            history.loss[r, math.ceil(theory.T3(c.d, c.lr)) : window_step(c) + 1].mean(),
            dtype=np.float64,
        ),
        "P": compact(P[-1], c.d),
        "P_window": compact(P[w], c.d),
        "sep": metrics.noise_separation(P[-1], c.d),
        "sep_window": metrics.noise_separation(P[w], c.d),
        "aligned": metrics.aligned_neurons(P, c.d).sum(-2).astype(np.int16),
        "excess": np.array(
            [[metrics.perp_excess(a, b, c.d).max() for b in P] for a in P], dtype=np.float32
        ),
        **(
            {
                "dense_steps": np.asarray(history.track["steps"]),
                "dense_colnorm": history.track["colnorm"][r, :, : c.d].astype(np.float32),
                "dense_phi": np.median(history.track["energy"][r], axis=-1).astype(np.float32),
            }
            if history.track
            else {}
        ),
        "beta": np.percentile(
            np.abs(P[..., c.d :]) * math.sqrt(c.d1) / np.sqrt((P**2).sum(-1, keepdims=True)),
            95,
            axis=(-2, -1),
        ),
    }


def compact(P: np.ndarray, d: int) -> np.ndarray:
    """Projections P (m, d1) as (m, d + 1) float32: the d feature columns, then the rest of
    each neuron's norm, ``sqrt(||w_i||^2 - sum_{j<=d} P_ij^2)``."""
    rest = np.sqrt(np.maximum((P**2).sum(-1) - (P[:, :d] ** 2).sum(-1), 0))
    return np.concatenate([P[:, :d], rest[:, None]], axis=1).astype(np.float32)


def train_records(configs: Sequence[Config], threads: int = 1, device: str = "cpu") -> list[dict]:
    """Train ``configs`` (one shape) as one batch and return one :func:`record` per run."""
    every, until = track_plan(configs[0])
    h = train(
        configs,
        record_at=record_steps(configs[0]),
        threads=threads,
        device=device,
        track_every=every,
        track_until=until,
    )
    return [record(h, r) for r in range(len(configs))]


def run_cell(name: str, configs: Sequence[Config], workers: int = 2, device: str = "cpu") -> dict:
    """Train one cache file's runs through :func:`imbacl.sweep.run_each`: ``workers`` spawned
    processes of one thread, each a batch of its share of the runs (a run's numbers do not depend
    on its batch); on a GPU (``device="cuda"``), or with one worker, one batch in this process.
    Returns the file's arrays."""
    start = time.time()
    if device != "cpu" or workers == 1:
        recs = train_records(configs, device=device)
    else:
        from concurrent.futures import ProcessPoolExecutor
        import multiprocessing as mp

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as ex:
            recs = run_each(
                train_records, configs, executor=ex, max_batch=-(-len(configs) // workers)
            )
    return {
        "configs": configs,
        "records": recs,
        "seconds": time.time() - start,
        "command": command(name, device),
    }


# Record entries that equal another where the final window outlasts the run (window_step is
# the last step): not stored twice, restored by :func:`load_cell`.
_SAME_AT_END = {"P_window": "P", "sep_window": "sep"}
_DENSE = ("dense_steps", "dense_colnorm", "dense_phi")


def dense_kept(steps: np.ndarray, phi: np.ndarray, dense_steps: np.ndarray) -> int:
    """How many dense points (from the first) a file keeps: those up to the latest
    GROWTH_SHARE T1_hat of its runs, the only ones :func:`growth_rates` reads (all of them where a
    run has no T1_hat). steps, phi: (R, S) snapshots; dense_steps: (R, S')."""
    T1 = np.array([measured_T1(s, f) for s, f in zip(steps, phi)])
    if not np.isfinite(T1).all():
        return dense_steps.shape[1]
    return int((dense_steps <= GROWTH_SHARE * T1.max()).all(0).sum())


def save_cell(file: str | os.PathLike, cell: dict) -> None:
    """Write one cache file: ``cell`` as :func:`run_cell` returns it (configs, records, seconds,
    command); read it back with :func:`load_cell`."""
    arrays = {k: np.stack([r[k] for r in cell["records"]]) for k in cell["records"][0]}
    if window_step(cell["configs"][0]) == cell["configs"][0].steps:
        for k in _SAME_AT_END:
            arrays.pop(k)
    if "dense_steps" in arrays:  # the fit window only: growth_rates reads nothing later
        keep = dense_kept(arrays["steps"], arrays["phi"], arrays["dense_steps"])
        arrays.update({k: arrays[k][:, :keep] for k in _DENSE})
    save_record(
        file,
        cell["configs"],
        threads=1,
        seconds=np.asarray(cell["seconds"]),
        command=np.asarray(cell["command"]),
        **arrays,
    )


def load_cell(file: str | os.PathLike) -> dict:
    """A file written by :func:`imbacl.scaling.save_cell`, every record entry present."""
    f = load_record(file)
    for k, same in _SAME_AT_END.items():
        f.setdefault(k, f[same])
    return f


def load(names: Collection[str] | None = None, root: str = ".") -> dict:
    """The cached files (all of :func:`cells`' names, or ``names``) as {name: dict of arrays
    with ``configs``}; a file not yet written is left out."""
    out = {}
    for name, _ in cells():
        f = os.path.join(root, path(name))
        if (names is None or name in names) and os.path.exists(f):
            out[name] = load_cell(f)
    return out


def floors(configs: Iterable[Config], n_samples: int = FLOOR_SAMPLES) -> np.ndarray:
    """:func:`imbacl.theory.loss_floor` of each config (seed 0's dictionary and data)."""
    return np.asarray(
        [theory.loss_floor(c.replace(seed=0), n_samples=n_samples)["floor"] for c in configs]
    )


# -- measured per run ---------------------------------------------------------------------------
def rates(steps: ArrayLike, colnorm: ArrayLike, t_max: float) -> np.ndarray:
    """Stage-1 log-growth per step of every feature column, ``||W M_j||``: the least-squares
    slope over the snapshots at or before ``t_max`` (:func:`imbacl.metrics.log_slope`)."""
    return metrics.log_slope(steps, np.log(np.maximum(colnorm, 1e-300)), t_max)


def measured_T1(steps: ArrayLike, phi: ArrayLike) -> float:
    """T1_hat: the first snapshot after step 0 where the median feature energy reaches 1/2."""
    return metrics.crossing(np.asarray(steps)[1:], np.asarray(phi)[1:], 0.5, log=True)


def growth_rates(rec: dict, T1_hat: float) -> tuple[np.ndarray, float]:
    """Per feature the Stage-1 log-growth rate of a run (:func:`rates`), fitted on its dense
    early points up to GROWTH_SHARE T1_hat, and the share of T1_hat its last point reached;
    NaN (and the share 0) for a run without dense points or with fewer than MIN_FIT_POINTS in
    the window (e.g. a file written before dense points were recorded), and NaN (with the share
    reached) where the dense points stop before 0.9 GROWTH_SHARE T1_hat: a T1_hat far beyond
    what :func:`track_plan` planned for (so every rate is fitted on the same share)."""
    steps, colnorm = rec.get("dense_steps"), rec.get("dense_colnorm")
    d = np.shape(rec["colnorm"])[-1]
    if steps is None or not np.isfinite(T1_hat):
        return np.full(d, np.nan), 0.0
    inside = np.asarray(steps) <= GROWTH_SHARE * T1_hat
    if inside.sum() < MIN_FIT_POINTS:
        return np.full(d, np.nan), 0.0
    last = float(np.asarray(steps)[inside][-1])
    if last < 0.9 * GROWTH_SHARE * T1_hat:  # the dense points end before the window does
        return np.full(d, np.nan), last / T1_hat
    return rates(steps, np.asarray(colnorm, dtype=np.float64), last), last / T1_hat


def lucky_minority(c: Config, P0: np.ndarray | None = None) -> np.ndarray:
    """Which neurons are lucky at initialisation for each minority feature of ``c``'s run
    (:func:`imbacl.metrics.lucky_at_init`), boolean (m, d - n_majority); P0, the projections at
    step 0, computed from the run's seed when not given (no training needed)."""
    P0 = initial_projections(c) if P0 is None else P0
    return metrics.lucky_at_init(P0, c.d, c.freqs, c.init_std)[:, c.n_majority :]


def run_measures(c: Config, rec: dict) -> dict:
    """Every per-run quantity of the scaling chapter from a run's record. Stage-3 states
    (sets, pure and aligned neurons, the race, the noise separation) are read at
    :func:`window_step`; ``*_end`` columns give a few of them at the run's last step."""
    maj, mino = slice(0, c.n_majority), slice(c.n_majority, c.d)
    freqs, steps = np.asarray(c.freqs), rec["steps"]
    T1 = measured_T1(steps, rec["phi"])
    rate, fit_share = growth_rates(rec, T1)
    # (rate / eta + lam) d / (eps_j loglog d): Theorem 3.1's C_z, constant in d if it holds
    cz = theory.stage1_inverse_linear(rate, c.lr, c.lam, c.d, freqs)
    r_maj, r_min = rate[maj].mean(), rate[mino].mean()
    e_maj, e_min = c.eps_max, c.eps_min
    eps0 = e_maj - r_maj * (e_maj - e_min) / (r_maj - r_min) if e_min < e_maj else np.nan
    # when each feature's best neuron reaches cos^2 = 1/2 (Theorem 3.2's lucky neurons)
    align = np.array(
        [metrics.crossing(steps[1:], rec["best"][1:, j], 0.5, log=True) for j in range(c.d)]
    )
    T2 = np.nanmean(align[maj]) if np.isfinite(align[maj]).any() else np.nan
    T2_min = np.nanmean(align[mino]) if np.isfinite(align[mino]).any() else np.nan
    P, P0, Pe = (
        np.asarray(rec["P_window"], dtype=np.float64),
        initial_projections(c),
        np.asarray(rec["P"], dtype=np.float64),
    )
    pred = metrics.init_race(P0, c.d)
    pc, pce = metrics.pure_counts(P, c.d), metrics.pure_counts(Pe, c.d)
    sep0 = metrics.noise_separation(P0, c.d)  # at initialisation: the null of the separation
    lucky = lucky_minority(c, P0)
    lucky_aligned = lucky & (metrics.cos2(Pe, c.d)[:, mino] >= 0.5)  # at the end of the run
    form1, form2 = theory.T1(c.d, c.d1, c.lr), theory.T2(c.d, c.d1, c.lr, c.tau, c.eps_max)
    # [choice] a measured stage end is read at the first snapshot at or after it: T1_hat, the
    # majority features' alignment T2_hat, and the median neuron's T2_hat (Stage 2's end as
    # chapter 4 reads it, never before T1_hat: a top cos^2 of 1/2 needs a feature energy of 1/2)
    T2_med = metrics.crossing(steps[1:], rec["top"][1:], 0.5, log=True)
    laug_window = np.nan if rec.get("loss_window") is None else float(rec["loss_window"])
    reg_window, reg_end = (float(metrics.weight_penalty(x, c.lam)) for x in (P, Pe))
    i1, i2, i2m = (
        int(np.searchsorted(steps, t)) if np.isfinite(t) else -1 for t in (T1, T2, T2_med)
    )
    iw = int(np.flatnonzero(steps == window_step(c))[0])
    new = {k: rec.get(k) for k in ("aligned", "excess", "beta")}
    have = all(v is not None for v in new.values())
    later = {
        # eq. (5): the largest non-feature rise from step 0 to T1_hat, over ||w_i(T1_hat)||;
        # eq. (7): from T1_hat to the median neuron's T2_hat; eq. (9): |beta| sqrt(d1) / ||w_i||
        # in the final window
        "excess_T1": new["excess"][0, i1] if have and i1 >= 0 else np.nan,
        "excess_T2": new["excess"][i1, i2m] if have and min(i1, i2m) >= 0 else np.nan,
        "beta_window": new["beta"][iw] if have else np.nan,
        # the minority aligned count at the majority features' measured T2_hat
        "aligned_min_T2": (
            new["aligned"][i2, mino].mean() if have and i2 >= 0 and c.n_majority < c.d else np.nan
        ),
    }
    return {
        "cz_maj": cz[maj].mean(),
        "cz_min": cz[mino].mean(),
        "fit_share": fit_share,
        "eps0": eps0 / e_maj,
        "offset": float(theory.mask_offset(freqs, c.d1)) / e_maj,
        "T1": T1,
        "T2": T2,
        "T2_min": T2_min,
        "T1_shape": T1 / form1,
        "T2_shape": T2 / form2,
        "T2_ratio": T2_min / T2,
        "T2_med": T2_med,
        "aligned_by_end_maj": np.isfinite(align[maj]).mean(),
        "aligned_by_end_min": np.isfinite(align[mino]).mean() if c.n_majority < c.d else np.nan,
        "T2_share": T2 / c.steps,
        "window": window_step(c),
        # the trainer's loss is the objective of eq. (2), L_aug = L + (lam/2) ||W||^2; L is it
        # less the weight decay's term read at one step [choice]: at T4 for the window's mean
        # (a lower estimate of L's mean where ||W|| does not fall within the window), at the
        # last step for the last 10% of steps
        "laug": float(rec["loss"]),
        "laug_window": laug_window,
        "reg_window": reg_window,
        "reg_end": reg_end,
        "loss": float(rec["loss"]) - reg_end,
        "loss_window": laug_window - reg_window,
        "logK": math.log(c.batch),
        "set_size": metrics.mean_set_size(P, c.d),
        "set_size_end": metrics.mean_set_size(Pe, c.d),
        "pure_maj": pc[maj].mean() if c.n_majority else np.nan,
        "pure_min": pc[mino].mean() if c.n_majority < c.d else np.nan,
        "pure_min_end": pce[mino].mean() if c.n_majority < c.d else np.nan,
        "aligned_min": metrics.aligned_per_minority(P, c.d, c.n_majority),
        "aligned_min_end": metrics.aligned_per_minority(Pe, c.d, c.n_majority),
        "lucky_min": lucky.sum(0).mean(),
        "lucky_aligned_min": lucky_aligned.sum(0).mean(),
        "race": metrics.race_accuracy(pred, P, c.d),
        "chance": metrics.race_chance(pred, P, c.d),
        "sep_maj": rec["sep_window"][maj].mean(),
        "sep_min": rec["sep_window"][mino].mean(),
        # the separation beyond its value at initialisation, where every direction is alike
        # and only the count of directions (m neurons, d1 - d noise directions) sets it
        "sepx_maj": rec["sep_window"][maj].mean() - sep0[maj].mean(),
        "sepx_min": rec["sep_window"][mino].mean() - sep0[mino].mean(),
        "sep_gap": rec["sep_window"][mino].mean() - rec["sep_window"][maj].mean(),
        "sep0_maj": sep0[maj].mean(),
        "pure_share": metrics.pure_share(P, c.d),
        "cov_min": metrics.coverage(P, c.d)[mino].mean() if c.n_majority < c.d else np.nan,
        "alpha_ratio": metrics.alpha_ratio(P, c.d, c.n_majority),
        **later,
    }


def table(cache: dict, floor: dict | None = None) -> RunTable:
    """One row per cached run: labels ``scaling``, ``c``, ``d``, ``rho``, ``seed``, then
    :func:`run_measures`; with ``floor`` ({(scaling, c, d, rho): floor}) also ``floor``,
    ``gap`` (loss - floor, L without the weight decay's term: the floor is an InfoNCE) and eq.
    (8)'s normalised gaps over the final window, ``ngap_window`` of L and ``ngap_window_aug`` of
    the objective L_aug."""
    rows = []
    for name, f in cache.items():
        scaling, rest = name.split("_c")
        c_tag = rest.split("_")[0]
        for k, c in enumerate(f["configs"]):
            rec = {
                key: f[key][k]
                for key in (
                    "steps",
                    "colnorm",
                    "phi",
                    "top",
                    "best",
                    "loss",
                    "P",
                    "P_window",
                    "sep",
                    "sep_window",
                )
            }
            for key in ("loss_window", "aligned", "excess", "beta", "dense_steps", "dense_colnorm"):
                rec[key] = f[key][k] if key in f else None
            rho = ratio(c)
            label = "eps_d" if scaling == MORE else scaling
            row = {"scaling": label, "c": int(c_tag), "d": c.d, "rho": rho, "seed": c.seed}
            row.update(run_measures(c, rec))
            if floor is not None:
                row["floor"] = floor[(scaling, int(c_tag), c.d, rho)]
                row["gap"] = row["loss"] - row["floor"]
                # eq. (8) normalised: 0 at the floor, 1 at log K (the loss of a constant encoder)
                for gap, key in (
                    ("ngap_window", "loss_window"),
                    ("ngap_window_aug", "laug_window"),
                ):
                    row[gap] = (row[key] - row["floor"]) / (row["logK"] - row["floor"])
            rows.append(
                {
                    k: float(v) if isinstance(v, (np.floating, np.ndarray)) else v
                    for k, v in row.items()
                }
            )
    return RunTable(rows, labels=["scaling", "c", "d", "rho", "seed"])


def size_reaching(target: float, d: float, value: float, exponent: float) -> float:
    """The size at which a quantity equal to ``value`` at ``d`` reaches ``target`` if it goes on
    as the power law d^exponent (its local exponent at the largest sizes); inf if it moves away
    from the target or stays put."""
    if exponent == 0 or (target < value) != (exponent < 0):
        return float("inf")
    return float(d * (target / value) ** (1 / exponent))


def ratio(c: Config) -> float:
    """rho = eps_min / eps_max of a run, to 3 significant digits: the grid value it was
    configured with (eps_min is stored to 4 digits, so at d = 16 with eps d fixed the exact
    ratio is 0.3001)."""
    return float(f"{c.rho:.3g}")


def step_flops(c: Config) -> float:
    """Floating-point operations of one run-step's three large matrix products (the two views'
    pre-activations and the weight gradient, each 2 K L d1 m): the work a faster machine would
    have to do."""
    return 3 * 2.0 * c.batch * c.seq_len * c.d1 * c.m


def load_floors(root: str = ".") -> dict:
    """The cached loss floors as {(scaling, c, d, rho): floor} (for :func:`table`)."""
    f = load_record(os.path.join(root, CACHE_DIR, "floors.npz"))
    out = {}
    for name, c, v in zip(f["name"], f["configs"], f["floor"]):
        scaling, rest = str(name).split("_c")
        out[(scaling, int(rest.split("_")[0]), c.d, ratio(c))] = float(v)
    return out


# -- reading the table along d ----------------------------------------------------------------
def sizes(scaling: str = "eps", c: int = C_WIDTH, rho: float | None = None) -> tuple:
    """The d of the cached cells of (scaling, c); with ``rho``, those that hold runs at it
    (d = 128 has rho = 0.3 only, ``RHOS_AT``; eps d fixed at d = 64 too, ``RHOS_AT_EPSD``)."""
    ds, at = (DS, RHOS_AT) if scaling == "eps" else (DS_EPSD, {})
    if scaling == "eps_d":
        ds, at = DS_EPSD + tuple(RHOS_AT_EPSD), RHOS_AT_EPSD
    return tuple(
        d
        for d in ds
        if (c == C_WIDTH or d <= 32) and (rho is None or c != C_WIDTH or rho in at.get(d, RHOS))
    )


# Columns of :func:`run_measures` read in the theorem's final window [T3, T4]: a size whose runs
# stop before T4 says nothing about them (:func:`reaches_window`), so :func:`series` drops it.
WINDOW_KEYS = frozenset(
    "window loss_window ngap_window laug_window ngap_window_aug reg_window set_size pure_maj "
    "pure_min aligned_min race chance sep_maj sep_min sepx_maj sepx_min sep_gap pure_share "
    "cov_min alpha_ratio beta_window".split()
)


def reaches_window(cfg: Config) -> bool:
    """Whether a run lasts to the end of the final window, T4 = d^1.99 / eta."""
    return cfg.steps >= theory.T4(cfg.d, cfg.lr)


def series(
    t: RunTable, key: str, scaling: str = "eps", rho: float = 0.3, c: int = C_WIDTH
) -> tuple[tuple[int, ...], list[np.ndarray]]:
    """(the sizes d that hold runs at ``rho``, one array of per-seed values of column ``key``
    per d) at one (scaling, rho, c); for a final-window column (``WINDOW_KEYS``) only the sizes
    whose runs reach T4 (the coverage rule)."""
    ds = tuple(
        d
        for d in sizes(scaling, c, rho)
        if key not in WINDOW_KEYS or reaches_window(config(d, rho, scaling, c))
    )
    return ds, [t.get(key, scaling=scaling, c=c, d=d, rho=rho) for d in ds]


def trend(
    t: RunTable,
    key: str,
    scaling: str = "eps",
    rho: float = 0.3,
    c: int = C_WIDTH,
    log: bool = False,
) -> Curve:
    """:func:`imbacl.report.trend` of column ``key`` along d (of its log with ``log=True``)."""
    ds, groups = series(t, key, scaling, rho, c)
    return report_trend(ds, groups, transform=np.log if log else None)


def grid_values(
    t: RunTable, key: str, scaling: str = "eps", rho: float = 0.3, c: int = C_WIDTH
) -> np.ndarray:
    """Column ``key`` as (len(DS), most seeds): a row per d of DS, NaN where a d has fewer seeds
    or no cell (for :func:`imbacl.plots.sweep_panels`)."""
    ds, groups = series(t, key, scaling, rho, c)
    out = np.full((len(DS), max(len(g) for g in groups)), np.nan)
    for d, g in zip(ds, groups):
        out[DS.index(d), : len(g)] = g
    return out


def both_scalings(trends: dict, key: str, side: str | tuple) -> Regimes:
    """The verdict rule of a claim measured along d under both frequency scalings: the sparse
    scaling (eps d fixed, the sparse-coding regime the theorems assume: a token carries a fixed
    number of features as d grows) decides; eps fixed is the contrast, shown on the sizes both
    scalings have and over all its sizes. ``trends[key, scaling]``: :func:`trend`'s curves."""
    sparse, dense = trends[key, "eps_d"], trends[key, "eps"]
    top = int(max(sparse.d))
    low = dense.upto(top)  # may end below top: a column eps fixed has at fewer sizes
    shared = (f"eps fixed, d <= {max(low.d, default=top):g}", Trend(low, side))
    rest = (f"eps fixed, d <= {max(dense.d):g}", Trend(dense, side))
    # one contrast where eps fixed has no size beyond the shared ones (e.g. a final-window
    # column, whose sizes the coverage rule cuts)
    return Regimes(
        (("eps d fixed", Trend(sparse, side)), shared, *([rest] if dense.d != low.d else [])),
        decides="eps d fixed",
    )


# -- the chapter's analyses (what a cell of chapter 'Scaling in d' computes, named) -----------
def by_size(
    t: RunTable,
    key: str,
    scaling: str = "eps",
    rho: float = 0.3,
    c: int = C_WIDTH,
    min_finite: int = 2,
) -> dict:
    """{d: :func:`imbacl.report.bootstrap` of column ``key`` over seeds} at one (scaling, rho,
    c), for the sizes where at least ``min_finite`` seeds have a finite value: a stage time that
    some runs never reach is NaN in them, and a bootstrap needs two seeds."""
    return {
        d: bootstrap(g)
        for d, g in zip(*series(t, key, scaling, rho, c))
        if np.isfinite(g).sum() >= min_finite
    }


def theorem_bounds(t: RunTable, fit_on: tuple) -> dict:
    """The bounds of Thm 3.3 and the ICLR lemma along d, as :class:`imbacl.report.Bound` rules
    with the constant C fitted on the sizes ``fit_on`` ([choice]) and checked on the others:

    * ``("ni", rho, scaling)``: mean ``|N_i|`` <= C d^(1 - rho^2) at rho = 0.2 and 0.5 (upper);
    * ``("pure", 1.0, scaling)``: pure neurons per feature >= C d^omega_1 at rho = 1, C_m of
      the theory preset (m = 30, d = 9) (lower);
    * ``("lucky", 0.5, "eps")``: aligned neurons per minority feature >= C m d^(-rho^-2) at
      rho = 0.5, eps fixed, m of each size's config (lower)."""
    bounds = {}
    for scal in SCALINGS:
        for r in (0.2, 0.5):
            ds, g = series(t, "set_size", scal, r)
            bounds["ni", r, scal] = Bound(
                ds,
                tuple(bootstrap(v) for v in g),
                tuple(theory.ni_bound(d, r) for d in ds),
                fit_on,
                "upper",
            )
        ds, g = series(t, "pure_maj", scal, 1.0)
        bounds["pure", 1.0, scal] = Bound(
            ds,
            tuple(bootstrap(v) for v in g),
            tuple(theory.pure_bound(d, theory.C_m(30, 9), 1.0) for d in ds),
            fit_on,
            "lower",
        )
    ds, g = series(t, "aligned_min", "eps", 0.5)
    ms = [config(d, 0.5).m for d in ds]
    bounds["lucky", 0.5, "eps"] = Bound(
        ds,
        tuple(bootstrap(v) for v in g),
        tuple(theory.lucky_bound(m, d, 0.5) for m, d in zip(ms, ds)),
        fit_on,
        "lower",
    )
    return bounds


@dataclass(frozen=True)
class CostForecast:
    """What larger sizes would cost, from the cached files' own times (:func:`cost_forecast`).
    Times are seconds; 'on 2 cores' means two runs in parallel, as the sweeps ran."""

    per_step: dict  # {64: s, 128: s}: core-seconds per run-step measured at that d
    grow: dict  # {128: x, 256: x}: growth of a step's products (m d1) from the size below
    c128: Config  # the d = 128 and d = 256 configs (rho of the forecast)
    c256: Config
    pred128: float  # the d = 128 file's time predicted from d = 64
    rest: float  # the other rho at d = 128, SEEDS_LARGE seeds, on 2 cores
    full256: float  # d = 256, every rho, SEEDS_LARGE seeds, on 2 cores
    work: float  # FLOP of d = 256's matrix products (every rho and seed)


def cost_forecast(secs: dict, cache: dict, rho: float = CONTRAST_RHO) -> CostForecast:
    """A run-step's cost at d = 64 and 128 from the cached files (``secs``: {file name: its
    seconds}; ``cache``: :func:`load`): a file's time over its larger worker's runs (two
    workers, so ceil(runs / 2)) times steps; then carried by the growth of m d1, the products a
    step multiplies, to the d = 128 file (a check against its measured time), to the d = 128
    rho not run, and to d = 256."""
    per_step = {
        d: secs[f"eps_c8_d{d}"]
        / (-(-len(cache[f"eps_c8_d{d}"]["configs"]) // 2) * config(d, rho).steps)
        for d in (64, 128)
    }
    c64, c128, c256 = (config(d, rho) for d in (64, 128, 256))
    grow = {d: (b.m * b.d1) / (a.m * a.d1) for d, a, b in ((128, c64, c128), (256, c128, c256))}
    pred128 = per_step[64] * grow[128] * c128.steps * -(-SEEDS_LARGE // 2)
    rest = per_step[128] * c128.steps * SEEDS_LARGE * (len(RHOS) - 1) / 2
    full256 = per_step[128] * grow[256] * c256.steps * SEEDS_LARGE * len(RHOS) / 2
    work = step_flops(c256) * c256.steps * SEEDS_LARGE * len(RHOS)
    return CostForecast(per_step, grow, c128, c256, pred128, rest, full256, work)


def prune_sizes(kind: str) -> tuple:
    """The sizes of a pruned kind (``PRUNE_KINDS``): its twin's grid up to d = 32, without
    the book's d = 9 (a d = 8 run is the same model one size down)."""
    twin = PRUNE_KINDS[kind][0]
    return tuple(d for d in (DS_EPSD if twin == "eps_d" else DS) if d != D_REF and d <= 32)


def prune_curves(t: RunTable, kind: str, rho: float) -> dict:
    """Pruning across d for one pruned kind at one ``rho``, each run paired by seed with its
    untreated twin (the same seed, scaling and size; :func:`table` labels the untreated rho =
    0.9 runs, kind ``MORE``, as "eps_d"):

    - ``gain_end`` / ``gain_T2``: :func:`imbacl.report.trend` of the paired gain in the
      aligned count per minority feature at the end of the run / at the measured T2_hat;
    - ``ratio`` / ``ratio_untreated``: the trend of log(count / (m/d)) at the end, treated and
      untreated: the ICLR Omega(m/d) says the treated one does not fall, while the untreated
      count m d^(-rho^-2) falls against m/d as d^(1 - rho^-2);
    - ``top``: the paired gain at the largest size; ``top_ratio`` / ``top_ratio_untreated``:
      count / (m/d) there (mean over seeds); ``m_d``: m/d per size; ``gain_end_means`` /
      ``gain_T2_means``: the mean gain per size; ``counts`` / ``counts_untreated``: the
      aligned count per minority feature at the end, (sizes, seeds) (for a figure)."""
    twin = PRUNE_KINDS[kind][0]
    ds = prune_sizes(kind)
    m_d = [config(d, rho, kind).m / d for d in ds]

    def get(key, scaling):
        return [t.get(key, scaling=scaling, c=C_WIDTH, d=d, rho=rho) for d in ds]

    end, end0 = get("aligned_min_end", kind), get("aligned_min_end", twin)
    at2, at20 = get("aligned_min_T2", kind), get("aligned_min_T2", twin)
    with np.errstate(divide="ignore"):  # a size whose count is 0 in a resample: log 0, dropped
        ratio = report_trend(ds, [a / k for a, k in zip(end, m_d)], transform=np.log)
        ratio0 = report_trend(ds, [a / k for a, k in zip(end0, m_d)], transform=np.log)
    return {
        "d": ds,
        "m_d": m_d,
        "gain_end": report_trend(ds, [a - b for a, b in zip(end, end0)]),
        "gain_T2": report_trend(ds, [a - b for a, b in zip(at2, at20)]),
        "ratio": ratio,
        "ratio_untreated": ratio0,
        "gain_end_means": [float(np.mean(a - b)) for a, b in zip(end, end0)],
        "gain_T2_means": [float(np.mean(a - b)) for a, b in zip(at2, at20)],
        "counts": np.array(end),
        "counts_untreated": np.array(end0),
        "top": paired(end[-1], end0[-1]),
        "top_ratio": bootstrap(end[-1] / m_d[-1]),
        "top_ratio_untreated": bootstrap(end0[-1] / m_d[-1]),
    }
