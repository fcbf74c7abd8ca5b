"""The sparse-coding data model and the feature-decoupling augmentation.

A token is x = M z + xi: z in {-1, 0, +1}^d with P(z_j != 0) = eps_j, xi ~ N(0, sigma^2 I).
A positive pair masks the d1 coordinates of every token with one Bernoulli(1/2) mask D:
X+ = 2 D X and X++ = 2 (I - D) X (Wen & Li's feature decoupling).

Each piece is written once and used both here (one run, for looking at the data) and by the
trainer's stream (R runs from raw draws, ``imbacl/stream.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from .config import Config

_STREAMS = {"dictionary": 0, "init": 1, "data": 2}


def generator(seed: int, stream: str, device: str | torch.device = "cpu") -> torch.Generator:
    """An independent generator for one purpose of one run (dictionary, init or data), derived
    from the run's seed alone (``np.random.SeedSequence``)."""
    child = np.random.SeedSequence(seed).spawn(len(_STREAMS))[_STREAMS[stream]]
    return torch.Generator(device=device).manual_seed(
        int(child.generate_state(1, np.uint64)[0] >> 1)
    )


def dictionary(d1: int, gen: torch.Generator, device: str | torch.device = "cpu") -> torch.Tensor:
    """A random orthogonal d1 x d1 matrix whose columns are M_1..M_d1 (Haar, via QR)."""
    g = torch.randn(d1, d1, generator=gen, device=device, dtype=torch.float64)
    q, r = torch.linalg.qr(g)
    return (q * torch.sign(torch.diagonal(r))).float()


def sparse_codes(u: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z from uniforms u (..., d): +1 if u < eps/2, -1 if eps/2 <= u < eps, else 0, so that
    P(z_j = +1) = P(z_j = -1) = eps_j / 2; eps broadcasts against u."""
    return 2 * (u < eps / 2).float() - (u < eps).float()


def sample_sparse(eps: torch.Tensor, shape: tuple, gen: torch.Generator) -> torch.Tensor:
    """z of shape ``(*shape, d)`` for one run, from ``gen``."""
    return sparse_codes(torch.rand(*shape, eps.shape[-1], generator=gen, device=eps.device), eps)


def unpack_bits(words: torch.Tensor, n: int) -> torch.Tensor:
    """The mask from its random words: coordinate 32 w + k is bit k of word w (little-endian);
    the first n, as floats. Eagerly on the CPU through NumPy's unpackbits (many times faster
    than shifts); on other devices and inside torch.compile (which fuses them) by shifts. The
    same bits either way."""
    if words.device.type != "cpu" or torch.compiler.is_compiling():
        bits = (words.unsqueeze(-1) >> torch.arange(32, device=words.device)) & 1
        return bits.flatten(-2)[..., :n].float()
    w32 = words.numpy().astype(np.uint32).view(np.uint8)
    bits = np.unpackbits(w32.reshape(*words.shape[:-1], -1), axis=-1, bitorder="little")
    return torch.from_numpy(bits[..., :n]).to(torch.float32)


def random_mask(
    shape: tuple, gen: torch.Generator, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """Bernoulli(1/2) mask, 32 coordinates per random draw (fewer draws than one each)."""
    n = shape[-1]
    words = torch.randint(
        0, 2**32, (*shape[:-1], (n + 31) // 32), generator=gen, device=device, dtype=torch.int64
    )
    return unpack_bits(words, n)


def tokens(z: torch.Tensor, xi: torch.Tensor, M: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """x = M z + sigma xi for R runs: z (R, ..., d), xi (R, ..., d1), dictionaries M (R, d1, d1),
    sigma (R,). Returns (R, ..., d1)."""
    R, d = z.shape[0], z.shape[-1]
    X = (z.reshape(R, -1, d) @ M[:, :, :d].transpose(1, 2)).reshape(xi.shape)
    return X + sigma.reshape(R, *[1] * (xi.dim() - 1)) * xi


def views(X: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two augmented views 2 D X and 2 (I - D) X; they average back to X."""
    X2 = 2 * X
    V1 = X2 * mask  # products, not torch.where: the same numbers, several times faster
    return V1, X2 - V1


def pair_views(
    u: torch.Tensor,
    xi: torch.Tensor,
    mask: torch.Tensor,
    eps: torch.Tensor,
    M: torch.Tensor,
    sigma: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two views of R runs' sequences from their raw draws, all with a leading run axis:
    uniforms u (R, ..., d) for z, normals xi (R, ..., d1), mask D (R, ..., d1); eps (R, d),
    dictionaries M (R, d1, d1), sigma (R,)."""
    e = eps.reshape(eps.shape[0], *[1] * (u.dim() - 2), eps.shape[-1])
    return views(tokens(sparse_codes(u, e), xi, M, sigma), mask)


def sample_sequences(
    M: torch.Tensor, eps: torch.Tensor, sigma: float, shape: tuple, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences ``x = M z + xi`` of shape ``(*shape, d1)`` for one run; also returns z."""
    z = sample_sparse(eps, shape, gen)
    xi = torch.randn(*shape, M.shape[0], generator=gen, device=M.device)
    return tokens(z[None], xi[None], M[None], torch.tensor([float(sigma)]))[0], z


def sample_config(
    config: Config, n_sequences: int, seed_offset: int = 0
) -> dict[str, torch.Tensor]:
    """Draw ``n_sequences`` sequences of one config, for looking at the data.

    Returns dict(M (d1, d1), z (n, L, d), X (n, L, d1), view1, view2) as tensors.
    """
    M = dictionary(config.d1, generator(config.seed, "dictionary"))
    gen = generator(config.seed + seed_offset, "data")
    eps = torch.tensor(config.freqs)
    X, z = sample_sequences(M, eps, config.sigma, (n_sequences, config.seq_len), gen)
    v1, v2 = views(X, random_mask(tuple(X.shape), gen))
    return {"M": M, "z": z, "X": X, "view1": v1, "view2": v2}
