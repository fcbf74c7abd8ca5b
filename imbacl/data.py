"""The sparse-coding data model and the feature-decoupling augmentation.

A token is x = M z + xi: z in {-1, 0, +1}^d with P(z_j != 0) = eps_j, xi ~ N(0, sigma^2 I).
A positive pair masks the d1 coordinates of every token with one Bernoulli(1/2) mask D:
X+ = 2 D X and X++ = 2 (I - D) X (Wen & Li's feature decoupling).

Every run owns its random streams, derived from its seed alone, so a run gives the same
numbers whether it is trained alone or in a batch with others.
"""
from __future__ import annotations

import numpy as np
import torch

# Steps of data drawn per run at a time. A constant of the data model (not of the batch size),
# because chunking changes the order in which a generator's numbers are used.
CHUNK_STEPS = 16

_STREAMS = {"dictionary": 0, "init": 1, "data": 2}


def generator(seed: int, stream: str, device="cpu") -> torch.Generator:
    """An independent generator for one purpose of one run (dictionary, init or data)."""
    child = np.random.SeedSequence(seed).spawn(len(_STREAMS))[_STREAMS[stream]]
    return torch.Generator(device=device).manual_seed(int(child.generate_state(1, np.uint64)[0] >> 1))


def dictionary(d1: int, gen: torch.Generator, device="cpu") -> torch.Tensor:
    """A random orthogonal d1 x d1 matrix whose columns are M_1..M_d1 (Haar, via QR)."""
    g = torch.randn(d1, d1, generator=gen, device=device, dtype=torch.float64)
    q, r = torch.linalg.qr(g)
    return (q * torch.sign(torch.diagonal(r))).float()


def sample_sparse(eps: torch.Tensor, shape: tuple, gen: torch.Generator) -> torch.Tensor:
    """z with P(z_j = +1) = P(z_j = -1) = eps_j / 2, else 0; eps broadcasts over ``shape``."""
    u = torch.rand(*shape, eps.shape[-1], generator=gen, device=eps.device)
    return (u < eps / 2).float() - ((u >= eps / 2) & (u < eps)).float()


def random_mask(shape: tuple, gen: torch.Generator, device="cpu") -> torch.Tensor:
    """Bernoulli(1/2) mask, 32 coordinates per random draw (fewer draws than one each)."""
    n = shape[-1]
    words = torch.randint(0, 2 ** 32, (*shape[:-1], (n + 31) // 32), generator=gen,
                          device=device, dtype=torch.int64)
    bits = (words.unsqueeze(-1) >> torch.arange(32, device=device)) & 1
    return bits.flatten(-2)[..., :n].float()


def sample_sequences(M, eps, sigma, shape, gen):
    """Sequences ``x = M z + xi`` of shape ``(*shape, d1)`` for one run; also returns z."""
    d1, d = M.shape[0], eps.shape[-1]
    z = sample_sparse(eps, shape, gen)
    xi = torch.randn(*shape, d1, generator=gen, device=M.device)
    return z @ M[:, :d].T + sigma * xi, z


def views(X: torch.Tensor, mask: torch.Tensor):
    """The two augmented views 2 D X and 2 (I - D) X; they average back to X."""
    return 2 * mask * X, 2 * (1 - mask) * X


class DataStream:
    """Positive pairs for R runs, one step at a time, each run from its own generator.

    ``next()`` returns the two views, each of shape (R, K, L, d1), after ``transform`` (the
    fixed attention layer, applied to a whole chunk at once because it has no parameters).
    """

    def __init__(self, configs, dictionaries: torch.Tensor, transform=None, device="cpu"):
        c0 = configs[0]
        self.K, self.L, self.d1 = c0.batch, c0.seq_len, c0.d1
        self.M = dictionaries
        self.eps = torch.tensor([c.freqs for c in configs], device=device)
        self.sigma = [c.sigma for c in configs]
        self.gens = [generator(c.seed, "data", device) for c in configs]
        self.device = device
        self.transform = transform or (lambda X: X)
        self._chunk, self._pos = None, CHUNK_STEPS

    def _draw_chunk(self):
        shape = (CHUNK_STEPS, self.K, self.L)
        v1, v2 = [], []
        for r, gen in enumerate(self.gens):
            X, _ = sample_sequences(self.M[r], self.eps[r], self.sigma[r], shape, gen)
            a, b = views(X, random_mask((*shape, self.d1), gen, self.device))
            v1.append(a)
            v2.append(b)
        return self.transform(torch.stack(v1)), self.transform(torch.stack(v2))

    def next(self):
        if self._pos == CHUNK_STEPS:
            self._chunk, self._pos = self._draw_chunk(), 0
        t = self._pos
        self._pos += 1
        return self._chunk[0][:, t], self._chunk[1][:, t]


def sample_config(config, n_sequences: int, seed_offset: int = 0):
    """Draw ``n_sequences`` sequences of one config, for looking at the data.

    Returns dict(M (d1, d1), z (n, L, d), X (n, L, d1), view1, view2) as tensors.
    """
    M = dictionary(config.d1, generator(config.seed, "dictionary"))
    gen = generator(config.seed + seed_offset, "data")
    eps = torch.tensor(config.freqs)
    X, z = sample_sequences(M, eps, config.sigma, (n_sequences, config.seq_len), gen)
    v1, v2 = views(X, random_mask(tuple(X.shape), gen))
    return {"M": M, "z": z, "X": X, "view1": v1, "view2": v2}
