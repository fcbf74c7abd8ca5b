"""Per-run random streams and the block stream that feeds the trainer.

Every run owns its random streams, derived from its seed alone, so a run gives the same
numbers whether it is trained alone or in a batch with others.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Sequence

import torch

from .data import generator, pair_views, unpack_bits  # generator: one per run and purpose

if TYPE_CHECKING:
    from .config import Config

# Steps of data drawn per run at a time. A constant of the data model (not of the batch size),
# because chunking changes the order in which a generator's numbers are used.
CHUNK_STEPS = 16


def block_steps(per_step: int, block_elements: int) -> int:
    """Steps of all runs made at a time: as many as fit ``block_elements`` elements of one
    view (``per_step`` = R K L d1 per step), at least 1, and a divisor of CHUNK_STEPS."""
    block = max(1, min(CHUNK_STEPS, block_elements // per_step))
    while CHUNK_STEPS % block:
        block -= 1
    return block


class DataStream:
    """Positive pairs for R runs, one step at a time, each run from its own generator.

    ``next()`` returns the two views, each of shape (R, K, L, d1), after ``transform`` (the
    fixed attention layer, which has no parameters), and the per-pair weights eps_max / eps_j
    of the rarest feature present (R, K) for runs with ``reweight="known"`` (None when no run
    uses them).

    Speed: random numbers are drawn CHUNK_STEPS steps at a time per run into buffers kept from
    chunk to chunk, the runs spread over ``workers`` threads (each generator stays in one
    thread, so the numbers do not depend on the thread count); the arithmetic is done a block
    of steps at a time, a block small enough to stay in cache. Neither choice changes a single
    bit of the data. ``draw(gen, u, xi, words)``, if given, fills one run's buffers in place of
    torch's draws for runs without re-sampling (the compiled trainer's C draws, ``imbacl/fast.py``).
    """

    # Elements of one view that a block of steps may hold (about 4 MB of float32).
    BLOCK_ELEMENTS = 1 << 20

    def __init__(
        self,
        configs: Sequence[Config],
        dictionaries: torch.Tensor,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        device: str | torch.device = "cpu",
        workers: int = 1,
        draw: Callable[[torch.Generator, torch.Tensor, torch.Tensor, torch.Tensor], None]
        | None = None,
    ):
        c0 = configs[0]
        self.K, self.L, self.d1 = c0.batch, c0.seq_len, c0.d1
        self.M = dictionaries
        R, d = len(configs), len(c0.freqs)
        self.eps = torch.tensor([c.freqs for c in configs], device=device)
        self.sigma = torch.tensor([c.sigma for c in configs], device=device)
        self.gens = [generator(c.seed, "data", device) for c in configs]
        self.resample = [c.resample for c in configs]
        self.minority = [c.minority for c in configs]
        self.known = torch.tensor([c.reweight == "known" for c in configs], device=device)
        self.device = device
        self.transform = transform or (lambda X: X)
        shape, n_words = (R, CHUNK_STEPS, self.K, self.L), (self.d1 + 31) // 32
        self.u = torch.empty(*shape, d, device=device)
        self.xi = torch.empty(*shape, self.d1, device=device)
        self.words = torch.empty(*shape, n_words, dtype=torch.int64, device=device)
        per_step = R * self.K * self.L * self.d1
        self.block = block_steps(per_step, self.BLOCK_ELEMENTS)
        self._pool = None
        if workers > 1 and R > 1 and device == "cpu":
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=workers)
        self._pos, self._block = CHUNK_STEPS, None
        self._draw = draw

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _draw_run(self, r):
        # Per run, the same draws in the same order as sample_sequences and random_mask make:
        # uniforms for z, normals for xi, mask words.
        gen, shape = self.gens[r], (CHUNK_STEPS, self.K, self.L)
        if self.resample[r] != 1:
            self.u[r], self.xi[r], self.words[r] = self._resampled(
                r, gen, shape, self.words.shape[-1]
            )
            return
        if self._draw is not None:
            self._draw(gen, self.u[r], self.xi[r], self.words[r])
            return
        torch.rand(*shape, self.u.shape[-1], generator=gen, out=self.u[r])
        torch.randn(*shape, self.d1, generator=gen, out=self.xi[r])
        torch.randint(0, 2**32, (*shape, self.words.shape[-1]), generator=gen, out=self.words[r])

    def _draw_chunk(self):
        runs = range(len(self.gens))
        if self._pool is None:
            for r in runs:
                self._draw_run(r)
        else:
            list(self._pool.map(self._draw_run, runs))

    def _make_block(self, t0):
        """Views and weights of steps t0 .. t0 + block - 1 of the current chunk, as one program
        over all runs."""
        steps = slice(t0, t0 + self.block)
        u, xi, words = self.u[:, steps], self.xi[:, steps], self.words[:, steps]
        V1, V2 = pair_views(u, xi, unpack_bits(words, self.d1), self.eps, self.M, self.sigma)
        return self.transform(V1), self.transform(V2), self._weights(u)

    def _weights(self, u):
        """Per-pair weights (None if no run uses them) of uniforms u (R, steps, K, L, d)."""
        if not bool(self.known.any()):
            return None
        return self._known_weights(u < self.eps.reshape(u.shape[0], 1, 1, 1, -1))

    def _resampled(self, r, gen, shape, n_words):
        """Re-sampling: sequences holding a minority feature are always kept, the others with
        probability 1 / resample, from a pool large enough that the batch almost surely fills
        (if it does not, rejected sequences fill it in order)."""
        n, L, d = shape[0] * shape[1], shape[2], self.eps.shape[-1]
        pool = 2 * math.ceil(self.resample[r]) * n
        u = torch.rand(pool, L, d, generator=gen, device=self.device)
        xi = torch.randn(pool, L, self.d1, generator=gen, device=self.device)
        words = torch.randint(
            0, 2**32, (pool, L, n_words), generator=gen, device=self.device, dtype=torch.int64
        )
        accept = torch.rand(pool, generator=gen, device=self.device) < 1 / self.resample[r]
        mino = self.minority[r]
        has = (u[:, :, mino] < self.eps[r, mino]).flatten(1).any(-1)  # z_j != 0 iff u < eps_j
        keep = has | accept
        idx = torch.cat([keep.nonzero()[:, 0], (~keep).nonzero()[:, 0]])[:n]
        return (
            u[idx].reshape(*shape, d),
            xi[idx].reshape(*shape, self.d1),
            words[idx].reshape(*shape, n_words),
        )

    def _known_weights(self, active):
        """Per pair, eps_max / eps_j of the rarest feature present in the sequence (1 if none);
        1 for runs that do not use known re-weighting. active: (R, C, K, L, d) bool."""
        present = active.any(dim=3)  # (R, C, K, d)
        ratio = (self.eps.max(-1, keepdim=True).values / self.eps)[:, None, None, :]
        w = torch.where(present, ratio, torch.ones_like(ratio)).amax(-1)
        return torch.where(self.known.reshape(-1, 1, 1), w, torch.ones_like(w))

    def _advance(self) -> int:
        """Position of the next step in the current chunk, drawing a new chunk when needed."""
        if self._pos == CHUNK_STEPS:
            self._draw_chunk()
            self._pos = 0
        self._pos += 1
        return self._pos - 1

    def next(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        t = self._advance()
        if t % self.block == 0:
            self._block = self._make_block(t)
        A1, A2, w = self._block
        i = t % self.block
        return A1[:, i], A2[:, i], (None if w is None else w[:, i])

    def next_draws(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The next step's raw draws instead of its views, for a caller that makes the views
        itself (the trainer's compiled step): uniforms u (R, K, L, d), normals xi (R, K, L, d1),
        mask words (R, K, L, n_words), and the per-pair weights as ``next`` gives them."""
        t = self._advance()
        w = self._weights(self.u[:, t : t + 1])
        return self.u[:, t], self.xi[:, t], self.words[:, t], (None if w is None else w[:, 0])
