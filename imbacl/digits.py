"""Chapter 12's measurements on the long-tailed digits: dedicated neurons per class, the
balanced probe, dictionary atoms as the features of real data, the cached sweeps and their
pictures. The data source itself (tokens, pool, probe set, views) is :mod:`imbacl.sources`,
whose names are re-exported here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from .data import views
from .sources import (  # noqa: F401  (re-exported: the chapter reads them as digits.*)
    N_CLASSES,
    PROBE_PER_CLASS,
    CHUNK_STEPS,
    DigitsStream,
    class_order,
    class_sizes,
    draws,
    images,
    pair_weights,
    patches,
    pool_indices,
    probe_indices,
    rare_classes,
    run_tokens,
    unpatch,
)

if TYPE_CHECKING:
    import os

    from matplotlib.figure import Figure

    from .config import Config
    from .history import History

# -- measurements ----------------------------------------------------------------------------
#: [choice] a neuron's sign half is dedicated to class c when at least DEDICATED_SHARE of the
#: probe images it fires on are of class c (chance: 0.1) and it fires on at least DEDICATED_RATE
#: of class c's probe images (it answers for the class, not for a few odd images)
DEDICATED_SHARE, DEDICATED_RATE = 0.5, 0.5
#: [choice] dictionary atoms of the 4x4 patches (the "features" M_j of real data) and the
#: nonzero coefficients of a token's sparse code (orthogonal matching pursuit)
N_ATOMS, ATOM_NONZERO = 12, 2
#: the majority (frequent) group's colour and the minority (rare) group's, in every figure
GROUP_COLORS = ("tab:blue", "tab:orange")


def embed(config: Config, W: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """f(X) (n, m), float64, of images ``idx`` under weights W (m, d1), as the run's encoder
    computes it (its tokens, attention, bias rule and, if it prunes, its pruning mask)."""
    from .probe import embed as _embed

    return _embed(config, W, torch.as_tensor(run_tokens(config, idx))).astype(np.float64)


def probe_set(seed: int) -> np.ndarray:
    """Every balanced probe image of a seed (fit then score halves)."""
    return np.concatenate(probe_indices(seed))


def firing_rates(config: Config, W: np.ndarray) -> np.ndarray:
    """(2, m, 10): per sign half of each neuron (h_i > 0, h_i < 0: the BReLU is odd, and the two
    signs of a real neuron answer different patterns), the share of each class's balanced probe
    images it fires on."""
    idx = probe_set(config.seed)
    H, y = embed(config, W, idx), images()[1][idx]
    fires = np.stack([H > 0, H < 0])  # (2, n, m)
    return np.stack([fires[:, y == c].mean(1) for c in range(N_CLASSES)], -1)


def dedicated(rates: np.ndarray, alive: np.ndarray | None = None) -> np.ndarray:
    """Boolean (..., 2, m, 10) from :func:`firing_rates`: the neuron half is dedicated to the
    class (the DEDICATED_SHARE and DEDICATED_RATE rule). ``alive`` (..., m): neurons that
    count (:func:`alive`); the bias rule scales with ||w_i||, so a neuron that weight decay
    has shrunk to nothing still "fires" by its direction alone and must be left out."""
    share = rates / np.maximum(rates.sum(-1, keepdims=True), 1e-300)
    out = (share >= DEDICATED_SHARE) & (rates >= DEDICATED_RATE)
    return out if alive is None else out & alive[..., None, :, None]


def alive(config: Config, W: np.ndarray) -> np.ndarray:
    """Boolean (..., m): [choice] a neuron counts when ||w_i|| is at least its initial scale
    init_std sqrt(d1): one that weight decay has shrunk below its initialisation has learned
    nothing."""
    return np.linalg.norm(np.asarray(W, np.float64), axis=-1) >= config.init_std * np.sqrt(
        config.d1
    )


def dedicated_counts(config: Config, W: np.ndarray) -> np.ndarray:
    """Dedicated neuron halves per class (10,), indexed by digit."""
    return dedicated(firing_rates(config, W), alive(config, W)).sum((0, 1))


def whole_neurons(ded: np.ndarray) -> np.ndarray:
    """Per class (..., 10), from :func:`dedicated` (..., 2, m, 10): the neurons with at least
    one half dedicated to it (a neuron whose two halves are dedicated to the same digit
    counts once)."""
    return ded.any(-3).sum(-2)


def selectivity(rates: np.ndarray, alive: np.ndarray | None = None) -> np.ndarray:
    """Mean over the firing neuron halves of their top class's share of firings (..., ):
    1 = every neuron answers one class, 0.1 = none prefers any (how mixed the neurons are).
    ``alive`` (..., m): only these neurons count (as in :func:`dedicated`)."""
    total = rates.sum(-1)
    share = rates.max(-1) / np.maximum(total, 1e-300)
    on = total > 0
    if alive is not None:
        on = on & alive[..., None, :]
    return np.where(on, share, 0).sum((-1, -2)) / np.maximum(on.sum((-1, -2)), 1)


def probe_accuracy(config: Config, W: np.ndarray) -> np.ndarray:
    """Balanced linear probe per class (10,): a multinomial logistic regression fitted on the
    embeddings of the probe set's fit half (35 images per class) and scored on its other half,
    as each class's recall (its accuracy; chance 0.1). float64 and a tight tolerance, as in
    :func:`imbacl.probe.probe_config`, so the fit lands on its optimum on any CPU."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    fit, score = probe_indices(config.seed)
    y = images()[1]
    f_fit, f_score = embed(config, W, fit), embed(config, W, score)
    scaler = StandardScaler().fit(f_fit)
    clf = LogisticRegression(max_iter=10_000, tol=1e-10, random_state=0)
    clf.fit(scaler.transform(f_fit), y[fit])
    pred = clf.predict(scaler.transform(f_score))
    return np.array([(pred[y[score] == c] == c).mean() for c in range(N_CLASSES)])


def global_tokens() -> np.ndarray:
    """Every image's tokens centred by the mean image of all 1797 (n, 4, 16): the
    coordinates the dictionary atoms are learned and read in."""
    X = patches(images()[0])
    return X - X.mean(0)


def learn_atoms(seed: int = 0) -> np.ndarray:
    """N_ATOMS unit atoms (N_ATOMS, 16) of the 4x4 patches: scikit-learn's DictionaryLearning
    on the centred tokens of every image (a balanced set, 10 classes of 174-183), a fixed
    ruler for every run (cached, ``scripts/digits_sweeps.py``).

    [choice] all 1797 images, probe images included: one dictionary for every seed and f,
    so that atom frequencies and norms compare across runs (the seeds' probe sets together
    cover nearly every image, so no shared set is disjoint from all of them). The dictionary
    is unsupervised (no labels) and only measures; the encoder never sees a probe image, and
    the probe's scores do not read the atoms."""
    from sklearn.decomposition import DictionaryLearning

    X = global_tokens().reshape(-1, 16)
    dl = DictionaryLearning(
        n_components=N_ATOMS,
        transform_algorithm="omp",
        transform_n_nonzero_coefs=ATOM_NONZERO,
        max_iter=100,
        random_state=seed,
    ).fit(X)
    A = dl.components_
    return A / np.linalg.norm(A, axis=1, keepdims=True)


def atom_codes(config: Config, atoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per atom (N_ATOMS,), over the run's pool tokens' ATOM_NONZERO-sparse codes alpha
    (orthogonal matching pursuit): the share of tokens that use it, and E[alpha_j^2], the
    carried-over frequency [choice] (for the synthetic codes z_j in {-1, 0, 1}, E[z_j^2] is
    eps_j exactly; real codes also vary in size)."""
    import warnings

    from sklearn.decomposition import sparse_encode

    X = global_tokens()[pool_indices(config)].reshape(-1, 16)
    with warnings.catch_warnings():  # OMP stops early on a token its first atom explains
        warnings.simplefilter("ignore", RuntimeWarning)
        code = sparse_encode(X, atoms, algorithm="omp", n_nonzero_coefs=ATOM_NONZERO)
    return (code != 0).mean(0), (code**2).mean(0)


def atom_cos2(W: np.ndarray, atoms: np.ndarray) -> np.ndarray:
    """cos^2(w_i, a_j) (..., m, N_ATOMS) of weights W (..., m, 16) with unit atoms."""
    W = np.asarray(W, dtype=np.float64)
    P = W @ atoms.T
    return P**2 / np.maximum((W**2).sum(-1, keepdims=True), 1e-300)


def class_directions(config: Config) -> np.ndarray:
    """Per digit (10, 4, 16), unit in Frobenius norm: [choice] the class-mean direction, the
    mean of the run's tokens (centred and scaled by its pool, as the encoder sees them) over
    the digit's balanced probe images (70 per digit, the same number for a rare and a frequent
    digit, so that neither direction is noisier), the four token positions kept apart."""
    idx = probe_set(config.seed)
    X, y = run_tokens(config, idx).astype(np.float64), images()[1][idx]
    U = np.stack([X[y == c].mean(0) for c in range(N_CLASSES)])
    return U / np.linalg.norm(U, axis=(1, 2), keepdims=True)


def class_norms(W: np.ndarray, U: np.ndarray) -> np.ndarray:
    """||W U_c|| (..., 10) of weights W (..., m, 16) along class-mean directions U (10, 4,
    16): the Frobenius norm of the neurons' responses to the four tokens of the direction."""
    W = np.asarray(W, dtype=np.float64)
    return np.sqrt((np.einsum("...mi,cli->...cml", W, U) ** 2).sum((-1, -2)))


def atom_norms(W: np.ndarray, atoms: np.ndarray) -> np.ndarray:
    """||W a_j|| (..., N_ATOMS): the weight the neurons hold along each atom (its Stage-1
    growth is this norm's growth)."""
    return np.linalg.norm(np.asarray(W, dtype=np.float64) @ atoms.T, axis=-2)


# -- the cached sweeps of chapter 12 ---------------------------------------------------------
#: seeds of every arm, four complementary pairs, so every digit is rare in four of them
SEEDS = 8
#: minority fractions f = rho_data of the pretraining pool
FRACS = (1.0, 0.3, 0.1, 0.03)
#: [choice] the weight-decay sweep over lam from below the preset's to ten times chapter 8's
#: largest: at f = 0.3, the mildest tail, the one where the most seeds' minority digits keep a
#: dedicated neuron at the smallest lam (at f = 0.1 and 0.03 most have none even at the preset's
#: lam), and at f = 1, the null control (the two groups differ only in name there); LAM_SEEDS
#: seeds each, more than SEEDS because a seed whose group has no dedicated neuron at the
#: smallest lam is censored (:func:`lam_thresholds`) and the test needs LAM_NEED seeds left
LAM_FRACS, LAMS = (1.0, 0.3), (0.0003, 0.001, 0.003, 0.01, 0.03, 0.1)
LAM_SEEDS, LAM_NEED = 12, 8
#: [choice] the remedies at the longest tail measured, f = 0.03, each paired by seed with the
#: untreated run of the f sweep; pruning as in chapter 9 (alpha = 0.3 from step 0)
REMEDY_FRAC = 0.03
REMEDY_ARMS = {
    "prune ST": dict(prune_frac=0.3, prune_grad="straight_through"),
    "prune blocked": dict(prune_frac=0.3, prune_grad="blocked"),
    "reweight known": dict(reweight="known"),
}
#: snapshots of the f sweep for Stage 1, and [choice] its end, the step up to which the growth
#: of the norms along atoms and class means is read (the chapter prints the share of the run's
#: whole growth reached by then)
SNAPSHOTS, STAGE1_END = (0, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000), 100
#: the cached files of chapter 12, relative to the repository root
FILES = {
    "atoms": "results/digits/atoms.npz",
    "fracs": "results/digits/fracs.npz",
    "lam": "results/digits/lam.npz",
    "remedies": "results/digits/remedies.npz",
}
#: the command that writes every file of :data:`FILES` (each records it)
COMMAND = "python scripts/digits_sweeps.py"
#: the command line that trains one long-tailed run and prints its summary (:func:`summary`)
RUN_COMMAND = "python -m imbacl run --preset digits --set minority_frac=0.03 --json"


def base_config() -> Config:
    from .config import preset

    return preset("digits")


def plan(base: Config | None = None) -> dict:
    """{name: configs} of the cached sweeps (atoms aside): the f sweep, the lam sweep and the
    remedy arms (arm after arm, SEEDS seeds each)."""
    b = base_config() if base is None else base
    seeds = range(SEEDS)
    return {
        "fracs": [b.replace(minority_frac=f, seed=s) for f in FRACS for s in seeds],
        "lam": [
            b.replace(minority_frac=f, lam=x, seed=s)
            for f in LAM_FRACS
            for x in LAMS
            for s in range(LAM_SEEDS)
        ],
        "remedies": [
            b.replace(minority_frac=REMEDY_FRAC, seed=s, **kw)
            for kw in REMEDY_ARMS.values()
            for s in seeds
        ],
    }


def measure(configs: Sequence[Config], W: np.ndarray, probe: bool = True) -> dict:
    """The per-run measurements of final weights W (R, m, d1): dedicated neuron halves per
    class (R, 10), whole dedicated neurons per class (R, 10, :func:`whole_neurons`),
    selectivity (R,), the rare classes (R, 10 - n_majority) and, with ``probe``, the balanced
    probe accuracy per class (R, 10). Only living neurons count (:func:`alive`)."""
    rates = [firing_rates(c, w) for c, w in zip(configs, W)]
    live = [alive(c, w) for c, w in zip(configs, W)]
    ded = [dedicated(r, a) for r, a in zip(rates, live)]
    out = {
        "dedicated": np.stack([d.sum((0, 1)) for d in ded]),
        "dedicated_whole": np.stack([whole_neurons(d) for d in ded]),
        "selectivity": np.array([selectivity(r, a) for r, a in zip(rates, live)]),
        "rare": np.array([rare_classes(c.seed, c.n_majority) for c in configs]),
    }
    if probe:
        out["probe"] = np.stack([probe_accuracy(c, w) for c, w in zip(configs, W)])
    return out


def run_sweep(name: str, configs: Sequence[Config], atoms: np.ndarray, threads: int = 1) -> dict:
    """Train one cached sweep (:func:`plan`) as batches of one shape and measure it: final
    weights W (R, m, d1) and :func:`measure`; for the f sweep also the atoms' norms at
    SNAPSHOTS (R, S, N_ATOMS), their pool statistics (R, N_ATOMS) and the norms along the
    class-mean directions (R, S, 10, :func:`class_norms`)."""
    from .sweep import run

    T = configs[0].steps
    record = sorted(set(SNAPSHOTS) | {T}) if name == "fracs" else [0, T]
    res = run(configs, record_at=record, threads=threads)
    hs = [res[i] for i in range(len(configs))]
    W = np.stack([h.W[0] for h in hs]).astype(np.float32)
    out = {"W": W, **measure(configs, W, probe=name != "lam")}
    if name == "fracs":
        Ws = np.stack([h.P[0] @ h.M[0].T for h in hs])  # (R, S, m, d1)
        out["snapshots"] = np.array(record)
        out["atom_norms"] = atom_norms(Ws, atoms)
        out["class_norms"] = np.stack(
            [class_norms(w, class_directions(c)) for c, w in zip(configs, Ws)]
        )
        codes = [atom_codes(c, atoms) for c in configs]
        out["atom_use"] = np.stack([u for u, _ in codes])
        out["atom_energy"] = np.stack([e for _, e in codes])
    return out


def save(path: str | os.PathLike, configs: Sequence[Config], arrays: dict, seconds: float) -> None:
    """A cached sweep as an :func:`imbacl.io.save_record` file that records its writer."""
    from .io import save_record

    save_record(
        path,
        configs,
        threads=1,
        command=np.asarray(COMMAND),
        seconds=np.asarray(seconds),
        **arrays,
    )


def load(root: str = "..") -> dict:
    """Every cached file of chapter 12 (:data:`FILES`, relative to ``root``) as
    :func:`imbacl.io.load_record` dicts."""
    from .io import load_record

    return {k: load_record(f"{root}/{v}") for k, v in FILES.items()}


# -- summaries the chapter reads -------------------------------------------------------------
def by_group(per_class: np.ndarray, rare: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per run, the mean of a per-class quantity (R, 10) over its majority classes and over
    its minority classes (rare: (R, k)): two arrays (R,)."""
    per_class = np.asarray(per_class, dtype=float)
    is_rare = np.zeros(per_class.shape, bool)
    np.put_along_axis(is_rare, np.asarray(rare), True, axis=1)
    maj = np.where(~is_rare, per_class, 0).sum(1) / (~is_rare).sum(1)
    return maj, np.where(is_rare, per_class, 0).sum(1) / is_rare.sum(1)


def select(rec: dict, key: str, **fields: object) -> np.ndarray:
    """``rec[key]`` of the runs whose configs match ``fields``, in seed order: row k of two
    selections (e.g. a remedy arm and the f sweep's untreated runs) is the same seed, so the
    two are paired by seed whatever order the runs were saved in."""
    keep = [
        i
        for i, c in enumerate(rec["configs"])
        if all(getattr(c, k) == v for k, v in fields.items())
    ]
    keep.sort(key=lambda i: rec["configs"][i].seed)
    return np.asarray(rec[key])[keep]


def per_frac(rec: dict, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(majority, minority) group means of ``key`` (len(FRACS), SEEDS) along f."""
    rows = [
        by_group(select(rec, key, minority_frac=f), select(rec, "rare", minority_frac=f))
        for f in FRACS
    ]
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows])


def last_gone(lams: Sequence[float], counts: np.ndarray) -> np.ndarray:
    """Per seed (counts: (len(lams), S) dedicated halves of a group), the smallest lam of the
    grid from which the group has none at every larger lam; NaN (censored) where the group has
    none at the grid's smallest lam (no neuron to lose: the threshold lies below the grid) or
    still has one at its largest (above the grid)."""
    counts, lams = np.asarray(counts), np.asarray(lams, dtype=float)
    out = np.full(counts.shape[1], np.nan)
    for s in range(counts.shape[1]):
        c = counts[:, s]
        if c[0] == 0 or c[-1] > 0:
            continue
        k = len(c) - 1
        while c[k - 1] == 0:
            k -= 1
        out[s] = lams[k]
    return out


def lam_thresholds(rec: dict, frac: float) -> dict:
    """The lam sweep at ``frac`` per group: dedicated neuron halves in all majority and in all
    minority digits of a run (len(LAMS), LAM_SEEDS) and per seed their thresholds
    (:func:`last_gone`); ``kept``: the seeds where both thresholds are measured (neither group
    censored), the only ones a paired difference may read."""
    maj, mino = [], []
    for x in LAMS:
        rare = select(rec, "rare", lam=x, minority_frac=frac)
        a, b = by_group(select(rec, "dedicated", lam=x, minority_frac=frac), rare)
        maj.append(a * (N_CLASSES - rare.shape[1]))
        mino.append(b * rare.shape[1])
    maj, mino = np.rint(maj), np.rint(mino)
    t_maj, t_min = last_gone(LAMS, maj), last_gone(LAMS, mino)
    kept = np.isfinite(t_maj) & np.isfinite(t_min)
    return {"maj": maj, "min": mino, "lam_maj": t_maj, "lam_min": t_min, "kept": kept}


def stage1_growth(
    rec: dict, frac: float, step: int = STAGE1_END, key: str = "atom_norms"
) -> np.ndarray:
    """Per run at ``frac`` (SEEDS, n): the norm ``key`` (``atom_norms``: along each atom;
    ``class_norms``: along each digit's class-mean direction) at ``step`` over its value at
    step 0."""
    norms, steps = select(rec, key, minority_frac=frac), np.asarray(rec["snapshots"])
    k = int(np.flatnonzero(steps == step)[0])
    return norms[:, k] / norms[:, 0]


def growth_share(
    rec: dict, frac: float, step: int = STAGE1_END, key: str = "atom_norms"
) -> np.ndarray:
    """Per run at ``frac`` (SEEDS,): the share of the whole run's log growth along ``key``
    (mean over its directions) reached by ``step``."""
    log_at = np.log(stage1_growth(rec, frac, step, key)).mean(1)
    log_end = np.log(stage1_growth(rec, frac, int(np.asarray(rec["snapshots"])[-1]), key))
    return log_at / log_end.mean(1)


def rank_correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rank correlation of x and y (R, n) row by row (R,)."""
    from scipy.stats import spearmanr

    return np.array([spearmanr(a, b)[0] for a, b in zip(x, y)])


def aligned_per_atom(W: np.ndarray, atoms: np.ndarray, min_cos2: float = 0.5) -> np.ndarray:
    """Neurons whose top atom is j with cos^2 >= ``min_cos2`` (the book's aligned rule), per
    atom (..., N_ATOMS)."""
    c = atom_cos2(W, atoms)
    top = c.argmax(-1)
    hit = c.max(-1) >= min_cos2
    return np.stack([((top == j) & hit).sum(-1) for j in range(atoms.shape[0])], -1)


def summary(history: History, r: int) -> dict:
    """What ``python -m imbacl run`` prints for a digits run r: the synthetic summary's keys
    read for classes (a class is the digits source's "feature"): dedicated neuron halves per
    class (``pure_per_feature``, by digit), classes with one (``covered``), the majority and
    minority digits, the mean selectivity (``feature_energy``: 1 = each neuron answers one
    class) and the mean number of classes a firing neuron half fires on for at least half of
    their images (``mean_set_size``); only living neurons count (:func:`alive`)."""
    c, W = history.configs[r], history.W[r]
    rates, live = firing_rates(c, W), alive(c, W)
    ded = dedicated(rates, live).sum((0, 1))
    on = (rates.sum(-1) > 0) & live  # living neurons' firing halves, as in the counts
    rare = list(rare_classes(c.seed, c.n_majority))
    tail = max(1, c.steps // 10)
    return {
        "seed": c.seed,
        "loss_final": round(float(history.loss[r, -tail:].mean()), 6),
        "majority": [k for k in range(N_CLASSES) if k not in rare],
        "minority": rare,
        "pool_sizes": class_sizes(c).tolist(),
        "feature_energy": round(float(selectivity(rates, live)), 6),
        "mean_set_size": round(float((rates >= DEDICATED_RATE).sum(-1)[on].mean()), 6)
        if on.any()
        else 0.0,
        "pure_per_feature": ded.tolist(),
        "covered": (ded > 0).tolist(),
    }


# -- pictures ----------------------------------------------------------------------------------
def plot_examples(seed: int = 0, per_class: int = 8) -> Figure:
    """A grid of pool images, one row per digit (rare digits of ``seed`` marked)."""
    import matplotlib.pyplot as plt

    imgs, y = images()
    pool = pool_indices(base_config().replace(seed=seed))
    rare = rare_classes(seed)
    fig, axes = plt.subplots(N_CLASSES, per_class, figsize=(per_class * 0.6, N_CLASSES * 0.6))
    for c in range(N_CLASSES):
        idx = pool[y[pool] == c][:per_class]
        for k, ax in enumerate(axes[c]):
            ax.imshow(imgs[idx[k]], cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[c, 0].set_ylabel(f"{c}{'*' if c in rare else ''}", rotation=0, labelpad=10)
    fig.suptitle(f"pool images (seed {seed}; * rare)", fontsize=9)
    return fig


def plot_pool_sizes(seed: int = 0, fracs: Sequence[float] = FRACS) -> Figure:
    """Images per digit in the pretraining pool of ``seed`` at each f (the long tail)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.8), layout="constrained")
    width = 0.8 / len(fracs)
    for k, f in enumerate(fracs):
        sizes = class_sizes(base_config().replace(seed=seed, minority_frac=f))
        ax.bar(
            np.arange(N_CLASSES) + (k - (len(fracs) - 1) / 2) * width,
            sizes,
            width,
            label=f"f = {f:g}",
        )
    ax.set_yscale("log")
    ax.set_xticks(range(N_CLASSES))
    ax.set_xlabel(f"digit (rare at seed {seed}: {', '.join(map(str, rare_classes(seed)))})")
    ax.set_ylabel("pool images")
    ax.legend(fontsize=8, ncols=len(fracs))
    return fig


def plot_views(config: Config, n: int = 4) -> Figure:
    """The first ``n`` training pairs of a run: the image as the run's tokens show it and its
    two masked views (drawn back as 8x8 images)."""
    import matplotlib.pyplot as plt

    idx, mask, X = draws(config, CHUNK_STEPS)
    V1, V2 = views(X[0, :n], mask[0, :n])
    fig, axes = plt.subplots(3, n, figsize=(n * 1.1, 3.5), layout="constrained")
    top = float(max(V1.abs().max(), V2.abs().max()))  # one colour scale for all three rows
    for row, (name, T) in enumerate((("token image", X[0, :n]), ("view +", V1), ("view ++", V2))):
        for k in range(n):
            ax = axes[row, k]
            ax.imshow(unpatch(T[k].numpy()), cmap="RdBu_r", vmin=-top, vmax=top)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(name, fontsize=8)
    return fig


def plot_heatmaps(
    Ws: Sequence[np.ndarray], atoms: np.ndarray, energies: Sequence, titles: Sequence[str]
) -> Figure:
    """Figure 1 on real data: cos^2(w_i, a_j) of every neuron (columns, sorted by top atom)
    with the atoms (rows) sorted by their frequency E[alpha_j^2] in each run's pool, most
    frequent on top; the atoms themselves drawn at the left."""
    import matplotlib.pyplot as plt

    n = len(Ws)
    fig, axes = plt.subplots(
        1,
        n + 1,
        figsize=(1.2 + 5 * n, 3.6),
        layout="constrained",
        gridspec_kw={"width_ratios": [0.25] + [1] * n},
    )
    order0 = np.argsort(-np.asarray(energies[0]))
    axes[0].imshow(np.concatenate([a.reshape(4, 4) for a in atoms[order0]], 0), cmap="RdBu_r")
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    axes[0].set_title("atoms", fontsize=8)
    for ax, W, e, t in zip(axes[1:], Ws, energies, titles):
        order = np.argsort(-np.asarray(e))
        c = atom_cos2(W, atoms)[:, order]
        cols = np.lexsort((-c.max(1), c.argmax(1)))
        im = ax.imshow(c[cols].T, aspect="auto", cmap="viridis", vmin=0, vmax=1)
        ax.set_yticks(range(len(order)), [f"{e[j]:.2f}" for j in order], fontsize=7)
        ax.set_xlabel("neuron")
        ax.set_ylabel(r"atom, by $E[\alpha_j^2]$ in the pool")
        ax.set_title(t, fontsize=9)
    fig.colorbar(im, ax=axes[-1], label=r"$\cos^2(w_i, a_j)$")
    return fig


def growth_curves(rec: dict, f: float, along: str = "classes") -> dict:
    """Stage 1 on real data at minority fraction f: a norm over its initial value, mean over
    seeds, per step (snapshots[1:]), for two groups: along the class-mean directions
    (``along="classes"``: ||W U_c|| over each run's majority digits and its minority digits) or
    along the atoms (``"atoms"``: ||W a_j|| over the most frequent third of the atoms, by
    E[alpha_j^2] in each run's pool, and the rarest third). Returns {group: curve}."""
    if along == "classes":
        norms = select(rec, "class_norms", minority_frac=f)
        g, rare = norms / norms[:, :1], select(rec, "rare", minority_frac=f)
        groups = [by_group(g[:, k], rare) for k in range(1, g.shape[1])]
        return {
            name: np.array([grp[i].mean() for grp in groups])
            for i, name in enumerate(("majority digits", "minority digits"))
        }
    if along != "atoms":
        raise ValueError(f"along={along!r}: must be 'classes' or 'atoms'")
    norms = select(rec, "atom_norms", minority_frac=f)
    order = np.argsort(-select(rec, "atom_energy", minority_frac=f), axis=1)
    g, third = norms / norms[:, :1], N_ATOMS // 3
    return {
        name: np.take_along_axis(g, cols[:, None, :], axis=2).mean(2).mean(0)[1:]
        for name, cols in (("frequent third", order[:, :third]), ("rare third", order[:, -third:]))
    }


def plot_growth(rec: dict, along: str = "classes", fracs: Sequence[float] = (1.0, 0.03)) -> Figure:
    """Stage 1 on real data (:func:`growth_curves`) against step, one panel per f: the
    majority (frequent) group in blue, the minority (rare) one in orange."""
    import matplotlib.pyplot as plt

    steps = np.asarray(rec["snapshots"])
    fig, axes = plt.subplots(1, len(fracs), figsize=(4 * len(fracs), 3), layout="constrained")
    for ax, f in zip(np.atleast_1d(axes), fracs):
        for (name, curve), color in zip(growth_curves(rec, f, along).items(), GROUP_COLORS):
            ax.plot(steps[1:], curve, color=color, label=name)
        ax.axvline(STAGE1_END, color="k", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(r"$\|W U_c\|$ / initial" if along == "classes" else r"$\|W a_j\|$ / initial")
        ax.set_title(f"f = {f:g}", fontsize=9)
        ax.legend(fontsize=8)
    return fig


def plot_estimates(groups: dict, ylabel: str = "paired change (treated - untreated)") -> Figure:
    """Bars of estimates with their 95% intervals: ``groups`` maps a group (an arm) to
    {quantity: Estimate}; one bar per quantity within each group."""
    import matplotlib.pyplot as plt

    names = list(next(iter(groups.values())))
    fig, ax = plt.subplots(figsize=(7, 3), layout="constrained")
    width = 0.8 / len(names)
    for k, q in enumerate(names):
        x = np.arange(len(groups)) + (k - (len(names) - 1) / 2) * width
        est = [g[q] for g in groups.values()]
        v = np.array([e.value for e in est])
        err = np.array([[e.value - e.lo for e in est], [e.hi - e.value for e in est]])
        ax.bar(x, v, width, yerr=err, capsize=3, label=q)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(len(groups)), list(groups))
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return fig
