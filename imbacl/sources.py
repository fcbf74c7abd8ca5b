"""Real data sources: scikit-learn's bundled 8x8 digits, made long-tailed (chapter 12).

scikit-learn ships the digits set inside its wheel (1,797 images, 10 classes, no download). The
trainer takes its batches from this module's :class:`DigitsStream` instead of the synthetic
stream when ``Config.source == "digits"`` (``imbacl.train.plain_steps``); nothing else of the
training loop changes. The measurements of chapter 12 are in :mod:`imbacl.digits`.

- **Tokens** [choice]: an image is four tokens, its 4x4 quadrants (row-major pixels), so
  L = 4 and d1 = 16: a short sequence of small tokens like the synthetic ones (L = 4 there
  too), where the identity attention mixes the quadrants of one image. Pixels are scaled to
  [0, 1], centred by the pool's mean image and scaled so that a pool token has mean squared
  norm 1 (a synthetic token with one active feature has norm 1).
- **Views**: the two masked views of :func:`imbacl.data.views`, the same Bernoulli(1/2) mask
  drawn the same way (random words, :func:`imbacl.data.unpack_bits`) from the run's own "data"
  generator, so a run gives the same numbers alone or in a batch.
- **Long tail**: per seed, each class's images are shuffled once; the first
  :data:`PROBE_PER_CLASS` form the balanced probe set (never seen in pretraining), the next
  ``DIGITS_POOL`` the pool of a majority class, of which a minority class keeps the first
  ``f * DIGITS_POOL`` (f = ``minority_frac``; pools at smaller f are nested in those at larger
  f, so runs at several f are paired by seed). Which classes are rare rotates over seeds
  [choice]: seeds 2k and 2k + 1 split the classes by one random partition with the roles
  swapped, so over any even number of seeds every digit is rare in exactly half of them.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch

from .config import DIGITS_POOL, DIGITS_SHAPE, digits_class_size
from .data import generator, unpack_bits, views
from .stream import CHUNK_STEPS, block_steps

if TYPE_CHECKING:
    from .config import Config

N_CLASSES = DIGITS_SHAPE["d"]
#: [choice] balanced probe images per class, half to fit the probe and half to score it
PROBE_PER_CLASS = 70
# independent numpy streams of a seed, beside imbacl.data's three torch ones (keys 0-2)
_SPLIT_KEY, _CLASSES_KEY = 3, 4


@functools.lru_cache(maxsize=1)
def images() -> tuple[np.ndarray, np.ndarray]:
    """The digits: images (1797, 8, 8) scaled to [0, 1] (float64) and labels (1797,)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    out = data.images / 16.0, data.target.astype(np.int64)
    for a in out:
        a.setflags(write=False)
    return out


def patches(imgs: np.ndarray) -> np.ndarray:
    """Images (n, 8, 8) as token sequences (n, 4, 16): the four 4x4 quadrants (top left, top
    right, bottom left, bottom right), each flattened row by row."""
    n = imgs.shape[0]
    q = imgs.reshape(n, 2, 4, 2, 4).transpose(0, 1, 3, 2, 4)  # (n, row block, col block, 4, 4)
    return q.reshape(n, 4, 16)


def unpatch(tokens: np.ndarray) -> np.ndarray:
    """The inverse of :func:`patches`: tokens (..., 4, 16) as images (..., 8, 8)."""
    lead = tokens.shape[:-2]
    q = tokens.reshape(*lead, 2, 2, 4, 4)
    return np.swapaxes(q, -3, -2).reshape(*lead, 8, 8)


def _rng(seed: int, key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(key + 1)[key])


def rare_classes(seed: int, n_majority: int = 5) -> tuple[int, ...]:
    """The minority classes of run ``seed`` (sorted): one random partition of the classes per
    pair of seeds (2k, 2k + 1), the first ``10 - n_majority`` of its order rare at 2k and the
    last ``10 - n_majority`` at 2k + 1 (the complement when n_majority = 5)."""
    order = _rng(seed // 2, _CLASSES_KEY).permutation(N_CLASSES)
    k = N_CLASSES - n_majority
    rare = order[:k] if seed % 2 == 0 else order[N_CLASSES - k :]
    return tuple(sorted(int(c) for c in rare))


def class_order(config: Config) -> tuple[int, ...]:
    """The classes of a run, majority first then minority (each sorted): the order of
    ``config.freqs`` and of every per-class array of this module."""
    rare = rare_classes(config.seed, config.n_majority)
    return tuple(c for c in range(N_CLASSES) if c not in rare) + rare


@functools.lru_cache(maxsize=256)
def _split(seed: int) -> tuple[np.ndarray, ...]:
    """Per class, its image indices in the seed's shuffled order (a tuple of 10 arrays)."""
    _, y = images()
    rng = _rng(seed, _SPLIT_KEY)
    out = tuple(rng.permutation(np.flatnonzero(y == c)) for c in range(N_CLASSES))
    for a in out:
        a.setflags(write=False)
    return out


def probe_indices(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The balanced probe set of a seed: (fit, score) image indices, PROBE_PER_CLASS / 2 of each
    class in each, disjoint from every pool of the seed (:func:`pool_indices`)."""
    half = PROBE_PER_CLASS // 2
    per = _split(seed)
    fit = np.concatenate([p[:half] for p in per])
    score = np.concatenate([p[half:PROBE_PER_CLASS] for p in per])
    return fit, score


def class_sizes(config: Config) -> np.ndarray:
    """Images per class (indexed by digit, 10) in the run's pretraining pool."""
    rare = rare_classes(config.seed, config.n_majority)
    small = digits_class_size(config.minority_frac)
    return np.array([small if c in rare else DIGITS_POOL for c in range(N_CLASSES)])


def pool_indices(config: Config) -> np.ndarray:
    """The run's long-tailed pretraining pool: image indices, class by class."""
    per, sizes = _split(config.seed), class_sizes(config)
    start = PROBE_PER_CLASS
    return np.concatenate([p[start : start + n] for p, n in zip(per, sizes)])


def normaliser(config: Config) -> tuple[np.ndarray, float]:
    """The pool's mean token per position (4, 16) and the scale s that gives pool tokens
    ``(x - mean) / s`` mean squared norm 1."""
    X = patches(images()[0][pool_indices(config)])
    mean = X.mean(0)
    return mean, float(np.sqrt(((X - mean) ** 2).sum(-1).mean()))


def run_tokens(config: Config, idx: np.ndarray | None = None) -> np.ndarray:
    """Tokens (n, 4, 16) of images ``idx`` (default: all 1797) as the run sees them: centred
    and scaled by its pool (:func:`normaliser`), float32."""
    mean, scale = normaliser(config)
    imgs = images()[0] if idx is None else images()[0][idx]
    return ((patches(imgs) - mean) / scale).astype(np.float32)


def pair_weights(config: Config) -> np.ndarray:
    """Per image (1797), the weight of a positive pair drawn from it under
    ``reweight="known"``: the largest class size over its class's size in the pool (1/f for a
    minority image, an oracle that knows the labels; the digits analogue of eps_max/eps_j)."""
    sizes = class_sizes(config)
    return (sizes.max() / sizes)[images()[1]].astype(np.float32)


class DigitsStream:
    """Positive pairs of R runs from their long-tailed digits pools, one step at a time: the
    interface of :class:`imbacl.stream.DataStream` (``next``, ``close``).

    Per run and chunk of CHUNK_STEPS steps, from its "data" generator: K pool positions per
    step (uniform with replacement, so a class is drawn in proportion to its pool size), then
    the mask words of :func:`imbacl.data.random_mask` (both by :func:`chunk_draws`). Views are
    made a block of steps at a time for all runs as one program, as for the synthetic tokens.

    ``workers`` is accepted for the trainer's one call signature (``imbacl.train.plain_steps``
    passes it to either stream) and ignored: the draws are a few integers per step, made in
    this process; the synthetic stream's worker pool has nothing to do here."""

    BLOCK_ELEMENTS = 1 << 20

    def __init__(
        self,
        configs: Sequence[Config],
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        device: str | torch.device = "cpu",
        workers: int = 1,
    ):
        c0 = configs[0]
        self.K, self.L, self.d1 = c0.batch, c0.seq_len, c0.d1
        self.device = device
        self.transform = transform or (lambda X: X)
        self.gens = [generator(c.seed, "data", device) for c in configs]
        self.tokens = torch.as_tensor(
            np.stack([run_tokens(c) for c in configs]), device=device
        )  # (R, N, L, d1)
        self.pools = [torch.as_tensor(pool_indices(c), device=device) for c in configs]
        known = [c.reweight == "known" for c in configs]
        self.weights = (
            torch.as_tensor(np.stack([pair_weights(c) for c in configs]), device=device)
            if any(known)
            else None
        )
        if self.weights is not None:
            self.weights[[not k for k in known]] = 1.0
        R, n_words = len(configs), (self.d1 + 31) // 32
        self.idx = torch.empty(R, CHUNK_STEPS, self.K, dtype=torch.int64, device=device)
        self.words = torch.empty(
            R, CHUNK_STEPS, self.K, self.L, n_words, dtype=torch.int64, device=device
        )
        self.block = block_steps(R * self.K * self.L * self.d1, self.BLOCK_ELEMENTS)
        self._pos, self._block = CHUNK_STEPS, None

    def close(self) -> None:
        pass

    def _draw_chunk(self):
        for r, gen in enumerate(self.gens):
            self.idx[r], self.words[r] = chunk_draws(gen, self.pools[r], self.K, self.L, self.d1)

    def _make_block(self, t0):
        steps = slice(t0, t0 + self.block)
        idx = self.idx[:, steps]  # (R, B, K) image indices
        runs = torch.arange(len(self.gens), device=self.device).reshape(-1, 1, 1)
        X = self.tokens[runs, idx]  # (R, B, K, L, d1)
        V1, V2 = views(X, unpack_bits(self.words[:, steps], self.d1))
        w = None if self.weights is None else self.weights[runs, idx]
        return self.transform(V1), self.transform(V2), w

    def next(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if self._pos == CHUNK_STEPS:
            self._draw_chunk()
            self._pos = 0
        t = self._pos
        self._pos += 1
        if t % self.block == 0:
            self._block = self._make_block(t)
        A1, A2, w = self._block
        i = t % self.block
        return A1[:, i], A2[:, i], (None if w is None else w[:, i])


def chunk_draws(
    gen: torch.Generator, pool: torch.Tensor, K: int, L: int, d1: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One chunk of a run's draws from its "data" generator, in the order every consumer takes
    them: CHUNK_STEPS x K image indices from ``pool`` (uniform positions, with replacement),
    then the mask words (CHUNK_STEPS, K, L, ceil(d1 / 32)) of :func:`imbacl.data.random_mask`.
    The one place the digits draws are made (:class:`DigitsStream`, :func:`draws`)."""
    pos = torch.randint(0, len(pool), (CHUNK_STEPS, K), generator=gen, device=pool.device)
    n_words = (d1 + 31) // 32
    words = torch.randint(0, 2**32, (CHUNK_STEPS, K, L, n_words), generator=gen, device=pool.device)
    return pool[pos], words


def draws(config: Config, steps: int) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """The raw draws of the first ``steps`` steps (a multiple of CHUNK_STEPS) of one run, as
    :class:`DigitsStream` takes them (:func:`chunk_draws`): image indices (steps, K), the
    mask (steps, K, L, d1) and the run's tokens of those images (steps, K, L, d1). For tests
    and for showing the views."""
    if steps % CHUNK_STEPS:
        raise ValueError(f"steps={steps} must be a multiple of {CHUNK_STEPS}")
    gen, pool = generator(config.seed, "data"), torch.as_tensor(pool_indices(config))
    chunks = [
        chunk_draws(gen, pool, config.batch, config.seq_len, config.d1)
        for _ in range(steps // CHUNK_STEPS)
    ]
    idx_all = torch.cat([i for i, _ in chunks]).numpy()
    masks = torch.cat([unpack_bits(w, config.d1) for _, w in chunks])
    X = torch.as_tensor(run_tokens(config))[torch.as_tensor(idx_all)]
    return idx_all, masks, X
